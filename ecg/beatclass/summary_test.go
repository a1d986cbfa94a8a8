package beatclass

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"slices"
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
	r := same.Report(1)
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
	r = d.Report(1)
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

// TestDriftBaseline: three DS1 patients against a summary of twelve others
// stray far by the PSI thresholds alone (patients differ), but within what
// three of the twelve stray from the other nine. The same three recorded
// through noisier electrodes (signal-quality features × 4) are flagged on
// those features. (Their heart rate raised by 40 % would not be: DS1
// patients' rates differ more than that, so absolute RR features have wide
// baselines.)
func TestDriftBaseline(t *testing.T) {
	dir := needData(t)
	c, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"101", "106", "108", "109", "112", "114", "115", "116", "122", "205", "215", "230", "119", "201", "223"}
	var recs []*Recording
	for _, n := range names {
		r, err := LoadRecording(os.DirFS(dir), n)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	s := Summarize(recs[:12], c)
	if len(s.Groups) != 12 {
		t.Fatalf("%d groups, want 12", len(s.Groups))
	}
	d := s.NewDrift()
	fast := s.NewDrift()
	for _, r := range recs[12:] {
		d.Add(r.Features, c.Label(r.Features))
		f := r.Features.Subset(seqN(r.Features.Len()))
		for i := range f.Len() {
			for _, j := range []int{fNoise, fWander} {
				f.Row(i)[j] *= 4
			}
		}
		fast.Add(f, c.Label(f))
	}
	r := d.Report(3)
	major, flagged := 0, 0
	for _, f := range r.Features {
		if f.Level == "major" {
			major++
		}
		if f.Flag != "stable" {
			flagged++
		}
		if math.IsNaN(f.Baseline) {
			t.Fatalf("%s has no baseline", f.Name)
		}
	}
	t.Logf("3 other patients: %d features major by PSI, %d beyond the baseline; class PSI %.3f baseline %.3f", major, flagged, r.ClassPSI, r.ClassBaseline)
	if major < 10 || flagged > major/3 {
		t.Errorf("%d major, %d flagged beyond the baseline: want many major, few flagged", major, flagged)
	}
	r = fast.Report(3)
	for _, name := range []string{"noise", "wander"} {
		i := slices.IndexFunc(r.Features, func(f FeatureDrift) bool { return f.Name == name })
		if f := r.Features[i]; f.Flag != "major" {
			t.Errorf("noisier: %s PSI %.3f baseline %.3f flag %q, want major", name, f.PSI, f.Baseline, f.Flag)
		}
	}
}

func seqN(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}
