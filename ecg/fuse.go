package ecg

import (
	"math"
	"slices"
)

// weakAmplitude: a segment whose amplitude falls below this share of the
// lead's median segment amplitude has lost its QRS complexes.
const weakAmplitude = 0.3

func medianAmplitude(q []Quality) float64 {
	a := make([]float64, 0, len(q))
	for _, s := range q {
		if !math.IsNaN(s.Amplitude) {
			a = append(a, s.Amplitude)
		}
	}
	if len(a) == 0 {
		return 0
	}
	slices.Sort(a)
	return a[len(a)/2]
}

// FuseLeads combines beats detected independently on two leads of one
// recording. Lead 0's beats are kept; lead 1 only fills gaps: in quality
// segments where lead 0 is unreadable and lead 1 readable and cleaner
// (lower HFRatio), or where lead 0's amplitude has fallen below 30 % of its
// median while lead 1's has not, a lead-1 beat with no lead-0 beat within
// the match window is added if it falls inside a lead-0 RR interval longer
// than 1.5 median intervals, at least 0.3 of the median from both ends.
// Both leads must share the sampling rate fs and the quality segmentation.
//
// Filling gaps rather than switching leads keeps the primary lead's
// accuracy and cannot import the other lead's false beats where the
// rhythm is already complete.
func FuseLeads(beats [2][]Beat, quality [2][]Quality, fs float64) []Beat {
	n := min(len(quality[0]), len(quality[1]))
	med := [2]float64{medianAmplitude(quality[0][:n]), medianAmplitude(quality[1][:n])}
	weak := func(l int, q Quality) bool { return q.Amplitude < weakAmplitude*med[l] }
	choice := make([]int, n)
	for i := 0; i < n; i++ {
		q0, q1 := quality[0][i], quality[1][i]
		switch {
		case !q0.Usable() && q1.Usable() && !weak(1, q1) && q1.HFRatio < q0.HFRatio:
			choice[i] = 1 // lead 0 unreadable, lead 1 cleaner
		case q0.Usable() && weak(0, q0) && q1.Usable() && !weak(1, q1):
			choice[i] = 1 // lead 0's complexes have all but vanished
		}
	}
	// leadAt returns the lead chosen for the segment holding sample t;
	// lead 0 outside the assessed range.
	leadAt := func(t int64) int {
		for lo, hi := 0, n; lo < hi; {
			m := (lo + hi) / 2
			switch q := quality[0][m]; {
			case t < q.Start:
				hi = m
			case t >= q.End:
				lo = m + 1
			default:
				return choice[m]
			}
		}
		return 0
	}
	win := int64(MatchWindow * fs)
	// near reports whether lead l has a beat within win of t.
	near := func(l int, t int64) bool {
		b := beats[l]
		i, _ := slices.BinarySearchFunc(b, t-win, func(x Beat, v int64) int { return int(x.Sample - v) })
		return i < len(b) && b[i].Sample <= t+win
	}
	// Lead 0's beats stay; lead 1 only fills gaps of lead 0 in segments
	// given to lead 1: a beat of lead 1 with no lead-0 beat near it,
	// inside a lead-0 interval longer than 1.5 median RR intervals, at
	// least 0.3 of that median from both ends.
	all := slices.Clone(beats[0])
	rr := make([]int64, 0, len(beats[0]))
	for i := 1; i < len(beats[0]); i++ {
		rr = append(rr, beats[0][i].Sample-beats[0][i-1].Sample)
	}
	if len(rr) == 0 {
		return all
	}
	slices.Sort(rr)
	medRR := rr[len(rr)/2]
	b0 := beats[0]
	for _, b := range beats[1] {
		if leadAt(b.Sample) != 1 || near(0, b.Sample) {
			continue
		}
		i, _ := slices.BinarySearchFunc(b0, b.Sample, func(x Beat, v int64) int { return int(x.Sample - v) })
		if i == 0 || i == len(b0) {
			continue
		}
		prev, next := b0[i-1].Sample, b0[i].Sample
		if 2*(next-prev) > 3*medRR && 10*(b.Sample-prev) > 3*medRR && 10*(next-b.Sample) > 3*medRR {
			all = append(all, b)
		}
	}
	slices.SortFunc(all, func(a, b Beat) int { return int(a.Sample - b.Sample) })
	refr := int64(refractory * fs)
	out := all[:0]
	for _, b := range all {
		if len(out) > 0 && b.Sample-out[len(out)-1].Sample < refr {
			continue
		}
		out = append(out, b)
	}
	return out
}
