package beatclass

import "math"

// Rhythm context. The RR features of extractor.rr compare a beat's
// interval with averages of all the intervals before it, so an ectopic
// beat, a run of them or atrial fibrillation pulls the reference towards
// itself. The rhythm features compare it instead with the intervals
// between the patient's N-like beats (normal-to-normal, "NN", as in heart
// rate variability analysis: Task Force of the ESC and NASPE 1996), and
// describe how irregular the rhythm has been over the last rhythmN beats,
// so that irregularly irregular rhythms (atrial fibrillation) are told
// from isolated premature beats (de Chazal et al. 2004 use the local and
// average RR; Mondéjar-Guerra et al. 2019 normalise RR by the patient's).
//
// Both Extract and Stream compute them from the beats before the beat
// only, with the same code (rhythm), after the template features, so the
// two paths differ only where the template does.
const (
	// rhythmN is the number of previous intervals the rhythm features
	// read (about 40 s at 75 beats/min).
	rhythmN = 48
	// nnMin is the number of NN intervals below which the reference falls
	// back to the median of all the intervals.
	nnMin = 4
	// nnCorr and nnCorrQRS are the correlations with the patient's
	// template above which a beat counts as N-like; nnPremature is the
	// ratio of an interval to the following one below which its beat is
	// premature (not an NN interval).
	nnCorr      = 0.8
	nnCorrQRS   = 0.9
	nnPremature = 0.85
	// nnLong is the number of NN intervals remembered beyond the last
	// rhythmN intervals (about 3.5 min of sinus rhythm at 75 beats/min):
	// when the last rhythmN intervals hold fewer than nnMin NN intervals
	// (a run of early beats longer than rhythmN, a long bigeminy), the
	// reference is the median of the last nnLong NN intervals, whenever
	// they came, rather than of the run itself. Without it a
	// supraventricular tachycardia longer than rhythmN beats became its
	// own reference and its later beats read as on time (records 207 and
	// 209: 79 and 42 more S beats found in cross-validation, seed 1; the
	// variant that held the last reference for rhythmN more beats found
	// only 3 more in 207, README.md). Only an NN interval, never an early
	// one, enters it, so it does not follow a run.
	nnLong = 256
	// nnLongFor bounds how long the long NN reference is used: for at
	// most nnLongFor intervals after the last NN interval (about 1.5 min
	// at 130 beats/min), then the median of the last rhythmN intervals
	// takes over as before. Without the bound, a sinus rhythm that sped
	// up abruptly by more than 20 % and stayed fast would be called S for
	// as long as it lasted (its early intervals never become NN
	// intervals); with it, for at most about nnLongFor + rhythmN beats.
	// Chosen as a round number above DS1's longest run (207: 104 beats),
	// not on the cross-validated figures.
	nnLongFor = 200
)

// rhythm holds the last rhythmN intervals and whether each is an NN
// interval. The zero value is an empty history.
type rhythm struct {
	rr         [rhythmN]float32
	nn         [rhythmN]bool
	n, next    int
	prevNormal bool    // the last beat added was N-like
	ref        float64 // the NN reference of the last features call (s, 0 when none)
	early      bool    // the beat of the last features call is early (svPremature, svAbrupt)
	prevEarly  bool    // the beat before it was
	scratch    [rhythmN]float32
	// longNN holds the last nnLong NN intervals, whenever they came.
	longNN         [nnLong]float32
	longN, longNxt int
	sinceNN        int // intervals added since the last NN interval
	longScratch    [nnLong]float32
}

func (h *rhythm) reset() { *h = rhythm{} }

// features fills the rhythm features of a beat whose preceding and
// following intervals are pre and post (s, NaN when unknown) from the
// history before it.
func (h *rhythm) features(pre, post float64, row []float32) {
	nan := float32(math.NaN())
	row[fRRPreNN], row[fRRPostNN], row[fRRIrregLong], row[fRRNNLong] = nan, nan, nan, nan
	row[fRRPreEarly] = nan
	h.prevEarly, h.early = h.early, false
	if !math.IsNaN(pre) {
		row[fRRPreEarly] = 1
	}
	if h.n == 0 {
		if !math.IsNaN(pre) {
			row[fRRPreNN] = 1
		}
		return
	}
	// The reference: the median NN interval, or the median of all the
	// intervals when there are too few NN ones.
	s := h.scratch[:0]
	for i := range h.n {
		if h.nn[i] {
			s = append(s, h.rr[i])
		}
	}
	var ref float64
	switch {
	case len(s) >= nnMin:
		ref = float64(selectNth(s, len(s)/2))
	case h.longN >= nnMin && h.sinceNN <= nnLongFor:
		l := append(h.longScratch[:0], h.longNN[:h.longN]...)
		ref = float64(selectNth(l, len(l)/2))
	default:
		s = append(s[:0], h.rr[:h.n]...)
		ref = float64(selectNth(s, len(s)/2))
	}
	h.ref = ref
	all := float64(h.rr[(h.next+rhythmN-1)%rhythmN])
	if h.n > 1 {
		s = append(s[:0], h.rr[:h.n]...)
		all = float64(selectNth(s, len(s)/2))
	}
	if ref > 0 {
		// An early beat: premature against the NN reference and either
		// abruptly shorter than the interval before it or following an
		// early beat (a run). A sinus rhythm that speeds up gradually
		// never shortens by svAbrupt from one beat to the next, so it is
		// not early, and enters the NN intervals (add).
		last := float64(h.rr[(h.next+rhythmN-1)%rhythmN])
		if pre < svPremature*ref && (pre < svAbrupt*last || h.prevEarly) {
			h.early = true
			row[fRRPreEarly] = float32(pre / ref)
		}
		row[fRRPreNN] = float32(pre / ref)
		row[fRRPostNN] = float32(post / ref)
		row[fRRNNLong] = float32(all / ref)
	}
	// Irregularity: the median absolute difference of successive
	// intervals relative to the median interval. An isolated premature
	// beat changes two differences of rhythmN; atrial fibrillation most.
	if h.n >= 8 && all > 0 {
		s = s[:0]
		for i := 1; i < h.n; i++ {
			a := h.rr[(h.next-h.n+i-1+2*rhythmN)%rhythmN]
			b := h.rr[(h.next-h.n+i+2*rhythmN)%rhythmN]
			s = append(s, float32(math.Abs(float64(b-a))))
		}
		row[fRRIrregLong] = float32(float64(selectNth(s, len(s)/2)) / all)
	}
}

// add records a beat after its features: its preceding interval rrIn (s,
// NaN when unknown), its following interval post and whether its shape is
// N-like (correlations with the template from its feature row).
func (h *rhythm) add(rrIn, post float64, row []float32) {
	normal := float64(row[fCorr]) >= nnCorr && float64(row[fCorrQRS]) >= nnCorrQRS
	if !math.IsNaN(rrIn) {
		// The interval before an early beat is no NN interval either, so
		// that a run of supraventricular beats does not become the
		// reference it is measured against.
		nn := normal && h.prevNormal && (math.IsNaN(post) || rrIn >= nnPremature*post) && !h.early
		h.rr[h.next], h.nn[h.next] = float32(rrIn), nn
		h.sinceNN++
		if nn {
			h.longNN[h.longNxt] = float32(rrIn)
			h.longNxt = (h.longNxt + 1) % nnLong
			h.longN = min(h.longN+1, nnLong)
			h.sinceNN = 0
		}
		h.next = (h.next + 1) % rhythmN
		h.n = min(h.n+1, rhythmN)
	}
	h.prevNormal = normal
}

// afIrregular is the long irregularity (fRRIrregLong: median |ΔRR| over the
// median RR of the last 48 intervals) above which a beat is in an
// irregularly irregular rhythm, as atrial fibrillation is, and a beat the
// model calls S is called N. In atrial fibrillation there is no sinus
// rhythm for a beat to be premature against and no P wave, and the MIT-BIH
// reference annotations label the conducted (narrow, normal-looking) beats
// normal; the trees cannot learn this from DS1, which holds two AF records
// (201, 203), one of them held out in each fold. Regular rhythm with
// isolated ectopic beats stays near 0.02; atrial fibrillation lies mostly
// above 0.1. Measured on DS1 cross-validation (seed 1, before the rule),
// 5 % of the beats called S above 0.1 were S (17 of 341, 319 of the others
// in records 201 and 203), 70 % below it; thresholds from 0.08 to 0.12 gave
// about the same result. The threshold was chosen on those figures.
const afIrregular = 0.1

// notInAF turns S into N for a beat in an irregular rhythm (afIrregular):
// N takes the larger of the two scores and S none. scores holds the
// model's margins, or its probabilities when prob is set (then
// renormalised); the class chosen is the same either way. It reports
// whether it did.
func notInAF(row []float32, scores []float64, prob bool) bool {
	if !(row[fRRIrregLong] > afIrregular) {
		return false
	}
	const n, s = 0, 1 // modelClasses[0] == 'N', modelClasses[1] == 'S'
	moveScore(scores, s, n, prob)
	return true
}

// moveScore gives class to the larger of its own score and from's, and
// leaves from none: -Inf for raw scores, 0 for probabilities (the others
// then rescaled to sum to 1).
func moveScore(scores []float64, from, to int, prob bool) {
	scores[to] = max(scores[to], scores[from])
	if !prob {
		scores[from] = math.Inf(-1)
		return
	}
	scores[from] = 0
	sum := 0.0
	for _, v := range scores {
		sum += v
	}
	for k := range scores {
		scores[k] /= sum
	}
}

// Prematurity rule (the second stage of a two-stage decision: the trees
// judge the shape, ventricular or not; the rhythm decides between N and S
// for a beat with a normal QRS). A supraventricular ectopic beat is
// conducted through the normal ventricular pathway, so its QRS matches the
// patient's usual beat, and it comes early against the underlying sinus
// rhythm: the prematurity criterion Holter analysis applies to
// normal-looking beats (de Chazal et al. 2004 and Llamedo & Martínez 2011
// give the classifier RR features for the same reason). The trees did not
// learn it from DS1 well enough: record 209's runs of supraventricular
// tachycardia (RRpre 0.58–0.94 of the NN median) were mostly called N when
// 209 was held out, since the other DS1 records' S beats are mostly
// isolated. The thresholds were chosen on DS1 (at reference positions,
// a beat with a normal QRS below 0.8 of the NN median in a regular rhythm
// was S for 513 beats and N for 79; the abrupt-onset test removed the
// sinus accelerations of records 106, 115 and 230 in cross-validation), so
// they are tuned on the records the cross-validated figures are measured
// on.
const (
	// svPremature is the ratio of the preceding interval to the median NN
	// interval (fRRPreNN) below which a beat is premature (and, if abrupt
	// or in a run, early: fRRPreEarly).
	svPremature = 0.8
	// svAbrupt is the ratio to the interval before below which an
	// interval starts an early sequence.
	svAbrupt = 0.9
	// svCorrQRS is the correlation with the template over the QRS
	// (fCorrQRS) from which a QRS counts as normally conducted.
	svCorrQRS = 0.9
	// A beat that is only mildly premature (RRpre below svPPremature of
	// the NN median, neither abrupt nor early) also counts when its
	// P-wave region is unlike the template's (fCorrP below svCorrP): an
	// ectopic atrial focus or a junctional beat changes or hides the P wave
	// (records 124 and 223: RRpre 0.8–0.9 of the NN median, P-region
	// correlation about 0 against 0.96 for their N beats). Chosen on DS1
	// like the others (third round in README.md).
	svPPremature = 0.9
	svCorrP      = 0.3
)

// ectopicP reports whether a beat is mildly premature with a P-wave region
// unlike the patient's usual one (svPPremature, svCorrP).
func ectopicP(row []float32) bool {
	return row[fRRPreNN] < svPPremature && row[fCorrP] < svCorrP
}

// premature turns N into S for a beat with a normal QRS (svCorrQRS) that
// is early (fRRPreEarly below svPremature) or mildly premature with an
// unusual P wave (ectopicP) in a regular rhythm
// (not above afIrregular; the AF rule has the last word there): S takes
// the larger of the two scores and N none. It leaves V and F as they are:
// only the choice between N and S is made by rhythm. scores and prob are
// as for notInAF. It reports whether it changed the scores.
func premature(row []float32, scores []float64, prob bool) bool {
	early := row[fRRPreEarly] < svPremature || ectopicP(row)
	if !(early && row[fCorrQRS] >= svCorrQRS) || row[fRRIrregLong] > afIrregular {
		return false
	}
	const n, s = 0, 1
	for k := 2; k < len(scores); k++ {
		if scores[k] > max(scores[n], scores[s]) {
			return false
		}
	}
	moveScore(scores, n, s, prob)
	return true
}
