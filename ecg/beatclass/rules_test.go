package beatclass

import (
	"context"
	"math"
	"strings"
	"testing"
)

func TestNotVentricular(t *testing.T) {
	nan := float32(math.NaN())
	inf := math.Inf(-1)
	type beat struct{ qrs, width float32 } // fCorrQRS, fWidthRatio
	tests := []struct {
		name   string
		b      beat
		in     []float64
		prob   bool
		want   []float64
		called bool
	}{
		{"normal QRS called V: V probability to N", beat{0.97, 1.02}, []float64{0.3, 0.1, 0.6, 0}, true, []float64{0.6 / 0.7, 0.1 / 0.7, 0, 0}, true},
		{"normal QRS called V: V margin to the next likeliest, S", beat{0.95, 0.9}, []float64{0, 1, 2, 0.5}, false, []float64{0, 2, inf, 0.5}, true},
		{"wide QRS stays V", beat{0.97, 1.4}, []float64{0.3, 0.1, 0.6, 0}, true, []float64{0.3, 0.1, 0.6, 0}, false},
		{"QRS unlike the template stays V", beat{0.5, 1.0}, []float64{0.3, 0.1, 0.6, 0}, true, []float64{0.3, 0.1, 0.6, 0}, false},
		{"unknown width stays V", beat{0.97, nan}, []float64{0.3, 0.1, 0.6, 0}, true, []float64{0.3, 0.1, 0.6, 0}, false},
		{"N is left alone", beat{0.97, 1.0}, []float64{0.6, 0.1, 0.3, 0}, true, []float64{0.6, 0.1, 0.3, 0}, false},
		{"F is left alone", beat{0.97, 1.0}, []float64{0.2, 0.1, 0.3, 0.4}, true, []float64{0.2, 0.1, 0.3, 0.4}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			row := make([]float32, NumFeatures)
			row[fCorrQRS], row[fWidthRatio] = tc.b.qrs, tc.b.width
			checkRule(t, notVentricular, row, tc.in, tc.prob, tc.want, tc.called)
		})
	}
}

// checkRule applies rule to row and a copy of in (probabilities when prob,
// else margins) and checks the scores it leaves and whether it reports a
// change.
func checkRule(t *testing.T, rule func(row []float32, scores []float64, prob bool) bool, row []float32, in []float64, prob bool, want []float64, called bool) {
	t.Helper()
	got := append([]float64(nil), in...)
	c := rule(row, got, prob)
	for k := range got {
		if math.Abs(got[k]-want[k]) > 1e-12 && got[k] != want[k] {
			t.Errorf("scores %v = %v, want %v", in, got, want)
			break
		}
	}
	if c != called {
		t.Errorf("scores %v: reported a change %v, want %v", in, c, called)
	}
}

func TestAberrated(t *testing.T) {
	nan := float32(math.NaN())
	inf := math.Inf(-1)
	type beat struct{ qrs, preNN, prePrev float32 } // fCorrQRS, fRRPreNN, fRRPrePrev
	tests := []struct {
		name   string
		b      beat
		in     []float64
		prob   bool
		want   []float64
		called bool
	}{
		{"long-short, usual QRS form: V probability to S", beat{0.7, 0.3, 0.5}, []float64{0.2, 0.1, 0.7, 0}, true, []float64{0.2 / 0.9, 0.7 / 0.9, 0, 0}, true},
		{"long-short, usual QRS form: V margin to S", beat{0.55, 0.35, 0.4}, []float64{0, 1, 2, 0.5}, false, []float64{0, 2, inf, 0.5}, true},
		{"QRS unlike the template stays V", beat{0.3, 0.3, 0.5}, []float64{0.2, 0.1, 0.7, 0}, true, []float64{0.2, 0.1, 0.7, 0}, false},
		{"not early enough stays V", beat{0.7, 0.45, 0.5}, []float64{0.2, 0.1, 0.7, 0}, true, []float64{0.2, 0.1, 0.7, 0}, false},
		{"no longer cycle before stays V", beat{0.7, 0.3, 0.8}, []float64{0.2, 0.1, 0.7, 0}, true, []float64{0.2, 0.1, 0.7, 0}, false},
		{"unknown interval stays V", beat{0.7, nan, 0.5}, []float64{0.2, 0.1, 0.7, 0}, true, []float64{0.2, 0.1, 0.7, 0}, false},
		{"unknown correlation stays V", beat{nan, 0.3, 0.5}, []float64{0.2, 0.1, 0.7, 0}, true, []float64{0.2, 0.1, 0.7, 0}, false},
		{"N is left alone", beat{0.7, 0.3, 0.5}, []float64{0.6, 0.1, 0.3, 0}, true, []float64{0.6, 0.1, 0.3, 0}, false},
		{"F is left alone", beat{0.7, 0.3, 0.5}, []float64{0.2, 0.1, 0.3, 0.4}, true, []float64{0.2, 0.1, 0.3, 0.4}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			row := make([]float32, NumFeatures)
			row[fCorrQRS], row[fRRPreNN], row[fRRPrePrev] = tc.b.qrs, tc.b.preNN, tc.b.prePrev
			checkRule(t, aberrated, row, tc.in, tc.prob, tc.want, tc.called)
		})
	}
}

// TestApplyRulesOrder: a premature normal-QRS beat the trees call V loses
// V to the normal-QRS rule, then the prematurity rule makes it S; in an
// irregular rhythm the AF rule keeps it N.
func TestApplyRulesOrder(t *testing.T) {
	tests := []struct {
		name string
		irr  float32
		want byte
	}{
		{"regular rhythm", 0.02, 'S'},
		{"irregular rhythm", 0.3, 'N'},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			row := make([]float32, NumFeatures)
			row[fCorrQRS], row[fWidthRatio], row[fRRPreEarly], row[fRRPreNN], row[fCorrP], row[fRRIrregLong] = 0.97, 1.0, 0.6, 0.6, 0.9, tc.irr
			p := []float64{0.3, 0.1, 0.6, 0}
			h := applyRules(row, p, true)
			if got := modelClasses[argmax(p)]; got != tc.want || !h.normal {
				t.Errorf("applyRules(irregularity %v) = %c (%+v), want %c after the normal-QRS rule", tc.irr, got, h, tc.want)
			}
		})
	}
}

// TestApplyRulesAberratedInAF: an aberrated beat the trees call V is S in
// an irregular rhythm too (the rule follows the AF rule), and a beat the
// normal-QRS rule has taken V from is not aberrated.
func TestApplyRulesAberratedInAF(t *testing.T) {
	tests := []struct {
		name       string
		qrs, width float32
		want       byte
	}{
		{"aberrated, wide", 0.7, 1.9, 'S'},
		{"normal QRS: the normal-QRS rule, then the AF rule", 0.95, 1.0, 'N'},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			row := make([]float32, NumFeatures)
			row[fCorrQRS], row[fWidthRatio], row[fRRPreNN], row[fRRPrePrev], row[fRRPreEarly], row[fRRIrregLong] = tc.qrs, tc.width, 0.3, 0.5, 1, 0.3
			p := []float64{0.2, 0.1, 0.7, 0}
			h := applyRules(row, p, true)
			if got := modelClasses[argmax(p)]; got != tc.want {
				t.Errorf("applyRules(QRS correlation %v, width ratio %v, irregular) = %c (%+v), want %c", tc.qrs, tc.width, got, h, tc.want)
			}
		})
	}
}

func argmax(p []float64) int {
	k := 0
	for i := range p {
		if p[i] > p[k] {
			k = i
		}
	}
	return k
}

// TestClassifyExplainsNormalQRS trains a model that calls every beat with
// a short preceding RR V, whatever its shape; ClassifyRow must take V away
// from such a beat with a normal QRS, and say why.
func TestClassifyExplainsNormalQRS(t *testing.T) {
	const n = 2400
	f := &Features{X: make([]float32, n*NumFeatures), Beats: make([]int, n), Fs: 360}
	labels := make([]byte, n)
	for i := range n {
		f.Beats[i] = 300 * (i + 1)
		row := f.Row(i)
		row[fQRSPP], row[fNoise], row[fCorrQRS], row[fWidthRatio], row[fQRSWidth] = 1, 0.01, 0.97, 1, 90
		row[fRRPre], row[fRRPreEarly], row[fRRPreNN], row[fCorrP] = 0.8, 1, 1, 0.9
		labels[i] = "NNSVNNFV"[i%8]
		switch labels[i] {
		case 'V':
			row[fRRPre] = 0.5
		case 'S':
			row[fRRPost] = 2
		case 'F':
			row[fRRPost] = 3
		}
	}
	c, _, err := Train(context.Background(), []*Recording{{Name: "synthetic", Features: f, Labels: labels}}, TrainConfig{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	// The training rows hold rr_pre/nn at 1 and rr_pre/prev at 0, so the
	// trees cannot use them; only the rules read them.
	tests := []struct {
		name           string
		qrs, width     float32
		preNN, prePrev float32 // rr_pre/nn, rr_pre/prev
		want           byte
		explains       string // "" when no rule should act
	}{
		{"normal QRS", 0.97, 1, 1, 0, 'N', "so not called ventricular"},
		{"wide QRS", 0.97, 1.6, 1, 0, 'V', ""},
		{"QRS unlike the usual", 0.2, 1, 1, 0, 'V', ""},
		{"aberrated: very early after a longer cycle, QRS of the usual form", 0.7, 1.9, 0.3, 0.5, 'S', "aberrant conduction"},
		{"very early after a longer cycle, QRS unlike the usual", 0.2, 1.9, 0.3, 0.5, 'V', ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			row := append([]float32(nil), f.Row(3)...) // a V row of the training set
			row[fCorrQRS], row[fWidthRatio], row[fRRPreNN], row[fRRPrePrev] = tc.qrs, tc.width, tc.preNN, tc.prePrev
			r := c.ClassifyRow(row)
			explained := tc.explains != "" && strings.Contains(r.Explanation, tc.explains)
			if r.Class != tc.want || explained != (tc.explains != "") || (tc.explains == "" && strings.Contains(r.Explanation, "so ")) {
				t.Errorf("ClassifyRow(QRS correlation %v, width ratio %v, rr_pre/nn %v, rr_pre/prev %v) = %c, %q; want %c, explained by %q", tc.qrs, tc.width, tc.preNN, tc.prePrev, r.Class, r.Explanation, tc.want, tc.explains)
			}
			if lab := c.Label(&Features{X: row, Beats: []int{0}, Fs: 360}); lab[0] != tc.want {
				t.Errorf("Label(QRS correlation %v, width ratio %v) = %c, want %c", tc.qrs, tc.width, lab[0], tc.want)
			}
		})
	}
}

// TestCorrPrev: the QRS correlation with the previous beat, on the
// synthetic lead (a wide inverted beat every 8th), in Extract and Stream.
func TestCorrPrev(t *testing.T) {
	x, beats, _ := synthECG()
	f, err := Extract(x, 360, beats)
	if err != nil {
		t.Fatalf("Extract: %v", err)
	}
	c, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	rows := map[int][]float32{}
	s, err := c.NewStream(360)
	if err != nil {
		t.Fatal(err)
	}
	s.onRow = func(pos int64, row []float32) { rows[int(pos)] = append([]float32(nil), row...) }
	b64 := make([]int64, len(beats))
	for i, b := range beats {
		b64[i] = int64(b)
	}
	if _, err := s.Write(0, x, b64, nil); err != nil {
		t.Fatal(err)
	}
	s.Flush(nil)
	tests := []struct {
		name   string
		beat   int
		lo, hi float32
	}{
		{"normal after normal", 5, 0.95, 1},
		{"wide beat after a normal one", 7, -1, 0.5},
		{"normal after the wide beat", 8, -1, 0.5},
		{"wide beat, later", 23, -1, 0.5},
		{"normal after normal, later", 26, 0.95, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := f.Row(tc.beat)[fCorrPrev]; !(got >= tc.lo && got <= tc.hi) {
				t.Errorf("Extract: corr_prev of beat %d = %v, want in [%v, %v]", tc.beat, got, tc.lo, tc.hi)
			}
			row, ok := rows[beats[tc.beat]]
			if !ok {
				t.Fatalf("Stream did not classify beat %d", tc.beat)
			}
			if got := row[fCorrPrev]; !(got >= tc.lo && got <= tc.hi) {
				t.Errorf("Stream: corr_prev of beat %d = %v, want in [%v, %v]", tc.beat, got, tc.lo, tc.hi)
			}
		})
	}
	if got := f.Row(0)[fCorrPrev]; !isNaN(got) {
		t.Errorf("Extract: corr_prev of the first beat = %v, want NaN", got)
	}
}

func TestFusion(t *testing.T) {
	nan := float32(math.NaN())
	inf := math.Inf(-1)
	type beat struct{ fit, shift, preNN float32 } // fPFit, fPShift, fRRPreNN
	tests := []struct {
		name   string
		b      beat
		in     []float64
		prob   bool
		want   []float64
		called bool
	}{
		{"on time after the usual P wave: V probability to F", beat{0.95, -5, 1.0}, []float64{0.2, 0.1, 0.6, 0.1}, true, []float64{0.2 / 0.9, 0.1 / 0.9, 0, 0.6 / 0.9}, true},
		{"PR 20 ms shorter, RR 0.9 of the NN median: V margin to F", beat{0.9, 20, 0.9}, []float64{0, 1, 2, 0.5}, false, []float64{0, 1, inf, 2}, true},
		{"premature stays V", beat{0.95, 0, 0.7}, []float64{0.2, 0.1, 0.6, 0.1}, true, []float64{0.2, 0.1, 0.6, 0.1}, false},
		{"P wave unlike the usual stays V", beat{0.6, 0, 1.0}, []float64{0.2, 0.1, 0.6, 0.1}, true, []float64{0.2, 0.1, 0.6, 0.1}, false},
		{"PR far from the usual stays V", beat{0.95, -40, 1.0}, []float64{0.2, 0.1, 0.6, 0.1}, true, []float64{0.2, 0.1, 0.6, 0.1}, false},
		{"no P wave in the template stays V", beat{nan, nan, 1.0}, []float64{0.2, 0.1, 0.6, 0.1}, true, []float64{0.2, 0.1, 0.6, 0.1}, false},
		{"unknown interval stays V", beat{0.95, 0, nan}, []float64{0.2, 0.1, 0.6, 0.1}, true, []float64{0.2, 0.1, 0.6, 0.1}, false},
		{"N is left alone", beat{0.95, 0, 1.0}, []float64{0.6, 0.1, 0.3, 0}, true, []float64{0.6, 0.1, 0.3, 0}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			row := make([]float32, NumFeatures)
			row[fPFit], row[fPShift], row[fRRPreNN] = tc.b.fit, tc.b.shift, tc.b.preNN
			checkRule(t, fusion, row, tc.in, tc.prob, tc.want, tc.called)
		})
	}
}

func TestWideNoPWave(t *testing.T) {
	nan := float32(math.NaN())
	inf := math.Inf(-1)
	type beat struct{ width, rms, fit float32 } // fWidthRatio, fRMSDiff, fPFit
	tests := []struct {
		name   string
		b      beat
		in     []float64
		prob   bool
		want   []float64
		called bool
	}{
		{"wide, changed, no P wave: N probability to V", beat{1.4, 0.2, 0.1}, []float64{0.6, 0.1, 0.3, 0}, true, []float64{0, 0.1 / 0.7, 0.6 / 0.7, 0}, true},
		{"at the thresholds: N margin to V", beat{1.2, 0.1, 0.29}, []float64{2, 1, 0, 0.5}, false, []float64{inf, 1, 2, 0.5}, true},
		{"the usual P wave before it stays N", beat{1.4, 0.2, 0.9}, []float64{0.6, 0.1, 0.3, 0}, true, []float64{0.6, 0.1, 0.3, 0}, false},
		{"narrow stays N", beat{1.1, 0.2, 0.1}, []float64{0.6, 0.1, 0.3, 0}, true, []float64{0.6, 0.1, 0.3, 0}, false},
		{"unchanged stays N", beat{1.4, 0.05, 0.1}, []float64{0.6, 0.1, 0.3, 0}, true, []float64{0.6, 0.1, 0.3, 0}, false},
		{"unknown P-wave fit stays N", beat{1.4, 0.2, nan}, []float64{0.6, 0.1, 0.3, 0}, true, []float64{0.6, 0.1, 0.3, 0}, false},
		{"S is left alone", beat{1.4, 0.2, 0.1}, []float64{0.3, 0.6, 0.1, 0}, true, []float64{0.3, 0.6, 0.1, 0}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			row := make([]float32, NumFeatures)
			row[fWidthRatio], row[fRMSDiff], row[fPFit] = tc.b.width, tc.b.rms, tc.b.fit
			checkRule(t, wideNoPWave, row, tc.in, tc.prob, tc.want, tc.called)
		})
	}
}

func TestLateP(t *testing.T) {
	nan := float32(math.NaN())
	inf := math.Inf(-1)
	type beat struct{ fit, shift, preNN float32 } // fPFit, fPShift, fRRPreNN
	tests := []struct {
		name   string
		b      beat
		in     []float64
		prob   bool
		want   []float64
		called bool
	}{
		{"on time after the usual P wave, PR 35 ms longer: V probability to N", beat{0.95, -35, 1.0}, []float64{0.2, 0.1, 0.6, 0.1}, true, []float64{0.6 / 0.8, 0.1 / 0.8, 0, 0.1 / 0.8}, true},
		{"PR 21 ms longer, RR 0.9 of the NN median: V margin to N", beat{0.9, -21, 0.9}, []float64{0, 1, 2, 0.5}, false, []float64{2, 1, inf, 0.5}, true},
		{"PR 20 ms longer is the fusion rule's, stays V", beat{0.95, -20, 1.0}, []float64{0.2, 0.1, 0.6, 0.1}, true, []float64{0.2, 0.1, 0.6, 0.1}, false},
		{"shorter PR stays V", beat{0.95, 35, 1.0}, []float64{0.2, 0.1, 0.6, 0.1}, true, []float64{0.2, 0.1, 0.6, 0.1}, false},
		{"premature stays V", beat{0.95, -35, 0.7}, []float64{0.2, 0.1, 0.6, 0.1}, true, []float64{0.2, 0.1, 0.6, 0.1}, false},
		{"P wave unlike the usual stays V", beat{0.6, -35, 1.0}, []float64{0.2, 0.1, 0.6, 0.1}, true, []float64{0.2, 0.1, 0.6, 0.1}, false},
		{"no P wave in the template stays V", beat{nan, nan, 1.0}, []float64{0.2, 0.1, 0.6, 0.1}, true, []float64{0.2, 0.1, 0.6, 0.1}, false},
		{"F is left alone", beat{0.95, -35, 1.0}, []float64{0.2, 0.1, 0.3, 0.4}, true, []float64{0.2, 0.1, 0.3, 0.4}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			row := make([]float32, NumFeatures)
			row[fPFit], row[fPShift], row[fRRPreNN] = tc.b.fit, tc.b.shift, tc.b.preNN
			checkRule(t, lateP, row, tc.in, tc.prob, tc.want, tc.called)
		})
	}
}
