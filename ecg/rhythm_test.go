package ecg

import (
	"math/rand/v2"
	"testing"
)

func TestRhythmMonitor(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	series := func(n int, f func(i int) float64) []RR {
		iv := make([]float64, n)
		for i := range iv {
			iv[i] = f(i)
		}
		return rrSeries(iv)
	}
	tests := []struct {
		name string
		rr   []RR
		want map[RhythmKind]int
	}{
		{"sinus 75 bpm", series(300, func(int) float64 { return 0.8 + 0.02*rng.Float64() }), map[RhythmKind]int{}},
		{"bradycardia 40 bpm", series(60, func(int) float64 { return 1.5 }), map[RhythmKind]int{Bradycardia: 1}},
		{"tachycardia 150 bpm", series(60, func(int) float64 { return 0.4 }), map[RhythmKind]int{Tachycardia: 1}},
		{"one pause", series(60, func(i int) float64 {
			if i == 30 {
				return 3.2
			}
			return 0.8
		}), map[RhythmKind]int{Pause: 1}},
		{"atrial fibrillation", series(400, func(int) float64 { return 0.4 + 0.6*rng.Float64() }), map[RhythmKind]int{AtrialFibrillation: 1}},
		{"ventricular bigeminy", series(400, func(i int) float64 {
			if i%2 == 0 {
				return 0.5
			}
			return 1.1
		}), map[RhythmKind]int{}},
		{"sinus with isolated ectopics", series(400, func(i int) float64 {
			switch i % 20 {
			case 10:
				return 0.5
			case 11:
				return 1.1
			}
			return 0.8 + 0.02*rng.Float64()
		}), map[RhythmKind]int{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := map[RhythmKind]int{}
			for _, e := range DetectRhythms(tc.rr, RhythmConfig{}) {
				got[e.Kind]++
				if e.End <= e.Start {
					t.Errorf("episode %+v ends before it starts", e)
				}
			}
			if len(got) != len(tc.want) {
				t.Fatalf("DetectRhythms = %v, want %v", got, tc.want)
			}
			for k, n := range tc.want {
				if got[k] != n {
					t.Errorf("DetectRhythms = %v, want %v", got, tc.want)
				}
			}
		})
	}
}

func TestCompareEpisodes(t *testing.T) {
	ref := []Episode{{Start: 100, End: 200}, {Start: 400, End: 500}}
	test := []Episode{{Start: 150, End: 250}, {Start: 600, End: 650}}
	s := CompareEpisodes(ref, test, 0, 1000)
	// Hand-computed: 1 of 2 reference episodes hit, 1 of 2 detections true,
	// overlap 50 s of 200 s reference and of 150 s detected.
	if s.EpisodeSe() != 0.5 || s.EpisodePPV() != 0.5 || s.DurationSe() != 0.25 || s.DurationPPV() != 50.0/150 {
		t.Errorf("CompareEpisodes = %+v", s)
	}
}
