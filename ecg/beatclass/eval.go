package beatclass

import (
	"fmt"
	"io"
	"strings"
)

// Confusion is an AAMI confusion matrix: Counts[ref][pred] over Classes.
type Confusion struct {
	Counts [len(Classes)][len(Classes)]int
}

func classIndex(c byte) int { return strings.IndexByte(Classes, c) }

// Add counts one beat with reference class ref and predicted class pred.
// Letters outside Classes are ignored.
func (c *Confusion) Add(ref, pred byte) {
	r, p := classIndex(ref), classIndex(pred)
	if r >= 0 && p >= 0 {
		c.Counts[r][p]++
	}
}

// AddAll adds two equal-length label sequences.
func (c *Confusion) AddAll(ref, pred []byte) {
	for i := range ref {
		c.Add(ref[i], pred[i])
	}
}

// Merge adds the counts of o.
func (c *Confusion) Merge(o Confusion) {
	for i := range c.Counts {
		for j := range c.Counts[i] {
			c.Counts[i][j] += o.Counts[i][j]
		}
	}
}

// Row returns the number of reference beats of class index i (Classes[i]).
func (c *Confusion) Row(i int) int {
	t := 0
	for j := range c.Counts[i] {
		t += c.Counts[i][j]
	}
	return t
}

// Col returns the number of beats labelled class index j (Classes[j]).
func (c *Confusion) Col(j int) int {
	t := 0
	for i := range c.Counts {
		t += c.Counts[i][j]
	}
	return t
}

// Total returns the number of beats counted.
func (c *Confusion) Total() int {
	t := 0
	for i := range c.Counts {
		for j := range c.Counts[i] {
			t += c.Counts[i][j]
		}
	}
	return t
}

// Accuracy returns the fraction of beats whose class is right.
func (c *Confusion) Accuracy() float64 {
	ok := 0
	for i := range c.Counts {
		ok += c.Counts[i][i]
	}
	return float64(ok) / float64(max(c.Total(), 1))
}

// Se returns the sensitivity of class k (TP / reference beats of k); NaN
// when there are none.
func (c *Confusion) Se(k byte) float64 {
	i := classIndex(k)
	tot := 0
	for j := range c.Counts[i] {
		tot += c.Counts[i][j]
	}
	return ratio(c.Counts[i][i], tot)
}

// PP returns the positive predictivity of class k (TP / beats labelled k);
// NaN when none were.
func (c *Confusion) PP(k byte) float64 {
	j := classIndex(k)
	tot := 0
	for i := range c.Counts {
		tot += c.Counts[i][j]
	}
	return ratio(c.Counts[j][j], tot)
}

func ratio(a, b int) float64 {
	if b == 0 {
		return nan
	}
	return float64(a) / float64(b)
}

// Print writes the matrix with per-class Se and +P and the accuracy.
func (c *Confusion) Print(w io.Writer) {
	fmt.Fprintf(w, "%-10s", "ref\\pred")
	for i := range Classes {
		fmt.Fprintf(w, "%8c", Classes[i])
	}
	fmt.Fprintf(w, "%9s %7s %7s\n", "total", "Se%", "+P%")
	for i := range Classes {
		fmt.Fprintf(w, "%-10c", Classes[i])
		tot := 0
		for j := range Classes {
			fmt.Fprintf(w, "%8d", c.Counts[i][j])
			tot += c.Counts[i][j]
		}
		fmt.Fprintf(w, "%9d %7s %7s\n", tot, pct(c.Se(Classes[i])), pct(c.PP(Classes[i])))
	}
	fmt.Fprintf(w, "accuracy %.2f %% over %d beats\n", 100*c.Accuracy(), c.Total())
}

func pct(v float64) string {
	if v != v {
		return "-"
	}
	return fmt.Sprintf("%.1f", 100*v)
}
