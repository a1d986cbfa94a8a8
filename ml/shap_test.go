package ml

import (
	"context"
	"math"
	"math/bits"
	"testing"
)

// condExp is the path-dependent conditional expectation E[f(x) | x_S] of one
// packed tree that TreeSHAP explains: features in S follow x, the others
// average their children by cover.
func (m *GBT) condExp(i int32, x []float32, s uint) float64 {
	n := m.nodes[i]
	if n.leaf(i) {
		return float64(m.value[i])
	}
	if s&(1<<uint(n.feat)) != 0 {
		c := n.child
		if x[n.feat] > n.thr {
			c++
		}
		return m.condExp(c, x, s)
	}
	l, r := n.child, n.child+1
	cl, cr := float64(m.cover[l]), float64(m.cover[r])
	return (cl*m.condExp(l, x, s) + cr*m.condExp(r, x, s)) / (cl + cr)
}

// bruteShapley computes Shapley values of class k by enumerating coalitions.
func bruteShapley(m *GBT, x []float32, k int) []float64 {
	F := m.features
	v := func(s uint) float64 {
		t := 0.0
		for tr := k; tr < len(m.roots); tr += m.classes {
			t += m.condExp(m.roots[tr], x, s)
		}
		return t
	}
	fact := func(n int) float64 {
		r := 1.0
		for i := 2; i <= n; i++ {
			r *= float64(i)
		}
		return r
	}
	phi := make([]float64, F)
	for i := 0; i < F; i++ {
		for s := uint(0); s < 1<<F; s++ {
			if s&(1<<i) != 0 {
				continue
			}
			sz := bits.OnesCount(s)
			w := fact(sz) * fact(F-sz-1) / fact(F)
			phi[i] += w * (v(s|1<<i) - v(s))
		}
	}
	return phi
}

func TestTreeSHAP(t *testing.T) {
	tests := []struct {
		name string
		cols int
		cfg  Config
	}{
		{"stumps", 4, Config{Rounds: 5, MaxDepth: 1}},
		{"small trees", 5, Config{Rounds: 4, MaxLeaves: 6, MinLeaf: 5}},
		{"repeated features deep", 3, Config{Rounds: 3, MaxLeaves: 20, MaxDepth: 6, MinLeaf: 3}},
		{"eight features", 8, Config{Rounds: 3, MaxLeaves: 12, MinLeaf: 10}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := synth(800, tc.cols, 11)
			m, _, err := TrainGBT(context.Background(), d, 3, tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			e := NewExplainer(m)
			phi := make([]float64, m.features)
			margins := make([]float64, 3)
			for i := 0; i < 25; i++ {
				x := d.Row(i)
				m.Margins(x, margins)
				for k := 0; k < 3; k++ {
					base := e.Explain(x, k, phi)
					sum := base
					for _, p := range phi {
						sum += p
					}
					if math.Abs(sum-margins[k]) > 1e-5 {
						t.Fatalf("row %d class %d: Σφ + E = %.8f, margin %.8f", i, k, sum, margins[k])
					}
					want := bruteShapley(m, x, k)
					for f := range want {
						if math.Abs(phi[f]-want[f]) > 1e-6 {
							t.Fatalf("row %d class %d feature %d: TreeSHAP %.8f, brute force %.8f", i, k, f, phi[f], want[f])
						}
					}
				}
			}
		})
	}
}

func TestExplainDoesNotAllocate(t *testing.T) {
	d := synth(2000, 6, 1)
	m, _, err := TrainGBT(context.Background(), d, 3, Config{Rounds: 10})
	if err != nil {
		t.Fatal(err)
	}
	e := NewExplainer(m)
	phi := make([]float64, 6)
	out := make([]float64, 3)
	x := d.Row(3)
	if a := testing.AllocsPerRun(100, func() { e.Explain(x, 1, phi); m.Margins(x, out) }); a != 0 {
		t.Errorf("Explain+Margins allocate %.1f times per call", a)
	}
}
