package alert_test

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/alert"
)

const benchPatients = 10_000

// BenchmarkRaiseToSubscriber measures the time from the start of
// Engine.Raise to the event's arrival on a live subscriber's channel, with
// 10,000 patients and many concurrent raises, on each real store. Each
// goroutine raises findings for its own share of the patients (two rules
// each), each finding with a new reading, so every raise writes and
// publishes. 100 further subscribers each watch 100 patients, like
// clinicians' dashboards. It reports the p50 and p99 latency, the raises
// per second and the events a subscriber missed (none expected: its
// buffer is large).
func BenchmarkRaiseToSubscriber(b *testing.B) {
	for _, be := range backends {
		for _, par := range []int{2, 32} { // goroutines per GOMAXPROCS
			b.Run(fmt.Sprintf("%s/goroutines=%d", be.name, par*runtime.GOMAXPROCS(0)), func(b *testing.B) {
				benchRaise(b, be.open(b), par)
			})
		}
	}
}

func benchRaise(b *testing.B, store vigil.AlertStore, par int) {
	ctx := context.Background()
	hub := alert.NewHub(4096)
	eng, err := alert.New(alert.Config{Store: store, Sinks: []alert.Sink{hub}, Escalation: alert.DefaultEscalation()})
	if err != nil {
		b.Fatal(err)
	}
	for i := range 100 {
		_, cancel := hub.Subscribe(func(a *vigil.Alert) bool { return patientIndex(a.Patient)%100 == i })
		defer cancel()
	}
	// start[p*2+r] is the Raise start time (Unix ns) of patient p, rule r.
	start := make([]atomic.Int64, benchPatients*2)
	patients := make([]string, benchPatients)
	for i := range patients {
		patients[i] = fmt.Sprintf("p%05d", i)
	}
	ch, cancel := hub.Subscribe(nil)
	defer cancel()
	var (
		lat     []time.Duration
		missed  uint64
		got     atomic.Int64
		readers sync.WaitGroup
	)
	readers.Go(func() {
		for ev := range ch {
			now := time.Now().UnixNano()
			k := patientIndex(ev.Alert.Patient)*2 + int(ev.Alert.Rule[1]-'0')
			lat = append(lat, time.Duration(now-start[k].Load()))
			missed += ev.Missed
			got.Add(1)
		}
	})
	var (
		nextG  atomic.Int64
		raised atomic.Int64
		errs   atomic.Int64
	)
	b.ReportAllocs()
	b.SetParallelism(par)
	b.ResetTimer()
	t0 := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		g := int(nextG.Add(1) - 1)
		n := par * runtime.GOMAXPROCS(0)
		p, r, minute := g, 0, 0
		for pb.Next() {
			k := p*2 + r
			f := alert.Finding{Patient: patients[p], Rule: fmt.Sprintf("r%d", r), Severity: "high", Title: "bench",
				Readings: []vigil.Sample{{Code: "59408-5", Time: t0.Add(time.Duration(minute) * time.Minute), Value: 85, Unit: "%"}}}
			start[k].Store(time.Now().UnixNano())
			if _, err := eng.Raise(ctx, f); err != nil {
				errs.Add(1)
			} else {
				raised.Add(1)
			}
			// Next key of this goroutine: patients g, g+n, g+2n, …, two rules each.
			if r++; r == 2 {
				r = 0
				if p += n; p >= benchPatients {
					p, minute = g, minute+1
				}
			}
		}
	})
	elapsed := time.Since(t0)
	b.StopTimer()
	deadline := time.Now().Add(30 * time.Second)
	for got.Load() < raised.Load() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	cancel()
	readers.Wait()
	if errs.Load() > 0 {
		b.Errorf("%d raises failed", errs.Load())
	}
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(float64(raised.Load())/elapsed.Seconds(), "raises/s")
	b.ReportMetric(float64(missed), "missed")
}

// patientIndex parses "p00042" → 42.
func patientIndex(p string) int {
	n := 0
	for _, c := range p[1:] {
		n = n*10 + int(c-'0')
	}
	return n
}

// BenchmarkHubPublish measures one Publish to 100 subscribers, each
// filtering on the patient, one of which takes the event.
func BenchmarkHubPublish(b *testing.B) {
	hub := alert.NewHub(16)
	var wg sync.WaitGroup
	for i := range 100 {
		ch, cancel := hub.Subscribe(func(a *vigil.Alert) bool { return patientIndex(a.Patient)%100 == i })
		defer cancel()
		wg.Go(func() {
			for range ch {
			}
		})
	}
	ev := event(alert.Updated, "e")
	ev.Alert.Patient = "p00042"
	b.ReportAllocs()
	for b.Loop() {
		hub.Publish(ev)
	}
}

// BenchmarkSign measures signing a 2 KiB webhook body.
func BenchmarkSign(b *testing.B) {
	body := make([]byte, 2048)
	now := time.Now()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		alert.Sign(secret, now, body)
	}
}
