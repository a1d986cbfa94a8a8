package auth

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/alert"
)

func TestNewWebhookRejects(t *testing.T) {
	cases := []struct {
		name   string
		url    string
		secret string
	}{
		{"relative URL", "/hook", "a secret of sufficient length"},
		{"ftp URL", "ftp://example.org/hook", "a secret of sufficient length"},
		{"short secret", "https://example.org/hook", "short"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := NewWebhook(WebhookConfig{URL: c.url, Secret: []byte(c.secret)}); !errors.Is(err, vigil.ErrInvalid) {
				t.Errorf("NewWebhook(%q) = %v, want invalid", c.url, err)
			}
		})
	}
}

// TestWebhookDelivery sends an alert to a real HTTP receiver that fails
// once: the retry arrives signed like alert webhooks, with the same event
// id; a receiver that refuses (4xx) is not retried.
func TestWebhookDelivery(t *testing.T) {
	secret := []byte("a webhook secret of thirty-two bytes or more")
	type got struct {
		header http.Header
		body   []byte
	}
	for _, c := range []struct {
		name     string
		statuses []int // answers in order, then 200
		attempts int32
		wantOK   bool
	}{
		{"retried after a 503", []int{503}, 2, true},
		{"refused with a 400", []int{400}, 1, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			var n atomic.Int32
			received := make(chan got, 8)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				i := int(n.Add(1)) - 1
				received <- got{r.Header.Clone(), b}
				if i < len(c.statuses) {
					w.WriteHeader(c.statuses[i])
				}
			}))
			defer srv.Close()
			w, err := NewWebhook(WebhookConfig{URL: srv.URL + "/hook?key=x", Secret: secret, BaseDelay: 10 * time.Millisecond, MaxDelay: 20 * time.Millisecond,
				Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error)
			go func() { done <- w.Run(ctx) }()
			now := time.Now().UTC().Truncate(time.Millisecond)
			a := Alert{ID: "g1", Type: AlertBreakGlass, Time: now, Account: "acc1", Username: "nurse", Role: vigil.RoleClinician,
				Patient: "Patient/pB", Reason: "patient unconscious", Grant: "g1", Expires: now.Add(time.Hour)}
			w.Notify(a)
			var first string
			for i := range c.attempts {
				select {
				case g := <-received:
					if err := alert.VerifySignature(secret, g.header.Get(alert.SignatureHeader), g.body, time.Now(), time.Minute); err != nil {
						t.Errorf("attempt %d: signature: %v", i+1, err)
					}
					if id, typ := g.header.Get(alert.EventIDHeader), g.header.Get(alert.EventTypeHeader); id != "g1" || typ != "security.break-glass" {
						t.Errorf("attempt %d: headers %s=%q %s=%q", i+1, alert.EventIDHeader, id, alert.EventTypeHeader, typ)
					}
					var body struct {
						ID       string `json:"id"`
						Type     string `json:"type"`
						Security Alert  `json:"security"`
					}
					if err := json.Unmarshal(g.body, &body); err != nil {
						t.Fatalf("attempt %d: body %s: %v", i+1, g.body, err)
					}
					if body.ID != "g1" || body.Type != "security.break-glass" || body.Security.Patient != "Patient/pB" ||
						body.Security.Reason != a.Reason || !body.Security.Expires.Equal(a.Expires) {
						t.Errorf("attempt %d: body %s", i+1, g.body)
					}
					if i == 0 {
						first = string(g.body)
					} else if string(g.body) != first {
						t.Errorf("a retry changed the body: %s, then %s", first, g.body)
					}
				case <-time.After(5 * time.Second):
					t.Fatalf("attempt %d did not arrive", i+1)
				}
			}
			deadline := time.Now().Add(5 * time.Second)
			for w.Delivered()+w.Failed() == 0 && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			if c.wantOK && (w.Delivered() != 1 || w.Failed() != 0) || !c.wantOK && (w.Delivered() != 0 || w.Failed() != 1) {
				t.Errorf("Delivered() = %d, Failed() = %d", w.Delivered(), w.Failed())
			}
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Errorf("Run = %v", err)
			}
			if got := n.Load(); got != c.attempts {
				t.Errorf("%d attempts, want %d", got, c.attempts)
			}
		})
	}
}
