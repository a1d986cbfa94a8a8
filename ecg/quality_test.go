package ecg

import (
	"math"
	"math/rand/v2"
	"os"
	"testing"
)

// synthECG returns n samples of a spiky synthetic ECG at fs: a 1.2 mV
// triangular QRS of 80 ms every period seconds on a small sine (T-wave-like
// and baseline content), in ADC units at 200 adu/mV.
func synthECG(n int, fs, period float64) []int16 {
	x := make([]int16, n)
	p := int(period * fs)
	w := int(0.04 * fs)
	for i := range x {
		v := 20 * math.Sin(2*math.Pi*float64(i)/float64(p)*2)
		k := i % p
		if k < 2*w {
			v += 240 * (1 - math.Abs(float64(k-w))/float64(w))
		}
		x[i] = int16(v)
	}
	return x
}

func TestQualityMonitor(t *testing.T) {
	const fs = 250.0
	n := int(2 * fs)
	rng := rand.New(rand.NewPCG(1, 2))
	gauss := make([]int16, n)
	for i := range gauss {
		gauss[i] = int16(rng.NormFloat64() * 60)
	}
	flat := make([]int16, n)
	for i := range flat {
		flat[i] = 1000 + int16(i%3) // 3 ADC units of ripple: flat
	}
	gap := synthECG(n, fs, 0.8)
	for i := 100; i < 140; i++ {
		gap[i] = InvalidSample
	}
	clipped := synthECG(n, fs, 0.8)
	for i := range clipped {
		clipped[i] = max(-50, min(clipped[i], 60))
	}
	tests := []struct {
		name                         string
		x                            []int16
		gap, flat, clip, noisy, usab bool
	}{
		{"clean", synthECG(n, fs, 0.8), false, false, false, false, true},
		{"gaussian noise", gauss, false, false, false, true, false},
		{"flat line", flat, false, true, false, false, false},
		{"gap", gap, true, false, false, false, false},
		{"clipped", clipped, false, false, true, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := NewQualityMonitor(QualityConfig{Fs: fs, ADCMin: -50, ADCMax: 60})
			if err != nil {
				t.Fatal(err)
			}
			// Feed in uneven chunks.
			var q []Quality
			q = m.Process(tc.x[:77], q)
			q = m.Process(tc.x[77:], q)
			if len(q) != 1 {
				t.Fatalf("%d segments, want 1", len(q))
			}
			g := q[0]
			if g.Gap != tc.gap || g.Flat != tc.flat || g.Clipped != tc.clip || g.Noisy != tc.noisy || g.Usable() != tc.usab {
				t.Errorf("assess(%s) = %+v (usable %v), want gap %v flat %v clipped %v noisy %v usable %v",
					tc.name, g, g.Usable(), tc.gap, tc.flat, tc.clip, tc.noisy, tc.usab)
			}
			if g.Start != 0 || g.End != int64(n) {
				t.Errorf("segment [%d,%d), want [0,%d)", g.Start, g.End, n)
			}
		})
	}
}

func TestQualityMITBIH(t *testing.T) {
	dir := mitdb(t)
	rec, ann := readRefs(t, dir, "119")
	noise, err := ReadRecord(os.DirFS(dir+"/../nstdb-noise"), "ma")
	if err != nil {
		t.Skip("nstdb-noise not available")
	}
	x := rec.Signals[0].Samples
	usable := func(x []int16, from int) float64 {
		m, _ := NewQualityMonitor(QualityConfig{Fs: rec.Fs, Gain: rec.Signals[0].Gain})
		q := m.Process(x, nil)
		u, n := 0, 0
		for _, s := range q {
			if s.Start < int64(from) {
				continue
			}
			n++
			if s.Usable() {
				u++
			}
		}
		return float64(u) / float64(n)
	}
	clean := usable(x, 0)
	// nst protocol: noise in [5,7) min, [9,11) min, …; look at [5,7) only.
	noisy := AddNoise(x, ann, noise.Signals[0].Samples, rec.Fs, 0)
	seg := noisy[int(300*rec.Fs):int(420*rec.Fs)]
	bad := usable(seg, 0)
	t.Logf("119: usable %.1f%% clean, %.1f%% with ma noise at 0 dB", 100*clean, 100*bad)
	if clean < 0.95 {
		t.Errorf("clean record 119: %.1f%% usable segments, want ≥ 95%%", 100*clean)
	}
	if bad > 0.5 {
		t.Errorf("119 + ma at 0 dB: %.1f%% usable segments, want ≤ 50%%", 100*bad)
	}
}
