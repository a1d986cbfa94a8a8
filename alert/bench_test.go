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
// 10,000 patients and many concurrent raises, on each real store, at
// saturation (closed loop): each goroutine raises findings for its own
// share of the patients (two rules each), each finding with a new reading,
// so every raise writes and publishes. 100 further subscribers each watch
// 100 patients, like clinicians' dashboards. It reports the p50 and p99
// latency, the raises per second and the events the measuring subscriber
// missed (none expected).
func BenchmarkRaiseToSubscriber(b *testing.B) {
	for _, be := range backends {
		for _, par := range []int{2, 32} { // goroutines per GOMAXPROCS
			b.Run(fmt.Sprintf("%s/goroutines=%d", be.name, par*runtime.GOMAXPROCS(0)), func(b *testing.B) {
				lb := newLatencyBench(b, be.open(b))
				b.SetParallelism(par)
				var nextG atomic.Int64
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					g := int(nextG.Add(1) - 1)
					n := par * runtime.GOMAXPROCS(0)
					p, r, minute := g, 0, 0
					for pb.Next() {
						lb.raise(p, r, minute, time.Now())
						// Next key of this goroutine: patients g, g+n, g+2n, …, two rules each.
						if r++; r == 2 {
							r = 0
							if p += n; p >= benchPatients {
								p, minute = g, minute+1
							}
						}
					}
				})
				lb.report(b)
			})
		}
	}
}

// BenchmarkRaiseToSubscriberRate measures the same latency at a fixed
// offered load (open loop): raises start on schedule, each in its own
// goroutine, spread over the 10,000 patients, and latency counts from the
// scheduled time, so queueing behind a slow store is included.
func BenchmarkRaiseToSubscriberRate(b *testing.B) {
	for _, be := range backends {
		for _, rate := range []int{100, 500, 2000} {
			b.Run(fmt.Sprintf("%s/rate=%d", be.name, rate), func(b *testing.B) {
				lb := newLatencyBench(b, be.open(b))
				interval := time.Second / time.Duration(rate)
				var wg sync.WaitGroup
				b.ResetTimer()
				begin := time.Now()
				for i := 0; b.Loop(); i++ {
					at := begin.Add(time.Duration(i) * interval)
					time.Sleep(time.Until(at))
					p := (i * 7919) % benchPatients // a prime stride visits every patient
					wg.Go(func() { lb.raise(p, 0, i/benchPatients, at) })
				}
				wg.Wait()
				lb.report(b)
			})
		}
	}
}

// latencyBench is the set-up shared by the latency benchmarks.
type latencyBench struct {
	eng      *alert.Engine
	patients []string
	// start[p*2+r] is the Raise start time (Unix ns) of patient p, rule r.
	start   []atomic.Int64
	t0      time.Time
	began   time.Time
	lat     []time.Duration
	missed  uint64
	got     atomic.Int64
	raised  atomic.Int64
	errs    atomic.Int64
	readers sync.WaitGroup
	cancel  func()
}

func newLatencyBench(b *testing.B, store vigil.AlertStore) *latencyBench {
	hub := alert.NewHub(4096)
	eng, err := alert.New(alert.Config{Store: store, Sinks: []alert.Sink{hub}, Escalation: alert.DefaultEscalation()})
	if err != nil {
		b.Fatal(err)
	}
	for i := range 100 {
		_, cancel := hub.Subscribe(func(a *vigil.Alert) bool { return patientIndex(a.Patient)%100 == i })
		b.Cleanup(cancel)
	}
	lb := &latencyBench{eng: eng, start: make([]atomic.Int64, benchPatients*2), patients: make([]string, benchPatients), t0: time.Now()}
	for i := range lb.patients {
		lb.patients[i] = fmt.Sprintf("p%05d", i)
	}
	ch, cancel := hub.Subscribe(nil)
	lb.cancel = cancel
	lb.readers.Go(func() {
		for ev := range ch {
			now := time.Now().UnixNano()
			k := patientIndex(ev.Alert.Patient)*2 + int(ev.Alert.Rule[1]-'0')
			lb.lat = append(lb.lat, time.Duration(now-lb.start[k].Load()))
			lb.missed += ev.Missed
			lb.got.Add(1)
		}
	})
	b.ReportAllocs()
	lb.began = time.Now()
	return lb
}

// raise raises a finding of patient p, rule r, with a reading at the
// given minute, timed from start.
func (lb *latencyBench) raise(p, r, minute int, start time.Time) {
	f := alert.Finding{Patient: lb.patients[p], Rule: fmt.Sprintf("r%d", r), Severity: "high", Title: "bench",
		Readings: []vigil.Sample{{Code: "59408-5", Time: lb.t0.Add(time.Duration(minute) * time.Minute), Value: 85, Unit: "%"}}}
	lb.start[p*2+r].Store(start.UnixNano())
	if _, err := lb.eng.Raise(context.Background(), f); err != nil {
		lb.errs.Add(1)
		return
	}
	lb.raised.Add(1)
}

func (lb *latencyBench) report(b *testing.B) {
	elapsed := time.Since(lb.began)
	b.StopTimer()
	deadline := time.Now().Add(30 * time.Second)
	for lb.got.Load() < lb.raised.Load() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	lb.cancel()
	lb.readers.Wait()
	if n := lb.errs.Load(); n > 0 {
		b.Errorf("%d raises failed", n)
	}
	if len(lb.lat) == 0 {
		return
	}
	slices.Sort(lb.lat)
	q := func(p float64) float64 { return float64(lb.lat[int(p*float64(len(lb.lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(float64(lb.raised.Load())/elapsed.Seconds(), "raises/s")
	b.ReportMetric(float64(lb.missed), "missed")
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
