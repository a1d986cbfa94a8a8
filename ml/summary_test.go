package ml

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/vigilhealth/vigil"
)

func normal(r *rand.Rand, n int, mean, sd float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(mean + sd*r.NormFloat64())
	}
	return v
}

func TestNewHistogram(t *testing.T) {
	nan := float32(math.NaN())
	tests := []struct {
		name    string
		values  []float32
		bins    int
		edges   string
		counts  string
		missing int64
	}{
		{"deciles of 1..100", floats(1, 100), 10, "[10 20 30 40 50 60 70 80 90]", "[10 10 10 10 10 10 10 10 10 10]", 0},
		{"right-closed bins", []float32{1, 2, 2, 3}, 2, "[2]", "[3 1]", 0},
		{"ties merge quantiles", []float32{0, 0, 0, 0, 0, 0, 0, 0, 1, 2}, 10, "[0 1]", "[8 1 1]", 0},
		{"constant feature: one bin", []float32{5, 5, 5}, 10, "[]", "[3]", 0},
		{"missing values apart", []float32{1, nan, 2, nan}, 2, "[1]", "[1 1]", 2},
		{"nothing but missing", []float32{nan}, 10, "[]", "[0]", 1},
		{"empty", nil, 10, "[]", "[0]", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := NewHistogram("f", tc.values, tc.bins)
			if e, c := fmt.Sprint(h.Edges), fmt.Sprint(h.Counts); e != tc.edges || c != tc.counts || h.Missing != tc.missing {
				t.Errorf("NewHistogram = edges %s counts %s missing %d; want %s %s %d", e, c, h.Missing, tc.edges, tc.counts, tc.missing)
			}
			if err := h.Check(); err != nil {
				t.Errorf("Check: %v", err)
			}
			if h.Total() != int64(len(tc.values)) {
				t.Errorf("Total = %d, want %d", h.Total(), len(tc.values))
			}
		})
	}
}

func floats(from, to int) []float32 {
	var v []float32
	for i := from; i <= to; i++ {
		v = append(v, float32(i))
	}
	return v
}

// TestPSI checks PSI and KS on samples whose shift is known: the same
// distribution stays below the "moderate" threshold, a shift of half a
// standard deviation is moderate to major, a shift of two is major, and
// a feature that goes missing shows up in PSI (not in KS).
func TestPSI(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	ref := NewHistogram("x", normal(r, 20000, 0, 1), 10)
	fill := func(v []float32) Histogram {
		h := ref.Empty()
		for _, x := range v {
			h.Add(x)
		}
		return h
	}
	withNaN := normal(r, 5000, 0, 1)
	for i := range withNaN[:1000] {
		withNaN[i] = float32(math.NaN())
	}
	tests := []struct {
		name           string
		cur            []float32
		psiMin, psiMax float64
		ksMin, ksMax   float64
	}{
		{"same distribution", normal(r, 5000, 0, 1), 0, 0.01, 0, 0.03},
		{"half a standard deviation", normal(r, 5000, 0.5, 1), 0.15, 0.4, 0.15, 0.25},
		{"two standard deviations", normal(r, 5000, 2, 1), 2, math.Inf(1), 0.6, 1},
		{"wider", normal(r, 5000, 0, 2), 0.3, math.Inf(1), 0.1, 0.25},
		{"a fifth missing", withNaN, 0.25, math.Inf(1), 0, 0.03},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cur := fill(tc.cur)
			psi, err := PSI(&ref, &cur)
			if err != nil {
				t.Fatal(err)
			}
			ks, err := KS(&ref, &cur)
			if err != nil {
				t.Fatal(err)
			}
			if !(psi >= tc.psiMin && psi <= tc.psiMax) || !(ks >= tc.ksMin && ks <= tc.ksMax) {
				t.Errorf("PSI = %.4f (want %v–%v), KS = %.4f (want %v–%v)", psi, tc.psiMin, tc.psiMax, ks, tc.ksMin, tc.ksMax)
			}
		})
	}
	other := NewHistogram("y", normal(r, 100, 0, 1), 5)
	if _, err := PSI(&ref, &other); !errors.Is(err, vigil.ErrInvalid) {
		t.Errorf("PSI of different bins = %v, want ErrInvalid", err)
	}
	empty := ref.Empty()
	if psi, err := PSI(&ref, &empty); err != nil || !math.IsNaN(psi) {
		t.Errorf("PSI against an empty histogram = %v, %v; want NaN", psi, err)
	}
}

func TestHistogramCheck(t *testing.T) {
	tests := []struct {
		name string
		h    Histogram
	}{
		{"counts do not match edges", Histogram{Edges: []float32{1}, Counts: []int64{1}}},
		{"edges not ascending", Histogram{Edges: []float32{2, 1}, Counts: []int64{0, 0, 0}}},
		{"NaN edge", Histogram{Edges: []float32{float32(math.NaN())}, Counts: []int64{0, 0}}},
		{"negative count", Histogram{Edges: []float32{1}, Counts: []int64{0, -1}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.h.Check(); !errors.Is(err, vigil.ErrInvalid) {
				t.Errorf("Check = %v, want ErrInvalid", err)
			}
		})
	}
}

func ExamplePSI() {
	train := NewHistogram("rr_pre", []float32{0.7, 0.75, 0.8, 0.8, 0.82, 0.85, 0.9, 0.95, 1.0, 1.1}, 5)
	recent := train.Empty()
	for _, rr := range []float32{0.45, 0.5, 0.5, 0.55, 0.6, 0.8, 0.85, 0.9, 0.95, 1.0} {
		recent.Add(rr)
	}
	psi, _ := PSI(&train, &recent)
	fmt.Printf("edges %v\nPSI %.2f\n", train.Edges, psi)
	// Output:
	// edges [0.75 0.8 0.85 0.95]
	// PSI 0.30
}
