package beatclass

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestRhythmSupport(t *testing.T) {
	nan := float32(math.NaN())
	row := func(nn float32) []float32 {
		r := make([]float32, NumFeatures)
		r[fRRPreNN] = nn
		return r
	}
	rows := [][]float32{row(1), row(0.95), row(nan), row(0.6), row(0.55), row(0.7)}
	y := []int{0, 0, 0, 1, 2, 1}
	got := rhythmSupport(rows, y)
	want := [len(modelClasses)]float64{0.95 - localSupportMargin, 0.6 - localSupportMargin, 0.55 - localSupportMargin, math.Inf(1)}
	for k := range want {
		if math.Abs(got[k]-want[k]) > 1e-6 && got[k] != want[k] {
			t.Errorf("rhythmSupport class %c = %v, want %v", modelClasses[k], got[k], want[k])
		}
	}
}

func TestFastestNN(t *testing.T) {
	// features returns n beats whose preceding intervals are rr(i).
	features := func(n int, rr func(i int) float32) *Features {
		f := &Features{X: make([]float32, n*NumFeatures), Beats: make([]int, n), Fs: 360}
		for i := range n {
			f.Beats[i] = i
			f.Row(i)[fRRPre] = rr(i)
		}
		return f
	}
	repeat := func(s string, n int) []byte {
		var b []byte
		for range n {
			b = append(b, s...)
		}
		return b
	}
	tests := []struct {
		name   string
		f      *Features
		labels []byte
		want   float64
	}{
		{"steady rhythm", features(100, func(int) float32 { return 0.8 }), repeat("N", 100), 0.8},
		{"the shortest NN interval, after the 1 % quantile",
			features(300, func(i int) float32 { return 0.6 + 0.001*float32(i) }), repeat("N", 300), 0.603},
		{"intervals ending or following an S beat are no NN intervals",
			features(100, func(i int) float32 { return []float32{0.8, 0.8, 0.4, 1.2}[i%4] }), repeat("NNSN", 25), 0.8},
		{"unlabelled beats are ignored",
			features(200, func(i int) float32 { return []float32{0.8, 0.3}[i/100] }), repeat("N", 100), 0.8},
		{"too few NN intervals", features(100, func(int) float32 { return 0.8 }), repeat("NV", 50), 0},
		{"unknown intervals are skipped", features(30, func(i int) float32 {
			if i < 15 {
				return float32(math.NaN())
			}
			return 0.8
		}), repeat("N", 30), 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := fastestNN(tc.f, tc.labels); math.Abs(got-tc.want) > 1e-6 {
				t.Errorf("fastestNN = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestFastPremature(t *testing.T) {
	le := &localExpert{fastNN: 0.7} // S below 0.56 s
	type beat struct{ rr, qrs, irr float32 }
	fast := beat{0.45, 0.99, 0.02}
	tests := []struct {
		name   string
		b      beat
		fastNN float64
		in     []float64
		want   []float64
		called bool
	}{
		{"faster than the labelled NN: N to S", fast, 0.7, []float64{0.8, 0.1, 0.1, 0}, []float64{0, 0.8 / 0.9, 0.1 / 0.9, 0}, true},
		{"just within the labelled rhythm keeps N", beat{0.57, 0.99, 0.02}, 0.7, []float64{0.8, 0.1, 0.1, 0}, []float64{0.8, 0.1, 0.1, 0}, false},
		{"wide QRS keeps N", beat{0.45, 0.7, 0.02}, 0.7, []float64{0.8, 0.1, 0.1, 0}, []float64{0.8, 0.1, 0.1, 0}, false},
		{"in AF keeps N", beat{0.45, 0.99, 0.2}, 0.7, []float64{0.8, 0.1, 0.1, 0}, []float64{0.8, 0.1, 0.1, 0}, false},
		{"V stays V", fast, 0.7, []float64{0.3, 0.1, 0.6, 0}, []float64{0.3, 0.1, 0.6, 0}, false},
		{"no labelled NN intervals keeps N", fast, 0, []float64{0.8, 0.1, 0.1, 0}, []float64{0.8, 0.1, 0.1, 0}, false},
		{"unknown interval keeps N", beat{float32(math.NaN()), 0.99, 0.02}, 0.7, []float64{0.8, 0.1, 0.1, 0}, []float64{0.8, 0.1, 0.1, 0}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			le.fastNN = tc.fastNN
			row := make([]float32, NumFeatures)
			row[fRRPre], row[fCorrQRS], row[fRRIrregLong] = tc.b.rr, tc.b.qrs, tc.b.irr
			got := slices.Clone(tc.in)
			called := le.fastPremature(row, got)
			if !closeTo(got, tc.want) || called != tc.called {
				t.Errorf("fastPremature(%+v, %v) = %v, %v; want %v, %v", tc.b, tc.in, got, called, tc.want, tc.called)
			}
		})
	}
}

func TestNovelShape(t *testing.T) {
	le := &localExpert{typ: 0.5}     // novel beyond 7.5
	clean := &localExpert{typ: 0.01} // floored: novel beyond 15·localNovelTyp too
	far := math.Pow(8, 2) / 2        // mean squared shape difference at distance 8
	near := math.Pow(7, 2) / 2
	tests := []struct {
		name   string
		le     *localExpert
		nearN  float64
		in     []float64
		want   []float64
		called bool
		normal bool // the QRS matches the template (normalQRS)
	}{
		{"unlike every labelled N: N to V", le, far, []float64{0.6, 0.1, 0.2, 0.1}, []float64{0, 0.1 / 0.8, 0.6 / 0.8, 0.1 / 0.8}, true, false},
		{"unlike every labelled N, F likelier than V: N to F", le, far, []float64{0.6, 0.1, 0.1, 0.2}, []float64{0, 0.1 / 0.8, 0.1 / 0.8, 0.6 / 0.8}, true, false},
		{"like a labelled N keeps N", le, near, []float64{0.6, 0.1, 0.2, 0.1}, []float64{0.6, 0.1, 0.2, 0.1}, false, false},
		{"nearly identical labelled beats: the floor keeps N", clean, near, []float64{0.6, 0.1, 0.2, 0.1}, []float64{0.6, 0.1, 0.2, 0.1}, false, false},
		{"no labelled N keeps N", le, math.Inf(1), []float64{0.6, 0.1, 0.2, 0.1}, []float64{0.6, 0.1, 0.2, 0.1}, false, false},
		{"S stays S", le, far, []float64{0.3, 0.5, 0.2, 0}, []float64{0.3, 0.5, 0.2, 0}, false, false},
		{"unlike every labelled N but a normal QRS keeps N", le, far, []float64{0.6, 0.1, 0.2, 0.1}, []float64{0.6, 0.1, 0.2, 0.1}, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			row := make([]float32, NumFeatures)
			row[fCorrQRS], row[fWidthRatio] = 0.5, 1.5
			if tc.normal {
				row[fCorrQRS], row[fWidthRatio] = 0.98, 1
			}
			got := slices.Clone(tc.in)
			called := tc.le.novelShape(row, tc.nearN, got)
			if !closeTo(got, tc.want) || called != tc.called {
				t.Errorf("novelShape(%v, %v) with typ %v = %v, %v; want %v, %v", tc.nearN, tc.in, tc.le.typ, got, called, tc.want, tc.called)
			}
		})
	}
}

func closeTo(a, b []float64) bool {
	for k := range a {
		if math.Abs(a[k]-b[k]) > 1e-9 {
			return false
		}
	}
	return len(a) == len(b)
}

// TestDecideRhythmSupport: labelled N beats of the same shape confirm N
// for a beat the global model calls S only as far as they were as
// premature.
func TestDecideRhythmSupport(t *testing.T) {
	cols := append(slices.Clone(localShape), localRhythm...)
	le := &localExpert{cols: cols, scale: make([]float64, len(cols)), typ: 1}
	for c := range le.scale {
		le.scale[c] = 1
	}
	// Ten labelled N beats, identical in shape, with fRRPreNN from 0.9 to
	// 1.08 (support down to 0.8).
	var rows [][]float32
	var y []int
	for i := range 10 {
		row := make([]float32, NumFeatures)
		row[fRRPreNN] = 0.9 + 0.02*float32(i)
		rows = append(rows, row)
		y = append(y, 0)
		for c, j := range cols {
			le.x = append(le.x, float32(le.z(c, row[j])))
		}
		le.y = append(le.y, 0)
	}
	le.early = rhythmSupport(rows, y)
	tests := []struct {
		name  string
		nn    float32
		in    []float64
		wantN bool // N the likeliest afterwards
	}{
		{"called S, within the labelled prematurity: N confirmed", 0.85, []float64{0.3, 0.6, 0.1, 0}, true},
		{"called S, more premature than any labelled N: stays S", 0.7, []float64{0.3, 0.6, 0.1, 0}, false},
		{"called N, premature: N confirmed", 0.7, []float64{0.6, 0.3, 0.1, 0}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			row := make([]float32, NumFeatures)
			row[fRRPreNN] = tc.nn
			p := slices.Clone(tc.in)
			d := le.decide(row, p)
			gotN := p[0] > p[1] && p[0] > p[2] && p[0] > p[3]
			if gotN != tc.wantN {
				t.Errorf("decide(fRRPreNN %v, %v) = %v (gate %.2f, votes %v), want N likeliest %v", tc.nn, tc.in, p, d.gate, d.votes, tc.wantN)
			}
		})
	}
}

// synthRates is a lead at 360 Hz of normal-shaped beats whose RR
// intervals follow rr, with the R peaks. Each beat's amplitudes and each
// interval vary a little (seeded), as a recorded lead's do, so that the
// labelled beats are not all identical.
func synthRates(rr []float64) ([]float32, []int) {
	const fs = 360.0
	rnd := rand.New(rand.NewPCG(1, 2))
	total := 1.0
	for _, v := range rr {
		total += v + 0.01
	}
	x := make([]float32, int((total+1)*fs))
	var beats []int
	t := 0.5
	for _, v := range append([]float64{0}, rr...) {
		t += v + 0.01*(rnd.Float64()-0.5)
		a := 1 + 0.1*(rnd.Float64()-0.5)
		addGauss(x, fs, t-0.16, 0.02, 0.15*a)
		addGauss(x, fs, t, 0.009, 1.2*a)
		addGauss(x, fs, t+0.03, 0.008, -0.25*a)
		addGauss(x, fs, t+0.26, 0.04, 0.3*a)
		beats = append(beats, int(math.Round(t*fs)))
	}
	for i := range x {
		x[i] += float32(0.01 * rnd.NormFloat64())
	}
	return x, beats
}

// TestAdaptFastRun: a stretch of normal-shaped beats that speeds up
// gradually (so the running NN reference follows it and the global
// prematurity rule does not fire) to well below the patient's labelled NN
// intervals is called S after adaptation, unless the clinician has
// labelled such a fast stretch N.
func TestAdaptFastRun(t *testing.T) {
	c, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	steady := func(n int) []float64 {
		v := make([]float64, n)
		for i := range v {
			v[i] = 0.8
		}
		return v
	}
	episode := func() []float64 { // 0.8 s → 0.5 s → 0.8 s by 2 % a beat
		var v []float64
		for r := 0.8; r > 0.5; r *= 0.98 {
			v = append(v, r)
		}
		for range 40 {
			v = append(v, 0.5)
		}
		for r := 0.5; r < 0.8; r /= 0.98 {
			v = append(v, r)
		}
		return v
	}
	var rr []float64
	rr = append(rr, steady(80)...)
	firstFrom := len(rr) + 1
	rr = append(rr, episode()...)
	firstTo := len(rr) + 1
	rr = append(rr, steady(60)...)
	second := len(rr) + 1
	rr = append(rr, episode()...)
	rr = append(rr, steady(30)...)
	x, beats := synthRates(rr)
	f, err := Extract(x, 360, beats)
	if err != nil {
		t.Fatal(err)
	}
	labelled := func(n int) []byte {
		l := make([]byte, n)
		for i := range l {
			l[i] = 'N'
		}
		return l
	}
	tests := []struct {
		name   string
		labels []byte
		want   byte // the class of the second episode's fast beats
	}{
		{"only the steady rhythm labelled: the fast beats are S", labelled(firstFrom - 1), 'S'},
		{"a fast stretch labelled N: the fast beats stay N", labelled(firstTo + 20), 'N'},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := c.Adapt(context.Background(), f, tc.labels)
			if err != nil {
				t.Fatalf("Adapt: %v", err)
			}
			got := a.Label(f)
			global := c.Label(f)
			fast, byRule := 0, 0
			for i := second; i < f.Len(); i++ {
				want := byte('N')
				if f.Row(i)[fRRPre] < localFast*0.8-0.02 {
					want = tc.want
					fast++
				} else if f.Row(i)[fRRPre] < localFast*0.8+0.02 {
					continue // at the threshold
				}
				if got[i] != want {
					t.Errorf("beat %d (RR %.2f s) labelled %c, want %c", i, f.Row(i)[fRRPre], got[i], want)
				}
				r := a.Classify(f, i)
				if r.Class != got[i] {
					t.Errorf("beat %d: Classify %c, Label %c", i, r.Class, got[i])
				}
				if global[i] == 'N' && got[i] == 'S' {
					byRule++
					if !strings.Contains(r.Explanation, "shortest labelled normal-to-normal interval") {
						t.Errorf("beat %d called S by the patient's NN rule, explained %q", i, r.Explanation)
					}
				}
			}
			if fast < 30 {
				t.Fatalf("only %d fast beats in the second episode", fast)
			}
			if tc.want == 'S' && byRule == 0 {
				t.Errorf("no fast beat the global model calls N was called S")
			}
		})
	}
}

func TestNearestV(t *testing.T) {
	withV := &localExpert{shownV: true}
	noV := &localExpert{}
	inf := math.Inf(1)
	type near [len(modelClasses)]float64
	tests := []struct {
		name   string
		le     *localExpert
		near   near // N, S, V, F
		in     []float64
		want   []float64
		called bool
		normal bool // the QRS matches the template (normalQRS)
	}{
		{"N nearer to a labelled V: N to V", withV, near{4, inf, 3, inf}, []float64{0.6, 0.1, 0.2, 0.1}, []float64{0, 0.1 / 0.8, 0.6 / 0.8, 0.1 / 0.8}, true, false},
		{"S nearer to a labelled V than to every labelled N: S to V", withV, near{4, 1, 3, inf}, []float64{0.3, 0.5, 0.1, 0.1}, []float64{0.3 / 0.9, 0, 0.5 / 0.9, 0.1 / 0.9}, true, false},
		{"F nearer to a labelled F than to a labelled V stays F", withV, near{4, inf, 3, 2}, []float64{0.2, 0.1, 0.2, 0.5}, []float64{0.2, 0.1, 0.2, 0.5}, false, false},
		{"F nearer to a labelled V than to labelled N and F: F to V", withV, near{4, inf, 1, 2}, []float64{0.2, 0.1, 0.2, 0.5}, []float64{0.2 / 0.8, 0.1 / 0.8, 0.5 / 0.8, 0}, true, false},
		{"N nearer to a labelled N stays N", withV, near{2, inf, 3, inf}, []float64{0.6, 0.1, 0.2, 0.1}, []float64{0.6, 0.1, 0.2, 0.1}, false, false},
		{"no V labelled", noV, near{4, inf, inf, inf}, []float64{0.6, 0.1, 0.2, 0.1}, []float64{0.6, 0.1, 0.2, 0.1}, false, false},
		{"a normal QRS stays N", withV, near{4, inf, 3, inf}, []float64{0.6, 0.1, 0.2, 0.1}, []float64{0.6, 0.1, 0.2, 0.1}, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			row := make([]float32, NumFeatures)
			row[fCorrQRS], row[fWidthRatio] = 0.5, 1.5
			if tc.normal {
				row[fCorrQRS], row[fWidthRatio] = 0.98, 1
			}
			got := slices.Clone(tc.in)
			n := [len(modelClasses)]float64(tc.near)
			called := tc.le.nearestV(row, &n, got)
			if !closeTo(got, tc.want) || called != tc.called {
				t.Errorf("nearestV(%v, %v) = %v, %v; want %v, %v", tc.near, tc.in, got, called, tc.want, tc.called)
			}
		})
	}
}
