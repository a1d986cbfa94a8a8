package beatclass

import (
	"fmt"
	"io"
	"strings"
)

// Confusion is an AAMI confusion matrix: Counts[ref][pred] over Classes.
//
// At detector positions two more counts enter, as in the EC57 beat-by-beat
// comparison (bxb's "o" column and "O" row): Missed[ref], annotated beats
// that no detection matched, and Extra[pred], detections that match no
// annotated beat, by the class they were given. A missed beat counts
// against its class's sensitivity, an extra one against the positive
// predictivity of the class it was given, and both against the accuracy.
// Both are zero at reference positions.
type Confusion struct {
	Counts [len(Classes)][len(Classes)]int
	Missed [len(Classes)]int `json:",omitzero"`
	Extra  [len(Classes)]int `json:",omitzero"`
}

func classIndex(c byte) int { return strings.IndexByte(Classes, c) }

// Add counts one beat with reference class ref and predicted class pred;
// ref NoReference counts an extra detection. Other letters outside Classes
// are ignored.
func (c *Confusion) Add(ref, pred byte) {
	r, p := classIndex(ref), classIndex(pred)
	switch {
	case r >= 0 && p >= 0:
		c.Counts[r][p]++
	case ref == NoReference && p >= 0:
		c.Extra[p]++
	}
}

// AddRecording counts the labels pred of r's beats against r's labels,
// with r's missed beats.
func (c *Confusion) AddRecording(r *Recording, pred []byte) {
	c.AddAll(r.Labels, pred)
	for k, n := range r.Missed {
		c.Missed[k] += n
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
		c.Missed[i] += o.Missed[i]
		c.Extra[i] += o.Extra[i]
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

// Matched returns the number of beats in Counts (annotated beats with a
// class given).
func (c *Confusion) Matched() int {
	t := 0
	for i := range c.Counts {
		for j := range c.Counts[i] {
			t += c.Counts[i][j]
		}
	}
	return t
}

// Total returns the number of beats counted: Matched plus missed and
// extra beats.
func (c *Confusion) Total() int {
	t := c.Matched()
	for i := range c.Missed {
		t += c.Missed[i] + c.Extra[i]
	}
	return t
}

func (c *Confusion) correct() int {
	ok := 0
	for i := range c.Counts {
		ok += c.Counts[i][i]
	}
	return ok
}

// Accuracy returns the fraction of beats whose class is right, missed and
// extra beats counted as wrong.
func (c *Confusion) Accuracy() float64 {
	return float64(c.correct()) / float64(max(c.Total(), 1))
}

// MatchedAccuracy returns the fraction of matched beats whose class is
// right (missed and extra beats left out).
func (c *Confusion) MatchedAccuracy() float64 {
	return float64(c.correct()) / float64(max(c.Matched(), 1))
}

// Se returns the sensitivity of class k (TP / reference beats of k, missed
// ones included); NaN when there are none.
func (c *Confusion) Se(k byte) float64 {
	i := classIndex(k)
	return ratio(c.Counts[i][i], c.Row(i)+c.Missed[i])
}

// PP returns the positive predictivity of class k (TP / beats labelled k,
// extra detections included); NaN when none were.
func (c *Confusion) PP(k byte) float64 {
	j := classIndex(k)
	return ratio(c.Counts[j][j], c.Col(j)+c.Extra[j])
}

func (c *Confusion) hasDetection() bool {
	for i := range c.Missed {
		if c.Missed[i] != 0 || c.Extra[i] != 0 {
			return true
		}
	}
	return false
}

func ratio(a, b int) float64 {
	if b == 0 {
		return nan
	}
	return float64(a) / float64(b)
}

// Print writes the matrix with per-class Se and +P and the accuracy. When
// beats were missed or detected without reference, it adds a "missed"
// column and a "no ref" row (extra detections by the class given), which
// enter Se, +P and the accuracy.
func (c *Confusion) Print(w io.Writer) {
	det := c.hasDetection()
	fmt.Fprintf(w, "%-10s", "ref\\pred")
	for i := range Classes {
		fmt.Fprintf(w, "%8c", Classes[i])
	}
	if det {
		fmt.Fprintf(w, "%8s", "missed")
	}
	fmt.Fprintf(w, "%9s %7s %7s\n", "total", "Se%", "+P%")
	for i := range Classes {
		fmt.Fprintf(w, "%-10c", Classes[i])
		tot := 0
		for j := range Classes {
			fmt.Fprintf(w, "%8d", c.Counts[i][j])
			tot += c.Counts[i][j]
		}
		if det {
			fmt.Fprintf(w, "%8d", c.Missed[i])
			tot += c.Missed[i]
		}
		fmt.Fprintf(w, "%9d %7s %7s\n", tot, pct(c.Se(Classes[i])), pct(c.PP(Classes[i])))
	}
	if det {
		fmt.Fprintf(w, "%-10s", "no ref")
		tot := 0
		for j := range Classes {
			fmt.Fprintf(w, "%8d", c.Extra[j])
			tot += c.Extra[j]
		}
		fmt.Fprintf(w, "%8s%9d\n", "", tot)
		fmt.Fprintf(w, "accuracy %.2f %% over %d beats (missed and extra beats counted as errors); %.2f %% over the %d matched beats\n",
			100*c.Accuracy(), c.Total(), 100*c.MatchedAccuracy(), c.Matched())
		return
	}
	fmt.Fprintf(w, "accuracy %.2f %% over %d beats\n", 100*c.Accuracy(), c.Total())
}

func pct(v float64) string {
	if v != v {
		return "-"
	}
	return fmt.Sprintf("%.1f", 100*v)
}
