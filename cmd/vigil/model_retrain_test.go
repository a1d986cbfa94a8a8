package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/ecg"
	"github.com/vigilhealth/vigil/ecg/beatclass"
	"github.com/vigilhealth/vigil/internal/testenv"
	"github.com/vigilhealth/vigil/sqlite"
)

// storeLabelledRecord stores the first minutes of a DS1 record's channel 0
// in the data directory's sample store as patient's lead II, and its
// reference annotations as a clinician's answers (every ectopic beat and
// every third normal one) in the same store's label table.
func storeLabelledRecord(t *testing.T, data, ds1, name, patient string, start time.Time, minutes float64) int {
	t.Helper()
	ctx := context.Background()
	store, err := sqlite.OpenSamples(ctx, data)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	rec, err := ecg.ReadRecord(os.DirFS(ds1), name)
	if err != nil {
		t.Fatal(err)
	}
	s := &rec.Signals[0]
	n := int(minutes * 60 * rec.Fs)
	for off := 0; off < n; off += int(10 * rec.Fs) {
		w := &vigil.Waveform{Patient: patient, Device: "patch", Code: "131330", Start: start.Add(time.Duration(float64(off) / rec.Fs * float64(time.Second))),
			RateHz: rec.Fs, Gain: 1 / s.Gain, Unit: "mV", Received: start, Source: "test"}
		for _, v := range s.Samples[off:min(off+int(10*rec.Fs), n)] {
			w.Samples = append(w.Samples, int32(v)-int32(s.Baseline))
		}
		if _, err := store.AppendWaveform(ctx, w); err != nil {
			t.Fatal(err)
		}
	}
	ref, err := beatclass.LoadRecording(os.DirFS(ds1), name)
	if err != nil {
		t.Fatal(err)
	}
	var answers []vigil.BeatLabel
	at := start.Add(24 * time.Hour)
	for i, b := range ref.Features.Beats {
		l := string(ref.Labels[i])
		if b >= n || l == "Q" || (l == "N" && i%3 != 0) {
			continue
		}
		a := vigil.BeatLabel{Patient: patient, Code: "131330", Suggested: "N", Label: l, Action: vigil.LabelRelabel, By: "dr.ada", At: at,
			Time: start.Add(time.Duration(float64(b) / rec.Fs * float64(time.Second))).Truncate(time.Millisecond)}
		if l == "N" {
			a.Action = vigil.LabelConfirm
		}
		answers = append(answers, a)
		at = at.Add(15 * time.Second)
	}
	if err := store.AddBeatLabels(ctx, answers); err != nil {
		t.Fatal(err)
	}
	return len(answers)
}

// TestModelRetrainRegistryDrift runs the retraining, registry and drift
// commands on a data directory whose sample store holds a patient's ECG
// (DS1 record 201) and a clinician's labels of it, as the server would
// have stored them.
func TestModelRetrainRegistryDrift(t *testing.T) {
	ds1 := filepath.Join(testenv.SharedData(t), "mitdb-ds1")
	if _, err := os.Stat(ds1); err != nil {
		testenv.Missing(t, "MIT-BIH DS1", err.Error())
	}
	data := t.TempDir()
	start := time.Now().UTC().Add(-3 * time.Hour).Truncate(time.Second)
	n := storeLabelledRecord(t, data, ds1, "201", "p1", start, 10)
	patient := filepath.Join(t.TempDir(), "patient.json")
	if err := os.WriteFile(patient, []byte(`{"resourceType":"Patient","id":"p1","active":true}`), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, error) {
		t.Helper()
		env, out, errb := testEnv()
		err := Run(context.Background(), env, args)
		return out.String() + errb.String(), err
	}
	must := func(args ...string) string {
		t.Helper()
		out, err := run(args...)
		if err != nil {
			t.Fatalf("vigil %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	if _, err := run("import", "--data", data, patient); err != nil {
		t.Fatalf("import: %v", err)
	}
	retrain := []string{"model", "retrain", "--data", data, "--ds1", ds1, "--records", "106,209,215,220,223",
		"--held-out", "220,223", "--rounds", "15", "--by", "dr.test", "--quiet"}
	out := must(retrain...)
	for _, want := range []string{"bootstrap: registered and activated v1", "candidate v2", "held-out", "recent labels", "V Se/+P"} {
		if !strings.Contains(out, want) {
			t.Errorf("retrain output lacks %q:\n%s", want, out)
		}
	}
	promoted := strings.Contains(out, "promoted: v2 is now the active model")
	if !promoted && !strings.Contains(out, "rejected: v2 is registered as rejected") {
		t.Fatalf("retrain neither promoted nor rejected v2:\n%s", out)
	}
	t.Logf("%d answers stored; retrain output:\n%s", n, out)

	list := must("model", "registry", "list", "--data", data)
	wantV2 := map[bool]string{true: "active", false: "rejected"}[promoted]
	if f := rowFields(list, "v1"); len(f) < 2 || f[1] != map[bool]string{true: "retired", false: "active"}[promoted] {
		t.Errorf("registry list, v1: %q\n%s", f, list)
	}
	if f := rowFields(list, "v2"); len(f) < 7 || f[1] != wantV2 || f[5] != "dr.test" {
		t.Errorf("registry list, v2: %q\n%s", f, list)
	}
	show := must("model", "registry", "show", "v2", "--data", data)
	for _, want := range []string{"clinician labels:", "held-out DS1 records", "champion v1 on the held-out records", "rule:", "registered  v2 by dr.test"} {
		if !strings.Contains(show, want) {
			t.Errorf("registry show lacks %q:\n%s", want, show)
		}
	}
	// Whatever the rule said, a person can override it and roll it back.
	if !promoted {
		must("model", "registry", "promote", "v2", "--data", data, "--by", "dr.lead", "--reason", "reviewed the rejected beats by hand")
	}
	out = must("model", "registry", "rollback", "--data", data, "--by", "dr.lead", "--reason", "more false V alarms")
	if !strings.Contains(out, "v1 (beatclass-") || !strings.Contains(out, "replacing v2") {
		t.Errorf("rollback output: %s", out)
	}
	log := must("model", "registry", "log", "--data", data)
	if !strings.Contains(log, "rolled_back v1 by dr.lead (was v2): more false V alarms") {
		t.Errorf("registry log:\n%s", log)
	}

	// Drift of the stored ECG against v1's training summary; patients from
	// the FHIR store.
	out = must("model", "drift", "--data", data, "--since", "4h")
	for _, want := range []string{"drift of v1", "from 1 patient leads", "class mix", "features:"} {
		if !strings.Contains(out, want) {
			t.Errorf("drift output lacks %q:\n%s", want, out)
		}
	}
	t.Logf("drift output:\n%s", out)

	// Wrong uses.
	for _, args := range [][]string{
		{"model", "registry", "promote", "v1", "--data", data, "--reason", "no who"},
		{"model", "registry", "rollback", "--data", data, "--by", "x"},
		{"model", "registry", "show", "--data", data},
		{"model", "registry", "show", "v9", "--data", data},
		{"model", "registry", "list"},
		{"model", "retrain", "--ds1", ds1},
		{"model", "drift", "--data", data, "--since", "soon"},
		{"model", "drift", "--data", t.TempDir()},
	} {
		if out, err := run(args...); err == nil {
			t.Errorf("vigil %s succeeded, want an error:\n%s", strings.Join(args, " "), out)
		}
	}
}

// rowFields returns the fields of the table row that starts with first.
func rowFields(table, first string) []string {
	for _, line := range strings.Split(table, "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == first {
			return f
		}
	}
	return nil
}
