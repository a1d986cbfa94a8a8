package beatclass

import "math"

// P-wave fit. A beat that follows the patient's usual P wave at the usual
// PR interval was conducted from the sinus node, at least in part: a
// premature ventricular beat depolarises the ventricles before the sinus
// impulse arrives, so no P wave precedes it at a normal PR interval
// (dissociated P waves fall anywhere), while a fusion beat — the sinus
// impulse and a ventricular focus meeting in the ventricles — comes on
// time, after the sinus P wave at a normal or slightly shortened PR
// interval (the textbook criteria for ventricular fusion, e.g. Marriott's
// Practical Electrocardiography, chapter on ventricular ectopy; the AAMI
// EC57 class F). pWave looks for the template's P wave before the beat:
// the correlation of the template's P region (R−250 … R−83 ms of the dense
// waveform, pEnd) with the beat's signal at the same offsets moved by −pShiftEarly
// … +pShiftLate, the best correlation and its shift. The P-region
// correlation fCorrP compares the same region without the shift, so a PR
// interval that changes by a few tens of milliseconds, or a fiducial point
// that moves, lowers it.
const (
	pShiftEarly = 0.06 // s: a PR interval up to 60 ms longer than the template's
	pShiftLate  = 0.04 // s: up to 40 ms shorter
	// pEnd ends the P region, in s from R (the dense point nearest it,
	// R−83 ms): past the P wave, before a narrow QRS begins. The region
	// R−250 … −90 ms (fCorrP's) was compared with R−250 … −80 and −70 ms
	// on DS1's held-out predictions: ending earlier leaves out the onset
	// of a wide ventricular QRS, which tells a ventricular beat from the
	// template's PR segment, and more ventricular beats fitted the P wave.
	pEnd = -0.08
)

// pWave returns the best correlation of the template's P region with the
// beat at index r of the smoothed signal y (an extractor.snippet, whose
// ends clamp), over shifts of −pShiftEarly … +pShiftLate, and that shift
// in ms (ties go to the smaller shift). Both are NaN when the template's
// P region is flat. The cost is about 37 correlations of 15 points at 360
// Hz.
func pWave(y []float32, r int, fs float64, tmpl []float32) (fit, shiftMs float32) {
	nan := float32(math.NaN())
	m, ok := newDenseMatch(tmpl, 0, denseIndex(pEnd), fs)
	if !ok || len(y) == 0 {
		return nan, nan
	}
	best, bestC := 0, math.Inf(-1)
	for s := -int(math.Round(pShiftEarly * fs)); s <= int(math.Round(pShiftLate*fs)); s++ {
		if cs := m.corr(y, r, s); cs > bestC || (cs == bestC && abs(s) < abs(best)) {
			best, bestC = s, cs
		}
	}
	return float32(bestC), float32(float64(best) / fs * 1000)
}
