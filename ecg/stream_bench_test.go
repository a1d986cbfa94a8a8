package ecg

import (
	"testing"
)

// resample converts x from fs to fs2 by linear interpolation (test helper
// for streaming at wearable rates).
func resample(x []int16, fs, fs2 float64) []int16 {
	n := int(float64(len(x)) * fs2 / fs)
	out := make([]int16, n)
	for i := range out {
		p := float64(i) * fs / fs2
		j := int(p)
		if j+1 >= len(x) {
			out[i] = x[len(x)-1]
			continue
		}
		f := p - float64(j)
		out[i] = int16(float64(x[j])*(1-f) + float64(x[j+1])*f)
	}
	return out
}

// BenchmarkStream1000Patients feeds one second of 250 Hz single-lead ECG
// (DS1 records resampled) to each of 1,000 per-patient Analyzers per
// iteration, on one goroutine: ns/op is the CPU time one core needs for one
// second of signal from 1,000 patients.
func BenchmarkStream1000Patients(b *testing.B) {
	const (
		patients = 1000
		fs       = 250.0
		chunk    = 250
	)
	dir := mitdb(b)
	var sigs [][]int16
	for _, name := range ds1 {
		rec, _ := readRefs(b, dir, name)
		sigs = append(sigs, resample(rec.Signals[0].Samples[:360*600], 360, fs))
	}
	type patient struct {
		a   *Analyzer
		sig []int16
		pos int64
	}
	ps := make([]patient, patients)
	for i := range ps {
		a, err := NewAnalyzer(AnalyzerConfig{Fs: fs, Gain: 200})
		if err != nil {
			b.Fatal(err)
		}
		ps[i] = patient{a: a, sig: sigs[i%len(sigs)], pos: int64(i / len(sigs) * chunk)}
	}
	var out Output
	beats := 0
	b.ReportAllocs()
	b.SetBytes(2 * patients * chunk)
	cpu0 := cpuTime()
	for b.Loop() {
		for i := range ps {
			p := &ps[i]
			off := int(p.pos % int64(len(p.sig)-chunk))
			if err := p.a.Write(p.pos, p.sig[off:off+chunk], &out); err != nil {
				b.Fatal(err)
			}
			p.pos += chunk
			beats += len(out.Beats)
			out.Reset()
		}
	}
	// CPU seconds used per second of signal from all patients.
	sec := (cpuTime() - cpu0).Seconds() / float64(b.N)
	b.ReportMetric(float64(patients*chunk)/sec/1e6, "Msamples/cpu-s")
	b.ReportMetric(1/sec, "x-realtime/core")
	b.ReportMetric(sec*100, "%core")
	_ = beats
}
