package modelreg

import (
	"bytes"
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/ecg"
	"github.com/vigilhealth/vigil/ecg/beatclass"
	"github.com/vigilhealth/vigil/internal/testenv"
	"github.com/vigilhealth/vigil/ml"
	"github.com/vigilhealth/vigil/sqlite"
)

// ds1 returns the MIT-BIH DS1 directory or skips the test.
func ds1(t *testing.T) string {
	t.Helper()
	d := filepath.Join(testenv.SharedData(t), "mitdb-ds1")
	if _, err := os.Stat(d); err != nil {
		testenv.Missing(t, "MIT-BIH DS1", err.Error())
	}
	return d
}

func loadRecs(t *testing.T, dir string, names ...string) []*beatclass.Recording {
	t.Helper()
	var recs []*beatclass.Recording
	for _, n := range names {
		r, err := beatclass.LoadRecording(os.DirFS(dir), n)
		if err != nil {
			t.Fatalf("LoadRecording(%s): %v", n, err)
		}
		recs = append(recs, r)
	}
	return recs
}

// storeRecord stores the first minutes of channel 0 of a DS1 record as
// patient's lead II, in 10-second chunks starting at start, the way
// ingestion stores a device's ECG.
func storeRecord(t *testing.T, store vigil.SampleStore, dir, name, patient string, start time.Time, minutes float64) {
	t.Helper()
	ctx := context.Background()
	rec, err := ecg.ReadRecord(os.DirFS(dir), name)
	if err != nil {
		t.Fatal(err)
	}
	s := &rec.Signals[0]
	n := min(len(s.Samples), int(minutes*60*rec.Fs))
	chunk := int(10 * rec.Fs)
	for off := 0; off < n; off += chunk {
		w := &vigil.Waveform{Patient: patient, Device: "holter", Code: "131330",
			Start: start.Add(time.Duration(float64(off) / rec.Fs * float64(time.Second))), RateHz: rec.Fs,
			Gain: 1 / s.Gain, Unit: "mV", Received: start, Source: "test"}
		for _, v := range s.Samples[off:min(off+chunk, n)] {
			w.Samples = append(w.Samples, int32(v)-int32(s.Baseline))
		}
		if _, err := store.AppendWaveform(ctx, w); err != nil {
			t.Fatalf("AppendWaveform: %v", err)
		}
	}
}

// beatTime is the stored time of sample i of a record stored at start, at
// the millisecond precision stores keep.
func beatTime(start time.Time, i int, fs float64) time.Time {
	return start.Add(time.Duration(float64(i) / fs * float64(time.Second))).Truncate(time.Millisecond)
}

// referenceAnswers turns the reference annotations of the first minutes of
// rec into clinicians' answers about patient's beats: every ectopic beat
// and every fourth normal one is confirmed or relabelled, answered one
// after another from answeredFrom, 20 s apart.
func referenceAnswers(rec *beatclass.Recording, patient string, start time.Time, minutes float64, answeredFrom time.Time) []vigil.BeatLabel {
	var out []vigil.BeatLabel
	at := answeredFrom
	for i, b := range rec.Features.Beats {
		if float64(b) >= minutes*60*rec.Features.Fs {
			break
		}
		l := rec.Labels[i]
		if l == 'N' && i%4 != 0 || l == 'Q' {
			continue
		}
		a := vigil.BeatLabel{Patient: patient, Code: "131330", Time: beatTime(start, b, rec.Features.Fs), Suggested: "N",
			Label: string(l), Action: vigil.LabelRelabel, Model: "beatclass-000000000000", By: "dr.ada", At: at}
		if l == 'N' || i%7 == 0 {
			// The model was right.
			a.Action, a.Suggested = vigil.LabelConfirm, string(l)
		}
		out = append(out, a)
		at = at.Add(20 * time.Second)
	}
	return out
}

// smallConfig trains in a fraction of a second.
func smallConfig() *ml.Config {
	return &ml.Config{Rounds: 20, LearningRate: 0.3, MaxLeaves: 8, MaxDepth: 6, MinLeaf: 50, ValidFraction: -1}
}

// TestRetrain runs champion/challenger retraining on real components: DS1
// records as base data, two DS1 records' signal stored in a real SQLite
// sample store as two patients, and their reference annotations given as
// clinicians' answers (stored in and read back from the same store's
// beat-label table), with superseded, rejected and signal-less answers
// among them.
func TestRetrain(t *testing.T) {
	dir := ds1(t)
	ctx := context.Background()
	store, err := sqlite.OpenSamples(ctx, t.TempDir(), sqlite.WithSynchronous(sqlite.SyncNormal))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	start := time.Date(2026, 10, 5, 7, 0, 0, 0, time.UTC)
	const minutes = 12
	storeRecord(t, store, dir, "201", "pa", start, minutes)
	storeRecord(t, store, dir, "207", "pb", start.Add(2*time.Hour), minutes)
	ref := loadRecs(t, dir, "201", "207")
	base := loadRecs(t, dir, "106", "209", "215", "220", "223")
	held := []string{"220", "223"}

	day := time.Date(2026, 10, 6, 9, 0, 0, 0, time.UTC)
	answers := append(referenceAnswers(ref[0], "pa", start, minutes, day),
		referenceAnswers(ref[1], "pb", start.Add(2*time.Hour), minutes, day.Add(time.Minute))...)
	good := len(answers)
	// Before the right answer about pa's first ectopic beat, a wrong one.
	first := slices.IndexFunc(answers, func(a vigil.BeatLabel) bool { return a.Patient == "pa" && a.Label != "N" })
	wrong := answers[first]
	wrong.Label, wrong.At = "F", day.Add(-time.Hour)
	// Two normal beats rejected without a class; a beat of a patient with
	// no stored signal.
	rej := answers[0]
	rej.Time, rej.Action, rej.Label = rej.Time.Add(-5*time.Second), "reject", ""
	rej2 := rej
	rej2.Time = rej.Time.Add(-3 * time.Second)
	lost := answers[1]
	lost.Patient = "pc"
	answers = append([]vigil.BeatLabel{wrong, rej, rej2, lost}, answers...)
	// The answers go through the real label store and are read back as
	// vigil model retrain reads them.
	if err := store.AddBeatLabels(ctx, answers); err != nil {
		t.Fatalf("AddBeatLabels: %v", err)
	}
	stored, err := store.BeatLabels(ctx, vigil.BeatLabelQuery{})
	if err != nil || len(stored) != len(answers) {
		t.Fatalf("BeatLabels = %d labels, %v; want %d", len(stored), err, len(answers))
	}

	cfg := RetrainConfig{Base: base, HeldOut: held, Labels: stored, Samples: store, DS1: os.DirFS(dir), Seed: 3, Model: smallConfig(), By: "test-runner"}
	r, _ := newRegistry(t)
	res, err := r.Retrain(ctx, cfg)
	if err != nil {
		t.Fatalf("Retrain: %v", err)
	}
	if res.Base == nil || res.Base.ID != "v1" || res.Champion.ID != "v1" || res.Candidate == nil || res.Candidate.ID != "v2" {
		t.Fatalf("Retrain = base %v, champion %v, candidate %v", res.Base, res.Champion.ID, res.Candidate)
	}
	v := res.Candidate.Version
	// 'good' answers, one per beat: the newest fifth are recent; the
	// others train, except pc's beat (no signal).
	wantRecent := good + 1 - int(0.8*float64(good+1)) // +1: pc's beat is a label too
	t.Logf("labels: %d trained, %d recent, skipped %v", v.Data.Labels, v.Data.RecentLabels, v.Data.LabelsSkipped)
	if v.Data.Labels+v.Data.RecentLabels != good || v.Data.RecentLabels < wantRecent-1 || v.Data.RecentLabels > wantRecent {
		t.Errorf("labels: %d trained + %d recent, want %d in all, about %d recent", v.Data.Labels, v.Data.RecentLabels, good, wantRecent)
	}
	wantSkipped := map[string]int{SkipSuperseded: 1, SkipRejected: 2, SkipNoSignal: 1}
	if len(v.Data.LabelsSkipped) != len(wantSkipped) {
		t.Errorf("skipped = %v, want %v", v.Data.LabelsSkipped, wantSkipped)
	}
	for k, n := range wantSkipped {
		if v.Data.LabelsSkipped[k] != n {
			t.Errorf("skipped[%q] = %d, want %d", k, v.Data.LabelsSkipped[k], n)
		}
	}
	if v.Data.LabelPatients != 2 || v.Data.LabelClasses["V"] == 0 || v.Data.LabelClasses["S"] == 0 || !v.Data.LabelsUntil.Before(v.Data.RecentFrom) {
		t.Errorf("data = %+v", v.Data)
	}
	if slices.Contains(v.Data.Records, "220") || !slices.Equal(v.Data.HeldOut, held) || v.Data.RecordBeats == 0 {
		t.Errorf("records %v, held out %v", v.Data.Records, v.Data.HeldOut)
	}
	if v.HeldOut == nil || v.HeldOut.Beats == 0 || v.Recent == nil || v.Recent.Beats != v.Data.RecentLabels || v.Champion.Recent.Beats != v.Recent.Beats {
		t.Fatalf("metrics: held-out %+v, recent %+v", v.HeldOut, v.Recent)
	}
	// The stored decision is the rule applied to the stored matrices, and
	// the status follows it.
	d := DefaultRule().Decide(&v.HeldOut.Confusion, &v.Champion.HeldOut.Confusion, &v.Recent.Confusion, &v.Champion.Recent.Confusion)
	if d.Promote != v.Decision.Promote || d.Promote != res.Promoted || len(d.Reasons) != len(v.Decision.Reasons) {
		t.Errorf("decision %+v, stored %+v, promoted %v", d, v.Decision, res.Promoted)
	}
	wantStatus := map[bool]Status{true: StatusActive, false: StatusRejected}[d.Promote]
	if res.Candidate.Status != wantStatus || res.Candidate.Decided == nil || res.Candidate.Decided.By != "test-runner" {
		t.Errorf("candidate status %s decided %+v, want %s", res.Candidate.Status, res.Candidate.Decided, wantStatus)
	}
	t.Logf("held-out accuracy candidate %.4f champion %.4f; recent %.4f vs %.4f; decision %+v",
		v.HeldOut.Accuracy, v.Champion.HeldOut.Accuracy, v.Recent.Accuracy, v.Champion.Recent.Accuracy, v.Decision)
	// The summary is of the detector's beats in the training records
	// (nearly all matched to a reference beat) and of the labelled beats.
	if v.Summary == nil || v.Data.SummaryAt != "detected" || math.Abs(float64(v.Summary.Beats-v.Data.TrainBeats)) > 0.02*float64(v.Data.TrainBeats) {
		t.Errorf("summary of %d beats at %q positions, trained on %d", v.Summary.Beats, v.Data.SummaryAt, v.Data.TrainBeats)
	}

	// The same inputs in another registry give the same models.
	r2, _ := newRegistry(t)
	res2, err := r2.Retrain(ctx, cfg)
	if err != nil {
		t.Fatalf("second Retrain: %v", err)
	}
	if res2.Base.SHA256 != res.Base.SHA256 || res2.Candidate.SHA256 != v.SHA256 {
		t.Errorf("retraining is not deterministic: %s/%s vs %s/%s", res2.Base.Model, res2.Candidate.Model, res.Base.Model, v.Model)
	}
	// Again with no new labels: the candidate is the one registered.
	res3, err := r.Retrain(ctx, cfg)
	if err != nil {
		t.Fatalf("third Retrain: %v", err)
	}
	if res3.Identical != "v2" && !(d.Promote && res3.Identical == "") {
		t.Errorf("retrain without new labels: identical %q, candidate %v", res3.Identical, res3.Candidate)
	}
	evs, err := r.Events(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 4 || evs[1].Kind != EventPromoted || evs[1].Version != "v1" || evs[1].By != "test-runner" {
		t.Errorf("events = %+v", evs)
	}
}

// TestRetrainChampionSawHeldOut refuses to compare with a champion that
// trained on a held-out record.
func TestRetrainChampionSawHeldOut(t *testing.T) {
	ctx := context.Background()
	r, _ := newRegistry(t)
	v := &Version{Data: Data{Records: []string{"a", "b"}}}
	if err := r.Register(ctx, tinyModel(t, 1), v, "dr.ada"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Promote(ctx, v.ID, "dr.ada", "first"); err != nil {
		t.Fatal(err)
	}
	rec := func(name string) *beatclass.Recording {
		return &beatclass.Recording{Name: name, Features: &beatclass.Features{Fs: 360}}
	}
	_, err := r.Retrain(ctx, RetrainConfig{Base: []*beatclass.Recording{rec("a"), rec("b")}, HeldOut: []string{"b"}, By: "dr.ada"})
	if !errors.Is(err, vigil.ErrConflict) {
		t.Errorf("Retrain = %v, want ErrConflict", err)
	}
	_, err = r.Retrain(ctx, RetrainConfig{Base: []*beatclass.Recording{rec("a")}, HeldOut: []string{"b"}, By: "dr.ada"})
	if !errors.Is(err, vigil.ErrInvalid) {
		t.Errorf("Retrain with a held-out record missing = %v, want ErrInvalid", err)
	}
}

// TestLabelledFeatures checks the signal path: the features of labelled
// beats computed from the stored waveforms (detected neighbours, label
// positions) match those computed from the WFDB record at the reference
// beat positions.
func TestLabelledFeatures(t *testing.T) {
	dir := ds1(t)
	ctx := context.Background()
	store, err := sqlite.OpenSamples(ctx, t.TempDir(), sqlite.WithSynchronous(sqlite.SyncNormal))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	start := time.Date(2026, 10, 5, 7, 0, 0, 123456000, time.UTC)
	storeRecord(t, store, dir, "119", "p", start, 10)
	rec := loadRecs(t, dir, "119")[0]
	// Label beats from minute 6 on, so that they have 5 minutes of RR
	// history in the stored signal as in the record.
	var labels []Label
	var idx []int
	for i, b := range rec.Features.Beats {
		if s := float64(b) / rec.Features.Fs; s >= 360 && s < 540 && i%3 == 0 {
			labels = append(labels, Label{Patient: "p", Code: "131330", Time: beatTime(start, b, rec.Features.Fs), Class: rec.Labels[i]})
			idx = append(idx, i)
		}
	}
	skipped := map[string]int{}
	rows, err := labelledFeatures(ctx, store, labels, skipped)
	if err != nil {
		t.Fatal(err)
	}
	names := beatclass.FeatureNames()
	tests := []struct {
		feature string
		tol     float32
		share   float64 // of beats within tol
	}{
		{"rr_pre", 0.01, 0.95},
		{"rr_post", 0.01, 0.95},
		{"rr_pre/local", 0.03, 0.95},
		{"qrs_width", 5, 0.9},
		{"corr", 0.05, 0.9},
	}
	for _, tc := range tests {
		t.Run(tc.feature, func(t *testing.T) {
			f := slices.Index(names, tc.feature)
			ok := 0
			for j, i := range idx {
				if rows[j] == nil {
					t.Fatalf("label %d has no features (skipped %v)", j, skipped)
				}
				if math.Abs(float64(rows[j][f]-rec.Features.Row(i)[f])) <= float64(tc.tol) {
					ok++
				}
			}
			if share := float64(ok) / float64(len(idx)); share < tc.share {
				t.Errorf("%s within %v of the record's value for %.1f %% of %d beats, want ≥ %.0f %%", tc.feature, tc.tol, 100*share, len(idx), 100*tc.share)
			}
		})
	}
	// The model labels the stored-signal beats as it labels the record's.
	c, err := beatclass.Default()
	if err != nil {
		t.Fatal(err)
	}
	f := &beatclass.Features{Fs: rec.Features.Fs}
	for j := range rows {
		f.X = append(f.X, rows[j]...)
		f.Beats = append(f.Beats, j)
	}
	fromStore, fromRecord := c.Label(f), c.Label(rec.Features.Subset(idx))
	if same := countSame(fromStore, fromRecord); float64(same) < 0.97*float64(len(idx)) {
		t.Errorf("default model agrees on %d of %d beats between stored signal and record", same, len(idx))
	}
	if !bytes.Contains(fromRecord, []byte("V")) {
		t.Errorf("no V beat among the labelled beats of 119")
	}
}

func countSame(a, b []byte) int {
	n := 0
	for i := range a {
		if a[i] == b[i] {
			n++
		}
	}
	return n
}
