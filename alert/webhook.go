package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigilhealth/vigil"
)

// Headers of a webhook request besides SignatureHeader.
const (
	EventIDHeader   = "Vigil-Event-Id"   // the Event ID, the same on every retry
	EventTypeHeader = "Vigil-Event-Type" // "alert.created", "alert.escalated", …
)

// Defaults of WebhookConfig.
const (
	DefaultQueueSize   = 1024
	DefaultWorkers     = 2
	DefaultMaxAttempts = 8
	DefaultBaseDelay   = time.Second
	DefaultMaxDelay    = 5 * time.Minute
	DefaultLogSize     = 1000
	// MinSecretSize is the shortest webhook secret accepted.
	MinSecretSize = 16
)

// Endpoint is one webhook receiver.
type Endpoint struct {
	// URL is an http or https URL.
	URL string
	// Secret keys the HMAC of SignatureHeader; at least MinSecretSize
	// bytes, shared with the receiver.
	Secret []byte
	// Events limits the kinds sent; empty means all.
	Events []EventKind
}

// LogValue keeps the secret and the URL's query and user info out of logs.
func (e Endpoint) LogValue() slog.Value { return slog.StringValue(redact(e.URL)) }

// WebhookConfig configures Webhooks.
type WebhookConfig struct {
	Endpoints []Endpoint
	// Client sends the requests; one with a 10 s timeout when nil.
	Client *http.Client
	// QueueSize bounds the deliveries waiting, counting those waiting to
	// be retried; events beyond it are dropped (and logged).
	QueueSize int
	// Workers is the number of concurrent deliveries.
	Workers int
	// MaxAttempts bounds the attempts of one delivery.
	MaxAttempts int
	// BaseDelay and MaxDelay shape the retry backoff: before attempt n+1
	// the delivery waits a random time between half and all of
	// min(MaxDelay, BaseDelay·2^(n−1)).
	BaseDelay, MaxDelay time.Duration
	// LogSize is the number of delivery attempts kept by Deliveries.
	LogSize int
	// Now is the clock of the signature timestamps; time.Now when nil.
	Now    func() time.Time
	Logger *slog.Logger
}

// Delivery is one attempt in the delivery log.
type Delivery struct {
	Event    string        `json:"event"` // Event ID
	Kind     EventKind     `json:"type"`
	Alert    string        `json:"alert"`    // alert ID
	Endpoint string        `json:"endpoint"` // URL without user info, query or fragment
	Attempt  int           `json:"attempt"`  // 1 for the first
	At       time.Time     `json:"at"`
	Duration time.Duration `json:"duration"`
	Status   int           `json:"status,omitempty"` // HTTP status, 0 when no response
	Error    string        `json:"error,omitempty"`
	// Outcome is "delivered", "retrying" (a later attempt follows),
	// "failed" (given up) or "dropped" (the queue was full).
	Outcome string `json:"outcome"`
}

// Webhooks delivers events to HTTP endpoints: each event is POSTed as JSON
//
//	{"id":"…","type":"alert.created","time":"…","alert":{…the AlertRecord…}}
//
// with SignatureHeader, EventIDHeader and EventTypeHeader. A 2xx answer
// is success. Network errors, 408, 429 and 5xx are retried with
// exponential backoff and jitter, up to MaxAttempts; other answers fail
// the delivery at once (the receiver refused it, a retry will not help).
// Quiet events (updates of a snoozed alert) are not sent.
//
// Publish never blocks; the queue is bounded, and a full queue drops the
// event (counted by Dropped, logged, and recorded in the delivery log).
// Delivery is at least once while the process runs; the queue is in memory
// and is lost on restart. Run does the sending.
type Webhooks struct {
	endpoints   []Endpoint
	client      *http.Client
	queue       chan *job
	size        int
	workers     int
	maxAttempts int
	base, max   time.Duration
	now         func() time.Time
	log         *slog.Logger
	pending     atomic.Int64
	dropped     atomic.Uint64
	done        chan struct{}
	stop        sync.Once

	logMu   sync.Mutex
	ring    []Delivery
	next    int
	wrapped bool
}

var _ Sink = (*Webhooks)(nil)

type job struct {
	ep      int
	ev      Event
	body    []byte
	attempt int
}

// NewWebhooks validates the configuration and returns Webhooks. It fails
// with vigil.ErrInvalid for a URL that is not absolute http(s), a secret
// shorter than MinSecretSize or an unknown event kind.
func NewWebhooks(cfg WebhookConfig) (*Webhooks, error) {
	w := &Webhooks{
		endpoints: slices.Clone(cfg.Endpoints), client: cfg.Client,
		size: cfg.QueueSize, workers: cfg.Workers, maxAttempts: cfg.MaxAttempts,
		base: cfg.BaseDelay, max: cfg.MaxDelay, now: cfg.Now, log: cfg.Logger,
		done: make(chan struct{}),
	}
	for _, ep := range w.endpoints {
		u, err := url.Parse(ep.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, vigil.Errorf(vigil.ErrInvalid, "webhook: endpoint URL must be absolute http or https")
		}
		if len(ep.Secret) < MinSecretSize {
			return nil, vigil.Errorf(vigil.ErrInvalid, "webhook: secret shorter than %d bytes", MinSecretSize)
		}
		for _, k := range ep.Events {
			switch k {
			case Created, Updated, Acknowledged, Resolved, Escalated, Snoozed:
			default:
				return nil, vigil.Errorf(vigil.ErrInvalid, "webhook: unknown event kind")
			}
		}
	}
	if w.client == nil {
		w.client = &http.Client{Timeout: 10 * time.Second}
	}
	if w.size <= 0 {
		w.size = DefaultQueueSize
	}
	if w.workers <= 0 {
		w.workers = DefaultWorkers
	}
	if w.maxAttempts <= 0 {
		w.maxAttempts = DefaultMaxAttempts
	}
	if w.base <= 0 {
		w.base = DefaultBaseDelay
	}
	if w.max <= 0 {
		w.max = DefaultMaxDelay
	}
	if w.now == nil {
		w.now = time.Now
	}
	if w.log == nil {
		w.log = slog.Default()
	}
	logSize := cfg.LogSize
	if logSize <= 0 {
		logSize = DefaultLogSize
	}
	w.ring = make([]Delivery, logSize)
	w.queue = make(chan *job, w.size)
	return w, nil
}

// Publish queues ev for every endpoint that wants its kind. It never
// blocks.
func (w *Webhooks) Publish(ev Event) {
	if ev.Quiet || ev.Alert == nil {
		return
	}
	for i, ep := range w.endpoints {
		if len(ep.Events) > 0 && !slices.Contains(ep.Events, ev.Kind) {
			continue
		}
		if w.pending.Add(1) > int64(w.size) {
			w.pending.Add(-1)
			w.dropped.Add(1)
			w.record(Delivery{Event: ev.ID, Kind: ev.Kind, Alert: ev.Alert.ID, Endpoint: redact(ep.URL), At: w.now(), Outcome: "dropped"})
			w.log.Warn("webhook queue full; event dropped", "endpoint", ep, "event", ev.ID)
			continue
		}
		w.queue <- &job{ep: i, ev: ev} // never blocks: pending <= cap
	}
}

// Dropped returns the number of deliveries dropped because the queue was
// full.
func (w *Webhooks) Dropped() uint64 { return w.dropped.Load() }

// Pending returns the number of deliveries queued or waiting for a retry.
func (w *Webhooks) Pending() int { return int(w.pending.Load()) }

// Run delivers queued events until ctx is done, then returns ctx's error.
// Deliveries still queued stay queued; retries not yet due are abandoned.
// Call it once.
func (w *Webhooks) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for range w.workers {
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case j := <-w.queue:
					w.deliver(ctx, j)
				}
			}
		})
	}
	wg.Wait()
	w.stop.Do(func() { close(w.done) })
	return ctx.Err()
}

// payload is the JSON body of a webhook request.
type payload struct {
	ID    string             `json:"id"`
	Type  string             `json:"type"`
	Time  time.Time          `json:"time"`
	Alert *vigil.AlertRecord `json:"alert"`
}

func (w *Webhooks) deliver(ctx context.Context, j *job) {
	ep := w.endpoints[j.ep]
	if j.body == nil {
		b, err := json.Marshal(payload{ID: j.ev.ID, Type: "alert." + string(j.ev.Kind), Time: j.ev.Time, Alert: j.ev.Alert})
		if err != nil {
			w.finish(Delivery{Event: j.ev.ID, Outcome: "failed", Error: "encode: " + err.Error()})
			return
		}
		j.body = b
	}
	j.attempt++
	d := Delivery{Event: j.ev.ID, Kind: j.ev.Kind, Alert: j.ev.Alert.ID, Endpoint: redact(ep.URL), Attempt: j.attempt, At: w.now()}
	status, retry, err := w.post(ctx, ep, j)
	d.Duration, d.Status = w.now().Sub(d.At), status
	if err == nil {
		d.Outcome = "delivered"
		w.finish(d)
		return
	}
	d.Error = err.Error()
	if !retry || j.attempt >= w.maxAttempts || ctx.Err() != nil {
		d.Outcome = "failed"
		w.finish(d)
		w.log.Warn("webhook delivery failed", "endpoint", ep, "event", j.ev.ID, "attempts", j.attempt, "status", status, "error", err)
		return
	}
	d.Outcome = "retrying"
	w.record(d)
	time.AfterFunc(w.backoff(j.attempt), func() {
		select {
		case <-w.done:
			w.pending.Add(-1)
		default:
			w.queue <- j // never blocks: pending <= cap
		}
	})
}

// backoff is the wait after attempt n (1-based): uniformly random in
// [d/2, d] with d = min(max, base·2^(n−1)).
func (w *Webhooks) backoff(n int) time.Duration {
	d := w.max
	if n-1 < 30 {
		d = min(w.max, w.base<<(n-1))
	}
	half := d / 2
	return half + rand.N(d-half+1)
}

func (w *Webhooks) finish(d Delivery) {
	w.pending.Add(-1)
	w.record(d)
}

// post sends one attempt. It reports the status, whether a failure may be
// retried, and the failure.
func (w *Webhooks) post(ctx context.Context, ep Endpoint, j *job) (int, bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.URL, bytes.NewReader(j.body))
	if err != nil {
		return 0, false, fmt.Errorf("request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Vigil-Webhooks/1")
	req.Header.Set(SignatureHeader, Sign(ep.Secret, w.now(), j.body))
	req.Header.Set(EventIDHeader, j.ev.ID)
	req.Header.Set(EventTypeHeader, "alert."+string(j.ev.Kind))
	resp, err := w.client.Do(req)
	if err != nil {
		// The error names the URL; keep only the redacted form.
		return 0, true, fmt.Errorf("post %s: %w", redact(ep.URL), unwrapURL(err))
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch c := resp.StatusCode; {
	case c >= 200 && c < 300:
		return c, false, nil
	case c == http.StatusRequestTimeout || c == http.StatusTooManyRequests || c >= 500:
		return c, true, fmt.Errorf("status %d", c)
	default:
		return c, false, fmt.Errorf("status %d", c)
	}
}

func unwrapURL(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}

// redact returns the URL without user info, query or fragment.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(malformed URL)"
	}
	u.User, u.RawQuery, u.Fragment, u.RawFragment = nil, "", "", ""
	return u.String()
}

func (w *Webhooks) record(d Delivery) {
	w.logMu.Lock()
	defer w.logMu.Unlock()
	w.ring[w.next] = d
	w.next++
	if w.next == len(w.ring) {
		w.next, w.wrapped = 0, true
	}
}

// Deliveries returns the delivery log, oldest first: the last LogSize
// attempts, drops included.
func (w *Webhooks) Deliveries() []Delivery {
	w.logMu.Lock()
	defer w.logMu.Unlock()
	if !w.wrapped {
		return slices.Clone(w.ring[:w.next])
	}
	return append(slices.Clone(w.ring[w.next:]), w.ring[:w.next]...)
}
