package beatclass

import (
	"fmt"
	"math"
	"slices"

	"github.com/vigilhealth/vigil"
)

// Feature indices. RR intervals are in seconds, widths in ms; amplitudes
// marked (*), and the waveform points, are in units of the patient's median
// QRS peak-to-peak amplitude (see templates).
const (
	fRRPre        = iota // RR interval before the beat
	fRRPost              // RR interval after the beat
	fRRLocal             // mean of the 10 RR intervals before the beat
	fRRLong              // mean RR over the 5 minutes before the beat
	fRRPreLocal          // RRpre / RRlocal
	fRRPostLocal         // RRpost / RRlocal
	fRRPrePost           // RRpre / RRpost
	fRRPreLong           // RRpre / RRlong
	fRRLocalLong         // RRlocal / RRlong
	fRRPrePrev           // RRpre / the RR interval before it
	fRRPostLong          // RRpost / RRlong
	fRRPreMedian         // RRpre / median of the 10 previous RR intervals
	fRRIrreg             // mean |ΔRR| of the 10 previous intervals / RRlocal (irregularity, as in AF)
	fRRPreCentred        // RRpre / median RR of the 20 beats either side
	fQRSWidth            // QRS width, ms
	fRAmp                // maximum of the QRS (*)
	fSAmp                // minimum of the QRS (*)
	fQRSPP               // peak-to-peak QRS amplitude, mV
	fSlopeUp             // largest rising slope in the QRS, (*)/s
	fSlopeDown           // largest falling slope in the QRS, (*)/s
	fQRSArea             // ∫|x| over R±60 ms, (*)·s
	fTMax                // maximum 150–400 ms after R (*)
	fTMin                // minimum 150–400 ms after R (*)
	fPAmp                // largest |x| 90–250 ms before R (*)
	fCorr                // correlation with the patient's median beat (R−250…+450 ms)
	fCorrQRS             // correlation with the median beat over R±100 ms
	fCorrP               // correlation with the median beat over R−250…−90 ms
	fRMSDiff             // RMS difference from the median beat / its QRS amplitude
	fWidthRatio          // QRS width / median QRS width
	fPPRatio             // QRS amplitude / median QRS amplitude
	fRAmpRatio           // R amplitude / median R amplitude
	fNoise               // high-frequency noise / QRS amplitude (signal quality)
	fWander              // baseline range over ±1 s / QRS amplitude (signal quality)
	fRRPreNN             // RRpre / median NN interval of the last 48 (rhythm.go)
	fRRPostNN            // RRpost / median NN interval of the last 48
	fRRIrregLong         // median |ΔRR| / median RR over the last 48 intervals (AF context)
	fRRNNLong            // median RR / median NN interval over the last 48
	fRRPreEarly          // RRpre / NN median for a beat in an early sequence begun abruptly, else 1 (rhythm.go)
	fCorrPrev            // correlation of the QRS (R±100 ms) with the previous beat's, both aligned
	fWave0               // first down-sampled waveform point; nWave points follow
)

// waveOffsets are the down-sampled waveform points, in seconds from R.
var waveOffsets = [...]float64{-0.25, -0.2, -0.15, -0.1, -0.07, -0.05, -0.03, -0.015, 0,
	0.015, 0.03, 0.05, 0.07, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4}

const nWave = len(waveOffsets)

// The P-wave fit (pwave.go) follows the waveform points. The fusion rule
// (rules.go) reads it; the trees do not split on it (ruleOnly).
const (
	fPFit   = fWave0 + nWave + iota // best correlation of the template's P wave with the beat's, over PR shifts
	fPShift                         // that shift, ms (negative: a longer PR interval than the template's)
)

// NumFeatures is the number of features per beat.
const NumFeatures = fPShift + 1

// ruleOnly returns the feature columns that only the rules read: the
// trees may not split on them (ml.Config.Exclude). Given the P-wave fit,
// the trees lost V sensitivity on DS1 cross-validation (seeds 1–3 mean
// 91.9 → 91.3 %) and S +P (80.9 → 79.8 %); the fusion rule alone uses it.
func ruleOnly() []int { return []int{fPFit, fPShift} }

// FeatureNames returns the name of each feature, in column order.
func FeatureNames() []string {
	n := []string{"rr_pre", "rr_post", "rr_local", "rr_long", "rr_pre/local", "rr_post/local",
		"rr_pre/post", "rr_pre/long", "rr_local/long", "rr_pre/prev", "rr_post/long", "rr_pre/median",
		"rr_irregularity", "rr_pre/centred",
		"qrs_width", "r_amp", "s_amp", "qrs_pp", "slope_up", "slope_down", "qrs_area", "t_max", "t_min",
		"p_amp", "corr", "corr_qrs", "corr_p", "rms_diff", "width_ratio", "pp_ratio", "r_amp_ratio",
		"noise", "wander", "rr_pre/nn", "rr_post/nn", "rr_irregularity_long", "rr_median/nn", "rr_pre/nn_early",
		"corr_prev"}
	for _, o := range waveOffsets {
		n = append(n, fmt.Sprintf("wave%+dms", int(math.Round(o*1000))))
	}
	return append(n, "p_fit", "p_shift")
}

// normalised lists the amplitude features scaled by the patient's median
// QRS amplitude (so in units of it, not mV).
var normalised = append([]int{fRAmp, fSAmp, fSlopeUp, fSlopeDown, fQRSArea, fTMax, fTMin, fPAmp}, waveIdx()...)

// Template windows: the patient's median beat for a beat is computed from
// the beats within ±templateHalf seconds of the centre of its block.
const (
	templateBlock = 60.0  // s
	templateHalf  = 150.0 // s
	templateMax   = 255   // beats per median
	denseN        = 64    // dense waveform points, R−250 … R+450 ms
	denseFrom     = -0.25
	denseTo       = 0.45
)

// Features is the feature matrix of a sequence of beats.
type Features struct {
	X     []float32 // row-major, NumFeatures columns
	Beats []int     // beat positions (samples)
	Fs    float64
}

// Row returns the features of beat i.
func (f *Features) Row(i int) []float32 { return f.X[i*NumFeatures : (i+1)*NumFeatures] }

// Len returns the number of beats.
func (f *Features) Len() int { return len(f.Beats) }

// Extract computes the features of the beats at the given sample positions
// (ascending) of a single-lead signal x in mV sampled at fs Hz (125–1000).
// NaN samples mark missing signal. Features that cannot be computed (the RR
// interval before the first beat) are NaN. Cost is linear in len(x) plus a
// few microseconds per beat.
func Extract(x []float32, fs float64, beats []int) (*Features, error) {
	if !(fs >= 100 && fs <= 2000) {
		return nil, fmt.Errorf("%w: sampling frequency %v Hz", vigil.ErrInvalid, fs)
	}
	for i, b := range beats {
		if b < 0 || b >= len(x) || (i > 0 && b <= beats[i-1]) {
			return nil, fmt.Errorf("%w: beat %d at sample %d (signal of %d samples, beats must ascend)", vigil.ErrInvalid, i, b, len(x))
		}
	}
	n := len(beats)
	f := &Features{X: make([]float32, n*NumFeatures), Beats: slices.Clone(beats), Fs: fs}
	if n == 0 {
		return f, nil
	}
	e := extractor{x: x, fs: fs, beats: beats}
	e.smooth()
	dense := make([]float32, n*denseN)
	bases := make([]float32, n)
	for i := range beats {
		bases[i] = e.beat(i, f.Row(i), dense[i*denseN:(i+1)*denseN])
	}
	e.rr(f)
	e.templates(f, dense, bases)
	e.rhythm(f)
	for i, v := range f.X {
		if math.IsInf(float64(v), 0) {
			f.X[i] = float32(math.NaN())
		}
	}
	return f, nil
}

type extractor struct {
	x     []float32
	y     []float32 // x smoothed by a ~10 ms moving average, NaN → 0
	fs    float64
	beats []int
}

func (e *extractor) at(r int, sec float64) int {
	return min(max(r+int(math.Round(sec*e.fs)), 0), len(e.x)-1)
}

// smooth computes y, a centred moving average of about 10 ms.
func (e *extractor) smooth() {
	w := max(1, int(math.Round(0.01*e.fs))/2)
	n := len(e.x)
	cs := make([]float64, n+1)
	for i, v := range e.x {
		if math.IsNaN(float64(v)) {
			v = 0
		}
		cs[i+1] = cs[i] + float64(v)
	}
	e.y = make([]float32, n)
	for i := range e.y {
		a, b := max(0, i-w), min(n, i+w+1)
		e.y[i] = float32((cs[b] - cs[a]) / float64(b-a))
	}
}

// baseline returns the median of y over R±0.5 s (every 4th sample): the
// isoelectric level dominates a one-second window.
func (e *extractor) baseline(r int, buf []float32) float32 {
	buf = buf[:0]
	for i := e.at(r, -0.5); i <= e.at(r, 0.5); i += 4 {
		buf = append(buf, e.y[i])
	}
	slices.Sort(buf)
	return buf[len(buf)/2]
}

// beat fills the morphology features of beat i and its dense waveform,
// and returns its baseline.
func (e *extractor) beat(i int, row []float32, dense []float32) float32 {
	r := e.beats[i]
	var buf [512]float32
	base := e.baseline(r, buf[:0])
	v := func(j int) float32 { return e.y[j] - base }
	e.shape(r, base, row, dense)
	rmax, rmin := row[fRAmp], row[fSAmp]
	// T wave: 150–400 ms after R, but before the next beat's QRS.
	tEnd := e.at(r, 0.4)
	if i+1 < len(e.beats) {
		tEnd = min(tEnd, e.at(e.beats[i+1], -0.1))
	}
	tmax, tmin := float32(0), float32(0)
	for j := e.at(r, 0.15); j <= tEnd; j++ {
		tmax, tmin = max(tmax, v(j)), min(tmin, v(j))
	}
	row[fTMax], row[fTMin] = tmax, tmin
	// P wave: 90–250 ms before R, but after the previous beat.
	pStart := e.at(r, -0.25)
	if i > 0 {
		pStart = max(pStart, e.at(e.beats[i-1], 0.15))
	}
	p := float32(0)
	for j := pStart; j <= e.at(r, -0.09); j++ {
		p = max(p, float32(math.Abs(float64(v(j)))))
	}
	row[fPAmp] = p
	// Signal quality: high-frequency content (x − y) away from the QRS and
	// the baseline range, relative to the QRS amplitude.
	pp := max(float64(rmax-rmin), 0.05)
	hf, nhf := 0.0, 0
	for _, w := range [][2]float64{{-0.45, -0.1}, {0.12, 0.45}} {
		for j := e.at(r, w[0]); j <= e.at(r, w[1]); j++ {
			if xv := float64(e.x[j]); !math.IsNaN(xv) {
				d := xv - float64(e.y[j])
				hf += d * d
				nhf++
			}
		}
	}
	if nhf > 0 {
		row[fNoise] = float32(math.Sqrt(hf/float64(nhf)) / pp)
	}
	lo, hi := float32(math.Inf(1)), float32(math.Inf(-1))
	for j := e.at(r, -1); j <= e.at(r, 1); j += 8 {
		lo, hi = min(lo, e.y[j]), max(hi, e.y[j])
	}
	row[fWander] = float32(float64(hi-lo) / pp)
	return base
}

// shape fills the features that depend on where the beat's fiducial
// point is: the waveform points, the dense waveform, and the QRS
// amplitudes, slopes, area and width, with the beat's R peak at sample r
// and baseline base.
func (e *extractor) shape(r int, base float32, row []float32, dense []float32) {
	v := func(j int) float32 { return e.y[j] - base }
	for k, o := range waveOffsets {
		row[fWave0+k] = v(e.at(r, o))
	}
	for k := range dense {
		o := denseFrom + (denseTo-denseFrom)*float64(k)/float64(denseN-1)
		dense[k] = v(e.at(r, o))
	}
	// QRS amplitude and slopes over R±60 ms.
	a, b := e.at(r, -0.06), e.at(r, 0.06)
	rmax, rmin := float32(math.Inf(-1)), float32(math.Inf(1))
	up, down := 0.0, 0.0
	area := 0.0
	for j := a; j <= b; j++ {
		rmax, rmin = max(rmax, v(j)), min(rmin, v(j))
		area += math.Abs(float64(v(j))) / e.fs
		if j > 0 {
			d := float64(e.y[j]-e.y[j-1]) * e.fs
			up, down = max(up, d), min(down, d)
		}
	}
	row[fRAmp], row[fSAmp], row[fQRSPP] = rmax, rmin, rmax-rmin
	row[fSlopeUp], row[fSlopeDown], row[fQRSArea] = float32(up), float32(down), float32(area)
	row[fQRSWidth] = float32(e.width(r))
}

// width estimates the QRS duration in ms: from the steepest point on each
// side of R, it walks outwards until the slope stays below 15 % of the
// steepest slope for 8 ms.
func (e *extractor) width(r int) float64 {
	a, b := e.at(r, -0.15), e.at(r, 0.15)
	if b-a < 4 {
		return math.NaN()
	}
	slope := func(j int) float64 { return math.Abs(float64(e.y[min(j+1, len(e.y)-1)] - e.y[max(j-1, 0)])) }
	m, lm, rm := 0.0, r, r
	lmax, rmax := 0.0, 0.0
	for j := e.at(r, -0.1); j <= e.at(r, 0.1); j++ {
		s := slope(j)
		m = max(m, s)
		if j <= r && s > lmax {
			lmax, lm = s, j
		}
		if j >= r && s > rmax {
			rmax, rm = s, j
		}
	}
	if m == 0 {
		return math.NaN()
	}
	thr := 0.15 * m
	run := max(2, int(math.Round(0.008*e.fs)))
	on := lm
	for k := 0; on > a && k < run; on-- {
		if slope(on) < thr {
			k++
		} else {
			k = 0
		}
	}
	off := rm
	for k := 0; off < b && k < run; off++ {
		if slope(off) < thr {
			k++
		} else {
			k = 0
		}
	}
	return float64(off-on-2*run) / e.fs * 1000
}

// rr fills the RR features.
func (e *extractor) rr(f *Features) {
	n := len(e.beats)
	rr := make([]float64, n) // rr[i] = interval before beat i (NaN for i = 0)
	rr[0] = math.NaN()
	for i := 1; i < n; i++ {
		rr[i] = float64(e.beats[i]-e.beats[i-1]) / e.fs
	}
	nan := float32(math.NaN())
	ratio := func(a, b float64) float32 {
		if math.IsNaN(a) || math.IsNaN(b) || b <= 0 {
			return nan
		}
		return float32(a / b)
	}
	var med [10]float64
	var cent [40]float64
	longStart := 1
	longSum := 0.0
	for i := 0; i < n; i++ {
		row := f.Row(i)
		pre, post := rr[i], math.NaN()
		if i+1 < n {
			post = rr[i+1]
		}
		// The first beat of a recording has no preceding interval: take the
		// following one, so that "unknown" never reads as "premature" (a
		// missing value goes to the short side of every split).
		if i == 0 {
			pre = post
		}
		// Local: the 10 intervals before the beat (not including RRpre),
		// falling back to RRpre itself at the start.
		local, cnt := 0.0, 0
		for j := max(1, i-10); j < i; j++ {
			med[cnt] = rr[j]
			local += rr[j]
			cnt++
		}
		median := math.NaN()
		if cnt > 0 {
			local /= float64(cnt)
			s := med[:cnt]
			slices.Sort(s)
			median = s[cnt/2]
		} else {
			local = pre
			median = pre
		}
		// Long: intervals ending within the 5 minutes before the beat.
		for longStart < i && float64(e.beats[i]-e.beats[longStart])/e.fs > 300 {
			longSum -= rr[longStart]
			longStart++
		}
		long := local
		if i-longStart > 0 {
			long = longSum / float64(i-longStart)
		}
		prev := math.NaN()
		if i >= 2 {
			prev = rr[i-1]
		}
		row[fRRPre], row[fRRPost] = float32(pre), float32(post)
		row[fRRLocal], row[fRRLong] = float32(local), float32(long)
		row[fRRPreLocal], row[fRRPostLocal] = ratio(pre, local), ratio(post, local)
		row[fRRPrePost], row[fRRPreLong] = ratio(pre, post), ratio(pre, long)
		row[fRRLocalLong], row[fRRPrePrev] = ratio(local, long), ratio(pre, prev)
		row[fRRPostLong], row[fRRPreMedian] = ratio(post, long), ratio(pre, median)
		irr, ni := 0.0, 0
		for j := max(2, i-10); j < i; j++ {
			irr += math.Abs(rr[j] - rr[j-1])
			ni++
		}
		if ni > 0 {
			row[fRRIrreg] = ratio(irr/float64(ni), local)
		} else {
			row[fRRIrreg] = nan
		}
		cn := 0
		for j := max(1, i-20); j <= min(n-1, i+20); j++ {
			if j != i {
				cent[cn] = rr[j]
				cn++
			}
		}
		if cn > 0 {
			c := cent[:cn]
			slices.Sort(c)
			row[fRRPreCentred] = ratio(pre, c[cn/2])
		} else {
			row[fRRPreCentred] = nan
		}
		if i >= 1 {
			longSum += rr[i]
		}
	}
}

// templates computes, for blocks of templateBlock seconds, the element-wise
// median beat of the beats within ±templateHalf s of the block centre
// (from the beats at their detected positions), aligns each beat to its
// block's median (align.go) and fills the features that compare it with
// the median. bases holds each beat's baseline.
func (e *extractor) templates(f *Features, dense, bases []float32) {
	n := len(e.beats)
	if n == 0 {
		return
	}
	block := int(templateBlock * e.fs)
	half := int(templateHalf * e.fs)
	col := make([]float32, 0, templateMax)
	tmpl := make([]float32, denseN)
	var medWidth, medPP, medR float32
	median := func(get func(i int) float32, idx []int) float32 {
		col = col[:0]
		for _, i := range idx {
			if v := get(i); !math.IsNaN(float64(v)) {
				col = append(col, v)
			}
		}
		if len(col) == 0 {
			return float32(math.NaN())
		}
		slices.Sort(col)
		return col[len(col)/2]
	}
	// The template statistics read the beats as detected, before any
	// alignment changes their rows.
	width, pp, ramp := make([]float32, n), make([]float32, n), make([]float32, n)
	for i := range n {
		row := f.Row(i)
		width[i], pp[i], ramp[i] = row[fQRSWidth], row[fQRSPP], row[fRAmp]
	}
	var aligned, prevQRS [denseN]float32
	havePrev := false
	var idx []int
	cur := -1
	norms := make([]float32, n)
	defer func() {
		for i, norm := range norms {
			row := f.Row(i)
			for _, j := range normalised {
				row[j] *= norm
			}
		}
	}()
	for i, r := range e.beats {
		if blk := r / block; blk != cur {
			cur = blk
			c := blk*block + block/2
			lo, _ := slices.BinarySearch(e.beats, c-half)
			hi, _ := slices.BinarySearch(e.beats, c+half)
			idx = idx[:0]
			step := max(1, (hi-lo+templateMax-1)/templateMax)
			for j := lo; j < hi; j += step {
				idx = append(idx, j)
			}
			if len(idx) == 0 {
				idx = append(idx, i)
			}
			for k := 0; k < denseN; k++ {
				tmpl[k] = median(func(j int) float32 { return dense[j*denseN+k] }, idx)
			}
			medWidth = median(func(j int) float32 { return width[j] }, idx)
			medPP = median(func(j int) float32 { return pp[j] }, idx)
			medR = median(func(j int) float32 { return ramp[j] }, idx)
		}
		row := f.Row(i)
		d := dense[i*denseN : (i+1)*denseN]
		snip, sr := e.snippet(r)
		shift := align(snip, sr, e.fs, tmpl)
		if shift != 0 {
			reshape(snip, sr, shift, e.fs, bases[i], row, aligned[:])
			d = aligned[:]
		}
		row[fCorr] = corr(d, tmpl)
		k := denseIndex
		row[fCorrQRS] = corr(d[k(-0.1):k(0.1)+1], tmpl[k(-0.1):k(0.1)+1])
		row[fCorrP] = corr(d[:k(-0.09)+1], tmpl[:k(-0.09)+1])
		row[fCorrPrev] = prevCorr(d, prevQRS[:], havePrev)
		row[fPFit], row[fPShift] = pWave(snip, sr+shift, e.fs, tmpl)
		copy(prevQRS[:], d)
		havePrev = true
		s := 0.0
		for j := range d {
			dd := float64(d[j] - tmpl[j])
			s += dd * dd
		}
		row[fRMSDiff] = float32(math.Sqrt(s/denseN) / max(float64(medPP), 0.05))
		row[fWidthRatio] = row[fQRSWidth] / medWidth
		row[fPPRatio] = row[fQRSPP] / max(medPP, 0.05)
		row[fRAmpRatio] = row[fRAmp] / medR
		if medR <= 0.02 {
			row[fRAmpRatio] = float32(math.NaN())
		}
		// Amplitudes relative to the patient's median QRS amplitude: the
		// electrode placement and gain differ between patients, the shape
		// relative to the patient's own beats much less.
		// Applied after all templates are built, which read raw values.
		norms[i] = 1 / max(medPP, 0.05)
	}
}

// rhythm fills the rhythm features (rhythm.go) from the beats before each
// beat, as Stream does.
func (e *extractor) rhythm(f *Features) {
	var h rhythm
	for i := range e.beats {
		row := f.Row(i)
		h.features(float64(row[fRRPre]), float64(row[fRRPost]), row)
		rrIn := math.NaN()
		if i > 0 {
			rrIn = float64(e.beats[i]-e.beats[i-1]) / e.fs
		}
		h.add(rrIn, float64(row[fRRPost]), row)
	}
}

// prevCorr returns the correlation of the QRS (R±100 ms) of a beat's
// dense waveform d with the previous beat's, prev (NaN when there is no
// previous beat). A beat like the one before it is not new: a normal beat
// during a spell of changed morphology (electrode motion, a shift of the
// electrical axis: record 108) is like its neighbours, while an isolated
// ventricular beat is unlike the beat before it (Holter analysers compare
// each beat with its neighbours as well as with the dominant template).
func prevCorr(d, prev []float32, ok bool) float32 {
	if !ok {
		return float32(math.NaN())
	}
	a, b := denseIndex(-0.1), denseIndex(0.1)+1
	return corr(d[a:b], prev[a:b])
}

// corr is the Pearson correlation of a and b (0 when either is flat).
func corr(a, b []float32) float32 {
	n := float64(len(a))
	var sa, sb float64
	for i := range a {
		sa += float64(a[i])
		sb += float64(b[i])
	}
	ma, mb := sa/n, sb/n
	var cab, caa, cbb float64
	for i := range a {
		x, y := float64(a[i])-ma, float64(b[i])-mb
		cab += x * y
		caa += x * x
		cbb += y * y
	}
	if caa <= 1e-12 || cbb <= 1e-12 {
		return 0
	}
	return float32(cab / math.Sqrt(caa*cbb))
}
