package ml

import (
	"fmt"
	"math"

	"github.com/vigilhealth/vigil"
)

// Dataset is a dense feature matrix with one label per row. Rows are stored
// row-major in X (len Rows*Cols). NaN marks a missing value; trees send it to
// the left child.
type Dataset struct {
	X    []float32 // row-major, len Rows*Cols
	Rows int
	Cols int
	// Y holds the class index of each row, 0 ≤ Y[i] < number of classes.
	Y []int
	// Weight is an optional weight per row; nil means 1 for every row.
	Weight []float32
	// Group is an optional group (patient) id per row, used to draw the
	// validation split by group; nil means every row is its own group.
	Group []int
}

// Row returns row i of X (a slice of the underlying array, not a copy).
func (d *Dataset) Row(i int) []float32 { return d.X[i*d.Cols : (i+1)*d.Cols] }

// Subset returns a new Dataset holding the given rows in order.
func (d *Dataset) Subset(rows []int) Dataset {
	s := Dataset{Rows: len(rows), Cols: d.Cols, X: make([]float32, 0, len(rows)*d.Cols), Y: make([]int, len(rows))}
	if d.Weight != nil {
		s.Weight = make([]float32, len(rows))
	}
	if d.Group != nil {
		s.Group = make([]int, len(rows))
	}
	for j, i := range rows {
		s.X = append(s.X, d.Row(i)...)
		s.Y[j] = d.Y[i]
		if d.Weight != nil {
			s.Weight[j] = d.Weight[i]
		}
		if d.Group != nil {
			s.Group[j] = d.Group[i]
		}
	}
	return s
}

// validate checks the shape of d against the number of classes.
func (d *Dataset) validate(classes int) error {
	switch {
	case d.Rows <= 0 || d.Cols <= 0:
		return fmt.Errorf("%w: dataset has %d rows and %d columns", vigil.ErrInvalid, d.Rows, d.Cols)
	case len(d.X) != d.Rows*d.Cols:
		return fmt.Errorf("%w: len(X) = %d, want %d", vigil.ErrInvalid, len(d.X), d.Rows*d.Cols)
	case len(d.Y) != d.Rows:
		return fmt.Errorf("%w: len(Y) = %d, want %d", vigil.ErrInvalid, len(d.Y), d.Rows)
	case d.Weight != nil && len(d.Weight) != d.Rows:
		return fmt.Errorf("%w: len(Weight) = %d, want %d", vigil.ErrInvalid, len(d.Weight), d.Rows)
	case d.Group != nil && len(d.Group) != d.Rows:
		return fmt.Errorf("%w: len(Group) = %d, want %d", vigil.ErrInvalid, len(d.Group), d.Rows)
	}
	for i, y := range d.Y {
		if y < 0 || y >= classes {
			return fmt.Errorf("%w: label %d of row %d outside [0,%d)", vigil.ErrInvalid, y, i, classes)
		}
	}
	for i, w := range d.Weight {
		if !(w >= 0) || math.IsInf(float64(w), 0) {
			return fmt.Errorf("%w: weight of row %d is %v", vigil.ErrInvalid, i, w)
		}
	}
	for i, x := range d.X {
		if math.IsInf(float64(x), 0) {
			return fmt.Errorf("%w: infinite feature at row %d column %d", vigil.ErrInvalid, i/d.Cols, i%d.Cols)
		}
	}
	return nil
}
