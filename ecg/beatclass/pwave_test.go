package beatclass

import (
	"math"
	"testing"
)

func TestPWave(t *testing.T) {
	const fs = 360.0
	// A sinus beat with its P wave pr seconds before R (0 for none), or a
	// wide inverted beat without one, at sample 720 of a 4-second signal.
	beat := func(pr float64, wide bool) []float32 {
		x := make([]float32, 4*fs)
		g := func(c, sigma, amp float64) {
			for i := range x {
				d := (float64(i)/fs - c) / sigma
				x[i] += float32(amp * math.Exp(-d*d/2))
			}
		}
		if pr > 0 {
			g(2-pr, 0.02, 0.15)
		}
		if wide {
			g(2, 0.035, -1.6)
			g(2.3, 0.05, 0.4)
		} else {
			g(2, 0.009, 1.2)
			g(2+0.26, 0.04, 0.3)
		}
		e := extractor{x: x, fs: fs}
		e.smooth()
		return e.y
	}
	sinus := beat(0.16, false)
	tmpl := make([]float32, denseN)
	row := make([]float32, NumFeatures)
	e := extractor{x: sinus, y: sinus, fs: fs}
	e.shape(720, 0, row, tmpl)
	tests := []struct {
		name      string
		y         []float32
		minFit    float32 // fit at least
		maxFit    float32 // fit at most
		wantShift float32 // ms, ± 3
	}{
		{"the usual P wave at the usual PR", sinus, 0.99, 1, 0},
		{"PR 30 ms longer", beat(0.19, false), 0.99, 1, -30},
		{"PR 15 ms shorter", beat(0.145, false), 0.99, 1, 15},
		{"no P wave (ventricular)", beat(0, true), -1, 0.7, float32(math.NaN())},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			snip, sr := (&extractor{x: tc.y, y: tc.y, fs: fs}).snippet(720)
			fit, shift := pWave(snip, sr, fs, tmpl)
			if fit < tc.minFit || fit > tc.maxFit || (!isNaN(tc.wantShift) && math.Abs(float64(shift-tc.wantShift)) > 3) {
				t.Errorf("pWave = %.3f, %.1f ms, want fit in [%v, %v], shift %v ± 3 ms", fit, shift, tc.minFit, tc.maxFit, tc.wantShift)
			}
		})
	}
	t.Run("flat template", func(t *testing.T) {
		fit, shift := pWave(sinus, 720, fs, make([]float32, denseN))
		if !isNaN(fit) || !isNaN(shift) {
			t.Errorf("pWave(flat template) = %v, %v, want NaN, NaN", fit, shift)
		}
	})
}
