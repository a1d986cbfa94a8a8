package mqtt

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/internal/testenv"
)

// testConfig returns a Subscriber configuration on the test broker, with a
// topic prefix and client id of the test's own.
func testConfig(t *testing.T, rec *recorder, devices ...string) Config {
	broker := testenv.MQTT(t)
	return Config{
		Broker:        broker,
		ClientID:      randomID("vigil-test-"),
		Topics:        Topics{Prefix: randomID("vigiltest-") + "/v1"},
		Ingester:      rec,
		Principal:     devicePrincipals(devices...),
		SessionExpiry: 2 * time.Minute,
		MinBackoff:    20 * time.Millisecond,
		MaxBackoff:    200 * time.Millisecond,
	}
}

func TestSubscriberIngests(t *testing.T) {
	rec := newRecorder()
	cfg := testConfig(t, rec, "dev1")
	startSubscriber(t, cfg)
	dev := dialClient(t, cfg.Broker, randomID("dev1-"), "", "")
	dev.subscribe(t, cfg.Topics.Results("dev1"))

	tests := []struct {
		name    string
		payload string
		want    []vigil.ItemStatus // per item; nil when no Result is expected
		codes   []string           // codes the ingester receives
	}{
		{"object", `{"code":"8867-4","time":"2026-11-25T10:00:00Z","value":72,"unit":"/min"}`, nil, []string{"8867-4"}},
		{"array", `[{"code":"8867-4","time":"2026-11-25T10:00:01Z","value":73,"unit":"/min"},{"device":"dev1","code":"9279-1","time":"2026-11-25T10:00:01Z","value":16,"unit":"/min"}]`,
			nil, []string{"8867-4", "9279-1"}},
		{"ndjson", "{\"code\":\"2708-6\",\"time\":\"2026-11-25T10:00:02Z\",\"value\":97,\"unit\":\"%\"}\n{\"code\":\"8310-5\",\"time\":\"2026-11-25T10:00:02Z\",\"value\":37.1,\"unit\":\"Cel\"}\n",
			nil, []string{"2708-6", "8310-5"}},
		{"malformed and rejected items", `[{"code":"8867-4","time":"2026-11-25T10:00:03Z","value":"high"},{"time":"2026-11-25T10:00:03Z","value":1},{"code":"8867-4","time":"2026-11-25T10:00:04Z","value":74,"unit":"/min"}]`,
			[]vigil.ItemStatus{vigil.ItemRejected, vigil.ItemRejected, vigil.ItemStored}, []string{"", "8867-4"}},
		{"duplicate resent", `{"code":"8867-4","time":"2026-11-25T10:00:00Z","value":72,"unit":"/min"}`, nil, []string{"8867-4"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(rec.snapshot())
			dev.publish(t, cfg.Topics.Readings("dev1"), []byte(tt.payload))
			waitFor(t, 5*time.Second, "ingest", func() bool { return len(rec.snapshot()) > before })
			c := rec.snapshot()[before]
			if c.principal == nil || c.principal.Device != "dev1" || c.source != "mqtt" {
				t.Errorf("Ingest called with principal %+v, source %q; want device dev1, source mqtt", c.principal, c.source)
			}
			var codes []string
			for _, it := range c.items {
				codes = append(codes, it.Code)
				if it.Device != "dev1" {
					t.Errorf("item device = %q, want dev1 (from the topic)", it.Device)
				}
			}
			if fmt.Sprint(codes) != fmt.Sprint(tt.codes) {
				t.Errorf("ingested codes %v, want %v", codes, tt.codes)
			}
			if tt.want == nil {
				return
			}
			var res Result
			if err := json.Unmarshal(dev.next(t, 5*time.Second).Payload, &res); err != nil {
				t.Fatal(err)
			}
			if len(res.Items) != len(tt.want) {
				t.Fatalf("result %+v, want %d items", res, len(tt.want))
			}
			for i, r := range res.Items {
				if r.Index != i || r.Status != tt.want[i] || (r.Status == vigil.ItemRejected) != (r.Error != "") {
					t.Errorf("result item %d = %+v, want status %s with an error when rejected", i, r, tt.want[i])
				}
			}
		})
	}
}

// Payloads rejected as a whole are acknowledged (never redelivered), the
// Ingester is not called, and the device receives a Result with an error.
func TestSubscriberRefuses(t *testing.T) {
	rec := newRecorder()
	cfg := testConfig(t, rec, "dev2")
	s := startSubscriber(t, cfg)
	dev := dialClient(t, cfg.Broker, randomID("dev2-"), "", "")
	dev.subscribe(t, cfg.Topics.Results("dev2"))
	stranger := dialClient(t, cfg.Broker, randomID("dev9-"), "", "")
	stranger.subscribe(t, cfg.Topics.Results("dev9"))

	tests := []struct {
		name    string
		client  *client
		device  string
		payload string
	}{
		{"not JSON", dev, "dev2", `hello`},
		{"truncated", dev, "dev2", `[{"code":"8867-4"`},
		{"empty array", dev, "dev2", `[]`},
		{"other device", dev, "dev2", `[{"code":"8867-4","time":"2026-11-25T10:00:00Z","value":70,"unit":"/min"},{"device":"dev3","code":"8867-4","time":"2026-11-25T10:00:00Z","value":70,"unit":"/min"}]`},
		{"unknown device", stranger, "dev9", `{"code":"8867-4","time":"2026-11-25T10:00:00Z","value":70,"unit":"/min"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.client.publish(t, cfg.Topics.Readings(tt.device), []byte(tt.payload))
			var res Result
			if err := json.Unmarshal(tt.client.next(t, 5*time.Second).Payload, &res); err != nil {
				t.Fatal(err)
			}
			if res.Error == "" || len(res.Items) != 0 {
				t.Errorf("result = %+v, want an error for the whole message", res)
			}
		})
	}
	if n := len(rec.snapshot()); n != 0 {
		t.Errorf("Ingest called %d times, want 0", n)
	}
	// Acknowledged: a good message behind them gets through, and nothing is
	// redelivered on a new connection.
	dev.publish(t, cfg.Topics.Readings("dev2"), []byte(`{"code":"8867-4","time":"2026-11-25T10:00:00Z","value":70,"unit":"/min"}`))
	waitFor(t, 5*time.Second, "good message ingested", func() bool { return len(rec.snapshot()) == 1 })
	if st := s.Stats(); st.Refused != int64(len(tests)) || st.Messages != int64(len(tests))+1 {
		t.Errorf("stats = %+v, want %d refused and %d acknowledged", st, len(tests), len(tests)+1)
	}
}

// When Ingest fails for the whole batch, the message is not acknowledged;
// the Subscriber reconnects and the broker delivers it again.
func TestSubscriberRedeliversAfterIngestFailure(t *testing.T) {
	rec := newRecorder()
	rec.fail = 2
	cfg := testConfig(t, rec, "dev4")
	s := startSubscriber(t, cfg)
	dev := dialClient(t, cfg.Broker, randomID("dev4-"), "", "")
	payload := `{"code":"8867-4","time":"2026-11-25T10:00:00Z","value":70,"unit":"/min"}`
	dev.publish(t, cfg.Topics.Readings("dev4"), []byte(payload))
	waitFor(t, 10*time.Second, "three deliveries", func() bool { return len(rec.snapshot()) >= 3 })
	calls := rec.snapshot()
	for i, c := range calls {
		if len(c.items) != 1 || c.items[0].Code != "8867-4" || *c.items[0].Value != 70 {
			t.Errorf("delivery %d = %+v, want the published reading", i, c.items)
		}
	}
	// The broker resends right after CONNACK, so the message can be
	// acknowledged before the third SUBACK is counted.
	waitFor(t, 5*time.Second, "acknowledgment", func() bool { st := s.Stats(); return st.Messages == 1 && st.Connects >= 3 })
	st := s.Stats()
	if st.Failures != 2 || st.Connects < 3 || st.Stored != 1 {
		t.Errorf("stats = %+v, want 2 failures, ≥ 3 connections, 1 stored", st)
	}
	// Acknowledged at last: not delivered a fourth time.
	time.Sleep(300 * time.Millisecond)
	if n := len(rec.snapshot()); n != 3 {
		t.Errorf("Ingest called %d times, want 3", n)
	}
}

// Messages published while Vigil is down are queued by the broker in the
// persistent session and delivered when it comes back.
func TestSubscriberPersistentSession(t *testing.T) {
	rec := newRecorder()
	cfg := testConfig(t, rec, "dev5")
	s, err := NewSubscriber(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	<-s.Ready()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}

	dev := dialClient(t, cfg.Broker, randomID("dev5-"), "", "")
	for i := range 20 {
		dev.publish(t, cfg.Topics.Readings("dev5"), fmt.Appendf(nil,
			`{"code":"8867-4","time":"2026-11-25T10:00:%02dZ","value":%d,"unit":"/min"}`, i, 60+i))
	}
	startSubscriber(t, cfg) // same client id: the session and its queue
	items := func() []vigil.Reading {
		var all []vigil.Reading
		for _, c := range rec.snapshot() {
			all = append(all, c.items...)
		}
		return all
	}
	waitFor(t, 10*time.Second, "queued messages", func() bool { return len(items()) >= 20 })
	// Queued messages of one device may be ingested together, in order.
	got := items()
	if len(got) != 20 {
		t.Fatalf("ingested %d readings, want 20", len(got))
	}
	for i, r := range got {
		if *r.Value != float64(60+i) {
			t.Errorf("reading %d has value %v, want %d (in order)", i, *r.Value, 60+i)
		}
	}
	t.Logf("20 queued messages ingested in %d Ingest calls", len(rec.snapshot()))
}

// Messages queued for one device are ingested together, and each message
// still gets its own Result with its own item indexes.
func TestSubscriberMergedResults(t *testing.T) {
	rec := newRecorder()
	cfg := testConfig(t, rec, "dev6")
	s, err := NewSubscriber(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	<-s.Ready()
	cancel()
	<-done

	dev := dialClient(t, cfg.Broker, randomID("dev6-"), "", "")
	dev.subscribe(t, cfg.Topics.Results("dev6"))
	for i := range 10 {
		payload := fmt.Sprintf(`{"code":"8867-4","time":"2026-11-25T11:00:%02dZ","value":70,"unit":"/min"}`, i)
		if i == 5 {
			payload = `[{"code":"8867-4","time":"2026-11-25T11:01:00Z","value":71,"unit":"/min"},{"time":"2026-11-25T11:01:00Z","value":1},{"code":"8867-4","value":"x"}]`
		}
		dev.publish(t, cfg.Topics.Readings("dev6"), []byte(payload))
	}
	s2 := startSubscriber(t, cfg)
	var res Result
	if err := json.Unmarshal(dev.next(t, 10*time.Second).Payload, &res); err != nil {
		t.Fatal(err)
	}
	want := []vigil.ItemStatus{vigil.ItemStored, vigil.ItemRejected, vigil.ItemRejected}
	if len(res.Items) != 3 {
		t.Fatalf("result %+v, want 3 items", res)
	}
	for i, r := range res.Items {
		if r.Index != i || r.Status != want[i] {
			t.Errorf("item %d = %+v, want index %d status %s", i, r, i, want[i])
		}
	}
	waitFor(t, 5*time.Second, "all acknowledged", func() bool { return s2.Stats().Messages == 10 })
	if st := s2.Stats(); st.Readings != 11 || st.Stored != 10 || st.Rejected != 2 {
		t.Errorf("stats %+v, want 11 readings ingested, 10 stored, 2 rejected", st)
	}
	select {
	case p := <-dev.msgs:
		t.Errorf("unexpected second result %s", p.Payload)
	case <-time.After(200 * time.Millisecond):
	}
}

// blockingIngester holds Ingest until released, then records.
type blockingIngester struct {
	*recorder
	started chan struct{}
	release chan struct{}
}

func (b *blockingIngester) Ingest(ctx context.Context, source string, items []vigil.Reading) ([]vigil.ItemResult, error) {
	select {
	case b.started <- struct{}{}:
	default:
	}
	<-b.release
	return b.recorder.Ingest(ctx, source, items)
}

// On shutdown, a message being ingested is finished and acknowledged, so
// it is not delivered again on the next run.
func TestSubscriberShutdownFinishesInFlight(t *testing.T) {
	rec := newRecorder()
	bi := &blockingIngester{recorder: rec, started: make(chan struct{}, 1), release: make(chan struct{})}
	cfg := testConfig(t, rec, "dev7")
	cfg.Ingester = bi
	s, err := NewSubscriber(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	<-s.Ready()
	dev := dialClient(t, cfg.Broker, randomID("dev7-"), "", "")
	dev.publish(t, cfg.Topics.Readings("dev7"), []byte(`{"code":"8867-4","time":"2026-11-25T12:00:00Z","value":70,"unit":"/min"}`))
	select {
	case <-bi.started:
	case <-time.After(5 * time.Second):
		t.Fatal("Ingest not called")
	}
	cancel() // shut down while Ingest is running
	time.Sleep(50 * time.Millisecond)
	close(bi.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Messages != 1 || st.Failures != 0 {
		t.Errorf("stats %+v, want the message acknowledged", st)
	}
	cfg.Ingester = rec
	startSubscriber(t, cfg)
	time.Sleep(300 * time.Millisecond)
	if n := len(rec.snapshot()); n != 1 {
		t.Errorf("Ingest called %d times in all, want 1 (no redelivery)", n)
	}
}
