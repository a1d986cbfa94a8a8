package beatclass

import (
	"fmt"
	"math"
	"slices"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/ml"
)

// SummaryBins is the number of quantile bins of each feature histogram in
// a Summary (deciles, the usual choice for the population stability index).
const SummaryBins = 10

// Summary describes the beats a model was trained on, compactly enough to
// be stored beside the model (a few kilobytes): a decile histogram of each
// feature, the reference classes of the training beats and the classes
// the model gives them. A drift report compares recent beats with it.
type Summary struct {
	Beats int `json:"beats"`
	// Features holds one histogram per feature, in FeatureNames order.
	Features []ml.Histogram `json:"features"`
	// Reference and Predicted count the training beats per class, in
	// Classes order (N, S, V, F, Q): their labels, and the model's labels
	// of them (in-sample, hence optimistic about accuracy, but the class
	// mix a drift report compares recent predictions with).
	Reference [len(Classes)]int `json:"reference"`
	Predicted [len(Classes)]int `json:"predicted"`
}

// Summarize summarises the training beats of recs (those of class N, S, V
// or F, as Train uses them) and c's labels of them. Cost: one pass over
// the rows and a sort per feature.
func Summarize(recs []*Recording, c *Classifier) *Summary {
	d := dataset(recs)
	s := &Summary{Beats: d.Rows, Features: make([]ml.Histogram, NumFeatures)}
	col := make([]float32, d.Rows)
	names := FeatureNames()
	for f := range NumFeatures {
		for i := range d.Rows {
			col[i] = d.X[i*NumFeatures+f]
		}
		s.Features[f] = ml.NewHistogram(names[f], col, SummaryBins)
	}
	for _, r := range recs {
		pred := c.Label(r.Features)
		for i, l := range r.Labels {
			if k := classIndex(l); k >= 0 && k < len(modelClasses) {
				s.Reference[k]++
				s.Predicted[classIndex(pred[i])]++
			}
		}
	}
	return s
}

// Check reports whether s is a well-formed summary of this version's
// features (after decoding); errors wrap vigil.ErrInvalid.
func (s *Summary) Check() error {
	names := FeatureNames()
	if len(s.Features) != len(names) {
		return fmt.Errorf("%w: summary has %d features, want %d", vigil.ErrInvalid, len(s.Features), len(names))
	}
	for i := range s.Features {
		if s.Features[i].Name != names[i] {
			return fmt.Errorf("%w: summary feature %d is %q, want %q", vigil.ErrInvalid, i, s.Features[i].Name, names[i])
		}
		if err := s.Features[i].Check(); err != nil {
			return err
		}
	}
	return nil
}

// Drift thresholds on the population stability index (ml.PSI): below
// PSIModerate the distribution is taken as stable, from PSIMajor on it has
// shifted enough to question the model's figures (Siddiqi 2006).
const (
	PSIModerate = 0.1
	PSIMajor    = 0.25
)

// DriftLevel grades a PSI value: "stable", "moderate" or "major" ("" for
// NaN, when there is nothing to compare).
func DriftLevel(psi float64) string {
	switch {
	case math.IsNaN(psi):
		return ""
	case psi >= PSIMajor:
		return "major"
	case psi >= PSIModerate:
		return "moderate"
	}
	return "stable"
}

// Drift accumulates recent beats and their predicted classes to compare
// them with a training Summary. It is not safe for concurrent use.
type Drift struct {
	ref  *Summary
	cur  []ml.Histogram
	pred [len(Classes)]int
}

// NewDrift starts a comparison with s, which must pass Check.
func (s *Summary) NewDrift() *Drift {
	d := &Drift{ref: s, cur: make([]ml.Histogram, len(s.Features))}
	for i := range s.Features {
		d.cur[i] = s.Features[i].Empty()
	}
	return d
}

// Add counts the beats of f, labelled pred (one class letter per beat, as
// Classifier.Label returns). Beats labelled Q (unclassifiable signal)
// count in the class mix but not in the feature histograms, which, like
// the training summary, describe classifiable beats.
func (d *Drift) Add(f *Features, pred []byte) {
	for i := range min(f.Len(), len(pred)) {
		if k := classIndex(pred[i]); k >= 0 {
			d.pred[k]++
		}
		if pred[i] == 'Q' {
			continue
		}
		row := f.Row(i)
		for j := range d.cur {
			d.cur[j].Add(row[j])
		}
	}
}

// FeatureDrift is the shift of one feature.
type FeatureDrift struct {
	Name  string
	PSI   float64
	KS    float64 // at the training deciles (ml.KS)
	Level string  // DriftLevel(PSI)
	// MissingTrain and MissingRecent are the shares of beats without a
	// value (NaN) in the training data and in the recent beats.
	MissingTrain, MissingRecent float64
}

// ClassShare is one class's share of the beats.
type ClassShare struct {
	Class         byte
	Train, Recent float64 // share of training beats predicted as the class, and of recent beats
	PSI           float64 // this class's term of the class-mix PSI
}

// DriftReport compares recent beats with the training summary.
type DriftReport struct {
	Beats int // recent beats counted (all classes)
	// Classes is the predicted class mix, train vs recent, and ClassPSI the
	// PSI over the five classes; ClassLevel grades it.
	Classes    []ClassShare
	ClassPSI   float64
	ClassLevel string
	// Features holds every feature's shift, largest PSI first.
	Features []FeatureDrift
}

// Report compares what was added with the training summary.
func (d *Drift) Report() DriftReport {
	var r DriftReport
	for _, n := range d.pred {
		r.Beats += n
	}
	r.ClassPSI, r.Classes = ClassMixPSI(d.ref.Predicted, d.pred)
	r.ClassLevel = DriftLevel(r.ClassPSI)
	for i := range d.cur {
		ref, cur := &d.ref.Features[i], &d.cur[i]
		psi, _ := ml.PSI(ref, cur) // same edges by construction
		ks, _ := ml.KS(ref, cur)
		fd := FeatureDrift{Name: ref.Name, PSI: psi, KS: ks, Level: DriftLevel(psi), MissingTrain: math.NaN(), MissingRecent: math.NaN()}
		if t := ref.Total(); t > 0 {
			fd.MissingTrain = float64(ref.Missing) / float64(t)
		}
		if t := cur.Total(); t > 0 {
			fd.MissingRecent = float64(cur.Missing) / float64(t)
		}
		r.Features = append(r.Features, fd)
	}
	slices.SortStableFunc(r.Features, func(a, b FeatureDrift) int { return cmpDesc(nanLow(a.PSI), nanLow(b.PSI)) })
	return r
}

// ClassMixPSI compares two class mixes (beat counts in Classes order) —
// the model's labels of its training beats and of recent beats — by the
// population stability index over the five classes, each count smoothed
// by half a beat as ml.PSI smooths its bins. It returns NaN and no shares
// when either mix is empty.
func ClassMixPSI(train, recent [len(Classes)]int) (float64, []ClassShare) {
	trainTot, recentTot := 0.0, 0.0
	for i := range Classes {
		trainTot += float64(train[i])
		recentTot += float64(recent[i])
	}
	if trainTot == 0 || recentTot == 0 {
		return math.NaN(), nil
	}
	const k = float64(len(Classes))
	psi := 0.0
	shares := make([]ClassShare, len(Classes))
	for i := range Classes {
		p := (float64(train[i]) + 0.5) / (trainTot + 0.5*k)
		q := (float64(recent[i]) + 0.5) / (recentTot + 0.5*k)
		term := (q - p) * math.Log(q/p)
		psi += term
		shares[i] = ClassShare{Class: Classes[i], Train: float64(train[i]) / trainTot, Recent: float64(recent[i]) / recentTot, PSI: term}
	}
	return psi, shares
}

// nanLow maps NaN below every number, for sorting.
func nanLow(v float64) float64 {
	if math.IsNaN(v) {
		return math.Inf(-1)
	}
	return v
}

// Subset returns the features of the given beats (indices into f), in
// that order.
func (f *Features) Subset(rows []int) *Features {
	s := &Features{X: make([]float32, 0, len(rows)*NumFeatures), Beats: make([]int, len(rows)), Fs: f.Fs}
	for j, i := range rows {
		s.X = append(s.X, f.Row(i)...)
		s.Beats[j] = f.Beats[i]
	}
	return s
}

// Evaluate labels the beats of recs with c and counts them against their
// reference labels.
func Evaluate(c *Classifier, recs []*Recording) Confusion {
	var m Confusion
	for _, r := range recs {
		m.AddAll(r.Labels, c.Label(r.Features))
	}
	return m
}
