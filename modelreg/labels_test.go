package modelreg

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/vigilhealth/vigil"
)

var t0 = time.Date(2026, 10, 1, 8, 0, 0, 0, time.UTC)

// answer builds a BeatLabel about beat number beat of patient p, answered
// at minute at; the model suggested N, or, for a confirmation, the class
// confirmed.
func answer(p string, beat int, action, label string, at int) vigil.BeatLabel {
	sug := "N"
	if action == vigil.LabelConfirm {
		sug = label
	}
	return vigil.BeatLabel{Patient: p, Code: "131330", Time: t0.Add(time.Duration(beat) * time.Second), Action: action,
		Label: label, Suggested: sug, By: "dr.ada", At: t0.Add(time.Duration(at) * time.Minute)}
}

func TestCurrentLabels(t *testing.T) {
	tests := []struct {
		name    string
		answers []vigil.BeatLabel
		want    string // patient/beat=class@minute, in order
		skipped map[string]int
	}{
		{"confirm and relabel", []vigil.BeatLabel{answer("a", 1, "confirm", "N", 5), answer("a", 2, "relabel", "V", 3)},
			"a/2=V@3 a/1=N@5", nil},
		{"confirm an ectopic beat", []vigil.BeatLabel{answer("a", 1, "confirm", "S", 5)}, "a/1=S@5", nil},
		{"a later answer supersedes", []vigil.BeatLabel{answer("a", 1, "relabel", "S", 1), answer("a", 1, "relabel", "V", 9)},
			"a/1=V@9", map[string]int{SkipSuperseded: 1}},
		{"answer time decides, not order", []vigil.BeatLabel{answer("a", 1, "relabel", "V", 9), answer("a", 1, "relabel", "S", 1)},
			"a/1=V@9", map[string]int{SkipSuperseded: 1}},
		{"same answer time: the later in the store", []vigil.BeatLabel{answer("a", 1, "relabel", "S", 4), answer("a", 1, "relabel", "F", 4)},
			"a/1=F@4", map[string]int{SkipSuperseded: 1}},
		{"rejection without a class is no label", []vigil.BeatLabel{answer("a", 1, "reject", "", 2), answer("a", 2, "confirm", "N", 2)},
			"a/2=N@2", map[string]int{SkipRejected: 1}},
		{"a rejection supersedes a confirmation", []vigil.BeatLabel{answer("a", 1, "confirm", "N", 1), answer("a", 1, "reject", "", 2)},
			"", map[string]int{SkipRejected: 1, SkipSuperseded: 1}},
		{"patients apart", []vigil.BeatLabel{answer("b", 1, "confirm", "N", 2), answer("a", 1, "confirm", "V", 2)},
			"a/1=V@2 b/1=N@2", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			labels, skipped, err := CurrentLabels(tc.answers)
			if err != nil {
				t.Fatalf("CurrentLabels: %v", err)
			}
			var got []string
			for _, l := range labels {
				got = append(got, fmt.Sprintf("%s/%d=%c@%d", l.Patient, int(l.Time.Sub(t0).Seconds()), l.Class, int(l.At.Sub(t0).Minutes())))
			}
			if g := strings.Join(got, " "); g != tc.want {
				t.Errorf("labels = %q, want %q", g, tc.want)
			}
			if len(skipped) != len(tc.skipped) {
				t.Errorf("skipped = %v, want %v", skipped, tc.skipped)
			}
			for k, n := range tc.skipped {
				if skipped[k] != n {
					t.Errorf("skipped[%q] = %d, want %d", k, skipped[k], n)
				}
			}
		})
	}
}

func TestCurrentLabelsRejectsBadInput(t *testing.T) {
	tests := []struct {
		name string
		a    vigil.BeatLabel
	}{
		{"unknown action", answer("a", 1, "approve", "N", 1)},
		{"unknown class", answer("a", 1, "relabel", "X", 1)},
		{"lower-case class", answer("a", 1, "relabel", "v", 1)},
		{"two letters", answer("a", 1, "relabel", "NV", 1)},
		{"confirm without class", answer("a", 1, "confirm", "", 1)},
		{"confirm another class", func() vigil.BeatLabel { a := answer("a", 1, "confirm", "V", 1); a.Suggested = "N"; return a }()},
		{"relabel without class", answer("a", 1, "relabel", "", 1)},
		{"relabel to the suggestion", answer("a", 1, "relabel", "N", 1)},
		{"rejection naming a class", answer("a", 1, "reject", "S", 1)},
		{"nobody answered", func() vigil.BeatLabel { a := answer("a", 1, "confirm", "N", 1); a.By = ""; return a }()},
		{"no patient", answer("", 1, "confirm", "N", 1)},
		{"no answer time", func() vigil.BeatLabel { a := answer("a", 1, "confirm", "N", 1); a.At = time.Time{}; return a }()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := CurrentLabels([]vigil.BeatLabel{answer("a", 9, "confirm", "N", 1), tc.a})
			if !errors.Is(err, vigil.ErrInvalid) || !strings.Contains(err.Error(), "beat label 1") {
				t.Errorf("CurrentLabels = %v, want ErrInvalid naming label 1", err)
			}
		})
	}
}

func TestSplitRecent(t *testing.T) {
	var answers []vigil.BeatLabel
	for i := range 10 {
		answers = append(answers, answer("a", i, "confirm", "N", 10*i))
	}
	// Beat 9 was first answered at minute 5, then again at minute 95.
	answers = append(answers, answer("a", 9, "relabel", "V", 5))
	labels, _, err := CurrentLabels(answers)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		frac        float64
		seen        time.Time
		train, rec  int
		dropped     int
		firstRecent int // beat number
	}{
		{"20 %", 0.2, time.Time{}, 8, 2, 0, 8},
		{"champion saw up to minute 30", 0.2, t0.Add(30 * time.Minute), 8, 1, 1, 8},
		{"champion saw everything", 0.5, t0.Add(90 * time.Minute), 5, 0, 5, -1},
		{"too few for a recent part", 0.05, time.Time{}, 10, 0, 0, -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			train, recent, dropped := splitRecent(labels, tc.frac, tc.seen)
			if len(train) != tc.train || len(recent) != tc.rec || dropped != tc.dropped {
				t.Fatalf("split = %d train, %d recent, %d dropped; want %d, %d, %d", len(train), len(recent), dropped, tc.train, tc.rec, tc.dropped)
			}
			for _, r := range recent {
				for _, tr := range train {
					if r.At.Before(tr.At) {
						t.Errorf("recent label answered at %v before training label at %v", r.At, tr.At)
					}
				}
			}
			if tc.firstRecent >= 0 && int(recent[0].Time.Sub(t0).Seconds()) != tc.firstRecent {
				t.Errorf("first recent beat = %v, want %d", recent[0].Time.Sub(t0), tc.firstRecent)
			}
		})
	}
}

func TestAssemble(t *testing.T) {
	chunk := func(startMs int, n int, rate float64, unit string, v int32) vigil.Waveform {
		s := make([]int32, n)
		for i := range s {
			s[i] = v
		}
		return vigil.Waveform{Patient: "a", Code: "131330", Start: t0.Add(time.Duration(startMs) * time.Millisecond), RateHz: rate, Gain: 0.005, Unit: unit, Samples: s}
	}
	tests := []struct {
		name   string
		chunks []vigil.Waveform
		want   string // per segment: samples (NaN count)
		bad    int
	}{
		{"end to end", []vigil.Waveform{chunk(0, 250, 250, "mV", 200), chunk(1000, 250, 250, "mV", 200)}, "500(0)", 0},
		{"short hole filled", []vigil.Waveform{chunk(0, 250, 250, "mV", 200), chunk(2000, 250, 250, "mV", 200)}, "750(250)", 0},
		{"long hole splits", []vigil.Waveform{chunk(0, 250, 250, "mV", 200), chunk(4000, 250, 250, "mV", 200)}, "250(0) 250(0)", 0},
		{"overlap keeps the first", []vigil.Waveform{chunk(0, 500, 250, "mV", 200), chunk(1000, 500, 250, "mV", 400)}, "750(0)", 0},
		{"duplicate dropped", []vigil.Waveform{chunk(0, 500, 250, "mV", 200), chunk(0, 500, 250, "mV", 200)}, "500(0)", 0},
		{"rate change splits", []vigil.Waveform{chunk(0, 250, 250, "mV", 200), chunk(1000, 500, 500, "mV", 200)}, "250(0) 500(0)", 0},
		{"unknown unit left out", []vigil.Waveform{chunk(0, 250, 250, "mmHg", 200), chunk(1000, 250, 250, "mV", 200)}, "250(0)", 1},
		{"rate too low left out", []vigil.Waveform{chunk(0, 100, 100, "mV", 200)}, "", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			segs, bad := assemble(tc.chunks)
			var got []string
			for _, s := range segs {
				nan := 0
				for _, v := range s.x {
					if math.IsNaN(float64(v)) {
						nan++
					}
				}
				got = append(got, fmt.Sprintf("%d(%d)", len(s.x), nan))
			}
			if g := strings.Join(got, " "); g != tc.want || bad != tc.bad {
				t.Errorf("assemble = %q, %d bad; want %q, %d", g, bad, tc.want, tc.bad)
			}
		})
	}
	segs, _ := assemble([]vigil.Waveform{chunk(0, 10, 250, "uV", 200)})
	if v := segs[0].x[0]; math.Abs(float64(v)-0.001) > 1e-7 {
		t.Errorf("200 × 0.005 µV = %v mV, want 0.001", v)
	}
}

func TestWithLabelled(t *testing.T) {
	// At 100 Hz, 100 ms is 10 samples.
	got := withLabelled([]int{100, 200, 305, 400}, []int{198, 310, 500, 500}, 100)
	want := []int{100, 198, 310, 400, 500}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("withLabelled = %v, want %v", got, want)
	}
}
