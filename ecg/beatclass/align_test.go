package beatclass

import (
	"math"
	"testing"
)

func TestAlign(t *testing.T) {
	const fs = 360.0
	// One sinus beat (q, R, S, T) and one wide inverted beat, each at
	// sample 720 of its own 4-second signal.
	beat := func(wide bool) []float32 {
		x := make([]float32, 4*fs)
		g := func(c, sigma, amp float64) {
			for i := range x {
				d := (float64(i)/fs - c) / sigma
				x[i] += float32(amp * math.Exp(-d*d/2))
			}
		}
		if wide {
			g(2, 0.035, -1.6)
			g(2.3, 0.05, 0.4)
		} else {
			g(2-0.02, 0.006, -0.15)
			g(2, 0.009, 1.2)
			g(2+0.03, 0.008, -0.25)
			g(2+0.26, 0.04, 0.3)
		}
		e := extractor{x: x, fs: fs}
		e.smooth()
		return e.y
	}
	normal := beat(false)
	tmpl := make([]float32, denseN)
	row := make([]float32, NumFeatures)
	e := extractor{x: normal, y: normal, fs: fs}
	e.shape(720, 0, row, tmpl)
	tests := []struct {
		name string
		y    []float32
		r    int // detected R peak
		want int
	}{
		{"on the peak", normal, 720, 0},
		{"15 samples early", normal, 705, 15},
		{"18 samples late", normal, 738, -18},
		{"beyond ±60 ms: the best within reach is not good enough", normal, 720 - 40, 0},
		{"ventricular beat keeps its position", beat(true), 720, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			snip, sr := (&extractor{x: tc.y, y: tc.y, fs: fs}).snippet(tc.r)
			if got := align(snip, sr, fs, tmpl); abs(got-tc.want) > 1 {
				t.Errorf("align(R at %d) = %d, want %d ± 1", tc.r, got, tc.want)
			}
		})
	}
}
