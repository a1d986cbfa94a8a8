package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigilhealth/vigil/internal/testenv"
)

// TestModelTrainEvalCV trains on four DS1 records with "vigil model
// train", evaluates the file on two others with "vigil model eval", and runs
// a 2-fold "vigil model cv" with patient adaptation.
func TestModelTrainEvalCV(t *testing.T) {
	ds1 := filepath.Join(testenv.SharedData(t), "mitdb-ds1")
	if _, err := os.Stat(ds1); err != nil {
		t.Skipf("MIT-BIH DS1 not found: %v", err)
	}
	model := filepath.Join(t.TempDir(), "beats.vgml")
	run := func(args ...string) string {
		t.Helper()
		env, out, errb := testEnv()
		if err := Run(context.Background(), env, args); err != nil {
			t.Fatalf("vigil %s: %v\n%s", strings.Join(args, " "), err, errb)
		}
		return out.String()
	}
	out := run("model", "train", "--task", "ecg-beats", "--data", ds1, "--records", "106,118,119,220", "--out", model, "--seed", "3")
	if !strings.Contains(out, "wrote "+model) {
		t.Errorf("train output: %q", out)
	}
	first, err := os.ReadFile(model)
	if err != nil {
		t.Fatal(err)
	}
	run("model", "train", "--data", ds1, "--records", "106,118,119,220", "--out", model, "--seed", "3", "--quiet")
	second, err := os.ReadFile(model)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, second) {
		t.Errorf("two trainings with seed 3 wrote different files")
	}
	out = run("model", "eval", "--model", model, "--data", ds1, "--records", "208,223")
	for _, want := range []string{"ref\\pred", "Se%", "+P%", "accuracy"} {
		if !strings.Contains(out, want) {
			t.Errorf("eval output lacks %q:\n%s", want, out)
		}
	}
	out = run("model", "eval", "--model", model, "--data", ds1, "--records", "208,223", "--positions", "detector")
	for _, want := range []string{"at detector positions", "missed", "no ref", "matched beats"} {
		if !strings.Contains(out, want) {
			t.Errorf("eval --positions detector output lacks %q:\n%s", want, out)
		}
	}
	out = run("model", "info", "--model", model)
	for _, want := range []string{"records: 106,118,119,220", "positions: detector"} {
		if !strings.Contains(out, want) {
			t.Errorf("info output lacks %q: %q", want, out)
		}
	}
	out = run("model", "cv", "--data", ds1, "--records", "118,119,208,220", "--folds", "2", "--adapt-minutes", "5")
	if !strings.Contains(out, "2-fold") || !strings.Contains(out, "patient-adapted") {
		t.Errorf("cv output:\n%s", out)
	}
	out = run("model", "cv", "--data", ds1, "--records", "118,119,208,220", "--folds", "2", "--positions", "detector", "--train-positions", "reference")
	if !strings.Contains(out, "trained at reference positions, scored at detector positions") || !strings.Contains(out, "no ref") {
		t.Errorf("cv --positions detector --train-positions reference output:\n%s", out)
	}
}

func TestModelUsage(t *testing.T) {
	tests := [][]string{
		{"model"},
		{"model", "frobnicate"},
		{"model", "train", "--data", "x"},
		{"model", "train", "--task", "glucose", "--data", "x", "--out", "y"},
		{"model", "eval"},
		{"model", "eval", "--model", "/nonexistent/model.vgml", "--data", "."},
		{"model", "info", "--model", "model_test.go"},
		{"model", "train", "--data", "x", "--out", "y", "--positions", "annotated"},
		{"model", "cv", "--data", "x", "--train-positions", "detected"},
	}
	for _, args := range tests {
		env, _, _ := testEnv()
		if err := Run(context.Background(), env, args); err == nil {
			t.Errorf("vigil %s succeeded, want an error", strings.Join(args, " "))
		}
	}
	env, out, _ := testEnv()
	if err := Run(context.Background(), env, []string{"model", "info"}); err != nil || !strings.Contains(out.String(), "beatclass-") {
		t.Errorf("vigil model info (default model): %v, %q", err, out)
	}
}
