package ecg

import (
	"math"
)

// Heart rate and heart-rate variability after the Task Force of the
// European Society of Cardiology and the North American Society of Pacing
// and Electrophysiology, "Heart rate variability: standards of measurement,
// physiological interpretation and clinical use", Circulation 93:1043–1065
// (1996). Frequency-domain measures use the Lomb–Scargle periodogram of the
// unevenly sampled NN series (Lomb 1976; Scargle 1982), which needs no
// interpolation and tolerates the gaps left by excluded intervals (Clifford
// & Tarassenko, IEEE TBME 52:630–638, 2005).

// RR interval limits: intervals outside are artefacts or pauses, not NN.
const (
	minNN = 0.25 // s (240 bpm)
	maxNN = 2.5  // s (24 bpm); longer gaps are pauses
)

// RR is the interval between two consecutive beats.
type RR struct {
	// Time is the time of the beat that ends the interval, in seconds.
	Time float64
	// Interval is the RR interval in seconds.
	Interval float64
	// NN is true when both beats are normal (AAMI class N), the interval is
	// physiologically plausible (0.25–2.5 s), and it does not span a segment
	// marked unreadable.
	NN bool
}

// Intervals returns the RR intervals between consecutive beats (sample
// indices at fs). labels, if not nil, holds one AAMI class per beat
// ('N', 'S', 'V', 'F', 'Q'); an interval touching a non-N beat is not NN,
// so intervals adjacent to ectopic beats are excluded from HRV. Without
// labels every beat counts as N.
func Intervals(beats []int64, labels []byte, fs float64) []RR {
	if len(beats) < 2 {
		return nil
	}
	out := make([]RR, 0, len(beats)-1)
	for i := 1; i < len(beats); i++ {
		iv := float64(beats[i]-beats[i-1]) / fs
		nn := iv >= minNN && iv <= maxNN
		if labels != nil && (labels[i] != 'N' || labels[i-1] != 'N') {
			nn = false
		}
		out = append(out, RR{Time: float64(beats[i]) / fs, Interval: iv, NN: nn})
	}
	return out
}

// InstantHR returns the instantaneous heart rate of an interval in beats per
// minute.
func InstantHR(r RR) float64 { return 60 / r.Interval }

// AverageHR returns the mean heart rate in beats per minute over the
// intervals ending in [from, to) seconds, as beats counted over time (60·n /
// Σ RR), including ectopic beats. It returns NaN when there are none.
func AverageHR(rr []RR, from, to float64) float64 {
	n, sum := 0, 0.0
	for _, r := range rr {
		if r.Time >= from && r.Time < to {
			n++
			sum += r.Interval
		}
	}
	if n == 0 {
		return math.NaN()
	}
	return 60 * float64(n) / sum
}

// HRV holds time- and frequency-domain heart-rate variability measures over
// the NN intervals of a recording or segment (Task Force 1996, tables 1
// and 2). Times are in seconds, powers in s²; NaN marks a measure that
// could not be computed (too few intervals).
type HRV struct {
	N      int     // number of NN intervals used
	MeanNN float64 // mean NN interval
	MeanHR float64 // 60 / MeanNN, beats per minute
	SDNN   float64 // standard deviation of NN intervals (n-1 denominator)
	RMSSD  float64 // root mean square of successive NN differences
	NN50   int     // successive NN differences larger than 50 ms
	PNN50  float64 // NN50 / number of successive NN differences
	VLF    float64 // power 0.0033–0.04 Hz
	LF     float64 // power 0.04–0.15 Hz
	HF     float64 // power 0.15–0.4 Hz
	LFHF   float64 // LF / HF
	LFnu   float64 // LF / (LF + HF)
	HFnu   float64 // HF / (LF + HF)
}

// Task Force frequency bands, Hz.
const (
	vlfLow  = 0.0033
	lfLow   = 0.04
	hfLow   = 0.15
	hfHigh  = 0.40
	lombOfa = 4 // oversampling of the frequency grid
)

// ComputeHRV returns the HRV measures of the NN intervals in rr. Successive
// differences are taken only between NN intervals that share a beat, so an
// excluded interval breaks the sequence. Frequency measures need at least
// 30 s of NN data and are NaN otherwise; the Task Force recommends 5-minute
// segments for short-term LF and HF.
func ComputeHRV(rr []RR) HRV {
	h := HRV{MeanNN: math.NaN(), MeanHR: math.NaN(), SDNN: math.NaN(), RMSSD: math.NaN(), PNN50: math.NaN(),
		VLF: math.NaN(), LF: math.NaN(), HF: math.NaN(), LFHF: math.NaN(), LFnu: math.NaN(), HFnu: math.NaN()}
	var sum float64
	for _, r := range rr {
		if r.NN {
			h.N++
			sum += r.Interval
		}
	}
	if h.N == 0 {
		return h
	}
	h.MeanNN = sum / float64(h.N)
	h.MeanHR = 60 / h.MeanNN
	if h.N > 1 {
		var ss float64
		for _, r := range rr {
			if r.NN {
				d := r.Interval - h.MeanNN
				ss += d * d
			}
		}
		h.SDNN = math.Sqrt(ss / float64(h.N-1))
	}
	var sd float64
	nd := 0
	for i := 1; i < len(rr); i++ {
		if !rr[i].NN || !rr[i-1].NN {
			continue
		}
		// Consecutive in time: the earlier interval ends where this one starts.
		if math.Abs(rr[i].Time-rr[i].Interval-rr[i-1].Time) > 1e-9 {
			continue
		}
		d := rr[i].Interval - rr[i-1].Interval
		sd += d * d
		nd++
		if math.Abs(d) > 0.050 {
			h.NN50++
		}
	}
	if nd > 0 {
		h.RMSSD = math.Sqrt(sd / float64(nd))
		h.PNN50 = float64(h.NN50) / float64(nd)
	}
	h.lomb(rr)
	return h
}

// lomb fills the frequency-domain measures from the Lomb–Scargle
// periodogram of the NN series, scaled to a one-sided power spectral
// density whose integral is the variance of the series.
func (h *HRV) lomb(rr []RR) {
	var t, y []float64
	for _, r := range rr {
		if r.NN {
			t = append(t, r.Time)
			y = append(y, r.Interval-h.MeanNN)
		}
	}
	if len(t) < 8 {
		return
	}
	span := t[len(t)-1] - t[0]
	if span < 30 {
		return
	}
	df := 1 / (span * lombOfa)
	scale := 2 * span / float64(len(t)) // periodogram → PSD, s²/Hz
	var vlf, lf, hf float64
	for f := df; f < hfHigh; f += df {
		p := lombAt(t, y, 2*math.Pi*f) * scale * df
		switch {
		case f >= vlfLow && f < lfLow:
			vlf += p
		case f >= lfLow && f < hfLow:
			lf += p
		case f >= hfLow:
			hf += p
		}
	}
	h.VLF, h.LF, h.HF = vlf, lf, hf
	if hf > 0 {
		h.LFHF = lf / hf
	}
	if lf+hf > 0 {
		h.LFnu, h.HFnu = lf/(lf+hf), hf/(lf+hf)
	}
}

// lombAt returns the (unnormalised) Lomb–Scargle periodogram of the
// zero-mean series y(t) at angular frequency w.
func lombAt(t, y []float64, w float64) float64 {
	var s2, c2 float64
	for _, ti := range t {
		s, c := math.Sincos(2 * w * ti)
		s2 += s
		c2 += c
	}
	tau := math.Atan2(s2, c2) / (2 * w)
	var yc, ys, cc, ss float64
	for i, ti := range t {
		s, c := math.Sincos(w * (ti - tau))
		yc += y[i] * c
		ys += y[i] * s
		cc += c * c
		ss += s * s
	}
	var p float64
	if cc > 0 {
		p += yc * yc / cc
	}
	if ss > 0 {
		p += ys * ys / ss
	}
	return p / 2
}
