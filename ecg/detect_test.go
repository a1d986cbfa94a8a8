package ecg

import (
	"testing"
)

func BenchmarkDetector(b *testing.B) {
	rec, _ := readRefs(b, mitdb(b), "208")
	x := rec.Signals[0].Samples
	b.ReportAllocs()
	b.SetBytes(int64(2 * len(x)))
	dst := make([]Beat, 0, 4096)
	cpu0 := cpuTime()
	for b.Loop() {
		d, err := NewDetector(DetectorConfig{Fs: rec.Fs, Gain: rec.Signals[0].Gain})
		if err != nil {
			b.Fatal(err)
		}
		dst = d.Process(x, dst[:0])
	}
	b.ReportMetric(float64(b.N)*float64(len(x))/b.Elapsed().Seconds()/1e6, "Msamples/s")
	b.ReportMetric(float64(b.N)*float64(len(x))/(cpuTime()-cpu0).Seconds()/1e6, "Msamples/cpu-s")
}
