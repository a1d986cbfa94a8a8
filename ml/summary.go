package ml

import (
	"fmt"
	"math"
	"slices"

	"github.com/vigilhealth/vigil"
)

// Histogram summarises the distribution of one feature over a data set so
// that a later sample can be compared with it without keeping the rows: a
// model registry stores one per feature of the training data, and a drift
// report fills a histogram with the same edges from recent data.
//
// Bins are right-closed: bin 0 holds x ≤ Edges[0], bin i holds
// Edges[i-1] < x ≤ Edges[i], and the last bin (index len(Edges)) holds
// x > Edges[len(Edges)-1]. Missing values (NaN) are counted apart. The zero
// value is an empty histogram with a single bin.
type Histogram struct {
	Name    string    `json:"name,omitempty"`
	Edges   []float32 `json:"edges"`   // ascending, distinct
	Counts  []int64   `json:"counts"`  // len(Edges)+1
	Missing int64     `json:"missing"` // NaN values
}

// NewHistogram returns the histogram of values over at most bins bins whose
// edges are the values' quantiles (deciles for bins = 10). Repeated values
// can merge quantiles, so a feature with few distinct values gets fewer
// bins. NaN values are counted as missing. The cost is a sort of the
// non-missing values.
func NewHistogram(name string, values []float32, bins int) Histogram {
	bins = max(bins, 1)
	v := make([]float32, 0, len(values))
	missing := int64(0)
	for _, x := range values {
		if x != x {
			missing++
			continue
		}
		v = append(v, x)
	}
	slices.Sort(v)
	h := Histogram{Name: name, Missing: missing}
	if len(v) > 0 {
		for b := 1; b < bins; b++ {
			// The b-th quantile: the smallest value with at least b/bins
			// of the values at or below it.
			e := v[(b*len(v)+bins-1)/bins-1]
			// An edge equal to the largest value would leave the last bin
			// empty by construction; one equal to the previous edge adds
			// nothing.
			if e == v[len(v)-1] || (len(h.Edges) > 0 && e <= h.Edges[len(h.Edges)-1]) {
				continue
			}
			h.Edges = append(h.Edges, e)
		}
	}
	h.Counts = make([]int64, len(h.Edges)+1)
	for _, x := range v {
		h.Counts[h.bin(x)]++
	}
	return h
}

// Empty returns a histogram with h's name and edges and no counts.
func (h *Histogram) Empty() Histogram {
	return Histogram{Name: h.Name, Edges: slices.Clone(h.Edges), Counts: make([]int64, len(h.Edges)+1)}
}

// bin returns the bin of a non-missing value.
func (h *Histogram) bin(x float32) int {
	i, _ := slices.BinarySearch(h.Edges, x) // first edge ≥ x
	return i
}

// Index returns the bin of x: an index of Counts, or len(Counts) for a
// missing value (NaN).
func (h *Histogram) Index(x float32) int {
	if x != x {
		return len(h.Counts)
	}
	return h.bin(x)
}

// Add counts one value (NaN as missing). h must have been made by
// NewHistogram or Empty (or decoded with Check passing).
func (h *Histogram) Add(x float32) {
	if x != x {
		h.Missing++
		return
	}
	h.Counts[h.bin(x)]++
}

// Total returns the number of values counted, missing ones included.
func (h *Histogram) Total() int64 {
	t := h.Missing
	for _, c := range h.Counts {
		t += c
	}
	return t
}

// Check reports whether h is well formed (after decoding): ascending
// distinct finite edges, one more count than edges, no negative count. It
// returns an error wrapping vigil.ErrInvalid.
func (h *Histogram) Check() error {
	if len(h.Counts) != len(h.Edges)+1 {
		return fmt.Errorf("%w: histogram %q has %d counts for %d edges", vigil.ErrInvalid, h.Name, len(h.Counts), len(h.Edges))
	}
	for i, e := range h.Edges {
		if math.IsNaN(float64(e)) || math.IsInf(float64(e), 0) || (i > 0 && e <= h.Edges[i-1]) {
			return fmt.Errorf("%w: histogram %q edges not ascending and finite", vigil.ErrInvalid, h.Name)
		}
	}
	for _, c := range append([]int64{h.Missing}, h.Counts...) {
		if c < 0 {
			return fmt.Errorf("%w: histogram %q has a negative count", vigil.ErrInvalid, h.Name)
		}
	}
	return nil
}

// proportions returns the share of each bin and of the missing values
// (last), with additive smoothing of half a count per bin so that an empty
// bin has a small, finite share.
func (h *Histogram) proportions() []float64 {
	p := make([]float64, len(h.Counts)+1)
	n := float64(h.Total()) + 0.5*float64(len(p))
	for i, c := range h.Counts {
		p[i] = (float64(c) + 0.5) / n
	}
	p[len(p)-1] = (float64(h.Missing) + 0.5) / n
	return p
}

// PSI returns the population stability index of cur against ref, which
// must have the same edges (cur made by ref.Empty()): Σ (q − p)·ln(q / p)
// over the bins and the missing-value bin, p the reference share and q the
// current share, each smoothed by half a count per bin. By the usual rule
// of thumb (Siddiqi, "Credit Risk Scorecards", 2006; Yurdakul 2018) a PSI
// below 0.1 means no significant shift, 0.1–0.25 a moderate shift and
// above 0.25 a major one. It returns an error wrapping vigil.ErrInvalid when
// the edges differ, and NaN when either histogram is empty.
func PSI(ref, cur *Histogram) (float64, error) {
	if !slices.Equal(ref.Edges, cur.Edges) || len(ref.Counts) != len(cur.Counts) {
		return 0, fmt.Errorf("%w: histograms %q and %q have different bins", vigil.ErrInvalid, ref.Name, cur.Name)
	}
	if ref.Total() == 0 || cur.Total() == 0 {
		return math.NaN(), nil
	}
	p, q := ref.proportions(), cur.proportions()
	s := 0.0
	for i := range p {
		s += (q[i] - p[i]) * math.Log(q[i]/p[i])
	}
	return s, nil
}

// KS returns the Kolmogorov–Smirnov distance between the distributions of
// the non-missing values of ref and cur, evaluated at the bin edges only:
// the largest difference of their cumulative shares at an edge. It is
// therefore a lower bound of the exact two-sample statistic, exact when the
// largest gap falls on an edge. Missing values are left out (PSI counts
// them). It returns an error wrapping vigil.ErrInvalid when the edges
// differ, and NaN when either has no non-missing value.
func KS(ref, cur *Histogram) (float64, error) {
	if !slices.Equal(ref.Edges, cur.Edges) || len(ref.Counts) != len(cur.Counts) {
		return 0, fmt.Errorf("%w: histograms %q and %q have different bins", vigil.ErrInvalid, ref.Name, cur.Name)
	}
	nr, nc := ref.Total()-ref.Missing, cur.Total()-cur.Missing
	if nr == 0 || nc == 0 {
		return math.NaN(), nil
	}
	var cr, cc int64
	d := 0.0
	for i := range ref.Counts[:len(ref.Counts)-1] {
		cr += ref.Counts[i]
		cc += cur.Counts[i]
		d = max(d, math.Abs(float64(cr)/float64(nr)-float64(cc)/float64(nc)))
	}
	return d, nil
}
