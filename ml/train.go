package ml

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"time"

	"github.com/vigilhealth/vigil"
)

// Config controls gradient-boosted tree training. The zero value of each
// field selects the default given in its comment.
type Config struct {
	Rounds       int       // maximum boosting rounds (default 200)
	LearningRate float64   // shrinkage applied to every leaf (default 0.1)
	MaxLeaves    int       // leaf budget per tree, leaf-wise growth (default 15)
	MaxDepth     int       // depth limit (default 8, at most 64)
	MinLeaf      int       // minimum training rows per leaf (default 20)
	L2           float64   // L2 penalty on leaf values, λ (default 1; negative means 0)
	MaxBins      int       // histogram bins per feature, ≤ 255 (default 255)
	ClassWeights []float64 // weight of each class's rows (nil = 1)

	// EarlyStop stops training when the validation loss has not improved
	// for this many rounds and keeps the best round (0 = no early stopping;
	// the validation split is still used for calibration).
	EarlyStop int
	// ValidFraction is the fraction of groups (patients) held out for early
	// stopping and calibration (default 0.2; negative means none).
	ValidFraction float64
	// Seed selects the validation groups. Training is otherwise
	// deterministic.
	Seed uint64
	// Workers bounds the goroutines building histograms (default and
	// maximum GOMAXPROCS). The result does not depend on it.
	Workers int
	// Refit, after early stopping has chosen the number of rounds on the
	// validation groups, retrains on all rows for that many rounds; the
	// calibration temperature stays the one fitted on the validation split.
	Refit bool
	// Progress, if set, is called after every round.
	Progress func(Progress)
	// Exclude lists feature columns the trees never split on: columns the
	// caller carries in its rows for other uses (rules after the model,
	// explanations). Their histograms are still built, so they cost
	// training time but change nothing else: the trees are those of the
	// same data without them. An index out of range is ErrInvalid.
	Exclude []int
}

// Progress reports one finished boosting round.
type Progress struct {
	Round     int     // 1-based
	TrainLoss float64 // class-weighted mean log-loss on the training rows
	ValidLoss float64 // mean log-loss on the validation rows, without class weights (NaN without validation)
}

// Report describes a finished training run.
type Report struct {
	Rounds        int           // rounds kept (the best validation round)
	TrainRows     int           // rows used to grow the final trees (all rows after Refit)
	ValidRows     int           // rows held out for early stopping and calibration
	ValidGroups   []int         // group ids held out, ascending
	BestValidLoss float64       // validation log-loss (no class weights) at the kept round
	Calibration   Calibration   // temperature fitted on the validation rows
	Duration      time.Duration // wall-clock training time
}

func (c Config) withDefaults() Config {
	if c.Rounds <= 0 {
		c.Rounds = 200
	}
	if c.LearningRate <= 0 {
		c.LearningRate = 0.1
	}
	if c.MaxLeaves < 2 {
		c.MaxLeaves = 15
	}
	if c.MaxDepth <= 0 {
		c.MaxDepth = 8
	}
	c.MaxDepth = min(c.MaxDepth, maxTreeDepth)
	if c.MinLeaf <= 0 {
		c.MinLeaf = 20
	}
	if c.L2 == 0 {
		c.L2 = 1
	} else if c.L2 < 0 {
		c.L2 = 0
	}
	if c.MaxBins <= 1 || c.MaxBins > MaxBins {
		c.MaxBins = MaxBins
	}
	if c.ValidFraction == 0 {
		c.ValidFraction = 0.2
	}
	p := runtime.GOMAXPROCS(0)
	if c.Workers <= 0 || c.Workers > p {
		c.Workers = p
	}
	return c
}

// TrainGBT trains a multiclass gradient-boosted tree model on d, whose labels
// are in [0, classes). It returns ErrInvalid for a malformed dataset or
// configuration and ctx.Err() when cancelled.
func TrainGBT(ctx context.Context, d Dataset, classes int, cfg Config) (*GBT, *Report, error) {
	m, rep, err := boost(ctx, nil, d, classes, cfg)
	if err != nil || !cfg.Refit || rep.ValidRows == 0 {
		return m, rep, err
	}
	all := cfg
	all.Rounds, all.EarlyStop, all.ValidFraction = max(rep.Rounds, 1), 0, -1
	m2, rep2, err := boost(ctx, nil, d, classes, all)
	if err != nil {
		return nil, nil, err
	}
	m2.SetTemperature(m.Temperature())
	rep.TrainRows = rep2.TrainRows
	rep.Duration += rep2.Duration
	return m2, rep, nil
}

// Continue adds boosting rounds to prev, fitted on d starting from prev's
// margins, and returns the extended model (prev is not modified). This is
// how a global model adapts to one patient's confirmed labels.
func Continue(ctx context.Context, prev *GBT, d Dataset, cfg Config) (*GBT, *Report, error) {
	if prev == nil {
		return nil, nil, fmt.Errorf("%w: nil model", vigil.ErrInvalid)
	}
	if d.Cols != prev.features {
		return nil, nil, fmt.Errorf("%w: %d columns, model has %d features", vigil.ErrInvalid, d.Cols, prev.features)
	}
	return boost(ctx, prev, d, prev.classes, cfg)
}

// splitGroups returns the validation and training row indices.
func splitGroups(d *Dataset, frac float64, seed uint64) (train, valid []int, groups []int) {
	if frac <= 0 {
		train = make([]int, d.Rows)
		for i := range train {
			train[i] = i
		}
		return train, nil, nil
	}
	group := func(i int) int {
		if d.Group == nil {
			return i
		}
		return d.Group[i]
	}
	var ids []int
	seen := map[int]bool{}
	for i := 0; i < d.Rows; i++ {
		if g := group(i); !seen[g] {
			seen[g] = true
			ids = append(ids, g)
		}
	}
	slices.Sort(ids)
	if len(ids) < 2 {
		return splitGroups(d, 0, seed)
	}
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	r.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	nv := int(math.Ceil(frac * float64(len(ids))))
	nv = max(1, min(nv, len(ids)-1))
	held := map[int]bool{}
	for _, g := range ids[:nv] {
		held[g] = true
	}
	groups = slices.Sorted(func(yield func(int) bool) {
		for g := range held {
			if !yield(g) {
				return
			}
		}
	})
	for i := 0; i < d.Rows; i++ {
		if held[group(i)] {
			valid = append(valid, i)
		} else {
			train = append(train, i)
		}
	}
	return train, valid, groups
}

func boost(ctx context.Context, prev *GBT, all Dataset, classes int, cfg Config) (*GBT, *Report, error) {
	start := time.Now()
	if classes < 2 {
		return nil, nil, fmt.Errorf("%w: %d classes", vigil.ErrInvalid, classes)
	}
	if err := all.validate(classes); err != nil {
		return nil, nil, err
	}
	if cfg.ClassWeights != nil && len(cfg.ClassWeights) != classes {
		return nil, nil, fmt.Errorf("%w: %d class weights for %d classes", vigil.ErrInvalid, len(cfg.ClassWeights), classes)
	}
	for _, f := range cfg.Exclude {
		if f < 0 || f >= all.Cols {
			return nil, nil, fmt.Errorf("%w: excluded feature %d of %d", vigil.ErrInvalid, f, all.Cols)
		}
	}
	for _, w := range cfg.ClassWeights {
		if !(w >= 0) || math.IsInf(w, 0) {
			return nil, nil, fmt.Errorf("%w: class weight %v", vigil.ErrInvalid, w)
		}
	}
	cfg = cfg.withDefaults()
	trainRows, validRows, groups := splitGroups(&all, cfg.ValidFraction, cfg.Seed)
	d := all.Subset(trainRows)
	v := all.Subset(validRows)
	K, n := classes, d.Rows

	rowWeight := func(ds *Dataset, i int) float64 {
		w := 1.0
		if ds.Weight != nil {
			w = float64(ds.Weight[i])
		}
		if cfg.ClassWeights != nil {
			w *= cfg.ClassWeights[ds.Y[i]]
		}
		return w
	}

	// Initial margins: the previous model's, or the log of the weighted
	// class priors.
	base := make([]float64, K)
	if prev != nil {
		copy(base, prev.base)
	} else {
		tot := 0.0
		for i := 0; i < n; i++ {
			w := rowWeight(&d, i)
			base[d.Y[i]] += w
			tot += w
		}
		for k := range base {
			base[k] = math.Log(max(base[k]/tot, 1e-6))
		}
	}
	initMargins := func(ds *Dataset) []float64 {
		F := make([]float64, ds.Rows*K)
		for i := 0; i < ds.Rows; i++ {
			if prev != nil {
				prev.Margins(ds.Row(i), F[i*K:(i+1)*K])
			} else {
				copy(F[i*K:(i+1)*K], base)
			}
		}
		return F
	}
	Ft, Fv := initMargins(&d), initMargins(&v)
	wt := make([]float64, n)
	for i := range wt {
		wt[i] = rowWeight(&d, i)
	}
	// The validation loss weighs rows by their own weight only, not by class:
	// class weights trade sensitivity for predictivity on the training
	// patients, while early stopping should track how well the model
	// generalises to unseen patients' beats as they come.
	wv := make([]float64, v.Rows)
	for i := range wv {
		wv[i] = 1
		if v.Weight != nil {
			wv[i] = float64(v.Weight[i])
		}
	}

	bn := newBinner(&d, cfg.MaxBins)
	g := &grower{cfg: cfg, n: n, F: d.Cols, bins: bn.transform(&d), binr: bn,
		grad: make([]float64, n), hess: make([]float64, n), idx: make([]int32, n), tmp: make([]int32, n)}
	g.nb = make([]int, d.Cols)
	for f := range g.nb {
		g.nb[f] = bn.nbins(f)
	}
	for _, f := range cfg.Exclude {
		g.nb[f] = 1 // a single bin: no split point (grower.best)
	}

	var trees []Tree
	if prev != nil {
		trees = slices.Clone(prev.trees)
	}
	firstNew := len(trees)
	best, bestRound := math.Inf(1), 0
	p := make([]float64, K)
	for round := 1; round <= cfg.Rounds; round++ {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		// Probabilities at the start of the round drive all K trees.
		prob := make([]float64, n*K)
		for i := 0; i < n; i++ {
			copy(p, Ft[i*K:(i+1)*K])
			softmaxT(p, 1)
			copy(prob[i*K:], p)
		}
		for k := 0; k < K; k++ {
			for i := 0; i < n; i++ {
				pk := prob[i*K+k]
				y := 0.0
				if d.Y[i] == k {
					y = 1
				}
				g.grad[i] = wt[i] * (pk - y)
				g.hess[i] = wt[i] * max(pk*(1-pk), 1e-6)
			}
			t, leafOf := g.grow()
			trees = append(trees, t)
			for _, lr := range leafOf {
				val := float64(t.Value[lr.node])
				for _, r := range g.idx[lr.start:lr.end] {
					Ft[int(r)*K+k] += val
				}
			}
			for i := 0; i < v.Rows; i++ {
				Fv[i*K+k] += float64(t.Value[t.leaf(v.Row(i))])
			}
		}
		tl := weightedLogLoss(Ft, d.Y, wt, K)
		vl := math.NaN()
		if v.Rows > 0 {
			vl = weightedLogLoss(Fv, v.Y, wv, K)
		}
		if cfg.Progress != nil {
			cfg.Progress(Progress{Round: round, TrainLoss: tl, ValidLoss: vl})
		}
		if v.Rows == 0 || cfg.EarlyStop <= 0 {
			bestRound, best = round, vl
			continue
		}
		if vl < best-1e-9 {
			best, bestRound = vl, round
		} else if round-bestRound >= cfg.EarlyStop {
			break
		}
	}
	trees = trees[:firstNew+bestRound*K]
	m, err := newGBT(K, d.Cols, base, trees, 1)
	if err != nil {
		return nil, nil, err
	}
	rep := &Report{Rounds: bestRound, TrainRows: n, ValidRows: v.Rows, ValidGroups: groups, BestValidLoss: best}
	if v.Rows > 0 {
		margins := make([]float64, v.Rows*K)
		m.MarginsBatch(v.X, margins)
		rep.Calibration = FitTemperature(margins, v.Y, K)
		m.SetTemperature(rep.Calibration.Temperature)
	}
	rep.Duration = time.Since(start)
	return m, rep, nil
}

// leaf returns the index of the leaf reached by x.
func (t *Tree) leaf(x []float32) int {
	i := 0
	for t.Feature[i] >= 0 {
		l := int(t.Left[i])
		if x[t.Feature[i]] > t.Threshold[i] {
			l++
		}
		i = l
	}
	return i
}

func weightedLogLoss(F []float64, y []int, w []float64, K int) float64 {
	p := make([]float64, K)
	s, ws := 0.0, 0.0
	for i := range y {
		copy(p, F[i*K:(i+1)*K])
		softmaxT(p, 1)
		s -= w[i] * math.Log(max(p[y[i]], 1e-15))
		ws += w[i]
	}
	if ws == 0 {
		return math.NaN()
	}
	return s / ws
}
