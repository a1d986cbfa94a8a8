package beatclass

import (
	"fmt"
	"io"
	"math"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/ml"
)

// Probabilities returns the calibrated probability of each model class
// (N, S, V, F, in that order) for every beat of f, len(modelClasses) values
// per beat, as ClassifyRow gives them: after the rules of applyRules
// and, for an adapted classifier, the local expert and its patient rules. An unclassifiable beat (Q) has NaN
// probabilities.
func (c *Classifier) Probabilities(f *Features) []float32 {
	const K = len(modelClasses)
	out := make([]float32, f.Len()*K)
	var p [K]float64
	for i := range f.Len() {
		row := f.Row(i)
		if unclassifiable(row) {
			for k := range K {
				out[i*K+k] = float32(math.NaN())
			}
			continue
		}
		c.model.Proba(row, p[:])
		applyRules(row, p[:], true)
		if c.local != nil {
			c.local.decide(row, p[:])
		}
		for k, v := range p {
			out[i*K+k] = float32(v)
		}
	}
	return out
}

// labelAtThreshold labels each beat from its probabilities (Probabilities)
// with the rule "S when P(S) ≥ t, otherwise the likeliest of N, V and F";
// NaN probabilities give Q. With t above 1 no beat is S.
func labelAtThreshold(prob []float32, t float64) []byte {
	const K = len(modelClasses)
	out := make([]byte, len(prob)/K)
	var p [K]float64
	for i := range out {
		for k := range K {
			p[k] = float64(prob[i*K+k])
		}
		switch {
		case math.IsNaN(p[0]):
			out[i] = 'Q'
		case p[1] >= t:
			out[i] = 'S'
		default:
			p[1] = math.Inf(-1)
			out[i] = modelClasses[ml.Argmax(p[:])]
		}
	}
	return out
}

// CurvePoint is the result of one decision threshold on P(S).
type CurvePoint struct {
	Threshold float64
	Confusion Confusion
}

// SCurve scores recs at each threshold t on the probability of S (a beat
// is S when P(S) ≥ t, otherwise the likeliest of N, V and F): the
// trade-off between S sensitivity and positive predictivity that the
// operating point of a model chooses from. prob[i] holds
// Probabilities(recs[i].Features) from a model that did not see recs[i]
// (CrossValidate with CVConfig.Probabilities). Missed and extra beats
// count as in Confusion.AddRecording.
func SCurve(recs []*Recording, prob [][]float32, thresholds []float64) []CurvePoint {
	out := make([]CurvePoint, len(thresholds))
	for j, t := range thresholds {
		out[j].Threshold = t
		for i, r := range recs {
			out[j].Confusion.AddRecording(r, labelAtThreshold(prob[i], t))
		}
	}
	return out
}

// PrintCurve writes one line per threshold: accuracy and Se/+P of S and V.
func PrintCurve(w io.Writer, curve []CurvePoint) {
	fmt.Fprintf(w, "%8s %9s %7s %7s %7s %7s\n", "P(S) ≥", "accuracy", "S Se%", "S +P%", "V Se%", "V +P%")
	for _, p := range curve {
		c := &p.Confusion
		fmt.Fprintf(w, "%8.3f %9.2f %7s %7s %7s %7s\n", p.Threshold, 100*c.Accuracy(),
			pct(c.Se('S')), pct(c.PP('S')), pct(c.Se('V')), pct(c.PP('V')))
	}
}

// CVCurve is SCurve over the records cross-validation scored: folds from
// CrossValidate with CVConfig.Probabilities, scored the recordings it
// scored (its recs, or CVConfig.Test).
func CVCurve(folds []Fold, scored []*Recording, thresholds []float64) ([]CurvePoint, error) {
	byName := make(map[string]*Recording, len(scored))
	for _, r := range scored {
		byName[r.Name] = r
	}
	var recs []*Recording
	var prob [][]float32
	for _, f := range folds {
		if len(f.Prob) != len(f.Test) {
			return nil, fmt.Errorf("%w: fold %v kept no probabilities", vigil.ErrInvalid, f.Test)
		}
		for i, name := range f.Test {
			r, ok := byName[name]
			if !ok {
				return nil, fmt.Errorf("%w: fold record %s not among the scored recordings", vigil.ErrInvalid, name)
			}
			recs = append(recs, r)
			prob = append(prob, f.Prob[i])
		}
	}
	return SCurve(recs, prob, thresholds), nil
}
