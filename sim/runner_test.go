package sim

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/vigilhealth/vigil"
)

// recordingSink keeps what it is sent, and when (by the bubble's clock).
type recordingSink struct {
	mu    sync.Mutex
	rs    []vigil.Reading
	at    []time.Time
	fail  func(call int) error
	calls int
}

func (s *recordingSink) Send(ctx context.Context, rs []vigil.Reading) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.fail != nil {
		if err := s.fail(s.calls); err != nil {
			return 0, err
		}
	}
	for range rs {
		s.at = append(s.at, time.Now())
	}
	s.rs = append(s.rs, rs...)
	return 0, nil
}

func (s *recordingSink) Close() error { return nil }

// At speed 60, 10 simulated minutes take 10 real seconds, and every reading
// is sent once, no earlier than its simulated time allows.
func TestRunnerSpeed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		cfg := Config{Patients: patients(Stable, Hypoxia), Seed: 5, Start: start, Interval: 10 * time.Second}
		g := mustNew(t, cfg)
		sink := &recordingSink{}
		var reports []Progress
		r := &Runner{Source: g, Sink: sink, Speed: 60, Duration: 10 * time.Minute, Report: func(p Progress) { reports = append(reports, p) }}
		p, err := r.Run(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if el := time.Since(start); el != 10*time.Second {
			t.Errorf("run took %v of real time, want 10s", el)
		}
		want := mustNew(t, cfg).Until(start.Add(10 * time.Minute))
		a, _ := json.Marshal(sink.rs)
		b, _ := json.Marshal(want)
		if string(a) != string(b) {
			t.Errorf("sent %d readings, want the generator's %d in order", len(sink.rs), len(want))
		}
		for i, rd := range sink.rs {
			// Simulated time of reading i must have been reached when sent.
			if due := start.Add(rd.Time.Sub(start) / 60); sink.at[i].Before(due) {
				t.Fatalf("reading at %v sent at real %v, before %v", rd.Time, sink.at[i].Sub(start), due.Sub(start))
			}
		}
		if p.Sent != int64(len(want)) || p.Failed != 0 || len(reports) != 11 || !p.Sim.Equal(start.Add(10*time.Minute)) {
			t.Errorf("progress %+v after %d reports, want %d sent, 11 reports", p, len(reports), len(want))
		}
	})
}

// The first failed send and refused credentials stop the run; later
// failures are counted and the run goes on.
func TestRunnerErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := mustNew(t, Config{Patients: patients(Stable), Start: time.Now()})
		sink := &recordingSink{fail: func(int) error { return errors.New("connection refused") }}
		_, err := (&Runner{Source: g, Sink: sink, Duration: time.Hour}).Run(t.Context())
		if err == nil || sink.calls != 1 {
			t.Errorf("first send failing: err %v after %d calls, want the error after 1", err, sink.calls)
		}

		sink = &recordingSink{fail: func(call int) error {
			switch {
			case call == 3 || call == 4:
				return errors.New("503 Service Unavailable")
			case call == 6:
				return vigil.Errorf(vigil.ErrUnauthorized, "token revoked")
			}
			return nil
		}}
		r := &Runner{Source: mustNew(t, Config{Patients: patients(Stable), Start: time.Now()}), Sink: sink, Speed: 60}
		p, err := r.Run(t.Context())
		if !errors.Is(err, vigil.ErrUnauthorized) || sink.calls != 6 || p.Failed == 0 || p.Sent <= p.Failed {
			t.Errorf("Run = %+v, %v after %d calls; want failures counted, then a stop at the refused token (call 6)", p, err, sink.calls)
		}
	})
}

func TestHTTPSink(t *testing.T) {
	var got [][]vigil.Reading
	var auths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/ingest" || r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "bad request line", 400)
			return
		}
		if r.Header.Get("Authorization") == "Bearer revoked" {
			http.Error(w, "unauthorized", 401)
			return
		}
		var rs []vigil.Reading
		if err := json.NewDecoder(r.Body).Decode(&rs); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		got, auths = append(got, rs), append(auths, r.Header.Get("Authorization"))
		res := make([]vigil.ItemResult, len(rs))
		rej := 0
		for i, rd := range rs {
			res[i] = vigil.ItemResult{Index: i, Status: vigil.ItemStored}
			if *rd.Time == (time.Time{}) || rd.Code == "8310-5" {
				res[i].Status, rej = vigil.ItemRejected, rej+1
			}
		}
		json.NewEncoder(w).Encode(map[string]any{"results": res, "rejected": rej})
	}))
	defer srv.Close()
	ps := patients(Stable, Stable)
	ps[1].Token = "own"
	s, err := NewHTTPSink(srv.URL, "shared", ps, nil)
	if err != nil {
		t.Fatal(err)
	}
	rs := mustNew(t, Config{Patients: ps, Start: t0, Seed: 2}).Until(t0.Add(2 * time.Hour))
	temps := 0
	for _, r := range rs {
		if r.Code == "8310-5" {
			temps++
		}
	}
	rej, err := s.Send(t.Context(), rs)
	if err != nil || rej != temps {
		t.Fatalf("Send = %d, %v; want %d rejected", rej, err, temps)
	}
	if len(got) != 2 || len(got[0])+len(got[1]) != len(rs) {
		t.Fatalf("%d requests of %d readings in all, want 2 of %d", len(got), len(got[0])+len(got[1]), len(rs))
	}
	for i, auth := range auths {
		want := map[string]string{"Bearer shared": "d0", "Bearer own": "d1"}[auth]
		for _, r := range got[i] {
			if r.Device != want {
				t.Fatalf("reading of %s sent with %q", r.Device, auth)
			}
		}
	}
	s, _ = NewHTTPSink(srv.URL+"/", "revoked", patients(Stable), nil)
	if _, err := s.Send(t.Context(), rs[:1]); !errors.Is(err, vigil.ErrUnauthorized) {
		t.Errorf("Send with a revoked token: %v, want ErrUnauthorized", err)
	}
	if _, err := NewHTTPSink("ftp://x", "", nil, nil); err == nil || !strings.Contains(err.Error(), "http") {
		t.Errorf("NewHTTPSink(ftp://x) = %v, want an error", err)
	}
}
