package beatclass

import "math"

// Alignment to the patient's template. The detector's fiducial point moves
// within a patient: in record 118 (right bundle-branch block, rsR′) it
// sits on R′ for most beats and on the first r for about a third of them,
// 14–21 samples earlier, so the waveform and template features of those
// beats describe a shifted copy of the usual beat and read as ventricular.
// Before the waveform and template features, each beat is therefore moved
// to the shift, within ±alignMax, that best correlates its QRS (R±100 ms)
// with the template's: the cross-correlation alignment of template
// matching (as in Lagerholm et al. 2000, who align beats to cluster
// templates before comparing them). Both Extract and Stream align against
// the template the beat is compared with, from the beat's own signal
// around its detected R peak (snippet), with the same code.
const (
	alignMax = 0.06 // s either side of the detected R peak
	// alignGain is the rise of the correlation a shift must bring to be
	// taken, and alignMinCorr the correlation the shifted QRS must reach:
	// a beat that matches no better elsewhere, or matches the template
	// nowhere (a ventricular beat), keeps its detected position.
	alignGain    = 0.02
	alignMinCorr = 0.8
	// snipBefore and snipAfter bound the signal a shift can need: the
	// dense waveform (R−250 … R+450 ms) and the QRS width search (±150 ms)
	// moved by up to alignMax, and the P-wave search (pwave.go: R−250 ms
	// moved by up to pShiftEarly) after it.
	snipBefore = 0.38
	snipAfter  = 0.52
)

// snippet returns the smoothed signal around the beat at r that shape may
// read after a shift, and r's index in it. It shares e.y's storage.
func (e *extractor) snippet(r int) ([]float32, int) {
	a := max(0, r-int(math.Ceil(snipBefore*e.fs)))
	b := min(len(e.y), r+int(math.Ceil(snipAfter*e.fs))+1)
	return e.y[a:b], r - a
}

// reshape recomputes the shape features (extractor.shape) of a beat whose
// R peak is at index r of snip (from snippet) and whose baseline is base,
// shifted by shift samples.
func reshape(snip []float32, r, shift int, fs float64, base float32, row, dense []float32) {
	e := extractor{x: snip, y: snip, fs: fs}
	e.shape(r+shift, base, row, dense)
}

// align returns the shift in samples (|shift| ≤ alignMax) that maximises
// the correlation of the QRS of the beat at index r of y with the
// template's QRS (R±100 ms of the dense waveform), or 0 when no shift
// raises the correlation by alignGain to at least alignMinCorr. The cost is about 40 correlations of
// 19 points at 360 Hz.
func align(y []float32, r int, fs float64, tmpl []float32) int {
	m, ok := newDenseMatch(tmpl, denseIndex(-0.1), denseIndex(0.1), fs)
	if !ok {
		return 0
	}
	w := int(math.Round(alignMax * fs))
	c0 := m.corr(y, r, 0)
	best, bestC := 0, c0
	for s := -w; s <= w; s++ {
		if s == 0 {
			continue
		}
		if cs := m.corr(y, r, s); cs > bestC || (cs == bestC && abs(s) < abs(best)) {
			best, bestC = s, cs
		}
	}
	if bestC < c0+alignGain || bestC < alignMinCorr {
		return 0
	}
	return best
}

// denseMatch is a stretch of the dense template (points k0…k1), centred,
// to be correlated with a beat's signal at the same offsets from its R
// peak, moved by a shift (align, pWave).
type denseMatch struct {
	off [denseN]int     // offsets from R, samples
	t   [denseN]float64 // the template's points minus their mean
	n   int
	tt  float64 // Σ t²
}

// newDenseMatch prepares points k0…k1 of tmpl at fs Hz; false when they
// are flat.
func newDenseMatch(tmpl []float32, k0, k1 int, fs float64) (denseMatch, bool) {
	var m denseMatch
	m.n = k1 - k0 + 1
	tm := 0.0
	for k := range m.n {
		o := denseFrom + (denseTo-denseFrom)*float64(k0+k)/float64(denseN-1)
		m.off[k] = int(math.Round(o * fs))
		m.t[k] = float64(tmpl[k0+k])
		tm += m.t[k]
	}
	tm /= float64(m.n)
	for k := range m.n {
		m.t[k] -= tm
		m.tt += m.t[k] * m.t[k]
	}
	return m, m.tt > 1e-12
}

// corr returns the correlation of the template's points with y at the
// same offsets from index r moved by shift (clamped to y's ends), 0 for a
// flat stretch of y.
func (m *denseMatch) corr(y []float32, r, shift int) float64 {
	var v [denseN]float64
	mean := 0.0
	for k := range m.n {
		j := min(max(r+shift+m.off[k], 0), len(y)-1)
		v[k] = float64(y[j])
		mean += v[k]
	}
	mean /= float64(m.n)
	var vt, vv float64
	for k := range m.n {
		d := v[k] - mean
		vt += d * m.t[k]
		vv += d * d
	}
	if vv <= 1e-12 {
		return 0
	}
	return vt / math.Sqrt(vv*m.tt)
}

// denseIndex returns the index of the dense waveform point nearest sec
// seconds from R.
func denseIndex(sec float64) int {
	return int(math.Round((sec - denseFrom) / (denseTo - denseFrom) * (denseN - 1)))
}
