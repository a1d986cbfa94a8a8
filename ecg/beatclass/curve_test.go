package beatclass

import (
	"math"
	"strings"
	"testing"
)

// synthSVPB is a two-minute lead at 360 Hz in a regular rhythm (0.8 s)
// where every 8th beat starts a run of three beats of the normal shape at
// 0.6 s (25 % early), without a compensatory pause, as a short run of
// atrial premature beats. It returns the signal, the R peaks and which
// beats are premature.
func synthSVPB() ([]float32, []int, []bool) {
	const fs = 360.0
	x := make([]float32, int(120*fs))
	gauss := func(c, sigma, amp float64) { addGauss(x, fs, c, sigma, amp) }
	var beats []int
	var early []bool
	t := 0.5
	for n := 0; t < 119; n++ {
		gauss(t-0.16, 0.02, 0.15)
		gauss(t, 0.009, 1.2)
		gauss(t+0.03, 0.008, -0.25)
		gauss(t+0.26, 0.04, 0.3)
		beats = append(beats, int(math.Round(t*fs)))
		early = append(early, n%8 >= 5)
		if n%8 >= 4 && n%8 < 7 {
			t += 0.6
		} else {
			t += 0.8
		}
	}
	return x, beats, early
}

// svpbFeatures returns the default classifier and the features of
// synthSVPB's beats, with which beats are premature.
func svpbFeatures(t *testing.T) (*Classifier, *Features, []bool) {
	t.Helper()
	c, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	x, beats, early := synthSVPB()
	f, err := Extract(x, 360, beats)
	if err != nil {
		t.Fatalf("Extract: %v", err)
	}
	return c, f, early
}

func TestPrematurityRule(t *testing.T) {
	c, f, early := svpbFeatures(t)
	labels := c.Label(f)
	for i, e := range early {
		if i < 16 {
			continue // the NN reference builds up
		}
		want := byte('N')
		if e {
			want = 'S'
		}
		if labels[i] != want {
			t.Errorf("Label: beat %d (premature %v, rr_pre/nn_early %.2f) = %c, want %c", i, e, f.Row(i)[fRRPreEarly], labels[i], want)
		}
	}
	// The trees call these runs S themselves. A normal beat whose row says
	// early (and nothing else) is called S by the rule alone, which the
	// explanation says.
	row := append([]float32(nil), f.Row(20)...)
	if r := c.ClassifyRow(row); r.Class != 'N' {
		t.Fatalf("ClassifyRow(beat 20) = %c, want N", r.Class)
	}
	row[fRRPreEarly] = 0.75
	var p [len(modelClasses)]float64
	c.model.Proba(row, p[:])
	if p[0] <= p[1] {
		t.Fatalf("trees on the early row: %v, want N (the rule's case)", p)
	}
	r := c.ClassifyRow(row)
	if want := "25 % premature (RR 0.80 s vs 1.07 s between normal beats), so called supraventricular"; r.Class != 'S' || !strings.Contains(r.Explanation, want) {
		t.Errorf("ClassifyRow(beat 20, early 0.75) = %c %q, want S explained by %q", r.Class, r.Explanation, want)
	}
	// Mildly premature with an unusual P wave: the rule's second arm.
	row = append(row[:0], f.Row(20)...)
	row[fRRPreNN], row[fCorrP] = 0.85, 0
	c.model.Proba(row, p[:])
	if p[0] <= p[1] {
		t.Fatalf("trees on the row with an unusual P wave: %v, want N (the rule's case)", p)
	}
	r = c.ClassifyRow(row)
	if want := "15 % premature (RR 0.80 s vs 0.94 s between normal beats) with a P-wave region unlike the usual beat (correlation 0.00), so called supraventricular"; r.Class != 'S' || !strings.Contains(r.Explanation, want) {
		t.Errorf("ClassifyRow(beat 20, rr_pre/nn 0.85, corr_p 0) = %c %q, want S explained by %q", r.Class, r.Explanation, want)
	}
}

func TestProbabilitiesAndCurve(t *testing.T) {
	c, f, early := svpbFeatures(t)
	labels := c.Label(f)
	prob := c.Probabilities(f)
	const K = len(modelClasses)
	ref := make([]byte, f.Len())
	for i := range ref {
		ref[i] = 'N'
		if early[i] {
			ref[i] = 'S'
		}
		p := prob[i*K : (i+1)*K]
		best := 0
		for k := range p {
			if p[k] > p[best] {
				best = k
			}
		}
		if modelClasses[best] != labels[i] {
			t.Errorf("beat %d: Probabilities %v give %c, Label %c", i, p, modelClasses[best], labels[i])
		}
	}
	rec := &Recording{Name: "synth", Features: f, Labels: ref}
	curve := SCurve([]*Recording{rec}, [][]float32{prob}, []float64{0, 1.1})
	all, none := &curve[0].Confusion, &curve[1].Confusion
	if got := all.Col(classIndex('S')); got != f.Len() {
		t.Errorf("threshold 0: %d beats called S, want all %d", got, f.Len())
	}
	if got := none.Col(classIndex('S')); got != 0 {
		t.Errorf("threshold 1.1: %d beats called S, want none", got)
	}
}
