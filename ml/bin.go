package ml

import (
	"math"
	"slices"
)

// MaxBins is the largest number of histogram bins per feature.
const MaxBins = 255

// binner maps the values of each feature to at most MaxBins quantile bins.
// Bin b of feature f holds values v with edges[f][b-1] < v ≤ edges[f][b];
// the last bin has no upper edge. NaN falls in bin 0, which always goes left,
// matching prediction where a NaN never compares greater than a threshold.
type binner struct {
	edges [][]float32 // per feature, ascending upper edges of bins 0..n-2
}

// newBinner computes quantile edges for each column of d using at most
// maxBins bins. Edges are midpoints between adjacent distinct values so that
// a threshold never equals a training value.
func newBinner(d *Dataset, maxBins int) *binner {
	if maxBins <= 1 || maxBins > MaxBins {
		maxBins = MaxBins
	}
	b := &binner{edges: make([][]float32, d.Cols)}
	vals := make([]float32, 0, d.Rows)
	for f := 0; f < d.Cols; f++ {
		vals = vals[:0]
		for i := 0; i < d.Rows; i++ {
			if v := d.X[i*d.Cols+f]; !math.IsNaN(float64(v)) {
				vals = append(vals, v)
			}
		}
		slices.Sort(vals)
		distinct := slices.Compact(slices.Clone(vals))
		var edges []float32
		if len(distinct) <= maxBins {
			for i := 0; i+1 < len(distinct); i++ {
				edges = append(edges, mid(distinct[i], distinct[i+1]))
			}
		} else {
			// Quantile edges on the sorted values, skipping duplicates.
			for q := 1; q < maxBins; q++ {
				i := q * len(vals) / maxBins
				if i <= 0 || i >= len(vals) {
					continue
				}
				lo, hi := vals[i-1], vals[i]
				if lo == hi {
					// Move to the next distinct value above.
					j, _ := slices.BinarySearch(distinct, hi)
					if j+1 >= len(distinct) {
						continue
					}
					lo, hi = distinct[j], distinct[j+1]
				}
				e := mid(lo, hi)
				if len(edges) == 0 || e > edges[len(edges)-1] {
					edges = append(edges, e)
				}
			}
		}
		b.edges[f] = edges
	}
	return b
}

func mid(a, b float32) float32 {
	m := float32((float64(a) + float64(b)) / 2)
	if m >= b { // rounding: keep a < m < b where possible
		m = a
	}
	return m
}

// bin returns the bin of value v for feature f.
func (b *binner) bin(f int, v float32) uint8 {
	if math.IsNaN(float64(v)) {
		return 0
	}
	e := b.edges[f]
	lo, hi := 0, len(e)
	for lo < hi {
		m := (lo + hi) / 2
		if v > e[m] {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return uint8(lo)
}

// nbins returns the number of bins of feature f.
func (b *binner) nbins(f int) int { return len(b.edges[f]) + 1 }

// threshold returns the raw threshold of a split that sends bins ≤ bin left.
func (b *binner) threshold(f, bin int) float32 { return b.edges[f][bin] }

// transform returns the binned matrix in column-major order (feature f at
// [f*Rows, (f+1)*Rows)).
func (b *binner) transform(d *Dataset) []uint8 {
	out := make([]uint8, d.Rows*d.Cols)
	for f := 0; f < d.Cols; f++ {
		col := out[f*d.Rows : (f+1)*d.Rows]
		for i := range col {
			col[i] = b.bin(f, d.X[i*d.Cols+f])
		}
	}
	return out
}
