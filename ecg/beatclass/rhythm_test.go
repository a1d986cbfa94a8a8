package beatclass

import (
	"math"
	"math/rand/v2"
	"testing"
)

// rhythmRows runs the rhythm features over a sequence of intervals (s)
// whose beats are all N-like except those in ectopic, as extractor.rhythm
// does, and returns the feature rows.
func rhythmRows(rr []float64, ectopic map[int]bool) [][]float32 {
	var h rhythm
	rows := make([][]float32, len(rr))
	for i := range rr {
		row := make([]float32, NumFeatures)
		row[fCorr], row[fCorrQRS] = 0.99, 0.99
		if ectopic[i] {
			row[fCorr], row[fCorrQRS] = 0.2, 0.3
		}
		pre, post := rr[i], math.NaN()
		if i+1 < len(rr) {
			post = rr[i+1]
		}
		h.features(pre, post, row)
		h.add(pre, post, row)
		rows[i] = row
	}
	return rows
}

func TestRhythmFeatures(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	regular := make([]float64, 200)
	af := make([]float64, 200)
	for i := range regular {
		regular[i] = 0.8 + 0.01*rng.NormFloat64()
		af[i] = 0.4 + 0.5*rng.Float64()
	}
	// A premature beat every 10th beat of the regular rhythm, with its
	// compensatory pause, and a run of 8 fast beats at beat 150.
	withEctopy := append([]float64(nil), regular...)
	for i := 20; i < 140; i += 10 {
		withEctopy[i], withEctopy[i+1] = 0.5, 1.1
	}
	for i := 150; i < 158; i++ {
		withEctopy[i] = 0.5
	}
	tests := []struct {
		name    string
		rr      []float64
		beat    int
		feature int
		lo, hi  float32
	}{
		{"regular rhythm irregularity", regular, 150, fRRIrregLong, 0, 0.05},
		{"AF irregularity", af, 150, fRRIrregLong, 0.1, 1},
		{"isolated premature beats leave irregularity low", withEctopy, 139, fRRIrregLong, 0, 0.05},
		{"premature beat against NN intervals", withEctopy, 130, fRRPreNN, 0.6, 0.65},
		{"its pause", withEctopy, 130, fRRPostNN, 1.35, 1.4},
		{"last beat of a fast run, against NN intervals", withEctopy, 157, fRRPreNN, 0.6, 0.65},
		{"first beat: no history", regular, 0, fRRPreNN, 1, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := rhythmRows(tc.rr, nil)[tc.beat][tc.feature]
			if !(got >= tc.lo && got <= tc.hi) {
				t.Errorf("%s of beat %d = %v, want in [%v, %v]", FeatureNames()[tc.feature], tc.beat, got, tc.lo, tc.hi)
			}
		})
	}
}

func TestRhythmSkipsEctopicIntervals(t *testing.T) {
	// Regular 0.8 s, then every other beat is ventricular at 0.5 s with a
	// 1.1 s pause (bigeminy): while NN intervals remain in the history,
	// the reference stays at them, not at the ectopic intervals.
	rr := make([]float64, 100)
	ectopic := map[int]bool{}
	for i := range rr {
		rr[i] = 0.8
		if i >= 10 && i%2 == 0 {
			rr[i], ectopic[i] = 0.5, true
		} else if i > 10 {
			rr[i] = 1.1
		}
	}
	rows := rhythmRows(rr, ectopic)
	if got := rows[40][fRRPreNN]; math.Abs(float64(got)-0.5/0.8) > 0.01 {
		t.Errorf("rr_pre/nn of an ectopic beat in bigeminy = %v, want %v (NN reference 0.8 s kept)", got, 0.5/0.8)
	}
}

func TestNotInAF(t *testing.T) {
	tests := []struct {
		name   string
		irr    float32
		in     []float64
		prob   bool
		want   []float64
		called bool
	}{
		{"regular rhythm keeps S", 0.02, []float64{0.2, 0.7, 0.1, 0}, true, []float64{0.2, 0.7, 0.1, 0}, false},
		{"unknown irregularity keeps S", float32(math.NaN()), []float64{1, 3, 0, 0}, false, []float64{1, 3, 0, 0}, false},
		{"AF: S probability to N", 0.2, []float64{0.2, 0.6, 0.2, 0}, true, []float64{0.75, 0, 0.25, 0}, true},
		{"AF: S margin to N", 0.2, []float64{1, 3, 0, 0}, false, []float64{3, math.Inf(-1), 0, 0}, true},
		{"AF: V stays V", 0.2, []float64{0.1, 0.3, 0.6, 0}, true, []float64{0.3 / 0.9, 0, 0.6 / 0.9, 0}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			row := make([]float32, NumFeatures)
			row[fRRIrregLong] = tc.irr
			checkRule(t, notInAF, row, tc.in, tc.prob, tc.want, tc.called)
		})
	}
}

func TestPremature(t *testing.T) {
	nan := float32(math.NaN())
	inf := math.Inf(-1)
	type beat struct {
		early, nn, qrs, p, irr float32 // fRRPreEarly, fRRPreNN, fCorrQRS, fCorrP, fRRIrregLong
	}
	normal := beat{1, 1, 0.99, 0.95, 0.02}
	early := beat{0.65, 0.65, 0.99, 0.95, 0.02}
	with := func(b beat, f func(*beat)) beat { f(&b); return b }
	tests := []struct {
		name   string
		b      beat
		in     []float64
		prob   bool
		want   []float64
		called bool
	}{
		{"on time keeps N", normal, []float64{0.7, 0.2, 0.1, 0}, true, []float64{0.7, 0.2, 0.1, 0}, false},
		{"early normal QRS: N probability to S", early, []float64{0.7, 0.2, 0.1, 0}, true, []float64{0, 0.7 / 0.8, 0.1 / 0.8, 0}, true},
		{"early normal QRS: N margin to S", early, []float64{3, 1, 0, 0}, false, []float64{inf, 3, 0, 0}, true},
		{"early, unknown irregularity", with(early, func(b *beat) { b.irr = nan }), []float64{3, 1, 0, 0}, false, []float64{inf, 3, 0, 0}, true},
		{"early but V stays V", early, []float64{0.3, 0.1, 0.6, 0}, true, []float64{0.3, 0.1, 0.6, 0}, false},
		{"early wide QRS keeps N", with(early, func(b *beat) { b.qrs = 0.8 }), []float64{0.7, 0.2, 0.1, 0}, true, []float64{0.7, 0.2, 0.1, 0}, false},
		{"early in AF keeps N", with(early, func(b *beat) { b.irr = 0.2 }), []float64{0.7, 0.2, 0.1, 0}, true, []float64{0.7, 0.2, 0.1, 0}, false},
		{"premature but not early keeps N", with(normal, func(b *beat) { b.nn = 0.7 }), []float64{0.7, 0.2, 0.1, 0}, true, []float64{0.7, 0.2, 0.1, 0}, false},
		{"unknown prematurity keeps N", with(normal, func(b *beat) { b.early, b.nn = nan, nan }), []float64{0.7, 0.2, 0.1, 0}, true, []float64{0.7, 0.2, 0.1, 0}, false},
		{"mildly premature, unusual P wave: S", with(normal, func(b *beat) { b.nn, b.p = 0.85, 0 }), []float64{3, 1, 0, 0}, false, []float64{inf, 3, 0, 0}, true},
		{"mildly premature, usual P wave keeps N", with(normal, func(b *beat) { b.nn = 0.85 }), []float64{3, 1, 0, 0}, false, []float64{3, 1, 0, 0}, false},
		{"on time, unusual P wave keeps N", with(normal, func(b *beat) { b.p = 0 }), []float64{3, 1, 0, 0}, false, []float64{3, 1, 0, 0}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			row := make([]float32, NumFeatures)
			row[fRRPreEarly], row[fRRPreNN], row[fCorrQRS], row[fCorrP], row[fRRIrregLong] = tc.b.early, tc.b.nn, tc.b.qrs, tc.b.p, tc.b.irr
			checkRule(t, premature, row, tc.in, tc.prob, tc.want, tc.called)
		})
	}
}

func TestRhythmEarly(t *testing.T) {
	// A run of 30 N-like beats at 0.5 s after a regular 0.8 s rhythm (a
	// supraventricular tachycardia: abrupt onset), and a sinus rhythm
	// speeding up by 1 % a beat from 0.8 s to 0.5 s and staying there.
	run := make([]float64, 200)
	gradual := make([]float64, 200)
	longRun := make([]float64, 300)
	for i := range longRun {
		longRun[i] = 0.8
		if i >= 100 && i < 220 {
			longRun[i] = 0.5
		}
	}
	// A sinus rhythm that speeds up abruptly from 0.8 s to 0.6 s at beat
	// 100 and stays there: early at first, no longer once the long NN
	// reference has expired (nnLongFor).
	sustained := make([]float64, 500)
	for i := range sustained {
		sustained[i] = 0.8
		if i >= 100 {
			sustained[i] = 0.6
		}
	}
	for i := range run {
		run[i] = 0.8
		if i >= 100 && i < 130 {
			run[i] = 0.5
		}
		gradual[i] = max(0.5, 0.8*math.Pow(0.99, float64(max(0, i-100))))
	}
	tests := []struct {
		name   string
		rr     []float64
		beat   int
		lo, hi float32
	}{
		{"regular rhythm", run, 90, 1, 1},
		{"first beat of the run", run, 100, 0.6, 0.65},
		{"last beat of a 30-beat run: the run is not the reference", run, 129, 0.6, 0.65},
		{"after the run", run, 131, 1, 1},
		{"120-beat run, beat 60: the last 48 intervals hold no NN interval, the reference is the earlier NN intervals", longRun, 160, 0.6, 0.65},
		{"120-beat run, last beat", longRun, 219, 0.6, 0.65},
		{"after the long run", longRun, 221, 1, 1},
		{"sustained abrupt acceleration: early within the long reference's bound", sustained, 100 + rhythmN + nnLongFor/2, 0.7, 0.8},
		{"sustained abrupt acceleration: not early once it has expired", sustained, 100 + rhythmN + nnLongFor + 10, 1, 1},
		{"gradual speeding up is not early", gradual, 160, 1, 1},
		{"nor after it", gradual, 199, 1, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := rhythmRows(tc.rr, nil)[tc.beat][fRRPreEarly]
			if !(got >= tc.lo && got <= tc.hi) {
				t.Errorf("rr_pre/nn_early of beat %d = %v, want in [%v, %v]", tc.beat, got, tc.lo, tc.hi)
			}
		})
	}
}
