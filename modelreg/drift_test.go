package modelreg

import (
	"context"
	"errors"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/ecg/beatclass"
	"github.com/vigilhealth/vigil/sqlite"
)

// TestDriftReport compares the stored signal of patients with the training
// summary of DS1 record 119 (sinus rhythm with ventricular bigeminy): the
// same record stored as a patient shows no drift; record 101 (sinus
// rhythm, no V beats) shows a major shift of the class mix and of the
// features that tell V beats apart; record 119 stored with twice its gain
// (a mis-calibrated device) shifts the QRS amplitude in mV, and nothing
// else, since the other amplitudes are relative to the patient's own.
func TestDriftReport(t *testing.T) {
	dir := ds1(t)
	ctx := context.Background()
	store, err := sqlite.OpenSamples(ctx, t.TempDir(), sqlite.WithSynchronous(sqlite.SyncNormal))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	start := time.Date(2026, 10, 5, 7, 0, 0, 0, time.UTC)
	const minutes = 20
	storeRecord(t, store, dir, "119", "same", start, minutes)
	storeRecord(t, store, dir, "101", "other", start, minutes)
	storeRecord(t, store, dir, "119", "gain", start, minutes)
	// Copy patient "gain"'s chunks to "gain2" with twice the gain.
	chunks, err := store.QueryWaveforms(ctx, "gain", "131330", start, start.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range chunks {
		w.Patient, w.Gain = "gain2", w.Gain*2
		if _, err := store.AppendWaveform(ctx, &w); err != nil {
			t.Fatal(err)
		}
	}
	c, err := beatclass.Default()
	if err != nil {
		t.Fatal(err)
	}
	rec := loadRecs(t, dir, "119")[0]
	cut := beatclass.WindowBeats(rec.Features, minutes)
	train := &beatclass.Recording{Name: "119", Features: rec.Features.Subset(seq(cut)), Labels: rec.Labels[:cut]}
	sz := &summarizer{fsys: os.DirFS(dir), log: func(string, ...any) {}}
	sum, at, err := sz.of([]*beatclass.Recording{train}, nil, c)
	if err != nil || at != "detected" {
		t.Fatalf("summary: %v, %s", err, at)
	}

	report := func(patient string) *DriftResult {
		t.Helper()
		r, err := DriftReport(ctx, DriftConfig{Samples: store, Patients: []string{patient}, Leads: []string{"131330"},
			From: start, To: start.Add(3 * time.Hour), Classifier: c, Summary: sum})
		if err != nil {
			t.Fatalf("DriftReport(%s): %v", patient, err)
		}
		return r
	}
	level := func(r *DriftResult, feature string) string {
		i := slices.IndexFunc(r.Features, func(f beatclass.FeatureDrift) bool { return f.Name == feature })
		return r.Features[i].Level
	}
	tests := []struct {
		patient     string
		classLevel  string
		major       []string // features that must be flagged major
		stableShare float64  // share of features that must be stable
	}{
		{"same", "stable", nil, 0.9},
		{"other", "major", []string{"rr_pre/post", "corr"}, 0},
		{"gain2", "stable", []string{"qrs_pp"}, 0.9},
	}
	for _, tc := range tests {
		t.Run(tc.patient, func(t *testing.T) {
			r := report(tc.patient)
			if r.Series != 1 || r.Hours < 0.9*minutes/60.0 || r.Hours > minutes/60.0+0.01 || r.Beats < 1000 {
				t.Fatalf("read %d series, %.2f h, %d beats", r.Series, r.Hours, r.Beats)
			}
			if r.ClassLevel != tc.classLevel {
				t.Errorf("class mix PSI %.3f (%s), want %s: %+v", r.ClassPSI, r.ClassLevel, tc.classLevel, r.Classes)
			}
			for _, f := range tc.major {
				if l := level(r, f); l != "major" {
					t.Errorf("%s is %s, want major", f, l)
				}
			}
			stable := 0
			for _, f := range r.Features {
				if f.Level == "stable" {
					stable++
				}
			}
			if share := float64(stable) / float64(len(r.Features)); share < tc.stableShare {
				t.Errorf("%.0f %% of features stable, want ≥ %.0f %%; top: %+v", 100*share, 100*tc.stableShare, r.Features[:3])
			}
			t.Logf("%s: %d beats, class PSI %.3f, top feature %s PSI %.3f", tc.patient, r.Beats, r.ClassPSI, r.Features[0].Name, r.Features[0].PSI)
		})
	}
	// The beats the server stored: 120 by this model (30 V), 7 by another.
	var beats []vigil.Beat
	for i := range 127 {
		b := vigil.Beat{Patient: "same", Device: "holter", Code: "131330", Time: start.Add(time.Duration(i) * 800 * time.Millisecond),
			Class: "N", RR: 800 * time.Millisecond, Model: c.Version()}
		if i%4 == 0 {
			b.Class = "V"
		}
		if i >= 120 {
			b.Model = "beatclass-0123456789ab"
		}
		beats = append(beats, b)
	}
	if err := store.AppendBeats(ctx, beats); err != nil {
		t.Fatal(err)
	}
	r, err := DriftReport(ctx, DriftConfig{Samples: store, Beats: store, Patients: []string{"same"}, Leads: []string{"131330"},
		From: start, To: start.Add(time.Hour), Classifier: c, Summary: sum})
	if err != nil {
		t.Fatal(err)
	}
	if r.Served != [5]int{90, 0, 30, 0, 0} || r.ServedOther != 7 || r.ServedLevel == "" {
		t.Errorf("served %v, other %d, PSI %v (%s)", r.Served, r.ServedOther, r.ServedPSI, r.ServedLevel)
	}
	if _, err := DriftReport(ctx, DriftConfig{Samples: store, Classifier: c, Summary: sum, From: start, To: start}); !errors.Is(err, vigil.ErrInvalid) {
		t.Errorf("DriftReport with an empty window = %v, want ErrInvalid", err)
	}
	none := report("nobody")
	if none.Beats != 0 || none.Series != 0 || none.ClassLevel != "" {
		t.Errorf("report for a patient without signal = %+v", none)
	}
}

func seq(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}
