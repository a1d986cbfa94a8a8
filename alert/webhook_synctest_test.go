package alert_test

import (
	"context"
	"net"
	"net/http"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/vigilhealth/vigil/alert"
)

// pipeListener is a net.Listener whose connections are in-memory pipes, so
// that a real http.Server and http.Client run inside a synctest bubble.
type pipeListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 80} }

func (l *pipeListener) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-l.done:
		return nil, net.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// TestWebhookBackoffSchedule checks, on the bubble's fake clock, that the
// waits between attempts follow the documented schedule: before attempt
// n+1, between half and all of min(MaxDelay, BaseDelay·2^(n−1)).
func TestWebhookBackoffSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var (
			mu       sync.Mutex
			attempts []time.Time
		)
		ln := newPipeListener()
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			attempts = append(attempts, time.Now())
			n := len(attempts)
			mu.Unlock()
			if err := alert.VerifySignature(secret, r.Header.Get(alert.SignatureHeader), mustRead(t, r), time.Now(), 0); err != nil {
				t.Errorf("attempt %d: signature: %v", n, err)
			}
			if n < 6 {
				w.WriteHeader(http.StatusServiceUnavailable)
			}
		})}
		go srv.Serve(ln)
		client := &http.Client{Transport: &http.Transport{DialContext: ln.dial, DisableKeepAlives: true}}
		w, err := alert.NewWebhooks(alert.WebhookConfig{
			Endpoints: []alert.Endpoint{{URL: "http://hooks.test/alerts", Secret: secret}},
			Client:    client, BaseDelay: time.Second, MaxDelay: 10 * time.Second, MaxAttempts: 8, Logger: quiet,
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		ran := make(chan struct{})
		go func() { w.Run(ctx); close(ran) }()

		w.Publish(event(alert.Escalated, "e1"))
		for w.Pending() > 0 {
			time.Sleep(100 * time.Millisecond)
		}
		cancel()
		<-ran
		srv.Close()
		ln.Close()

		if len(attempts) != 6 {
			t.Fatalf("%d attempts, want 6 (five 503s, then 200)", len(attempts))
		}
		// d for the waits after attempts 1..5: 1 s, 2 s, 4 s, 8 s, 10 s (capped).
		for i, d := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second} {
			wait := attempts[i+1].Sub(attempts[i])
			if wait < d/2 || wait > d {
				t.Errorf("wait before attempt %d = %v, want in [%v, %v]", i+2, wait, d/2, d)
			}
		}
		if ds := w.Deliveries(); len(ds) != 6 || ds[5].Outcome != "delivered" {
			t.Errorf("delivery log %+v, want five retries then delivered", ds)
		}
	})
}

func mustRead(t *testing.T, r *http.Request) []byte {
	t.Helper()
	b := make([]byte, 0, 512)
	buf := make([]byte, 512)
	for {
		n, err := r.Body.Read(buf)
		b = append(b, buf[:n]...)
		if err != nil {
			return b
		}
	}
}
