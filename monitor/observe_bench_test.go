package monitor_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/vitals"
)

// BenchmarkObserve measures Monitor.Observe on batches of 1,000 readings,
// each from one of 1,000 patients whose state is already built (the shape
// of an ingest request from many devices; stable values, so no alert):
// NEWS2 and the default programme's rules for every patient touched. It
// reports readings/s; ns/op is one batch.
func BenchmarkObserve(b *testing.B) {
	const patients, batch = 1000, 1000
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	r := newRig(b, b.TempDir(), now)
	ctx := context.Background()
	codes := []struct {
		code, unit string
		v          float64
	}{{vitals.CodeHeartRate, "/min", 72}, {vitals.CodeRespRate, "/min", 16}, {vitals.CodeSpO2, "%", 97}, {vitals.CodeBodyTemp, "Cel", 36.8}}
	sample := func(p, c int, at time.Time) vigil.Sample {
		k := codes[c%len(codes)]
		return vigil.Sample{Patient: fmt.Sprintf("bench-%d", p), Device: fmt.Sprintf("dev-%d", p), Code: k.code,
			Time: at, Value: k.v, Unit: k.unit, Source: "bench"}
	}
	warm := make([]vigil.Sample, 0, patients*len(codes))
	for p := range patients {
		for c := range codes {
			warm = append(warm, sample(p, c, now.Add(-time.Minute)))
		}
	}
	r.mon.Observe(ctx, warm) // builds every patient's state
	in := make([]vigil.Sample, batch)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		for i := range in {
			n++
			in[i] = sample((n*7919)%patients, n, now.Add(time.Duration(n)*time.Millisecond))
		}
		r.mon.Observe(ctx, in)
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "readings/s")
}
