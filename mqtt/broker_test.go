package mqtt

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/vigilhealth/vigil"
)

// tokenAuth accepts device d's token "token-"+d for the listed devices, and
// maps "tok-patient" to a patient account.
func tokenAuth(devices ...string) AuthFunc {
	return func(ctx context.Context, user, pass string) (*vigil.Principal, error) {
		if pass == "tok-patient" {
			return &vigil.Principal{AccountID: "p", Role: vigil.RolePatient, Patient: "pat1"}, nil
		}
		for _, d := range devices {
			if user == d && pass == "token-"+d {
				return &vigil.Principal{AccountID: "acct-" + d, Role: vigil.RoleDevice, Device: d}, nil
			}
		}
		return nil, vigil.Errorf(vigil.ErrUnauthorized, "invalid token")
	}
}

func startBroker(t *testing.T, devices ...string) *Broker {
	t.Helper()
	b, err := NewBroker(BrokerConfig{Addr: "127.0.0.1:0", Auth: tokenAuth(devices...)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func TestBrokerEndToEnd(t *testing.T) {
	b := startBroker(t, "dev1", "dev2")
	rec := newRecorder()
	s := startSubscriber(t, b.ServiceConfig(Config{Ingester: rec, Principal: devicePrincipals("dev1", "dev2"),
		MinBackoff: 20 * time.Millisecond}))

	dev := dialClient(t, b.URL(), "dev1", "dev1", "token-dev1")
	dev.subscribe(t, ResultsTopic("dev1"))
	dev.publish(t, ReadingsTopic("dev1"), []byte(`[{"code":"8867-4","time":"2026-11-25T10:00:00Z","value":72,"unit":"/min"},{"value":1}]`))
	waitFor(t, 5*time.Second, "ingest", func() bool { return len(rec.snapshot()) == 1 })
	if c := rec.snapshot()[0]; c.principal.Device != "dev1" || len(c.items) != 2 {
		t.Errorf("Ingest(%+v, %d items), want dev1's principal and 2 items", c.principal, len(c.items))
	}
	var res Result
	if err := json.Unmarshal(dev.next(t, 5*time.Second).Payload, &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Items) != 2 || res.Items[0].Status != vigil.ItemStored || res.Items[1].Status != vigil.ItemRejected {
		t.Errorf("result = %+v, want stored then rejected", res)
	}
	if st := s.Stats(); st.Messages != 1 || st.Stored != 1 || st.Rejected != 1 {
		t.Errorf("stats = %+v", st)
	}
}

func TestBrokerRefusesLogins(t *testing.T) {
	b := startBroker(t, "dev1")
	tests := []struct {
		name, clientID, user, pass string
	}{
		{"wrong token", "dev1", "dev1", "token-dev2"},
		{"no credentials", "dev1", "", ""},
		{"client id of another device", "dev2", "dev1", "token-dev1"},
		{"client id of the service", ServiceClientID, "dev1", "token-dev1"},
		{"token of a patient", "dev1", "dev1", "tok-patient"},
		{"user name with a wildcard", "dev1/#", "dev1/#", "token-dev1"},
		{"service user, wrong password", ServiceClientID, "$vigil", "guess"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nc, err := net.Dial("tcp", b.Addr())
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			c := paho.NewClient(paho.ClientConfig{ClientID: tt.clientID, Conn: nc})
			cp := &paho.Connect{ClientID: tt.clientID, KeepAlive: 30, CleanStart: true,
				UsernameFlag: tt.user != "", Username: tt.user, PasswordFlag: tt.pass != "", Password: []byte(tt.pass)}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			ca, err := c.Connect(ctx, cp)
			if err == nil {
				_ = c.Disconnect(&paho.Disconnect{})
				t.Fatalf("Connect(%q, %q) succeeded, want refused", tt.clientID, tt.user)
			}
			if ca == nil || ca.ReasonCode != codeBadUsernameOrPassword {
				t.Errorf("Connect error %v, CONNACK %+v; want reason code %#x", err, ca, codeBadUsernameOrPassword)
			}
		})
	}
}

// MQTT v5 reason codes (section 2.4).
const (
	codeBadUsernameOrPassword = 0x86
	codeNotAuthorized         = 0x87
)

func TestBrokerACL(t *testing.T) {
	b := startBroker(t, "dev1", "dev2")
	rec := newRecorder()
	startSubscriber(t, b.ServiceConfig(Config{Ingester: rec, Principal: devicePrincipals("dev1", "dev2")}))
	dev := dialClient(t, b.URL(), "dev1:gateway", "dev1", "token-dev1")

	for _, filter := range []string{ResultsTopic("dev2"), "vigil/v1/devices/+/results", "vigil/v1/devices/dev2/readings", "#", Topics{}.ReadingsFilter()} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		sa, err := dev.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: 1}}})
		cancel()
		if sa == nil || sa.Reasons[0] != codeNotAuthorized {
			t.Errorf("device dev1 subscribing to %q: SUBACK %+v, error %v; want reason %#x", filter, sa, err, codeNotAuthorized)
		}
	}
	for _, topic := range []string{ReadingsTopic("dev2"), ResultsTopic("dev1"), "vigil/v1/other"} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		pr, err := dev.Publish(ctx, &paho.Publish{QoS: 1, Topic: topic, Payload: []byte(`{"code":"8867-4","value":1}`)})
		cancel()
		if pr == nil || pr.ReasonCode != codeNotAuthorized {
			t.Errorf("device dev1 publishing to %q: PUBACK %+v, error %v; want reason %#x", topic, pr, err, codeNotAuthorized)
		}
	}
	// Its own topic works, and nothing published elsewhere was ingested.
	dev.publish(t, ReadingsTopic("dev1"), []byte(`{"code":"8867-4","time":"2026-11-25T10:00:00Z","value":72,"unit":"/min"}`))
	waitFor(t, 5*time.Second, "ingest", func() bool { return len(rec.snapshot()) == 1 })
	time.Sleep(100 * time.Millisecond)
	if n := len(rec.snapshot()); n != 1 {
		t.Errorf("Ingest called %d times, want 1", n)
	}
}

// The embedded broker keeps Vigil's session: a message whose Ingest failed
// is delivered again after the reconnect, and messages published while
// the Subscriber is down are delivered when it is back.
func TestBrokerRedeliveryAndQueue(t *testing.T) {
	b := startBroker(t, "dev1")
	rec := newRecorder()
	rec.fail = 1
	cfg := b.ServiceConfig(Config{Ingester: rec, Principal: devicePrincipals("dev1"),
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond})
	s, err := NewSubscriber(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	<-s.Ready()
	dev := dialClient(t, b.URL(), "dev1", "dev1", "token-dev1")
	dev.publish(t, ReadingsTopic("dev1"), []byte(`{"code":"8867-4","time":"2026-11-25T10:00:00Z","value":72,"unit":"/min"}`))
	waitFor(t, 10*time.Second, "redelivery", func() bool { return s.Stats().Messages == 1 })
	if n := len(rec.snapshot()); n != 2 || s.Stats().Failures != 1 {
		t.Errorf("Ingest called %d times, stats %+v; want 2 calls after 1 failure", n, s.Stats())
	}
	cancel()
	<-done

	for i := range 5 {
		dev.publish(t, ReadingsTopic("dev1"), fmt.Appendf(nil, `{"code":"8867-4","time":"2026-11-25T10:01:%02dZ","value":%d,"unit":"/min"}`, i, 80+i))
	}
	s2 := startSubscriber(t, cfg)
	// At least once: a message may come twice (a duplicate), none is lost.
	waitFor(t, 10*time.Second, "queued messages", func() bool { return s2.Stats().Stored == 5 })
}
