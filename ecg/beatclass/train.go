package beatclass

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/ml"
)

var nan = math.NaN()

// DefaultSeed is the seed of the shipped default model.
const DefaultSeed = 1

// ModelConfig returns the tree-learner settings used for beat models: small
// trees (8 leaves) with large leaves (≥ 200 beats), so that a split must
// hold across many beats and, in practice, several patients; at most 80
// rounds, stopped early on held-out patients. Small models also label beats
// fast.
func ModelConfig(seed uint64) ml.Config {
	return ml.Config{
		Rounds:        80,
		LearningRate:  0.1,
		MaxLeaves:     8,
		MaxDepth:      6,
		MinLeaf:       200,
		L2:            1,
		EarlyStop:     15,
		ValidFraction: 0.2,
		Refit:         true,
		Seed:          seed,
		Exclude:       ruleOnly(),
	}
}

// classWeights weights each class by the square root of its inverse
// frequency (normalised so that N has weight 1): rare ectopic classes count
// more without being forced to balance.
func classWeights(y []int) []float64 {
	n := make([]float64, len(modelClasses))
	for _, v := range y {
		n[v]++
	}
	w := make([]float64, len(n))
	for k := range n {
		w[k] = 1
		if n[k] > 0 && n[0] > 0 {
			w[k] = math.Sqrt(n[0] / n[k])
		}
	}
	return w
}

// dataset builds the training rows of recs: every beat of class N, S, V or
// F, grouped by record.
func dataset(recs []*Recording) ml.Dataset {
	d := ml.Dataset{Cols: NumFeatures}
	for g, r := range recs {
		for i, l := range r.Labels {
			k := classIndex(l)
			if k < 0 || k >= len(modelClasses) {
				continue
			}
			d.X = append(d.X, r.Features.Row(i)...)
			d.Y = append(d.Y, k)
			d.Group = append(d.Group, g)
			d.Rows++
		}
	}
	return d
}

// TrainConfig controls Train.
type TrainConfig struct {
	Seed     uint64
	Model    *ml.Config        // nil: ModelConfig(Seed)
	Progress func(ml.Progress) // optional, per boosting round
	Info     map[string]string // extra metadata stored in the model file
}

// Train trains a beat classifier on the reference beats of recs. The result
// depends only on recs and the configuration.
func Train(ctx context.Context, recs []*Recording, cfg TrainConfig) (*Classifier, *ml.Report, error) {
	d := dataset(recs)
	if d.Rows == 0 {
		return nil, nil, fmt.Errorf("%w: no labelled beats", vigil.ErrInvalid)
	}
	mc := ModelConfig(cfg.Seed)
	if cfg.Model != nil {
		mc = *cfg.Model
	}
	mc.ClassWeights = classWeights(d.Y)
	mc.Exclude = append(slices.Clone(mc.Exclude), ruleOnly()...)
	mc.Progress = cfg.Progress
	m, rep, err := ml.TrainGBT(ctx, d, len(modelClasses), mc)
	if err != nil {
		return nil, nil, err
	}
	info := map[string]string{
		"task":        "ecg-beats",
		"classes":     "AAMI N,S,V,F (Q from signal quality)",
		"seed":        strconv.FormatUint(cfg.Seed, 10),
		"train_beats": strconv.Itoa(d.Rows),
		"rounds":      strconv.Itoa(rep.Rounds),
		"temperature": strconv.FormatFloat(rep.Calibration.Temperature, 'g', 6, 64),
	}
	recNames := ""
	for i, r := range recs {
		if i > 0 {
			recNames += ","
		}
		recNames += r.Name
	}
	info["records"] = recNames
	if pos := positionsOf(recs); pos != "" {
		info["positions"] = string(pos)
	}
	for k, v := range cfg.Info {
		info[k] = v
	}
	f := &ml.File{Model: m, Classes: classNames(), Features: FeatureNames(), Info: info}
	var buf writeBuf
	if err := ml.Write(&buf, f); err != nil {
		return nil, nil, err
	}
	c, err := newClassifier(f, buf)
	return c, rep, err
}

// positionsOf returns the beat positions shared by the recordings of recs
// that say where their beats are ("" if they differ or none says).
func positionsOf(recs []*Recording) Positions {
	var p Positions
	for _, r := range recs {
		switch {
		case r.Positions == "":
		case p == "":
			p = r.Positions
		case r.Positions != p:
			return ""
		}
	}
	return p
}

// Feedback returns labels as clinician feedback for Adapt: a beat with no
// annotated class (NoReference, InFlutter) becomes Q, which adaptation
// skips, as `vigil ecg annotate --adapt-minutes` does for a detected beat
// without annotation.
func Feedback(labels []byte) []byte {
	out := make([]byte, len(labels))
	for i, l := range labels {
		if l == NoReference || l == InFlutter {
			l = 'Q'
		}
		out[i] = l
	}
	return out
}

type writeBuf []byte

func (b *writeBuf) Write(p []byte) (int, error) { *b = append(*b, p...); return len(p), nil }

// Fold is the result of one cross-validation fold.
type Fold struct {
	Test      []string // records held out
	Confusion Confusion
	Adapted   Confusion // patient-adaptive result (after the window), if requested
	Rounds    int
	// Prob holds, per test record in Test order, the global model's
	// Probabilities of its beats when CVConfig.Probabilities is set.
	Prob [][]float32
}

// CVConfig controls CrossValidate.
type CVConfig struct {
	Folds int // number of folds, by record (0 or ≥ len(recs): leave one record out)
	Seed  uint64
	// AdaptMinutes, if > 0, also evaluates the patient-adaptive mode: the
	// first AdaptMinutes of each test record's reference labels adapt the
	// fold's model, which labels the rest; both matrices then count only
	// the beats after the window.
	AdaptMinutes float64
	// AdaptBoost adapts with Classifier.AdaptBoost instead of Adapt.
	AdaptBoost bool
	// Model overrides ModelConfig(Seed) when set.
	Model *ml.Config
	// Test, when set, holds the recordings scored in each fold, index for
	// index the same records as the training recordings but at other beat
	// positions (to train at reference positions and score at the
	// detector's). Nil: the training recordings are scored.
	Test []*Recording
	// LogReg evaluates the baseline instead: a multinomial logistic
	// regression (L2, standardised features, same class weights) per fold.
	// AdaptMinutes is ignored.
	LogReg bool
	// Probabilities keeps each test record's class probabilities in
	// Fold.Prob (for SCurve).
	Probabilities bool
	Progress      func(Fold)
}

// CrossValidate estimates accuracy on unseen patients: records are split
// into folds; each fold's records are labelled by a model trained on the
// other records only (early stopping and calibration also use only those).
func CrossValidate(ctx context.Context, recs []*Recording, cfg CVConfig) ([]Fold, error) {
	k := cfg.Folds
	if k <= 0 || k > len(recs) {
		k = len(recs)
	}
	if k < 2 {
		return nil, fmt.Errorf("%w: cross-validation needs at least 2 records", vigil.ErrInvalid)
	}
	scored := recs
	if cfg.Test != nil {
		if len(cfg.Test) != len(recs) {
			return nil, fmt.Errorf("%w: %d test recordings for %d records", vigil.ErrInvalid, len(cfg.Test), len(recs))
		}
		for i, r := range cfg.Test {
			if r.Name != recs[i].Name {
				return nil, fmt.Errorf("%w: test recording %d is %s, not %s", vigil.ErrInvalid, i, r.Name, recs[i].Name)
			}
		}
		scored = cfg.Test
	}
	folds := make([]Fold, k)
	var firstErr error
	var mu sync.Mutex
	sem := make(chan struct{}, 1)
	var wg sync.WaitGroup
	for f := 0; f < k; f++ {
		var train, test []*Recording
		for i, r := range recs {
			if i%k == f {
				test = append(test, scored[i])
			} else {
				train = append(train, r)
			}
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if cfg.LogReg {
				fold, err := logRegFold(ctx, train, test)
				mu.Lock()
				defer mu.Unlock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				folds[f] = fold
				if err == nil && cfg.Progress != nil {
					cfg.Progress(fold)
				}
				return
			}
			c, rep, err := Train(ctx, train, TrainConfig{Seed: cfg.Seed, Model: cfg.Model})
			fold := Fold{}
			if err == nil {
				fold.Rounds = rep.Rounds
				for _, r := range test {
					fold.Test = append(fold.Test, r.Name)
					if cfg.Probabilities {
						fold.Prob = append(fold.Prob, c.Probabilities(r.Features))
					}
					if cfg.AdaptMinutes > 0 {
						// Missed beats are not counted here: they are
						// not split by time.
						n := WindowBeats(r.Features, cfg.AdaptMinutes)
						fold.Confusion.AddAll(r.Labels[n:], c.Label(r.Features)[n:])
						adapt := c.Adapt
						if cfg.AdaptBoost {
							adapt = c.AdaptBoost
						}
						var a *Classifier
						a, err = adapt(ctx, r.Features, Feedback(r.Labels[:n]))
						if err != nil {
							break
						}
						fold.Adapted.AddAll(r.Labels[n:], a.Label(r.Features)[n:])
					} else {
						fold.Confusion.AddRecording(r, c.Label(r.Features))
					}
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = err
			}
			folds[f] = fold
			if err == nil && cfg.Progress != nil {
				cfg.Progress(fold)
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	return folds, nil
}

// WindowBeats returns the number of beats in the first minutes of f.
func WindowBeats(f *Features, minutes float64) int {
	limit := int(minutes * 60 * f.Fs)
	n := 0
	for n < f.Len() && f.Beats[n] < limit {
		n++
	}
	return n
}

// logRegFold trains the logistic-regression baseline on train and labels
// test (Q still from signal quality).
func logRegFold(ctx context.Context, train, test []*Recording) (Fold, error) {
	d := dataset(train)
	m, err := ml.TrainLogReg(ctx, d, len(modelClasses), ml.LogRegConfig{ClassWeights: classWeights(d.Y)})
	if err != nil {
		return Fold{}, err
	}
	fold := Fold{}
	var p [len(modelClasses)]float64
	for _, r := range test {
		fold.Test = append(fold.Test, r.Name)
		pred := make([]byte, r.Features.Len())
		for i := range pred {
			row := r.Features.Row(i)
			if unclassifiable(row) {
				pred[i] = 'Q'
				continue
			}
			m.Margins(row, p[:])
			pred[i] = modelClasses[ml.Argmax(p[:])]
		}
		fold.Confusion.AddRecording(r, pred)
	}
	return fold, nil
}
