package ecg

import (
	"math"
	"testing"
)

// rrSeries builds consecutive NN intervals from a list of interval values.
func rrSeries(iv []float64) []RR {
	var out []RR
	t := 0.0
	for _, v := range iv {
		t += v
		out = append(out, RR{Time: t, Interval: v, NN: true})
	}
	return out
}

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

func TestHRVTimeDomain(t *testing.T) {
	// Hand-computed: mean 0.82; deviations -0.02 0 -0.04 0.08 -0.02,
	// Σd² = 0.0088, SDNN = sqrt(0.0088/4) = 0.0469042; successive
	// differences 0.02 -0.04 0.12 -0.10, RMSSD = sqrt(0.0264/4) = 0.0812404;
	// NN50 = 2 of 4 differences.
	h := ComputeHRV(rrSeries([]float64{0.80, 0.82, 0.78, 0.90, 0.80}))
	tests := []struct {
		name      string
		got, want float64
	}{
		{"MeanNN", h.MeanNN, 0.82},
		{"MeanHR", h.MeanHR, 60 / 0.82},
		{"SDNN", h.SDNN, 0.0469042},
		{"RMSSD", h.RMSSD, 0.0812404},
		{"PNN50", h.PNN50, 0.5},
	}
	for _, tc := range tests {
		if !near(tc.got, tc.want, 1e-6) {
			t.Errorf("%s = %.7f, want %.7f", tc.name, tc.got, tc.want)
		}
	}
	if h.NN50 != 2 || h.N != 5 {
		t.Errorf("NN50 = %d, N = %d, want 2, 5", h.NN50, h.N)
	}
	if !math.IsNaN(h.LF) {
		t.Errorf("LF = %v on 4 s of data, want NaN", h.LF)
	}
}

func TestIntervalsExcludeEctopic(t *testing.T) {
	// Beats at 360 Hz: N N V N N; the two intervals around V are not NN,
	// and the successive difference across them is not taken.
	beats := []int64{0, 288, 500, 864, 1152}
	rr := Intervals(beats, []byte("NNVNN"), 360)
	want := []bool{true, false, false, true}
	for i, r := range rr {
		if r.NN != want[i] {
			t.Errorf("interval %d NN = %v, want %v", i, r.NN, want[i])
		}
	}
	h := ComputeHRV(rr)
	if h.N != 2 || !math.IsNaN(h.RMSSD) {
		t.Errorf("N = %d RMSSD = %v, want 2 and NaN (no adjacent NN pair)", h.N, h.RMSSD)
	}
	if got := AverageHR(rr, 0, 10); !near(got, 60*4/(1152.0/360), 1e-9) {
		t.Errorf("AverageHR = %v", got)
	}
	if got := InstantHR(rr[0]); !near(got, 75, 1e-9) {
		t.Errorf("InstantHR = %v, want 75", got)
	}
	// A pause longer than 2.5 s is not an NN interval.
	if rr := Intervals([]int64{0, 1000}, nil, 360); rr[0].NN {
		t.Errorf("2.8 s interval marked NN")
	}
}

func TestHRVFrequencyDomain(t *testing.T) {
	// Five minutes of RR modulated by a sinusoid of amplitude a: all its
	// power, a²/2, must land in the band of the modulation frequency.
	const a = 0.05
	tests := []struct {
		name string
		f    float64
		band func(HRV) float64
	}{
		{"HF 0.25 Hz", 0.25, func(h HRV) float64 { return h.HF }},
		{"LF 0.1 Hz", 0.10, func(h HRV) float64 { return h.LF }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var iv []float64
			tt := 0.0
			for tt < 300 {
				v := 0.8 + a*math.Sin(2*math.Pi*tc.f*tt)
				iv = append(iv, v)
				tt += v
			}
			h := ComputeHRV(rrSeries(iv))
			want := a * a / 2
			if got := tc.band(h); !near(got, want, 0.1*want) {
				t.Errorf("band power = %.6f s², want %.6f ± 10%%", got, want)
			}
			if tot := h.VLF + h.LF + h.HF; !near(tot, want, 0.15*want) {
				t.Errorf("total power = %.6f, want ≈ %.6f", tot, want)
			}
		})
	}
}
