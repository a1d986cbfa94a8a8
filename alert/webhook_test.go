package alert_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/alert"
)

var secret = []byte("0123456789abcdef0123456789abcdef")

// quiet discards the log of tests that provoke warnings.
var quiet = slog.New(slog.DiscardHandler)

// receiver is a webhook endpoint that answers the statuses in script (then
// 200) and verifies every request's signature.
type receiver struct {
	t      *testing.T
	mu     sync.Mutex
	script []int
	got    []received
	srv    *httptest.Server
}

type received struct {
	id, typ string
	body    []byte
	sigErr  error
	status  int
}

func newReceiver(t *testing.T, script ...int) *receiver {
	r := &receiver{t: t, script: script}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			t.Errorf("read body: %v", err)
		}
		r.mu.Lock()
		status := http.StatusOK
		if len(r.script) > 0 {
			status, r.script = r.script[0], r.script[1:]
		}
		r.got = append(r.got, received{
			id: req.Header.Get(alert.EventIDHeader), typ: req.Header.Get(alert.EventTypeHeader), body: body, status: status,
			sigErr: alert.VerifySignature(secret, req.Header.Get(alert.SignatureHeader), body, time.Now(), 0),
		})
		r.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) requests() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

func event(kind alert.EventKind, id string) alert.Event {
	return alert.Event{ID: id, Kind: kind, Time: t0, Alert: &vigil.AlertRecord{Alert: vigil.Alert{ID: "a-" + id, Patient: "p1", Rule: "spo2", Severity: "high", Status: vigil.AlertOpen}}}
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func runHooks(t *testing.T, cfg alert.WebhookConfig) *alert.Webhooks {
	t.Helper()
	cfg.Logger = quiet
	if cfg.BaseDelay == 0 {
		cfg.BaseDelay, cfg.MaxDelay = 10*time.Millisecond, 50*time.Millisecond
	}
	w, err := alert.NewWebhooks(cfg)
	if err != nil {
		t.Fatalf("NewWebhooks: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return w
}

func TestWebhookRetriesThenDelivers(t *testing.T) {
	rcv := newReceiver(t, 503, 500)
	w := runHooks(t, alert.WebhookConfig{Endpoints: []alert.Endpoint{{URL: rcv.srv.URL + "/hook?token=x", Secret: secret}}})
	w.Publish(event(alert.Created, "e1"))
	waitFor(t, "delivery", func() bool { return w.Pending() == 0 })

	reqs := rcv.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3 (two failures, then success)", len(reqs))
	}
	for i, r := range reqs {
		if r.sigErr != nil {
			t.Errorf("request %d: signature: %v", i, r.sigErr)
		}
		if r.id != "e1" || r.typ != "alert.created" {
			t.Errorf("request %d: event id %q type %q, want e1 alert.created", i, r.id, r.typ)
		}
		if string(r.body) != string(reqs[0].body) {
			t.Errorf("request %d: body differs from the first attempt's", i)
		}
	}
	var p struct {
		ID    string             `json:"id"`
		Type  string             `json:"type"`
		Alert *vigil.AlertRecord `json:"alert"`
	}
	if err := json.Unmarshal(reqs[0].body, &p); err != nil || p.ID != "e1" || p.Type != "alert.created" || p.Alert.ID != "a-e1" {
		t.Errorf("payload %s: %v", reqs[0].body, err)
	}
	var outcomes []string
	for _, d := range w.Deliveries() {
		outcomes = append(outcomes, d.Outcome)
		if strings.Contains(d.Endpoint, "token") {
			t.Errorf("delivery log shows the URL query: %s", d.Endpoint)
		}
	}
	if strings.Join(outcomes, " ") != "retrying retrying delivered" {
		t.Errorf("delivery log outcomes %v, want retrying retrying delivered", outcomes)
	}
}

func TestWebhookFailures(t *testing.T) {
	tests := []struct {
		name     string
		script   []int
		attempts int
		want     []string
	}{
		{"refused is not retried", []int{400}, 5, []string{"failed"}},
		{"gone is not retried", []int{410}, 5, []string{"failed"}},
		{"too many requests is retried", []int{429}, 5, []string{"retrying", "delivered"}},
		{"gives up after MaxAttempts", []int{500, 502, 503, 504}, 3, []string{"retrying", "retrying", "failed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rcv := newReceiver(t, tt.script...)
			w := runHooks(t, alert.WebhookConfig{Endpoints: []alert.Endpoint{{URL: rcv.srv.URL, Secret: secret}}, MaxAttempts: tt.attempts})
			w.Publish(event(alert.Escalated, "e1"))
			waitFor(t, "the end of the delivery", func() bool { return w.Pending() == 0 })
			var got []string
			for _, d := range w.Deliveries() {
				got = append(got, d.Outcome)
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("outcomes %v, want %v", got, tt.want)
			}
		})
	}
}

func TestWebhookUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there now
	w := runHooks(t, alert.WebhookConfig{Endpoints: []alert.Endpoint{{URL: url, Secret: secret}}, MaxAttempts: 2})
	w.Publish(event(alert.Created, "e1"))
	waitFor(t, "the end of the delivery", func() bool { return w.Pending() == 0 })
	ds := w.Deliveries()
	if len(ds) != 2 || ds[1].Outcome != "failed" || ds[1].Status != 0 || ds[1].Error == "" {
		t.Errorf("deliveries %+v, want a retry then a failure without status", ds)
	}
}

func TestWebhookFilterAndQuiet(t *testing.T) {
	rcv := newReceiver(t)
	w := runHooks(t, alert.WebhookConfig{Endpoints: []alert.Endpoint{
		{URL: rcv.srv.URL + "/all", Secret: secret},
		{URL: rcv.srv.URL + "/escalations", Secret: secret, Events: []alert.EventKind{alert.Escalated}},
	}})
	quiet := event(alert.Updated, "q")
	quiet.Quiet = true
	for _, ev := range []alert.Event{event(alert.Created, "c"), quiet, event(alert.Escalated, "x")} {
		w.Publish(ev)
	}
	waitFor(t, "deliveries", func() bool { return w.Pending() == 0 && len(rcv.requests()) == 3 })
	time.Sleep(50 * time.Millisecond)
	seen := map[string]int{}
	for _, r := range rcv.requests() {
		seen[r.id]++
	}
	if seen["c"] != 1 || seen["x"] != 2 || seen["q"] != 0 {
		t.Errorf("requests per event %v, want c:1 x:2 (both endpoints), q:0 (quiet)", seen)
	}
}

func TestWebhookQueueBound(t *testing.T) {
	// Not running: nothing leaves the queue.
	w, err := alert.NewWebhooks(alert.WebhookConfig{Endpoints: []alert.Endpoint{{URL: "http://127.0.0.1:1/", Secret: secret}}, QueueSize: 2, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"1", "2", "3", "4", "5"} {
		w.Publish(event(alert.Created, id))
	}
	if w.Pending() != 2 || w.Dropped() != 3 {
		t.Errorf("pending %d dropped %d, want 2 and 3", w.Pending(), w.Dropped())
	}
	ds := w.Deliveries()
	if len(ds) != 3 || ds[0].Outcome != "dropped" || ds[0].Event != "3" {
		t.Errorf("delivery log %+v, want three drops starting with event 3", ds)
	}
}

func TestNewWebhooksInvalid(t *testing.T) {
	for _, ep := range []alert.Endpoint{
		{URL: "ftp://example.org/", Secret: secret},
		{URL: "/relative", Secret: secret},
		{URL: "https://example.org/", Secret: []byte("short")},
		{URL: "https://example.org/", Secret: secret, Events: []alert.EventKind{"deleted"}},
	} {
		if _, err := alert.NewWebhooks(alert.WebhookConfig{Endpoints: []alert.Endpoint{ep}}); !errors.Is(err, vigil.ErrInvalid) {
			t.Errorf("NewWebhooks(%s, %q) = %v, want ErrInvalid", ep.URL, ep.Events, err)
		}
	}
}
