package beatclass

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/ml"
)

// AdaptConfig returns the settings of the patient-adaptive boosting rounds:
// a few small, strongly regularised trees fitted on the patient's labelled
// beats, starting from the global model's margins.
func AdaptConfig() ml.Config {
	return ml.Config{
		Rounds:        20,
		LearningRate:  0.3,
		MaxLeaves:     4,
		MaxDepth:      3,
		MinLeaf:       3,
		L2:            5,
		ValidFraction: -1,
		Exclude:       ruleOnly(),
	}
}

// anchorWeight is the weight of an unlabelled beat (labelled by the global
// model) relative to a clinician-labelled normal beat; minShown is the
// number of labelled beats of a class from which the local labels alone
// speak for it.
const (
	anchorWeight = 0.05
	minShown     = 3
)

// adaptMode selects the parts of patient adaptation.
type adaptMode struct {
	boost bool // boosting rounds on the labelled beats (and anchors)
	local bool // the nearest-neighbour local expert (local.go)
}

// Adapt returns a classifier adapted to one patient. labels holds the
// clinician-confirmed classes of the first len(labels) beats of f (for
// evaluation, the reference labels of the first minutes of the record);
// f's other beats are the patient's unlabelled ones (they set the spread
// of each feature). The global model is combined with a local expert, the
// labelled beats as nearest-neighbour prototypes (local.go; a mixture of
// experts as in Hu et al. 1997): a beat that resembles the labelled beats
// takes their class, one unlike them keeps the global model's. Patient
// rules built from the same labels (localrules.go) bound the expert: it
// cannot confirm N for a beat the global model calls S that is more
// premature than any labelled N beat; a beat whose shape is unlike every
// labelled N beat is not called N; and a normal-QRS beat whose preceding
// interval is below 0.8 of the patient's shortest labelled
// normal-to-normal interval (a beat labelled N after a beat labelled N)
// is called S; and a beat whose shape is nearer to a labelled V beat than
// to every labelled N beat is called V unless its QRS is normal. Beats labelled Q and unclassifiable beats are skipped; with
// fewer than 10 labelled beats c itself is returned. The local expert lives in memory
// only: Write writes the global model. c is not modified.
//
// AdaptBoost is the earlier form, kept for comparison.
func (c *Classifier) Adapt(ctx context.Context, f *Features, labels []byte) (*Classifier, error) {
	return c.adapt(ctx, f, labels, adaptMode{local: true})
}

// AdaptBoost adapts c to one patient, as Adapt, by boosting instead: the
// global model is extended with boosting rounds fitted on the labelled
// beats (de Chazal & Reilly 2006 combine a global and a local classifier;
// here the local part is boosted on top of the global margins), together
// with the patient's other beats that the global model assigns to a class
// absent from the labelled window, at a low weight (anchorWeight), so that
// such classes are not unlearnt. On DS1 it is less accurate than Adapt
// (README.md); the model it returns can be written whole.
func (c *Classifier) AdaptBoost(ctx context.Context, f *Features, labels []byte) (*Classifier, error) {
	return c.adapt(ctx, f, labels, adaptMode{boost: true})
}

func (c *Classifier) adapt(ctx context.Context, f *Features, labels []byte, mode adaptMode) (*Classifier, error) {
	if len(labels) > f.Len() {
		return nil, fmt.Errorf("%w: %d labels for %d beats", vigil.ErrInvalid, len(labels), f.Len())
	}
	d := ml.Dataset{Cols: NumFeatures}
	for i, l := range labels {
		k := classIndex(l)
		if k < 0 {
			return nil, fmt.Errorf("%w: label %q of beat %d", vigil.ErrInvalid, l, i)
		}
		if k >= len(modelClasses) || unclassifiable(f.Row(i)) {
			continue
		}
		d.X = append(d.X, f.Row(i)...)
		d.Y = append(d.Y, k)
		d.Rows++
	}
	if d.Rows == 0 {
		return c, nil
	}
	var le *localExpert
	if mode.local {
		rows := make([][]float32, d.Rows)
		for i := range rows {
			rows[i] = d.X[i*NumFeatures : (i+1)*NumFeatures]
		}
		le = newLocalExpert(f, rows, d.Y)
		if le != nil {
			le.fastNN = fastestNN(f, labels)
		}
	}
	if !mode.boost {
		return c.withLocal(le)
	}
	local := d.Rows
	// Anchor rows: for each class the clinician has not shown (fewer than
	// minShown labelled beats), the patient's unlabelled beats that the
	// global model assigns to it, at a lower weight. Without them a window
	// holding only normal beats would teach the trees "everything is N" and
	// suppress the ectopic beats that come later; classes the clinician has
	// labelled are left to the local evidence.
	shown := make([]int, len(modelClasses))
	for _, y := range d.Y {
		shown[y]++
	}
	var mg [len(modelClasses)]float64
	for i := len(labels); i < f.Len(); i++ {
		row := f.Row(i)
		if unclassifiable(row) {
			continue
		}
		c.model.Margins(row, mg[:])
		if k := ml.Argmax(mg[:]); shown[k] < minShown {
			d.X = append(d.X, row...)
			d.Y = append(d.Y, k)
			d.Rows++
		}
	}
	cw := classWeights(d.Y[:local])
	d.Weight = make([]float32, d.Rows)
	for i := range d.Weight {
		if i < local {
			d.Weight[i] = float32(cw[d.Y[i]])
		} else {
			d.Weight[i] = anchorWeight
		}
	}
	cfg := AdaptConfig()
	m, _, err := ml.Continue(ctx, c.model, d, cfg)
	if err != nil {
		return nil, err
	}
	m.SetTemperature(c.model.Temperature())
	info := map[string]string{"adapted_beats": fmt.Sprint(d.Rows), "base_version": c.version}
	for k, v := range c.file.Info {
		if _, ok := info[k]; !ok {
			info[k] = v
		}
	}
	file := &ml.File{Model: m, Classes: classNames(), Features: FeatureNames(), Info: info}
	var buf writeBuf
	if err := ml.Write(&buf, file); err != nil {
		return nil, err
	}
	a, err := newClassifier(file, buf)
	if err != nil {
		return nil, err
	}
	return a.withLocal(le)
}

// withLocal returns c with the local expert le (c itself when le is nil);
// its version also covers the prototypes and the patient rules' references.
func (c *Classifier) withLocal(le *localExpert) (*Classifier, error) {
	if le == nil {
		return c, nil
	}
	var buf writeBuf
	if err := c.Write(&buf); err != nil {
		return nil, err
	}
	for _, v := range le.x {
		buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
	}
	buf = append(buf, le.y...)
	for _, v := range append(le.early[:], le.fastNN) {
		buf = binary.LittleEndian.AppendUint64(buf, math.Float64bits(v))
	}
	a, err := newClassifier(c.file, buf)
	if err != nil {
		return nil, err
	}
	a.local = le
	return a, nil
}
