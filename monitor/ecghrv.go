package monitor

import (
	"fmt"
	"math"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/ecg"
)

// hrvSpan is the span of each stored heart-rate variability measurement:
// the Task Force's short-term recording of 5 minutes (Circulation
// 93:1043, 1996: "5 min recordings … should be used" for short-term
// analysis; measures of recordings of different lengths are not comparable).
const hrvSpan = 5 * time.Minute

// minHRVNN is the least number of NN intervals a window needs for an HRV
// measurement, and the NN intervals must also be at least half of its RR
// intervals: a window mostly ectopic or unreadable gives none rather than
// a figure that describes the artefacts.
const minHRVNN = 100

// hrvWindow gathers one stream's classified beats for the current
// 5-minute window.
type hrvWindow struct {
	start  int64   // stream sample where the window starts
	beats  []int64 // beats of the window, after the last beat before it
	labels []byte  // their classes (Q: unreadable)
}

// hrvBeat adds a classified beat (in stream order) and, when it lies past
// the current window, first closes the window with an "hrv" finding.
func (st *ecgStream) hrvBeat(patient string, sample int64, class byte, work *ecgWork) {
	h := &st.hrv
	span := int64(hrvSpan.Seconds() * st.fs)
	if sample >= h.start+span {
		st.emitHRV(patient, span, work)
		// Skip windows without beats (the device was off).
		if sample >= h.start+span {
			h.start += (sample - h.start) / span * span
		}
	}
	h.beats = append(h.beats, sample)
	h.labels = append(h.labels, class)
}

// emitHRV closes the current window: its NN intervals' measures become a
// finding of kind KindHRV when there are enough of them. The last beat
// stays, as the start of the next window's first interval.
func (st *ecgStream) emitHRV(patient string, span int64, work *ecgWork) {
	h := &st.hrv
	defer func() {
		if n := len(h.beats); n > 0 {
			h.beats[0], h.labels[0] = h.beats[n-1], h.labels[n-1]
			h.beats, h.labels = h.beats[:1], h.labels[:1]
		}
		h.start += span
	}()
	// The first beat may be the last one before the window: every
	// interval measured ends in the window.
	rr := ecg.Intervals(h.beats, h.labels, st.fs)
	m := ecg.ComputeHRV(rr)
	if m.N < minHRVNN || 2*m.N < len(rr) || math.IsNaN(m.SDNN) {
		return
	}
	ms := func(s float64) float64 { return math.Round(s*1e4) / 10 } // s → ms, 0.1 ms
	out := &vigil.HRVMeasures{NN: m.N, Intervals: len(rr), MeanNN: ms(m.MeanNN), SDNN: ms(m.SDNN), RMSSD: ms(m.RMSSD),
		PNN50: math.Round(m.PNN50*1000) / 10}
	// opt rounds v·scale to a 1/per step, or gives nil when v is unknown.
	opt := func(v, scale, per float64) *float64 {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil
		}
		r := math.Round(v*scale*per) / per
		return &r
	}
	out.LF, out.HF, out.LFHF = opt(m.LF, 1e6, 1), opt(m.HF, 1e6, 1), opt(m.LFHF, 1, 100) // s² → ms²
	start, end := st.at(h.start), st.at(h.start+span)
	work.findings = append(work.findings, vigil.ECGFinding{
		ID: findingID(patient, st.device, st.code, KindHRV, start), Patient: patient, Device: st.device, Code: st.code,
		Kind: KindHRV, Start: start, End: end, Beats: m.N, Total: len(rr), RateBPM: math.Round(m.MeanHR*10) / 10, Model: st.cls.Model(),
		Title: fmt.Sprintf("HRV (5 min): SDNN %.0f ms, RMSSD %.0f ms, pNN50 %.0f %%", out.SDNN, out.RMSSD, out.PNN50),
		Explanation: fmt.Sprintf("time and frequency domain measures of %d NN intervals of %d (Task Force of the ESC/NASPE 1996; "+
			"Lomb–Scargle spectrum); intervals next to ectopic or unreadable beats left out", m.N, len(rr)),
		HRV: out,
	})
}
