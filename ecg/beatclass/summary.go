package beatclass

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/ml"
)

// SummaryBins is the number of quantile bins of each feature histogram in
// a Summary (deciles, the usual choice for the population stability index).
const SummaryBins = 10

// Summary describes the beats a model was trained on, compactly enough to
// be stored beside the model (a few kilobytes, and about 2 kB more per
// training recording for Groups): a decile histogram of each
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
	// Groups holds the same counts per training recording (a DS1 record, a
	// labelled patient), at most MaxSummaryGroups of them: a drift report
	// draws groups from them to learn how far a few patients of the
	// training population stray from it by themselves.
	Groups []GroupCounts `json:"groups,omitempty"`
}

// GroupCounts are the histogram counts of one training recording.
type GroupCounts struct {
	// Counts holds, per feature, the count of each bin of the summary's
	// histogram and, last, of missing values.
	Counts    [][]int32         `json:"counts"`
	Predicted [len(Classes)]int `json:"predicted"`
}

// MaxSummaryGroups bounds Summary.Groups; recordings beyond it count in the
// totals only.
const MaxSummaryGroups = 500

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
		var g *GroupCounts
		if len(s.Groups) < MaxSummaryGroups {
			s.Groups = append(s.Groups, GroupCounts{Counts: make([][]int32, NumFeatures)})
			g = &s.Groups[len(s.Groups)-1]
			for f := range g.Counts {
				g.Counts[f] = make([]int32, len(s.Features[f].Counts)+1)
			}
		}
		for i, l := range r.Labels {
			k := classIndex(l)
			if k < 0 || k >= len(modelClasses) {
				continue
			}
			s.Reference[k]++
			s.Predicted[classIndex(pred[i])]++
			if g == nil {
				continue
			}
			g.Predicted[classIndex(pred[i])]++
			row := r.Features.Row(i)
			for f := range g.Counts {
				g.Counts[f][s.Features[f].Index(row[f])]++
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
	for gi, g := range s.Groups {
		if len(g.Counts) != len(s.Features) {
			return fmt.Errorf("%w: summary group %d has %d features", vigil.ErrInvalid, gi, len(g.Counts))
		}
		for f, c := range g.Counts {
			if len(c) != len(s.Features[f].Counts)+1 {
				return fmt.Errorf("%w: summary group %d feature %d has %d bins", vigil.ErrInvalid, gi, f, len(c))
			}
			for _, n := range c {
				if n < 0 {
					return fmt.Errorf("%w: summary group %d has a negative count", vigil.ErrInvalid, gi)
				}
			}
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
	// Baseline is the PSI that as many training recordings as the recent
	// data holds patients reach by themselves against the rest of the
	// training data (95th percentile of BaselineDraws draws; NaN when the
	// summary has no groups): the shift that patient-to-patient variation
	// alone explains.
	Baseline float64
	// Flag is Level when PSI also exceeds Baseline, else "stable": a drift
	// beyond what a new set of patients from the training population
	// would show.
	Flag string
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
	// ClassBaseline and ClassFlag are Baseline and Flag for the class mix.
	ClassBaseline float64
	ClassFlag     string
	// Groups is the number of patients (groups) the baselines assume.
	Groups int
	// Features holds every feature's shift, largest PSI first.
	Features []FeatureDrift
}

// BaselineDraws is the number of random sets of training recordings whose
// shift makes a baseline.
const BaselineDraws = 200

// Report compares what was added with the training summary. groups is the
// number of patients (or patient leads) the recent beats come from, which
// sets the baselines; 0 leaves them NaN and flags by the PSI thresholds
// alone.
func (d *Drift) Report(groups int) DriftReport {
	r := DriftReport{Groups: groups}
	for _, n := range d.pred {
		r.Beats += n
	}
	r.ClassPSI, r.Classes = ClassMixPSI(d.ref.Predicted, d.pred)
	r.ClassLevel = DriftLevel(r.ClassPSI)
	base, classBase := d.ref.baselines(groups)
	r.ClassBaseline = classBase
	r.ClassFlag = flag(r.ClassLevel, r.ClassPSI, classBase)
	for i := range d.cur {
		ref, cur := &d.ref.Features[i], &d.cur[i]
		psi, _ := ml.PSI(ref, cur) // same edges by construction
		ks, _ := ml.KS(ref, cur)
		fd := FeatureDrift{Name: ref.Name, PSI: psi, KS: ks, Level: DriftLevel(psi), Baseline: base[i], MissingTrain: math.NaN(), MissingRecent: math.NaN()}
		fd.Flag = flag(fd.Level, psi, base[i])
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

// flag is level when psi exceeds the baseline (or there is none), else
// "stable".
func flag(level string, psi, baseline float64) string {
	if level == "" || math.IsNaN(baseline) || psi > baseline {
		return level
	}
	return "stable"
}

// baselines returns, per feature and for the class mix, the 95th
// percentile of the PSI between n training groups drawn at random
// (without replacement, by a fixed seed) and the other groups. NaN when
// the summary has fewer than two groups or n < 1.
func (s *Summary) baselines(n int) ([]float64, float64) {
	feat := make([]float64, len(s.Features))
	for i := range feat {
		feat[i] = math.NaN()
	}
	G := len(s.Groups)
	if G < 2 || n < 1 {
		return feat, math.NaN()
	}
	n = min(n, G-1)
	// Totals over the groups (the summary's own totals may include
	// recordings beyond MaxSummaryGroups).
	total := make([][]int64, len(s.Features))
	var totalPred [len(Classes)]int
	for f := range total {
		total[f] = make([]int64, len(s.Features[f].Counts)+1)
	}
	for _, g := range s.Groups {
		for f, c := range g.Counts {
			for b, v := range c {
				total[f][b] += int64(v)
			}
		}
		for k, v := range g.Predicted {
			totalPred[k] += v
		}
	}
	rng := rand.New(rand.NewPCG(uint64(n), uint64(G)))
	order := make([]int, G)
	for i := range order {
		order[i] = i
	}
	psis := make([][]float64, len(s.Features))
	var classPSIs []float64
	for range BaselineDraws {
		for i := range n { // partial Fisher–Yates: the first n are the draw
			j := i + rng.IntN(G-i)
			order[i], order[j] = order[j], order[i]
		}
		var curPred [len(Classes)]int
		for _, gi := range order[:n] {
			for k, v := range s.Groups[gi].Predicted {
				curPred[k] += v
			}
		}
		var restPred [len(Classes)]int
		for k := range restPred {
			restPred[k] = totalPred[k] - curPred[k]
		}
		if p, _ := ClassMixPSI(restPred, curPred); !math.IsNaN(p) {
			classPSIs = append(classPSIs, p)
		}
		for f := range s.Features {
			h := &s.Features[f]
			cur := ml.Histogram{Edges: h.Edges, Counts: make([]int64, len(h.Counts))}
			for _, gi := range order[:n] {
				c := s.Groups[gi].Counts[f]
				for b := range h.Counts {
					cur.Counts[b] += int64(c[b])
				}
				cur.Missing += int64(c[len(h.Counts)])
			}
			rest := ml.Histogram{Edges: h.Edges, Counts: make([]int64, len(h.Counts)), Missing: total[f][len(h.Counts)] - cur.Missing}
			for b := range h.Counts {
				rest.Counts[b] = total[f][b] - cur.Counts[b]
			}
			if p, err := ml.PSI(&rest, &cur); err == nil && !math.IsNaN(p) {
				psis[f] = append(psis[f], p)
			}
		}
	}
	for f := range feat {
		feat[f] = percentile95(psis[f])
	}
	return feat, percentile95(classPSIs)
}

func percentile95(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	slices.Sort(v)
	return v[min(len(v)-1, int(math.Ceil(0.95*float64(len(v))))-1)]
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
		m.AddRecording(r, c.Label(r.Features))
	}
	return m
}
