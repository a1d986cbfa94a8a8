package ml

import (
	"fmt"
	"math"

	"github.com/vigilhealth/vigil"
)

// Tree is one regression tree in flat arrays. Node 0 is the root. An internal
// node n sends x left when !(x[Feature[n]] > Threshold[n]) (so NaN goes left)
// and right otherwise; the right child is always Left[n]+1. A leaf has
// Feature[n] = -1 and its output in Value[n]. Cover[n] is the training weight
// (sum of sample weights) that reached node n; TreeSHAP needs it.
type Tree struct {
	Feature   []int32
	Threshold []float32
	Left      []int32
	Value     []float32
	Cover     []float32
}

// Len returns the number of nodes.
func (t *Tree) Len() int { return len(t.Feature) }

// node is the packed form used for prediction: 12 bytes, children adjacent.
type node struct {
	feat  int32   // feature index (0 for a leaf)
	thr   float32 // threshold (+Inf for a leaf)
	child int32   // left child, right is child+1; a leaf points to itself
}

// leaf reports whether node i (n) is a leaf: a leaf loops to itself.
func (n node) leaf(i int32) bool { return n.child == i }

// GBT is a trained gradient-boosted tree ensemble for K classes. Trees are
// stored round by round: tree r*K+k adds to the raw margin of class k. A
// GBT is immutable after training or decoding and safe for concurrent use.
type GBT struct {
	classes  int
	features int
	base     []float64 // initial margin per class
	trees    []Tree
	temp     float64 // calibration temperature (1 = none)

	// Packed prediction form, built by prepare.
	nodes  []node
	value  []float32 // leaf value of each packed node (0 for internal nodes)
	cover  []float32 // cover of each packed node
	roots  []int32   // root of each tree in nodes
	tdepth []int32   // depth of each tree
	depth  int       // maximum tree depth
}

// NumClasses returns the number of classes.
func (m *GBT) NumClasses() int { return m.classes }

// NumFeatures returns the number of input features.
func (m *GBT) NumFeatures() int { return m.features }

// Rounds returns the number of boosting rounds kept.
func (m *GBT) Rounds() int { return len(m.trees) / m.classes }

// Trees returns the trees (shared, do not modify).
func (m *GBT) Trees() []Tree { return m.trees }

// Temperature returns the calibration temperature applied by Proba.
func (m *GBT) Temperature() float64 { return m.temp }

// SetTemperature sets the calibration temperature (> 0) used by Proba.
// It must not be called while other goroutines use m.
func (m *GBT) SetTemperature(t float64) {
	if t > 0 && !math.IsInf(t, 0) {
		m.temp = t
	}
}

// newGBT builds a GBT from its parts and checks that it is well formed.
func newGBT(classes, features int, base []float64, trees []Tree, temp float64) (*GBT, error) {
	m := &GBT{classes: classes, features: features, base: base, trees: trees, temp: temp}
	if err := m.check(); err != nil {
		return nil, err
	}
	m.prepare()
	return m, nil
}

func (m *GBT) check() error {
	if m.classes < 2 || m.classes > 1024 {
		return fmt.Errorf("%w: %d classes", vigil.ErrInvalid, m.classes)
	}
	if m.features < 1 || m.features > 1<<20 {
		return fmt.Errorf("%w: %d features", vigil.ErrInvalid, m.features)
	}
	if len(m.base) != m.classes {
		return fmt.Errorf("%w: %d base scores for %d classes", vigil.ErrInvalid, len(m.base), m.classes)
	}
	for _, b := range m.base {
		if math.IsNaN(b) || math.IsInf(b, 0) {
			return fmt.Errorf("%w: base score %v", vigil.ErrInvalid, b)
		}
	}
	if len(m.trees)%m.classes != 0 {
		return fmt.Errorf("%w: %d trees for %d classes", vigil.ErrInvalid, len(m.trees), m.classes)
	}
	if !(m.temp > 0) || math.IsInf(m.temp, 0) {
		return fmt.Errorf("%w: temperature %v", vigil.ErrInvalid, m.temp)
	}
	for i := range m.trees {
		if err := m.trees[i].check(m.features); err != nil {
			return fmt.Errorf("tree %d: %w", i, err)
		}
	}
	return nil
}

// maxTreeDepth bounds tree depth so that TreeSHAP's scratch space stays small.
const maxTreeDepth = 64

func (t *Tree) check(features int) error {
	n := len(t.Feature)
	if n == 0 || len(t.Threshold) != n || len(t.Left) != n || len(t.Value) != n || len(t.Cover) != n {
		return fmt.Errorf("%w: inconsistent node arrays", vigil.ErrInvalid)
	}
	depth := make([]int, n)
	seen := make([]bool, n)
	seen[0] = true
	for i := 0; i < n; i++ {
		if !seen[i] {
			return fmt.Errorf("%w: node %d unreachable", vigil.ErrInvalid, i)
		}
		if c := float64(t.Cover[i]); !(c > 0) || math.IsInf(c, 0) {
			return fmt.Errorf("%w: node %d cover %v", vigil.ErrInvalid, i, c)
		}
		if t.Feature[i] < 0 {
			if t.Feature[i] != -1 {
				return fmt.Errorf("%w: node %d feature %d", vigil.ErrInvalid, i, t.Feature[i])
			}
			if v := float64(t.Value[i]); math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("%w: leaf %d value %v", vigil.ErrInvalid, i, v)
			}
			continue
		}
		if int(t.Feature[i]) >= features {
			return fmt.Errorf("%w: node %d feature %d ≥ %d", vigil.ErrInvalid, i, t.Feature[i], features)
		}
		if th := float64(t.Threshold[i]); math.IsNaN(th) {
			return fmt.Errorf("%w: node %d threshold NaN", vigil.ErrInvalid, i)
		}
		l := int(t.Left[i])
		// Children come after their parent, so the tree has no cycles.
		if l <= i || l+1 >= n || seen[l] || seen[l+1] {
			return fmt.Errorf("%w: node %d children %d,%d", vigil.ErrInvalid, i, l, l+1)
		}
		seen[l], seen[l+1] = true, true
		depth[l], depth[l+1] = depth[i]+1, depth[i]+1
		if depth[l] > maxTreeDepth {
			return fmt.Errorf("%w: tree deeper than %d", vigil.ErrInvalid, maxTreeDepth)
		}
	}
	return nil
}

// prepare packs the trees into one node array for fast prediction. A leaf
// becomes a node that loops to itself (feature 0, threshold +Inf), so a
// row can walk exactly tdepth[t] steps without testing for leaves, with
// no data-dependent branch.
func (m *GBT) prepare() {
	total := 0
	for i := range m.trees {
		total += m.trees[i].Len()
	}
	m.nodes = make([]node, 0, total)
	m.value = make([]float32, 0, total)
	m.cover = make([]float32, 0, total)
	m.roots = make([]int32, len(m.trees))
	m.tdepth = make([]int32, len(m.trees))
	m.depth = 0
	inf := float32(math.Inf(1))
	for i := range m.trees {
		t := &m.trees[i]
		off := int32(len(m.nodes))
		m.roots[i] = off
		d := make([]int, t.Len())
		for n := 0; n < t.Len(); n++ {
			m.cover = append(m.cover, t.Cover[n])
			if t.Feature[n] < 0 {
				m.nodes = append(m.nodes, node{feat: 0, thr: inf, child: off + int32(n)})
				m.value = append(m.value, t.Value[n])
				m.tdepth[i] = max(m.tdepth[i], int32(d[n]))
				continue
			}
			l := t.Left[n]
			d[l], d[l+1] = d[n]+1, d[n]+1
			m.nodes = append(m.nodes, node{feat: t.Feature[n], thr: t.Threshold[n], child: off + l})
			m.value = append(m.value, 0)
		}
		m.depth = max(m.depth, int(m.tdepth[i]))
	}
}

// walk returns the leaf of the tree at root, depth levels deep, that x
// reaches in nodes (a leaf loops to itself, see prepare).
func walk(nodes []node, root, depth int32, x []float32) int32 {
	i := root
	for range depth {
		n := &nodes[i]
		i = n.child
		if x[n.feat] > n.thr {
			i++
		}
	}
	return i
}

// Margins writes the raw (uncalibrated) margin of each class for the feature
// vector x into out (len NumClasses). It does not allocate.
func (m *GBT) Margins(x []float32, out []float64) {
	K := m.classes
	copy(out[:K], m.base)
	x = x[:m.features]
	nodes, value, depth := m.nodes, m.value, m.tdepth
	k := 0
	for t, r := range m.roots {
		out[k] += float64(value[walk(nodes, r, depth[t], x)])
		if k++; k == K {
			k = 0
		}
	}
}

// MarginsBatch computes the margins of n rows of X (row-major, NumFeatures
// columns) into out (row-major, n*NumClasses), as Margins does for each
// row; it does not allocate.
func (m *GBT) MarginsBatch(X []float32, out []float64) {
	K, F := m.classes, m.features
	n := len(X) / F
	for r := range n {
		m.Margins(X[r*F:(r+1)*F], out[r*K:(r+1)*K])
	}
}

// Proba writes calibrated class probabilities for x into out (len
// NumClasses): the softmax of the margins divided by the temperature.
func (m *GBT) Proba(x []float32, out []float64) {
	m.Margins(x, out)
	softmaxT(out[:m.classes], m.temp)
}

// softmaxT replaces z with softmax(z/t) in place.
func softmaxT(z []float64, t float64) {
	mx := math.Inf(-1)
	for i := range z {
		z[i] /= t
		mx = max(mx, z[i])
	}
	s := 0.0
	for i := range z {
		z[i] = math.Exp(z[i] - mx)
		s += z[i]
	}
	for i := range z {
		z[i] /= s
	}
}

// Argmax returns the index of the largest value (the first on ties).
func Argmax(v []float64) int {
	b := 0
	for i := range v {
		if v[i] > v[b] {
			b = i
		}
	}
	return b
}
