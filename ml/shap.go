package ml

// pathElem is one element of TreeSHAP's unique path (Lundberg et al. 2018,
// Algorithm 2: d, z, o, w).
type pathElem struct {
	feat int32
	zero float64 // fraction of "zero" paths (feature not in the coalition)
	one  float64 // fraction of "one" paths (feature in the coalition)
	w    float64 // permutation weight
}

// Explainer computes exact TreeSHAP attributions for a GBT. It owns scratch
// space, so it does not allocate per call; it is not safe for concurrent use
// (create one per goroutine; creation is cheap).
type Explainer struct {
	m        *GBT
	path     []pathElem
	phi      []float64
	x        []float32
	expected []float64 // expected margin per class
}

// NewExplainer returns an Explainer for m.
func NewExplainer(m *GBT) *Explainer {
	d := m.depth + 2
	e := &Explainer{m: m, path: make([]pathElem, (d+1)*(d+2)/2+d), expected: make([]float64, m.classes)}
	copy(e.expected, m.base)
	for t, r := range m.roots {
		e.expected[t%m.classes] += m.expect(r)
	}
	return e
}

// expect returns the cover-weighted mean output of the subtree at i.
func (m *GBT) expect(i int32) float64 {
	n := m.nodes[i]
	if n.leaf(i) {
		return float64(m.value[i])
	}
	l, r := n.child, n.child+1
	cl, cr := float64(m.cover[l]), float64(m.cover[r])
	return (cl*m.expect(l) + cr*m.expect(r)) / (cl + cr)
}

// Expected returns the expected raw margin of class k: the value
// attributions are measured from.
func (e *Explainer) Expected(k int) float64 { return e.expected[k] }

// Explain writes into phi (len NumFeatures) the SHAP value of each feature
// for the raw margin of class k at x, and returns the expected margin; so
// that Σ phi + expected equals the margin of class k. Only class k's trees
// are visited. It does not allocate.
func (e *Explainer) Explain(x []float32, k int, phi []float64) float64 {
	m := e.m
	phi = phi[:m.features]
	clear(phi)
	e.phi, e.x = phi, x[:m.features]
	for t := k; t < len(m.roots); t += m.classes {
		e.recurse(m.roots[t], e.path[:0:len(e.path)], 0, 1, 1, -1)
	}
	e.phi, e.x = nil, nil
	return e.expected[k]
}

// recurse is RECURSE of Algorithm 2. path holds the parent's unique path in
// path[:depth]; the child's copy is written just after it.
func (e *Explainer) recurse(j int32, parent []pathElem, depth int, pz, po float64, pi int32) {
	m := e.m
	// The child's path lives after the parent's in the same buffer.
	path := parent[len(parent) : len(parent)+depth+1]
	copy(path, parent[:depth])
	extend(path, depth, pz, po, pi)
	n := m.nodes[j]
	if n.leaf(j) {
		for i := 1; i <= depth; i++ {
			w := unwoundSum(path, depth, i)
			el := path[i]
			e.phi[el.feat] += w * (el.one - el.zero) * float64(m.value[j])
		}
		return
	}
	hot, cold := n.child, n.child+1
	if e.x[n.feat] > n.thr {
		hot, cold = cold, hot
	}
	cover := float64(m.cover[hot]) + float64(m.cover[cold])
	iz, io := 1.0, 1.0
	k := 0
	for ; k <= depth; k++ {
		if path[k].feat == n.feat {
			break
		}
	}
	d := depth
	if k <= depth {
		iz, io = path[k].zero, path[k].one
		unwind(path, d, k)
		d--
	}
	next := path[: d+1 : cap(path)]
	e.recurse(hot, next, d+1, iz*float64(m.cover[hot])/cover, io, n.feat)
	e.recurse(cold, next, d+1, iz*float64(m.cover[cold])/cover, 0, n.feat)
}

// extend is EXTEND: it appends (pi, pz, po) at path[depth] and updates the
// permutation weights.
func extend(path []pathElem, depth int, pz, po float64, pi int32) {
	path[depth] = pathElem{feat: pi, zero: pz, one: po}
	if depth == 0 {
		path[depth].w = 1
	}
	for i := depth - 1; i >= 0; i-- {
		path[i+1].w += po * path[i].w * float64(i+1) / float64(depth+1)
		path[i].w = pz * path[i].w * float64(depth-i) / float64(depth+1)
	}
}

// inv[i] = 1/i, so that the inner loops multiply instead of divide.
var inv = func() (t [maxTreeDepth + 3]float64) {
	for i := 1; i < len(t); i++ {
		t[i] = 1 / float64(i)
	}
	return t
}()

// unwind is UNWIND: it removes element k from path[:depth+1]. The "one"
// fraction of a path element is always 0 or 1 in Algorithm 2 (a feature
// either follows x or does not), which the arithmetic below uses.
func unwind(path []pathElem, depth, k int) {
	one, zero := path[k].one, path[k].zero
	next := path[depth].w
	d1 := float64(depth + 1)
	if one != 0 {
		for i := depth - 1; i >= 0; i-- {
			t := path[i].w
			path[i].w = next * d1 * inv[i+1]
			next = t - path[i].w*zero*float64(depth-i)*inv[depth+1]
		}
	} else {
		iz := 1 / zero
		for i := depth - 1; i >= 0; i-- {
			path[i].w = path[i].w * d1 * iz * inv[depth-i]
		}
	}
	for i := k; i < depth; i++ {
		path[i].feat, path[i].zero, path[i].one = path[i+1].feat, path[i+1].zero, path[i+1].one
	}
}

// unwoundSum is sum(UNWIND(m, k).w) without modifying the path.
func unwoundSum(path []pathElem, depth, k int) float64 {
	one, zero := path[k].one, path[k].zero
	next := path[depth].w
	d1 := float64(depth + 1)
	total := 0.0
	if one != 0 {
		zd := zero * inv[depth+1]
		for i := depth - 1; i >= 0; i-- {
			t := next * d1 * inv[i+1]
			total += t
			next = path[i].w - t*zd*float64(depth-i)
		}
	} else if zero != 0 {
		f := d1 / zero
		for i := depth - 1; i >= 0; i-- {
			total += path[i].w * f * inv[depth-i]
		}
	}
	return total
}
