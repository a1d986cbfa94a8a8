package ml

import (
	"math"
	"sync"
)

// histBins is the histogram stride per feature (MaxBins rounded up).
const histBins = 256

// grower grows one regression tree from the gradients and hessians of the
// current class using per-feature histograms.
type grower struct {
	cfg  Config
	n, F int
	bins []uint8 // column-major binned training matrix
	binr *binner
	nb   []int // bins per feature

	grad, hess []float64
	idx, tmp   []int32 // row permutation: each leaf owns a contiguous range
	free       [][]float64
}

// gleaf is a leaf during growth.
type gleaf struct {
	node       int // node id in the output tree
	start, end int // rows idx[start:end]
	depth      int
	g, h, cnt  float64
	hist       []float64 // F*histBins*3 (grad, hess, count); nil if unsplittable
	split      split
}

type split struct {
	gain       float64
	feat, bin  int
	gl, hl, nl float64
}

// leafRange locates a finished leaf's rows.
type leafRange struct{ node, start, end int }

func (g *grower) histogram() []float64 {
	if n := len(g.free); n > 0 {
		h := g.free[n-1]
		g.free = g.free[:n-1]
		clear(h)
		return h
	}
	return make([]float64, g.F*histBins*3)
}

// parallel runs fn over contiguous feature ranges on at most Workers
// goroutines. Each feature is handled by exactly one goroutine, so results
// do not depend on the number of workers.
func (g *grower) parallel(fn func(f0, f1 int)) {
	w := min(g.cfg.Workers, g.F)
	if w <= 1 {
		fn(0, g.F)
		return
	}
	var wg sync.WaitGroup
	for i := 0; i < w; i++ {
		f0, f1 := i*g.F/w, (i+1)*g.F/w
		wg.Go(func() { fn(f0, f1) })
	}
	wg.Wait()
}

// build fills hist (features f0..f1) from the rows of l.
func (g *grower) build(hist []float64, rows []int32, f0, f1 int) {
	for f := f0; f < f1; f++ {
		col := g.bins[f*g.n : (f+1)*g.n]
		h := hist[f*histBins*3 : (f+1)*histBins*3]
		for _, r := range rows {
			b := int(col[r]) * 3
			h[b] += g.grad[r]
			h[b+1] += g.hess[r]
			h[b+2]++
		}
	}
}

// best finds the best split of l over features f0..f1.
func (g *grower) best(l *gleaf, f0, f1 int) split {
	lam := g.cfg.L2
	minLeaf := float64(g.cfg.MinLeaf)
	parent := l.g * l.g / (l.h + lam)
	s := split{gain: 0, feat: -1}
	for f := f0; f < f1; f++ {
		h := l.hist[f*histBins*3:]
		var gl, hl, nl float64
		for b := 0; b < g.nb[f]-1; b++ {
			gl += h[b*3]
			hl += h[b*3+1]
			nl += h[b*3+2]
			if nl < minLeaf {
				continue
			}
			nr := l.cnt - nl
			if nr < minLeaf {
				break
			}
			hr := l.h - hl
			if hl < 1e-3 || hr < 1e-3 {
				continue
			}
			gr := l.g - gl
			gain := gl*gl/(hl+lam) + gr*gr/(hr+lam) - parent
			if gain > s.gain+1e-12 {
				s = split{gain: gain, feat: f, bin: b, gl: gl, hl: hl, nl: nl}
			}
		}
	}
	return s
}

// findSplits computes the best split of each leaf in ls (whose histograms
// are ready) in parallel over features, reducing in feature order.
func (g *grower) findSplits(ls ...*gleaf) {
	w := min(g.cfg.Workers, g.F)
	res := make([][]split, len(ls))
	for i := range res {
		res[i] = make([]split, max(w, 1))
	}
	g.parallelIndexed(w, func(p, f0, f1 int) {
		for i, l := range ls {
			if l.hist != nil {
				res[i][p] = g.best(l, f0, f1)
			} else {
				res[i][p] = split{feat: -1}
			}
		}
	})
	for i, l := range ls {
		b := split{feat: -1}
		for _, s := range res[i] {
			if s.feat >= 0 && (b.feat < 0 || s.gain > b.gain+1e-12) {
				b = s
			}
		}
		l.split = b
	}
}

func (g *grower) parallelIndexed(w int, fn func(p, f0, f1 int)) {
	if w <= 1 {
		fn(0, 0, g.F)
		return
	}
	var wg sync.WaitGroup
	for i := 0; i < w; i++ {
		f0, f1 := i*g.F/w, (i+1)*g.F/w
		wg.Go(func() { fn(i, f0, f1) })
	}
	wg.Wait()
}

// grow grows one tree and returns it with the row range of each leaf.
func (g *grower) grow() (Tree, []leafRange) {
	var t Tree
	addNode := func(cnt float64) int {
		t.Feature = append(t.Feature, -1)
		t.Threshold = append(t.Threshold, 0)
		t.Left = append(t.Left, 0)
		t.Value = append(t.Value, 0)
		t.Cover = append(t.Cover, float32(cnt))
		return len(t.Feature) - 1
	}
	for i := range g.idx {
		g.idx[i] = int32(i)
	}
	root := &gleaf{start: 0, end: g.n}
	for i := 0; i < g.n; i++ {
		root.g += g.grad[i]
		root.h += g.hess[i]
	}
	root.cnt = float64(g.n)
	root.node = addNode(root.cnt)
	root.hist = g.histogram()
	g.parallel(func(f0, f1 int) { g.build(root.hist, g.idx, f0, f1) })
	g.findSplits(root)

	leaves := []*gleaf{root}
	for len(leaves) < g.cfg.MaxLeaves {
		bi := -1
		for i, l := range leaves {
			if l.split.feat >= 0 && l.split.gain > 0 && (bi < 0 || l.split.gain > leaves[bi].split.gain) {
				bi = i
			}
		}
		if bi < 0 {
			break
		}
		l := leaves[bi]
		s := l.split
		// Stable partition of the leaf's rows.
		col := g.bins[s.feat*g.n : (s.feat+1)*g.n]
		rows := g.idx[l.start:l.end]
		nl := 0
		nr := 0
		tmp := g.tmp[:len(rows)]
		for _, r := range rows {
			if int(col[r]) <= s.bin {
				rows[nl] = r
				nl++
			} else {
				tmp[nr] = r
				nr++
			}
		}
		copy(rows[nl:], tmp[:nr])
		left := &gleaf{start: l.start, end: l.start + nl, depth: l.depth + 1, g: s.gl, h: s.hl, cnt: s.nl}
		right := &gleaf{start: l.start + nl, end: l.end, depth: l.depth + 1, g: l.g - s.gl, h: l.h - s.hl, cnt: l.cnt - s.nl}
		left.node = addNode(left.cnt)
		right.node = addNode(right.cnt)
		t.Feature[l.node] = int32(s.feat)
		t.Threshold[l.node] = g.binr.threshold(s.feat, s.bin)
		t.Left[l.node] = int32(left.node)

		splittable := func(c *gleaf) bool {
			return c.depth < g.cfg.MaxDepth && c.cnt >= 2*float64(g.cfg.MinLeaf)
		}
		if splittable(left) || splittable(right) {
			small, large := left, right
			if small.cnt > large.cnt {
				small, large = large, small
			}
			small.hist = g.histogram()
			large.hist = l.hist
			srows := g.idx[small.start:small.end]
			g.parallel(func(f0, f1 int) {
				g.build(small.hist, srows, f0, f1)
				a := large.hist[f0*histBins*3 : f1*histBins*3]
				b := small.hist[f0*histBins*3 : f1*histBins*3]
				for i := range a {
					a[i] -= b[i]
				}
			})
			for _, c := range []*gleaf{left, right} {
				if !splittable(c) {
					g.free = append(g.free, c.hist)
					c.hist = nil
				}
			}
			g.findSplits(left, right)
		} else {
			g.free = append(g.free, l.hist)
			left.split.feat, right.split.feat = -1, -1
		}
		l.hist = nil
		leaves[bi] = left
		leaves = append(leaves, right)
	}
	lam := g.cfg.L2
	out := make([]leafRange, len(leaves))
	for i, l := range leaves {
		t.Value[l.node] = float32(-l.g / (l.h + lam) * g.cfg.LearningRate)
		if math.IsNaN(float64(t.Value[l.node])) {
			t.Value[l.node] = 0
		}
		if l.hist != nil {
			g.free = append(g.free, l.hist)
		}
		out[i] = leafRange{node: l.node, start: l.start, end: l.end}
	}
	return t, out
}
