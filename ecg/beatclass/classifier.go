package beatclass

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"slices"
	"sync"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/ml"
)

// Classes are the AAMI classes in the order of Result.Prob.
const Classes = "NSVFQ"

// modelClasses are the classes the model scores; Q (unclassifiable) is
// assigned from signal quality, not learned (DS1 holds a handful of Q beats).
const modelClasses = "NSVF"

// Classifier labels beats with a trained model. It is safe for concurrent
// use.
type Classifier struct {
	model   *ml.GBT
	file    *ml.File
	version string
	names   []string
	expl    sync.Pool // *explainer
	// local is the patient-specific expert of an adapted classifier
	// (Adapt); nil for a global model.
	local *localExpert
}

// explainer is the per-goroutine scratch space of Classify.
type explainer struct {
	e   *ml.Explainer
	phi []float64
	idx []int
}

//go:embed default.vgml
var defaultModel []byte

// Default returns the classifier trained on all MIT-BIH DS1 records that
// ships with Vigil (see README.md for the command that reproduces it).
func Default() (*Classifier, error) { return Load(bytes.NewReader(defaultModel)) }

// Load reads a beat classifier written by Write. The model must be a
// gradient-boosted tree model over this package's features and classes.
func Load(r io.Reader) (*Classifier, error) {
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, io.LimitReader(r, ml.MaxPayload+64)); err != nil {
		return nil, err
	}
	f, err := ml.Read(bytes.NewReader(buf.Bytes()))
	if err != nil {
		return nil, err
	}
	return newClassifier(f, buf.Bytes())
}

func newClassifier(f *ml.File, raw []byte) (*Classifier, error) {
	g, ok := f.Model.(*ml.GBT)
	if !ok {
		return nil, fmt.Errorf("%w: beat model is %T, want gradient-boosted trees", vigil.ErrInvalid, f.Model)
	}
	if !slices.Equal(f.Features, FeatureNames()) {
		return nil, fmt.Errorf("%w: model features do not match this version's beat features", vigil.ErrInvalid)
	}
	if !slices.Equal(f.Classes, classNames()) {
		return nil, fmt.Errorf("%w: model classes %v, want %v", vigil.ErrInvalid, f.Classes, classNames())
	}
	h := sha256.New()
	h.Write(raw)
	h.Write([]byte("\x00rules " + rulesRevision))
	c := &Classifier{model: g, file: f, version: "beatclass-" + hex.EncodeToString(h.Sum(nil)[:6])}
	c.names = FeatureNames()
	c.expl.New = func() any {
		return &explainer{e: ml.NewExplainer(g), phi: make([]float64, NumFeatures), idx: make([]int, NumFeatures)}
	}
	return c, nil
}

// rulesRevision names the revision of the decision rules applied over the
// trees (rules.go, localrules.go). It is part of every model version, so
// that a version names the behaviour a clinician's label answered: bump it
// whenever a rule changes what a beat is called.
const rulesRevision = "9"

func classNames() []string {
	n := make([]string, len(modelClasses))
	for i := range n {
		n[i] = modelClasses[i : i+1]
	}
	return n
}

// Version identifies the model and the rules over it: "beatclass-" and the
// first 12 hex digits of the SHA-256 of its file followed by the rules
// revision.
func (c *Classifier) Version() string { return c.version }

// Info returns the metadata stored with the model (shared; do not modify).
func (c *Classifier) Info() map[string]string { return c.file.Info }

// Model returns the underlying tree model.
func (c *Classifier) Model() *ml.GBT { return c.model }

// Write encodes the classifier's model file.
func (c *Classifier) Write(w io.Writer) error { return ml.Write(w, c.file) }

// unclassifiable reports whether a beat's signal is too poor to classify:
// missing samples or a flat QRS.
func unclassifiable(row []float32) bool {
	pp := row[fQRSPP]
	return math.IsNaN(float64(pp)) || pp < 0.03 || row[fNoise] > 2
}

// Label returns the class letter of every beat. It is the fast path: no
// explanation; the model runs over blocks of beats at a time.
func (c *Classifier) Label(f *Features) []byte {
	out := make([]byte, f.Len())
	const block = 1024
	K := len(modelClasses)
	margins := make([]float64, block*K)
	for start := 0; start < f.Len(); start += block {
		end := min(start+block, f.Len())
		c.model.MarginsBatch(f.X[start*NumFeatures:end*NumFeatures], margins)
		for i := start; i < end; i++ {
			if unclassifiable(f.Row(i)) {
				out[i] = 'Q'
				continue
			}
			mg := margins[(i-start)*K : (i-start+1)*K]
			if c.local != nil {
				c.model.Proba(f.Row(i), mg)
				applyRules(f.Row(i), mg, true)
				c.local.decide(f.Row(i), mg)
			} else {
				applyRules(f.Row(i), mg, false)
			}
			out[i] = modelClasses[ml.Argmax(mg)]
		}
	}
	return out
}

// Attribution is one feature's contribution to a decision.
type Attribution struct {
	Feature string  // feature name (FeatureNames)
	Value   float64 // the beat's value of the feature
	SHAP    float64 // contribution to the chosen class's margin
}

// Result is the classification of one beat.
type Result struct {
	Class byte                  // 'N', 'S', 'V', 'F' or 'Q'
	Prob  [len(Classes)]float64 // calibrated probability of each class in Classes order
	// Top holds the features that pushed most towards Class, largest first.
	Top []Attribution
	// Explanation is a plain-language summary of the main reasons, such as
	// "short preceding RR (0.41 s vs 0.83 s average), wide QRS (148 ms)".
	Explanation string
}

// Classify classifies beat i of f and explains the decision with TreeSHAP.
func (c *Classifier) Classify(f *Features, i int) Result { return c.ClassifyRow(f.Row(i)) }

// ClassifyRow is Classify for one beat's feature row (NumFeatures values,
// as Features.Row returns and Stream keeps for its recent beats).
func (c *Classifier) ClassifyRow(row []float32) Result {
	var res Result
	if unclassifiable(row) {
		res.Class = 'Q'
		res.Prob[4] = 1
		res.Explanation = "signal too poor to classify"
		return res
	}
	var p [len(modelClasses)]float64
	c.model.Proba(row, p[:])
	// The rules of applyRules, one at a time, to explain each change.
	normal := notVentricular(row, p[:], true)
	fused := fusion(row, p[:], true)
	late := lateP(row, p[:], true)
	wide := wideNoPWave(row, p[:], true)
	nk := ml.Argmax(p[:])
	af := notInAF(row, p[:], true)
	ak := ml.Argmax(p[:])
	aberrant := aberrated(row, p[:], true)
	early := premature(row, p[:], true)
	gk := ml.Argmax(p[:])
	var ld localDecision
	if c.local != nil {
		ld = c.local.decide(row, p[:])
	}
	k := ml.Argmax(p[:])
	copy(res.Prob[:], p[:])
	res.Class = modelClasses[k]
	x := c.expl.Get().(*explainer)
	defer c.expl.Put(x)
	phi, order := x.phi, x.idx
	x.e.Explain(row, k, phi)
	for j := range order {
		order[j] = j
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmpDesc(phi[a], phi[b]) })
	for _, j := range order[:5] {
		if phi[j] <= 0 {
			break
		}
		res.Top = append(res.Top, Attribution{Feature: c.names[j], Value: float64(row[j]), SHAP: phi[j]})
	}
	res.Explanation = explain(row, phi)
	switch {
	case af && nk != ak:
		res.Explanation = fmt.Sprintf("irregular rhythm (RR changes by %.0f %% beat to beat), so a normal-looking beat is not called supraventricular, %s",
			100*row[fRRIrregLong], res.Explanation)
	case aberrant:
		res.Explanation = fmt.Sprintf("QRS of the usual beat's form (correlation %.2f) but very early (RR %.2f s, %.0f %% of the %.2f s between normal beats) after a longer cycle (RR %.0f %% of the one before): aberrant conduction, so called supraventricular, %s",
			row[fCorrQRS], row[fRRPre], 100*row[fRRPreNN], row[fRRPre]/row[fRRPreNN], 100*row[fRRPrePrev], res.Explanation)
	case early && ak != gk && row[fRRPreEarly] < svPremature:
		res.Explanation = fmt.Sprintf("normal QRS (correlation %.2f) %.0f %% premature (RR %.2f s vs %.2f s between normal beats), so called supraventricular, %s",
			row[fCorrQRS], 100*(1-row[fRRPreEarly]), row[fRRPre], row[fRRPre]/row[fRRPreEarly], res.Explanation)
	case early && ak != gk:
		res.Explanation = fmt.Sprintf("normal QRS (correlation %.2f) %.0f %% premature (RR %.2f s vs %.2f s between normal beats) with a P-wave region unlike the usual beat (correlation %.2f), so called supraventricular, %s",
			row[fCorrQRS], 100*(1-row[fRRPreNN]), row[fRRPre], row[fRRPre]/row[fRRPreNN], row[fCorrP], res.Explanation)
	}
	if wide && gk == 2 { // still V after the aberrated-beat rule
		res.Explanation = fmt.Sprintf("QRS wider than the usual (%.2f×) and changed, with no P wave like the usual one before it (best fit %.2f), so called ventricular, %s",
			row[fWidthRatio], row[fPFit], res.Explanation)
	}
	if late {
		res.Explanation = fmt.Sprintf("on time (RR %.0f %% of the %.2f s between normal beats) after the usual P wave (fit %.2f) at a longer PR interval (%+.0f ms from the usual): conducted from the atria, so not called ventricular, %s",
			100*row[fRRPreNN], row[fRRPre]/row[fRRPreNN], row[fPFit], -row[fPShift], res.Explanation)
	}
	if fused {
		res.Explanation = fmt.Sprintf("on time (RR %.0f %% of the %.2f s between normal beats) after the usual P wave (fit %.2f, PR %+.0f ms from the usual): the sinus impulse reached the ventricles, so called fusion rather than ventricular, %s",
			100*row[fRRPreNN], row[fRRPre]/row[fRRPreNN], row[fPFit], -row[fPShift], res.Explanation)
	}
	if normal {
		res.Explanation = fmt.Sprintf("QRS like the patient's usual beat (correlation %.2f, width %.0f ms, %.2f× the usual), so not called ventricular, %s",
			row[fCorrQRS], row[fQRSWidth], row[fWidthRatio], res.Explanation)
	}
	var local string
	switch {
	case ld.fast:
		local = fmt.Sprintf("normal QRS (correlation %.2f) with RR %.2f s, below %.0f %% of this patient's shortest labelled normal-to-normal interval (%.2f s), so called supraventricular",
			row[fCorrQRS], row[fRRPre], 100*localFast, c.local.fastNN)
	case ld.likeV:
		local = "shaped like the beats labelled V for this patient (nearer to one of them than to every beat labelled N), so called ventricular"
	case ld.novel && ld.gate < 0.5:
		local = "shape unlike every beat labelled N for this patient, so not called normal"
	case ld.gate >= 0.5:
		local = fmt.Sprintf("like the beats labelled %c for this patient (%d of the %d nearest)", res.Class, ld.votes[k], localK)
	}
	switch {
	case local == "":
	case k != gk:
		// The attributions explain the global model, which chose
		// otherwise.
		res.Top = nil
		res.Explanation = local
	default:
		res.Explanation = local + ", " + res.Explanation
	}
	return res
}

// label returns the class of a classifiable beat's row; mg is scratch of
// len(modelClasses).
func (c *Classifier) label(row []float32, mg []float64) byte {
	if c.local == nil {
		c.model.Margins(row, mg)
		applyRules(row, mg, false)
	} else {
		c.model.Proba(row, mg)
		applyRules(row, mg, true)
		c.local.decide(row, mg)
	}
	return modelClasses[ml.Argmax(mg)]
}

func cmpDesc(a, b float64) int {
	switch {
	case a > b:
		return -1
	case a < b:
		return 1
	}
	return 0
}
