package ml

import (
	"bytes"
	"context"
	"math"
	"math/rand/v2"
	"testing"
)

// synth returns a 3-class problem on cols features: the class depends on
// features 0 and 1 (and feature 2 through an interaction), the rest is
// noise. Group ids take 10 values.
func synth(rows, cols int, seed uint64) Dataset {
	r := rand.New(rand.NewPCG(seed, 1))
	d := Dataset{Rows: rows, Cols: cols, X: make([]float32, rows*cols), Y: make([]int, rows), Group: make([]int, rows)}
	for i := 0; i < rows; i++ {
		x := d.Row(i)
		for f := range x {
			x[f] = float32(r.NormFloat64())
		}
		if i%17 == 0 {
			x[cols-1] = float32(math.NaN())
		}
		s0 := float64(x[0]) + 0.3*r.NormFloat64()
		switch {
		case s0 > 0.8:
			d.Y[i] = 2
		case float64(x[1])*float64(x[2]) > 0.3:
			d.Y[i] = 1
		}
		d.Group[i] = i % 10
	}
	return d
}

func accuracy(m interface {
	Margins([]float32, []float64)
	NumClasses() int
}, d Dataset) float64 {
	p := make([]float64, m.NumClasses())
	ok := 0
	for i := 0; i < d.Rows; i++ {
		m.Margins(d.Row(i), p)
		if Argmax(p) == d.Y[i] {
			ok++
		}
	}
	return float64(ok) / float64(d.Rows)
}

func TestTrainGBT(t *testing.T) {
	train, test := synth(4000, 6, 1), synth(2000, 6, 2)
	tests := []struct {
		name    string
		cfg     Config
		minAcc  float64
		maxTree int
	}{
		{"default", Config{Rounds: 60, Seed: 1}, 0.85, 60 * 3},
		{"early stop", Config{Rounds: 400, EarlyStop: 10, LearningRate: 0.3, Seed: 1}, 0.85, 400 * 3},
		{"depth 1 stumps", Config{Rounds: 100, MaxDepth: 1, Seed: 1}, 0.70, 300},
		{"class weights", Config{Rounds: 60, ClassWeights: []float64{0.5, 2, 1}, Seed: 3}, 0.80, 180},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, rep, err := TrainGBT(context.Background(), train, 3, tc.cfg)
			if err != nil {
				t.Fatalf("TrainGBT: %v", err)
			}
			if acc := accuracy(m, test); acc < tc.minAcc {
				t.Errorf("test accuracy %.3f, want ≥ %.2f", acc, tc.minAcc)
			}
			if n := len(m.Trees()); n == 0 || n > tc.maxTree {
				t.Errorf("%d trees, want 1..%d", n, tc.maxTree)
			}
			if rep.ValidRows == 0 || rep.TrainRows+rep.ValidRows != train.Rows {
				t.Errorf("split %d+%d rows, want a non-empty validation split of %d", rep.TrainRows, rep.ValidRows, train.Rows)
			}
			if tc.cfg.MaxDepth == 1 {
				for _, tr := range m.Trees() {
					if tr.Len() > 3 {
						t.Fatalf("stump with %d nodes", tr.Len())
					}
				}
			}
		})
	}
}

func TestValidationGroupsAreHeldOut(t *testing.T) {
	d := synth(1000, 4, 5)
	train, valid, groups := splitGroups(&d, 0.3, 7)
	held := map[int]bool{}
	for _, g := range groups {
		held[g] = true
	}
	if len(groups) != 3 {
		t.Fatalf("held-out groups %v, want 3 of 10", groups)
	}
	for _, i := range train {
		if held[d.Group[i]] {
			t.Fatalf("training row %d is in held-out group %d", i, d.Group[i])
		}
	}
	for _, i := range valid {
		if !held[d.Group[i]] {
			t.Fatalf("validation row %d is in training group %d", i, d.Group[i])
		}
	}
}

func TestTrainDeterministic(t *testing.T) {
	d := synth(3000, 8, 3)
	encode := func(workers int, seed uint64) []byte {
		m, _, err := TrainGBT(context.Background(), d, 3, Config{Rounds: 20, Workers: workers, Seed: seed})
		if err != nil {
			t.Fatalf("TrainGBT: %v", err)
		}
		var b bytes.Buffer
		if err := Write(&b, &File{Model: m}); err != nil {
			t.Fatalf("Write: %v", err)
		}
		return b.Bytes()
	}
	a, b := encode(1, 9), encode(4, 9)
	if !bytes.Equal(a, b) {
		t.Errorf("models trained with 1 and 4 workers differ")
	}
	if c := encode(2, 9); !bytes.Equal(a, c) {
		t.Errorf("two runs with the same seed differ")
	}
	if c := encode(1, 10); bytes.Equal(a, c) {
		t.Errorf("a different seed (validation split) gave the same model")
	}
}

func TestTrainRejectsBadInput(t *testing.T) {
	good := synth(100, 3, 1)
	tests := []struct {
		name    string
		d       Dataset
		classes int
		cfg     Config
	}{
		{"label out of range", good, 2, Config{}},
		{"short X", Dataset{X: good.X[:5], Rows: 100, Cols: 3, Y: good.Y}, 3, Config{}},
		{"one class", good, 1, Config{}},
		{"class weights length", good, 3, Config{ClassWeights: []float64{1}}},
		{"negative class weight", good, 3, Config{ClassWeights: []float64{1, -1, 1}}},
		{"excluded feature out of range", good, 3, Config{Exclude: []int{3}}},
		{"infinite feature", func() Dataset { d := synth(100, 3, 1); d.X[4] = float32(math.Inf(1)); return d }(), 3, Config{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := TrainGBT(context.Background(), tc.d, tc.classes, tc.cfg); err == nil {
				t.Errorf("TrainGBT succeeded, want an error")
			}
		})
	}
}

func TestTrainCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := TrainGBT(ctx, synth(200, 3, 1), 3, Config{}); err == nil {
		t.Errorf("TrainGBT with a cancelled context succeeded")
	}
}

func TestContinue(t *testing.T) {
	// A "patient" whose class-2 rule is shifted: continuing on a few of its
	// rows must improve accuracy on the rest of them.
	global := synth(3000, 5, 1)
	m, _, err := TrainGBT(context.Background(), global, 3, Config{Rounds: 40, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	patient := synth(1200, 5, 4)
	for i := 0; i < patient.Rows; i++ {
		patient.Row(i)[0] -= 1.5 // same labels, shifted feature
	}
	adapt, rest := patient.Subset(seq(0, 400)), patient.Subset(seq(400, 1200))
	before := accuracy(m, rest)
	m2, _, err := Continue(context.Background(), m, adapt, Config{Rounds: 30, ValidFraction: -1, MinLeaf: 5})
	if err != nil {
		t.Fatal(err)
	}
	after := accuracy(m2, rest)
	if after <= before+0.05 {
		t.Errorf("accuracy on the patient's later rows %.3f → %.3f, want a clear gain", before, after)
	}
	if len(m2.Trees()) <= len(m.Trees()) || accuracy(m, rest) != before {
		t.Errorf("Continue modified the base model or added no trees")
	}
}

func seq(a, b int) []int {
	s := make([]int, 0, b-a)
	for i := a; i < b; i++ {
		s = append(s, i)
	}
	return s
}

func TestCalibration(t *testing.T) {
	// Over-confident margins (true margins ×4): the fitted temperature must
	// be near 4 and lower both log-loss and ECE.
	r := rand.New(rand.NewPCG(1, 2))
	const n, K = 5000, 3
	margins := make([]float64, n*K)
	y := make([]int, n)
	p := make([]float64, K)
	for i := 0; i < n; i++ {
		for k := 0; k < K; k++ {
			p[k] = r.NormFloat64()
			margins[i*K+k] = 4 * p[k]
		}
		softmaxT(p, 1)
		u := r.Float64()
		for y[i] = 0; y[i] < K-1 && u > p[y[i]]; y[i]++ {
			u -= p[y[i]]
		}
	}
	c := FitTemperature(margins, y, K)
	if math.Abs(c.Temperature-4) > 0.4 {
		t.Errorf("temperature %.2f, want ≈ 4", c.Temperature)
	}
	if !(c.LogLossAfter < c.LogLossBefore) || !(c.ECEAfter < c.ECEBefore) {
		t.Errorf("calibration did not help: %+v", c)
	}
}

func TestRefit(t *testing.T) {
	d := synth(3000, 5, 2)
	cfg := Config{Rounds: 200, EarlyStop: 5, LearningRate: 0.3, Seed: 4}
	m, rep, err := TrainGBT(context.Background(), d, 3, cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Refit = true
	r, rrep, err := TrainGBT(context.Background(), d, 3, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if r.Rounds() != m.Rounds() || rrep.Rounds != rep.Rounds {
		t.Errorf("refit kept %d rounds, early stopping chose %d", r.Rounds(), m.Rounds())
	}
	if rrep.TrainRows != d.Rows || r.Temperature() != m.Temperature() {
		t.Errorf("refit trained on %d of %d rows, temperature %v (want %v)", rrep.TrainRows, d.Rows, r.Temperature(), m.Temperature())
	}
}

// TestMarginsBatch checks that MarginsBatch gives exactly the margins of
// Margins, row by row, for batch lengths around the width it walks at once.
func TestMarginsBatch(t *testing.T) {
	m, d := benchModel()
	K := m.NumClasses()
	want := make([]float64, K)
	for _, n := range []int{0, 1, 7, 8, 9, 16, 23, 100} {
		out := make([]float64, n*K)
		m.MarginsBatch(d.X[:n*d.Cols], out)
		for r := range n {
			m.Margins(d.Row(r), want)
			for k := range K {
				if out[r*K+k] != want[k] {
					t.Fatalf("n=%d row %d class %d: batch %v, single %v", n, r, k, out[r*K+k], want[k])
				}
			}
		}
	}
}

// TestExclude: the trees never split on an excluded column, and are the
// trees trained on the data without it.
func TestExclude(t *testing.T) {
	d := synth(2000, 4, 1)
	cfg := Config{Rounds: 10, Seed: 1, Exclude: []int{0}}
	m, _, err := TrainGBT(context.Background(), d, 3, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range m.Trees() {
		for _, f := range tr.Feature {
			if f == 0 {
				t.Fatalf("a tree splits on excluded feature 0")
			}
		}
	}
	// The same data without column 0 (now the last column, constant).
	w := d
	w.X = make([]float32, len(d.X))
	for i := range d.Rows {
		copy(w.Row(i), d.Row(i)[1:])
	}
	ref, _, err := TrainGBT(context.Background(), w, 3, Config{Rounds: 10, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	got, want := m.Trees(), ref.Trees()
	if len(got) != len(want) {
		t.Fatalf("%d trees with the column excluded, %d without the column", len(got), len(want))
	}
	for i := range got {
		for j, f := range got[i].Feature {
			wf := want[i].Feature[j]
			if f >= 0 {
				f-- // column 0 removed
			}
			if f != wf || got[i].Threshold[j] != want[i].Threshold[j] || got[i].Value[j] != want[i].Value[j] {
				t.Fatalf("tree %d node %d: feature %d threshold %v value %v, want %d %v %v",
					i, j, f, got[i].Threshold[j], got[i].Value[j], wf, want[i].Threshold[j], want[i].Value[j])
			}
		}
	}
}
