package beatclass

import "github.com/vigilhealth/vigil/ml"

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

// ruleHits says which of the rules changed a beat's scores.
type ruleHits struct {
	normal, af, early bool
}

// applyRules applies the rules that follow the model in every path
// (Label, Classify, Probabilities, Stream), in order: the normal-QRS rule,
// then the AF rule, then the prematurity rule. scores and prob are as for
// notInAF.
func applyRules(row []float32, scores []float64, prob bool) ruleHits {
	var h ruleHits
	h.normal = notVentricular(row, scores, prob)
	h.af = notInAF(row, scores, prob)
	h.early = premature(row, scores, prob)
	return h
}
