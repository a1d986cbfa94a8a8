package mqtt

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/vigilhealth/vigil"
)

// recorder is the Subscriber's collaborator in tests: a sink that records
// what it is given and answers like an idempotent store would (an item
// seen before is a duplicate; an item without a code is rejected). It
// stands in for nothing under test.
type recorder struct {
	mu    sync.Mutex
	calls []call
	seen  map[string]bool
	fail  int // fail the next fail calls with a transient error
	wake  chan struct{}
}

type call struct {
	principal *vigil.Principal
	source    string
	items     []vigil.Reading
}

var errStoreDown = errors.New("store down")

func newRecorder() *recorder {
	return &recorder{seen: map[string]bool{}, wake: make(chan struct{}, 1)}
}

func (r *recorder) Ingest(ctx context.Context, source string, items []vigil.Reading) ([]vigil.ItemResult, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, call{vigil.PrincipalFrom(ctx), source, append([]vigil.Reading(nil), items...)})
	select {
	case r.wake <- struct{}{}:
	default:
	}
	if r.fail > 0 {
		r.fail--
		return nil, errStoreDown
	}
	out := make([]vigil.ItemResult, len(items))
	for i, it := range items {
		out[i] = vigil.ItemResult{Index: i, Status: vigil.ItemStored}
		if it.Code == "" {
			out[i] = vigil.ItemResult{Index: i, Status: vigil.ItemRejected, Error: "code is required"}
			continue
		}
		key := it.Device + "|" + it.Code
		if it.Time != nil {
			key += "|" + it.Time.String()
		}
		if r.seen[key] {
			out[i].Status = vigil.ItemDuplicate
		}
		r.seen[key] = true
	}
	return out, nil
}

func (r *recorder) snapshot() []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]call(nil), r.calls...)
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func randomID(prefix string) string {
	var b [5]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// devicePrincipals is a PrincipalFunc knowing the given devices.
func devicePrincipals(devices ...string) PrincipalFunc {
	return func(ctx context.Context, dev string) (*vigil.Principal, error) {
		for _, d := range devices {
			if d == dev {
				return &vigil.Principal{AccountID: "acct-" + dev, Role: vigil.RoleDevice, Device: dev}, nil
			}
		}
		return nil, vigil.Errorf(vigil.ErrNotFound, "unknown device")
	}
}

// client is a plain paho client for the device side of tests.
type client struct {
	*paho.Client
	msgs chan *paho.Publish
}

func dialClient(t testing.TB, broker, clientID, user, pass string) *client {
	t.Helper()
	u, err := url.Parse(broker)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", broker, err)
	}
	c := &client{msgs: make(chan *paho.Publish, 1024)}
	c.Client = paho.NewClient(paho.ClientConfig{
		ClientID: clientID,
		Conn:     BufferedConn(nc),
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			select {
			case c.msgs <- pr.Packet:
			default:
			}
			return true, nil
		}},
	})
	cp := &paho.Connect{ClientID: clientID, KeepAlive: 30, CleanStart: true}
	if user != "" {
		cp.UsernameFlag, cp.Username = true, user
	}
	if pass != "" {
		cp.PasswordFlag, cp.Password = true, []byte(pass)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.Connect(ctx, cp); err != nil {
		nc.Close()
		t.Fatalf("connect as %q: %v", clientID, err)
	}
	t.Cleanup(func() { _ = c.Disconnect(&paho.Disconnect{}) })
	return c
}

func (c *client) publish(t testing.TB, topic string, payload []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.Publish(ctx, &paho.Publish{QoS: 1, Topic: topic, Payload: payload}); err != nil {
		t.Fatalf("publish to %s: %v", topic, err)
	}
}

func (c *client) subscribe(t testing.TB, filter string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	sa, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: 1}}})
	if err != nil {
		t.Fatalf("subscribe %s: %v", filter, err)
	}
	if sa.Reasons[0] >= 0x80 {
		t.Fatalf("subscribe %s: reason code %#x", filter, sa.Reasons[0])
	}
}

// next returns the next message received, failing after d.
func (c *client) next(t testing.TB, d time.Duration) *paho.Publish {
	t.Helper()
	select {
	case p := <-c.msgs:
		return p
	case <-time.After(d):
		t.Fatalf("no message within %v", d)
		return nil
	}
}

// startSubscriber runs a Subscriber until the test ends.
func startSubscriber(t testing.TB, cfg Config) *Subscriber {
	t.Helper()
	s, err := NewSubscriber(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case <-s.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("subscriber not subscribed within 10s")
	}
	return s
}
