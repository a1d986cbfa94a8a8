package beatclass

import (
	"context"
	"fmt"

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
	}
}

// Adapt returns a classifier adapted to one patient. labels holds the
// clinician-confirmed classes of the first len(labels) beats of f (for
// evaluation, the reference labels of the first minutes of the record).
// The global model is extended with boosting rounds fitted on those beats
// (de Chazal & Reilly 2006 combine a global and a local classifier; here the
// local part is boosted on top of the global margins). c is not modified.
func (c *Classifier) Adapt(ctx context.Context, f *Features, labels []byte) (*Classifier, error) {
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
	cfg := AdaptConfig()
	cfg.ClassWeights = classWeights(d.Y)
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
	return newClassifier(file, buf)
}
