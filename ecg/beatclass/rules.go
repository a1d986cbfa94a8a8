package beatclass

import (
	"math"

	"github.com/vigilhealth/vigil/ml"
)

// Normal-QRS rule (the mirror of the prematurity rule, rhythm.go): a beat
// whose QRS matches the patient's usual beat in shape (correlation with
// the template over the QRS at least svCorrQRS, the test the prematurity
// rule and the NN intervals use for a normally conducted QRS) and is not
// wider than it (QRS width at most vWidthRatio of the template's) was
// conducted through the normal ventricular pathway, so it is not
// ventricular: a ventricular ectopic beat depolarises the ventricles from
// an ectopic focus, cell to cell, and its QRS is wide and unlike the
// conducted beat's (the template-matching criterion of Holter analysis;
// Hamilton & Tompkins 1986 use QRS width and shape against a running
// normal template for the same decision). The trees learnt from DS1 to
// call some premature, noisy or slightly odd normal-looking beats V:
// record 203's conducted beats in atrial fibrillation (128 of its 285
// false V at seed 1 had a QRS correlation ≥ 0.9) and 207's aberrated
// supraventricular beats. The width threshold was chosen on DS1 (1.15,
// 1.3 and none compared on one cross-validation run's probabilities; 1.15
// changed the fewest true V), so, like the prematurity rule's, it is tuned
// on the records the cross-validated figures are measured on.
const vWidthRatio = 1.15

// normalQRS reports whether a beat's QRS matches the template in shape
// and width (svCorrQRS, vWidthRatio). An unknown width counts as not
// normal.
func normalQRS(row []float32) bool {
	return row[fCorrQRS] >= svCorrQRS && row[fWidthRatio] <= vWidthRatio
}

// notVentricular takes V away from a beat the model calls V whose QRS is
// normal (normalQRS): the likeliest other class takes the larger of its
// own score and V's, and V none. scores and prob are as for notInAF. It
// reports whether it changed the scores.
func notVentricular(row []float32, scores []float64, prob bool) bool {
	const v = 2 // modelClasses[2] == 'V'
	if ml.Argmax(scores) != v || !normalQRS(row) {
		return false
	}
	to := -1
	for k := range scores {
		if k != v && (to < 0 || scores[k] > scores[to]) {
			to = k
		}
	}
	moveScore(scores, v, to, prob)
	return true
}

// Aberrated-beat rule (sixth round): a supraventricular beat that comes
// very early, at the end of a short cycle that follows a longer one, can
// reach the bundle branches before they have recovered and is conducted
// with a wide, bundle-branch-block-like QRS — aberrant ventricular
// conduction, the Ashman phenomenon (Gouaux & Ashman 1947; the long-short
// sequence is the classic Holter criterion for telling an aberrated
// supraventricular beat from a ventricular one, e.g. Fisch, Electro-
// cardiography of Arrhythmias, 1990). Its QRS keeps much of the conducted
// beat's form (the initial vector is unchanged), where a ventricular beat's
// is usually unlike it or inverted. So a beat the trees call V is called S
// when its QRS still correlates with the template (≥ aberrantCorrQRS),
// its RR is below aberrantPremature of the NN median, and below
// aberrantLongShort of the interval before it. It acts after the AF rule:
// the long-short sequence is how aberration shows in atrial fibrillation
// and frequent ectopy alike (record 201: 82 aberrated S beats called V at
// seed 1, 26 of them meet the three tests, against 1 V and 1 N beat). The
// thresholds were read off DS1's held-out predictions (seed 1: 0.4–0.5 ×
// 0.5–0.7 × 0.5–0.7 compared; the round, conservative corner kept), so
// they are tuned on the records the cross-validated figures come from.
const (
	aberrantCorrQRS   = 0.5
	aberrantPremature = 0.4
	aberrantLongShort = 0.6
)

// aberrated turns V into S for a beat whose QRS keeps the template's form
// (aberrantCorrQRS) and that ends a very short cycle after a longer one
// (aberrantPremature, aberrantLongShort). An unknown interval or
// correlation leaves V. scores and prob are as for notInAF; it reports
// whether it changed the scores.
func aberrated(row []float32, scores []float64, prob bool) bool {
	const s, v = 1, 2 // modelClasses[1] == 'S', modelClasses[2] == 'V'
	if ml.Argmax(scores) != v || !(row[fCorrQRS] >= aberrantCorrQRS) ||
		!(row[fRRPreNN] < aberrantPremature) || !(row[fRRPrePrev] < aberrantLongShort) {
		return false
	}
	moveScore(scores, v, s, prob)
	return true
}

// Fusion rule (seventh round): a beat the trees call V that comes on
// time and follows the patient's usual P wave at the usual PR interval
// was reached by the sinus impulse (pwave.go): a premature ventricular
// beat precedes the sinus impulse, a fusion beat — the sinus impulse and
// a ventricular focus depolarising the ventricles together — does not,
// and its QRS is intermediate between the conducted beat's and the
// ventricular one's, which is why the trees call it V. So a beat called
// V is called F when the template's P wave fits the beat's P region
// (fPFit ≥ fusionPFit) within fusionPShift of the usual PR interval and
// its RR is at least fusionOnTime of the NN median. The thresholds were
// chosen on DS1's held-out predictions, where most F beats are record
// 208's, so they are tuned on the records the cross-validated figures
// come from.
const (
	fusionPFit   = 0.9
	fusionPShift = 20 // ms
	fusionOnTime = 0.9
)

// fusion turns V into F for a beat on time (fusionOnTime) after the
// usual P wave at the usual PR interval (fusionPFit, fusionPShift). An
// unknown fit, shift or interval leaves V. scores and prob are as for
// notInAF; it reports whether it changed the scores.
func fusion(row []float32, scores []float64, prob bool) bool {
	const v, f = 2, 3 // modelClasses[2] == 'V', modelClasses[3] == 'F'
	if ml.Argmax(scores) != v || !(row[fPFit] >= fusionPFit) ||
		!(math.Abs(float64(row[fPShift])) <= fusionPShift) || !(row[fRRPreNN] >= fusionOnTime) {
		return false
	}
	moveScore(scores, v, f, prob)
	return true
}

// Late-PR rule (eighth round), the fusion rule's third case: a beat the
// trees call V that comes on time (fusionOnTime) after the patient's usual
// P wave (fusionPFit) at a PR interval longer than the usual by more than
// fusionPShift is called N. A ventricular beat that fires on time can
// only do so before the sinus impulse reaches the ventricles, so the P
// wave before it, if any, stands at a shorter PR interval than the usual
// (a late-coupled ventricular beat) or about the usual one (a fusion
// beat); a QRS that follows the sinus P wave later than usual was
// conducted, with a delay, and its changed shape is a conduction change
// (a QRS preceded by a P wave at a normal or longer PR interval is the
// textbook sign of a supraventricular origin against a ventricular one;
// record 108: spells of changed QRS after a longer PR). The thresholds
// are the fusion rule's, mirrored, not chosen anew.
//
// lateP turns V into N for such a beat. An unknown fit, shift or
// interval leaves V. scores and prob are as for notInAF; it reports
// whether it changed the scores.
func lateP(row []float32, scores []float64, prob bool) bool {
	const n, v = 0, 2 // modelClasses[0] == 'N', modelClasses[2] == 'V'
	if ml.Argmax(scores) != v || !(row[fPFit] >= fusionPFit) ||
		!(row[fPShift] < -fusionPShift) || !(row[fRRPreNN] >= fusionOnTime) {
		return false
	}
	moveScore(scores, v, n, prob)
	return true
}

// Wide-beat rule (seventh round), the fusion rule's converse: a beat the
// trees call N whose QRS is wider than the template's (at least
// wideWidthRatio of its width) and changed (RMS difference at least
// wideRMSDiff of the QRS amplitude), with no P wave like the usual one
// before it (fPFit below wideNoP, the prematurity rule's P-wave
// threshold), is called V: a wide QRS not preceded by the sinus P wave is
// the classic sign of a ventricular origin. The trees call some such beats
// N when they are like the beat before them and nearly on time (record
// 223's bigeminy, whose template the ventricular beats pull towards
// their own shape). The thresholds were chosen on DS1's held-out
// predictions (three triples on three seeds after 18 on one), where most
// of the beats it finds are 223's, so they are tuned on the records the
// cross-validated figures come from.
const (
	wideWidthRatio = 1.2
	wideRMSDiff    = 0.1
	wideNoP        = 0.3
)

// wideNoPWave turns N into V for a wide, changed beat without the usual P
// wave (wideWidthRatio, wideRMSDiff, wideNoP). An unknown width,
// difference or fit leaves N. scores and prob are as for notInAF; it
// reports whether it changed the scores.
func wideNoPWave(row []float32, scores []float64, prob bool) bool {
	const n, v = 0, 2 // modelClasses[0] == 'N', modelClasses[2] == 'V'
	if ml.Argmax(scores) != n || !(row[fWidthRatio] >= wideWidthRatio) ||
		!(row[fRMSDiff] >= wideRMSDiff) || !(row[fPFit] < wideNoP) {
		return false
	}
	moveScore(scores, n, v, prob)
	return true
}

// ruleHits says which of the rules changed a beat's scores.
type ruleHits struct {
	normal, fusion, late, wide, af, aberrant, early bool
}

// applyRules applies the rules that follow the model in every path
// (Label, Classify, Probabilities, Stream), in order: the normal-QRS rule,
// then the fusion rule, then the late-PR rule, then the wide-beat rule,
// then the AF rule, then the aberrated-beat rule, then the prematurity
// rule. scores and prob are as for notInAF.
func applyRules(row []float32, scores []float64, prob bool) ruleHits {
	var h ruleHits
	h.normal = notVentricular(row, scores, prob)
	h.fusion = fusion(row, scores, prob)
	h.late = lateP(row, scores, prob)
	h.wide = wideNoPWave(row, scores, prob)
	h.af = notInAF(row, scores, prob)
	h.aberrant = aberrated(row, scores, prob)
	h.early = premature(row, scores, prob)
	return h
}
