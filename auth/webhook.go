package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/alert"
)

// Defaults of WebhookConfig.
const (
	DefaultWebhookAttempts = 8
	DefaultWebhookQueue    = 256
	webhookWorkers         = 4
)

// WebhookConfig configures a Webhook.
type WebhookConfig struct {
	// URL is the absolute http or https URL of the receiver.
	URL string
	// Secret keys the signature; at least alert.MinSecretSize bytes.
	Secret []byte
	// Client sends the requests; one with a 10 s timeout when nil.
	Client *http.Client
	// MaxAttempts bounds the attempts of one delivery (default 8).
	MaxAttempts int
	// BaseDelay and MaxDelay shape the retry backoff as for alert
	// webhooks (defaults 1 s and 5 min).
	BaseDelay, MaxDelay time.Duration
	// QueueSize bounds the alerts waiting (default 256); more are dropped
	// and logged.
	QueueSize int
	// Now is the clock of the signature timestamps (default time.Now).
	Now    func() time.Time
	Logger *slog.Logger
}

// Webhook sends security alerts to the receiver of the alert webhooks
// (vigil serve --webhook), signed the same way: the body is
//
//	{"id":"…","type":"security.break-glass","time":"…","security":{…the Alert…}}
//
// with alert.SignatureHeader (HMAC-SHA256 over timestamp and body, see
// alert.Sign), alert.EventIDHeader (the Alert's ID, the same on every
// retry) and alert.EventTypeHeader ("security." + the Alert's type).
// A 2xx answer is success; network errors, 408, 429 and 5xx are retried
// with exponential backoff and jitter up to MaxAttempts.
//
// It is separate from alert.Webhooks because that type carries clinical
// alert records only (its payload, kinds and delivery log are typed to
// them). Notify never blocks; delivery is at least once while the process
// runs (the queue is in memory). Run does the sending.
type Webhook struct {
	url         string
	secret      []byte
	client      *http.Client
	maxAttempts int
	base, max   time.Duration
	now         func() time.Time
	log         *slog.Logger
	queue       chan Alert
	dropped     atomic.Uint64
	delivered   atomic.Uint64
	failed      atomic.Uint64
}

var _ Notifier = (*Webhook)(nil)

// NewWebhook validates cfg and returns a Webhook. It fails with
// vigil.ErrInvalid for a URL that is not absolute http(s) or a secret
// shorter than alert.MinSecretSize.
func NewWebhook(cfg WebhookConfig) (*Webhook, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, vigil.Errorf(vigil.ErrInvalid, "webhook: endpoint URL must be absolute http or https")
	}
	if len(cfg.Secret) < alert.MinSecretSize {
		return nil, vigil.Errorf(vigil.ErrInvalid, "webhook: secret shorter than %d bytes", alert.MinSecretSize)
	}
	w := &Webhook{url: cfg.URL, secret: bytes.Clone(cfg.Secret), client: cfg.Client, maxAttempts: cfg.MaxAttempts,
		base: cfg.BaseDelay, max: cfg.MaxDelay, now: cfg.Now, log: cfg.Logger}
	if w.client == nil {
		w.client = &http.Client{Timeout: 10 * time.Second}
	}
	if w.maxAttempts <= 0 {
		w.maxAttempts = DefaultWebhookAttempts
	}
	if w.base <= 0 {
		w.base = alert.DefaultBaseDelay
	}
	if w.max <= 0 {
		w.max = alert.DefaultMaxDelay
	}
	if w.now == nil {
		w.now = time.Now
	}
	if w.log == nil {
		w.log = slog.Default()
	}
	size := cfg.QueueSize
	if size <= 0 {
		size = DefaultWebhookQueue
	}
	w.queue = make(chan Alert, size)
	return w, nil
}

// Notify implements Notifier: it queues a, or drops it (logged) when the
// queue is full.
func (w *Webhook) Notify(a Alert) {
	select {
	case w.queue <- a:
	default:
		w.dropped.Add(1)
		w.log.Warn("security webhook queue full; alert dropped", "alert", a.ID, "type", a.Type)
	}
}

// Dropped returns the number of alerts dropped because the queue was full.
func (w *Webhook) Dropped() uint64 { return w.dropped.Load() }

// Delivered returns the number of alerts the receiver accepted.
func (w *Webhook) Delivered() uint64 { return w.delivered.Load() }

// Failed returns the number of alerts given up on (refused, out of
// attempts, or abandoned at shutdown).
func (w *Webhook) Failed() uint64 { return w.failed.Load() }

// Run delivers queued alerts until ctx is done, then waits for deliveries
// in progress to give up and returns ctx's error. Call it once.
func (w *Webhook) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	slots := make(chan struct{}, webhookWorkers)
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return ctx.Err()
		case a := <-w.queue:
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				wg.Wait()
				return ctx.Err()
			}
			wg.Go(func() {
				defer func() { <-slots }()
				w.deliver(ctx, a)
			})
		}
	}
}

// webhookBody is the JSON body of a security webhook request.
type webhookBody struct {
	ID       string    `json:"id"`
	Type     string    `json:"type"`
	Time     time.Time `json:"time"`
	Security Alert     `json:"security"`
}

func (w *Webhook) deliver(ctx context.Context, a Alert) {
	typ := "security." + a.Type
	body, err := json.Marshal(webhookBody{ID: a.ID, Type: typ, Time: a.Time, Security: a})
	if err != nil {
		w.log.Error("security webhook: encode", "alert", a.ID, "err", err)
		return
	}
	for attempt := 1; ; attempt++ {
		status, retry, err := w.post(ctx, a.ID, typ, body)
		if err == nil {
			w.delivered.Add(1)
			return
		}
		if !retry || attempt >= w.maxAttempts || ctx.Err() != nil {
			w.failed.Add(1)
			w.log.Warn("security webhook delivery failed", "alert", a.ID, "attempts", attempt, "status", status, "error", err)
			return
		}
		t := time.NewTimer(w.backoff(attempt))
		select {
		case <-ctx.Done():
			t.Stop()
			w.failed.Add(1)
			w.log.Warn("security webhook delivery abandoned at shutdown", "alert", a.ID, "attempts", attempt)
			return
		case <-t.C:
		}
	}
}

// backoff is the wait after attempt n (1-based): uniformly random in
// [d/2, d] with d = min(max, base·2^(n−1)).
func (w *Webhook) backoff(n int) time.Duration {
	d := w.max
	if n-1 < 30 {
		d = min(w.max, w.base<<(n-1))
	}
	half := d / 2
	return half + rand.N(d-half+1)
}

// post sends one attempt; it reports the status, whether a failure may be
// retried, and the failure (which never names the URL: it may carry a
// credential in its query).
func (w *Webhook) post(ctx context.Context, id, typ string, body []byte) (int, bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return 0, false, fmt.Errorf("request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Vigil-Webhooks/1")
	req.Header.Set(alert.SignatureHeader, alert.Sign(w.secret, w.now(), body))
	req.Header.Set(alert.EventIDHeader, id)
	req.Header.Set(alert.EventTypeHeader, typ)
	resp, err := w.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return 0, true, fmt.Errorf("post: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
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
