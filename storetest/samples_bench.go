package storetest

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigilhealth/vigil"
)

// SampleBenchRowsEnv names the environment variable that sets how many
// samples BenchQuerySamples preloads (default DefaultSampleBenchRows), e.g.
// VIGIL_SAMPLE_BENCH_ROWS=10000000 for the ten-million-row check.
const SampleBenchRowsEnv = "VIGIL_SAMPLE_BENCH_ROWS"

// DefaultSampleBenchRows is the preload of BenchQuerySamples when
// SampleBenchRowsEnv is unset.
const DefaultSampleBenchRows = 500_000

// BenchSamples runs the shared sample-store benchmarks: AppendSamples in
// batches of 100 and 1000 from 8 goroutines (one device per batch, and
// 1000 readings each from another device), and QuerySamples of one
// patient's last 24 hours. open returns a new, empty store for each.
func BenchSamples(b *testing.B, open func(b *testing.B) vigil.SampleStore) {
	for _, size := range []int{100, 1000} {
		b.Run(fmt.Sprintf("Append%d", size), func(b *testing.B) { BenchAppendSamples(b, open(b), size) })
	}
	b.Run("AppendSpread1000", func(b *testing.B) { benchAppend(b, open(b), 1000, spreadBatch) })
	b.Run("AppendWaveform", func(b *testing.B) { BenchAppendWaveform(b, open(b)) })
	b.Run("Query24h", func(b *testing.B) { BenchQuerySamples(b, open(b), sampleBenchRows(b)) })
}

// BenchAppendWaveform measures AppendWaveform of 10 s ECG-like chunks
// (2,500 samples at 250 Hz) from 8 goroutines, each op one chunk of one of
// 1000 patients; it reports waveform samples/s and CPU per sample.
func BenchAppendWaveform(b *testing.B, s vigil.SampleStore) {
	ctx := b.Context()
	var seq atomic.Int64
	b.ReportAllocs()
	b.SetBytes(4 * 2500)
	b.SetParallelism(max(1, 8/runtime.GOMAXPROCS(0)))
	start, cpu := time.Now(), processCPU()
	b.RunParallel(func(pb *testing.PB) {
		samples := make([]int32, 2500)
		for pb.Next() {
			n := seq.Add(1)
			for i := range samples {
				// A beat every 200 samples on a wandering baseline.
				v := int32(1000 + (int(n)+i)%97)
				if i%200 < 8 {
					v += 600
				}
				samples[i] = v
			}
			w := &vigil.Waveform{Patient: benchPatient(int(n % 1000)), Device: "ecg", Code: "131329",
				Start: sampleBase().Add(time.Duration(n/1000) * 10 * time.Second), RateHz: 250, Gain: 0.005, Unit: "mV", Samples: samples}
			ok, err := s.AppendWaveform(ctx, w)
			if err != nil || !ok {
				b.Errorf("AppendWaveform = %v, %v; want true, nil", ok, err)
				return
			}
		}
	})
	reportRate(b, int(seq.Load())*2500, start, cpu)
}

func sampleBenchRows(b *testing.B) int {
	s := os.Getenv(SampleBenchRowsEnv)
	if s == "" {
		return DefaultSampleBenchRows
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		b.Fatalf("%s=%q is not a positive number", SampleBenchRowsEnv, s)
	}
	return n
}

// sampleBenchCodes are the codes the benchmark devices send, in turn.
var sampleBenchCodes = [...]string{"8867-4", "2708-6", "9279-1", "8310-5"}

// benchPatient returns the id of benchmark patient i: UUID-sized, like the
// ids the FHIR store makes.
func benchPatient(i int) string { return fmt.Sprintf("0193a3c0-7f6e-7c1a-9b2d-%012d", i) }

// benchBatch fills batch with the n-th batch of the append benchmark: one
// device of one of 1000 patients, readings one second apart cycling over
// four codes, all distinct from those of any other n.
func benchBatch(batch []vigil.Sample, n int64, received time.Time) {
	const patients = 1000
	p := int(n % patients)
	patient := benchPatient(p)
	device := "dev-" + strconv.Itoa(p)
	t0 := sampleBase().Add(time.Duration(n/patients) * time.Duration(len(batch)) * time.Second)
	for i := range batch {
		batch[i] = vigil.Sample{Patient: patient, Device: device, Code: sampleBenchCodes[i%len(sampleBenchCodes)],
			Time: t0.Add(time.Duration(i) * time.Second), Value: float64(60 + i%40), Unit: "/min",
			Received: received, Source: "http"}
	}
}

// BenchAppendSamples measures AppendSamples of batches of size new
// samples from 8 goroutines (b.RunParallel), each op one batch from one
// device of one of 1000 patients; it reports samples/s and CPU per sample.
// With group commit the batches of the goroutines share commits. Before
// the clock starts, every patient's device sends one earlier reading of
// each code, so that the store is measured in its steady state (it knows
// the devices) rather than while it meets them.
func BenchAppendSamples(b *testing.B, s vigil.SampleStore, size int) {
	benchAppend(b, s, size, benchBatch)
}

// spreadBatch fills batch with the n-th batch of the spread benchmark:
// each reading from another of the 1000 patients' devices (a stride
// through them), the codes in turn, all distinct from those of any other
// n. The series a batch touches are as many as its readings: the layout's
// worst case, unlike a gateway's runs of one device.
func spreadBatch(batch []vigil.Sample, n int64, received time.Time) {
	t0 := sampleBase().Add(time.Duration(n) * time.Second)
	for i := range batch {
		p := int((n*7919 + int64(i)*613) % 1000)
		batch[i] = vigil.Sample{Patient: benchPatient(p), Device: "dev-" + strconv.Itoa(p),
			Code: sampleBenchCodes[(i+int(n))%len(sampleBenchCodes)], Time: t0.Add(time.Duration(i) * time.Millisecond),
			Value: float64(60 + i%40), Unit: "/min", Received: received, Source: "http"}
	}
}

// benchAppend measures AppendSamples of the batches fill makes.
func benchAppend(b *testing.B, s vigil.SampleStore, size int, fill func([]vigil.Sample, int64, time.Time)) {
	ctx := b.Context()
	received := time.Now().UTC()
	warm := make([]vigil.Sample, len(sampleBenchCodes))
	for p := range 1000 {
		benchBatch(warm, int64(p), received)
		for i := range warm {
			warm[i].Code = sampleBenchCodes[i]
			warm[i].Time = sampleBase().Add(-time.Hour)
		}
		if _, err := s.AppendSamples(ctx, warm); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	var seq atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(max(1, 8/runtime.GOMAXPROCS(0)))
	start, cpu := time.Now(), processCPU()
	b.RunParallel(func(pb *testing.PB) {
		batch := make([]vigil.Sample, size)
		for pb.Next() {
			fill(batch, seq.Add(1), received)
			stored, err := s.AppendSamples(ctx, batch)
			if err != nil {
				b.Error(err)
				return
			}
			if !stored[0] || !stored[size-1] {
				b.Error("a new sample was reported as a duplicate")
				return
			}
		}
	})
	reportRate(b, int(seq.Load())*size, start, cpu)
}

// reportRate reports samples/s and the process's CPU time per sample
// (all goroutines: the callers' and the store's).
func reportRate(b *testing.B, samples int, start time.Time, cpu time.Duration) {
	b.ReportMetric(float64(samples)/time.Since(start).Seconds(), "samples/s")
	if c := processCPU() - cpu; c > 0 && samples > 0 {
		b.ReportMetric(float64(c.Nanoseconds())/float64(samples), "cpu-ns/sample")
	}
}

// BenchQuerySamples preloads rows samples (patients with four codes, one
// reading per code per minute over 7 days: 40,320 rows per patient) and
// measures QuerySamples of one patient's last 24 hours, all codes (5,760
// samples), for patients picked in turn. It reports samples/s read.
func BenchQuerySamples(b *testing.B, s vigil.SampleStore, rows int) {
	const perPatient = 7 * 24 * 60 * len(sampleBenchCodes)
	patients := max(1, rows/perPatient)
	ctx := b.Context()
	end := sampleBase().Add(7 * 24 * time.Hour)
	received := time.Now().UTC()
	b.Logf("preloading %d samples (%d patients × %d)", patients*perPatient, patients, perPatient)
	loadStart := time.Now()
	var wg sync.WaitGroup
	next := atomic.Int64{}
	for range 8 {
		wg.Go(func() {
			batch := make([]vigil.Sample, 0, 1000)
			for {
				p := int(next.Add(1) - 1)
				if p >= patients {
					return
				}
				patient := benchPatient(p)
				device := "dev-" + strconv.Itoa(p)
				for m := range 7 * 24 * 60 {
					at := sampleBase().Add(time.Duration(m) * time.Minute)
					for c, code := range sampleBenchCodes {
						batch = append(batch, vigil.Sample{Patient: patient, Device: device, Code: code, Time: at,
							Value: float64(60 + (m+c)%40), Unit: "/min", Received: received, Source: "sim"})
					}
					if len(batch) == cap(batch) {
						if _, err := s.AppendSamples(ctx, batch); err != nil {
							b.Error(err)
							return
						}
						batch = batch[:0]
					}
				}
				if len(batch) > 0 {
					if _, err := s.AppendSamples(ctx, batch); err != nil {
						b.Error(err)
						return
					}
					batch = batch[:0]
				}
			}
		})
	}
	wg.Wait()
	if b.Failed() {
		return
	}
	b.Logf("preloaded in %v (%.0f samples/s)", time.Since(loadStart).Round(time.Millisecond),
		float64(patients*perPatient)/time.Since(loadStart).Seconds())
	b.ReportAllocs()
	n, got := 0, 0
	start, cpu := time.Now(), processCPU()
	for b.Loop() {
		q := vigil.SampleQuery{Patient: benchPatient(n % patients), From: end.Add(-24 * time.Hour), To: end}
		res, err := s.QuerySamples(ctx, &q)
		if err != nil {
			b.Fatal(err)
		}
		if len(res) != 24*60*len(sampleBenchCodes) {
			b.Fatalf("QuerySamples(last 24 h) = %d samples, want %d", len(res), 24*60*len(sampleBenchCodes))
		}
		n++
		got += len(res)
	}
	reportRate(b, got, start, cpu)
}
