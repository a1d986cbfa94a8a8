package beatclass

import (
	"encoding/json"
	"errors"
	"math"
	"testing"

	"github.com/vigilhealth/vigil"
)

// synthRecording is the synthetic lead of synthECG as a labelled recording
// (ectopic beats labelled V).
func synthRecording(t *testing.T) *Recording {
	t.Helper()
	x, beats, ectopic := synthECG()
	f, err := Extract(x, 360, beats)
	if err != nil {
		t.Fatal(err)
	}
	labels := make([]byte, len(beats))
	for i, e := range ectopic {
		labels[i] = 'N'
		if e {
			labels[i] = 'V'
		}
	}
	return &Recording{Name: "synth", Features: f, Labels: labels}
}

func TestSummarize(t *testing.T) {
	c, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	rec := synthRecording(t)
	s := Summarize([]*Recording{rec}, c)
	if s.Beats != rec.Features.Len() || len(s.Features) != NumFeatures {
		t.Fatalf("summary of %d beats, %d features; want %d, %d", s.Beats, len(s.Features), rec.Features.Len(), NumFeatures)
	}
	if err := s.Check(); err != nil {
		t.Fatalf("Check: %v", err)
	}
	wantV := 0
	for _, l := range rec.Labels {
		if l == 'V' {
			wantV++
		}
	}
	if s.Reference[2] != wantV || s.Reference[0] != s.Beats-wantV {
		t.Errorf("reference counts %v, want %d V of %d", s.Reference, wantV, s.Beats)
	}
	pred := 0
	for _, n := range s.Predicted {
		pred += n
	}
	if pred != s.Beats {
		t.Errorf("predicted counts %v sum to %d, want %d", s.Predicted, pred, s.Beats)
	}
	// A summary survives JSON (the registry stores it so) and is checked
	// on the way back.
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var back Summary
	if err := json.Unmarshal(b, &back); err != nil || back.Check() != nil || back.Beats != s.Beats {
		t.Fatalf("round trip: %v, %v", err, back.Check())
	}
	back.Features[3].Name = "renamed"
	if err := back.Check(); !errors.Is(err, vigil.ErrInvalid) {
		t.Errorf("Check of a summary with a renamed feature = %v, want ErrInvalid", err)
	}
}

// TestDrift compares the synthetic recording with its own summary (no
// drift) and with a version whose ectopic beats come every third beat
// instead of every eighth (class mix and RR features shift).
func TestDrift(t *testing.T) {
	c, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	rec := synthRecording(t)
	s := Summarize([]*Recording{rec}, c)

	same := s.NewDrift()
	same.Add(rec.Features, c.Label(rec.Features))
	r := same.Report()
	if r.Beats != rec.Features.Len() || r.ClassPSI > 1e-9 || r.ClassLevel != "stable" {
		t.Errorf("same data: %d beats, class PSI %v (%s)", r.Beats, r.ClassPSI, r.ClassLevel)
	}
	for _, f := range r.Features {
		if f.PSI > 1e-9 || f.Level != "stable" {
			t.Errorf("same data: %s PSI %v", f.Name, f.PSI)
		}
	}

	// More ectopic beats: the beats of the recording with the V beats
	// repeated twice more.
	var rows []int
	for i, l := range rec.Labels {
		rows = append(rows, i)
		if l == 'V' {
			rows = append(rows, i, i, i, i)
		}
	}
	more := rec.Features.Subset(rows)
	d := s.NewDrift()
	d.Add(more, c.Label(more))
	r = d.Report()
	if r.ClassLevel != "major" {
		t.Errorf("more V beats: class PSI %.3f (%s), want major; %+v", r.ClassPSI, r.ClassLevel, r.Classes)
	}
	if r.Features[0].Level != "major" || math.IsNaN(r.Features[0].KS) {
		t.Errorf("largest feature shift %+v, want major", r.Features[0])
	}
	for i := 1; i < len(r.Features); i++ {
		if r.Features[i].PSI > r.Features[i-1].PSI {
			t.Fatalf("features not sorted by PSI at %d", i)
		}
	}
	if got := Evaluate(c, []*Recording{rec}); got.Total() != rec.Features.Len() {
		t.Errorf("Evaluate counted %d beats, want %d", got.Total(), rec.Features.Len())
	}
}

func TestDriftLevel(t *testing.T) {
	tests := []struct {
		psi  float64
		want string
	}{
		{0, "stable"}, {0.0999, "stable"}, {0.1, "moderate"}, {0.2499, "moderate"}, {0.25, "major"}, {3, "major"}, {math.NaN(), ""},
	}
	for _, tc := range tests {
		if got := DriftLevel(tc.psi); got != tc.want {
			t.Errorf("DriftLevel(%v) = %q, want %q", tc.psi, got, tc.want)
		}
	}
}
