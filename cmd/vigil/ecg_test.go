package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/internal/testenv"
)

func TestECGAnnotate(t *testing.T) {
	db := filepath.Join(testenv.SharedData(t), "mitdb-ds1")
	env, out, errb := testEnv()
	// Flags after the record path are accepted too.
	if err := Run(context.Background(), env, []string{"ecg", "annotate", filepath.Join(db, "101"), "--channel", "0"}); err != nil {
		t.Fatalf("vigil ecg annotate: %v\n%s", err, errb)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if lines[0] != "sample,time,label" {
		t.Fatalf("header = %q", lines[0])
	}
	// Record 101 has 1865 beats in 30 minutes.
	if n := len(lines) - 1; n < 1850 || n > 1880 {
		t.Errorf("%d beats, want about 1865", n)
	}
	prev := -1
	for _, l := range lines[1:] {
		f := strings.Split(l, ",")
		if len(f) != 3 || len(f[2]) != 1 || !strings.Contains("NSVFQ", f[2]) {
			t.Fatalf("line %q: want an AAMI class label", l)
		}
		s, err := strconv.Atoi(f[0])
		if err != nil || s <= prev {
			t.Fatalf("line %q: sample not increasing", l)
		}
		sec, err := strconv.ParseFloat(f[1], 64)
		if err != nil || strings.Index(f[1], ".") != len(f[1])-4 || sec < float64(s)/360-0.0005 || sec > float64(s)/360+0.0005 {
			t.Fatalf("line %q: time is not sample/360 with 3 decimals", l)
		}
		prev = s
	}
}

func TestECGAnnotateBadInput(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bad.hea"), []byte("bad 1 360 1000\nbad.dat 212\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bad.dat"), []byte{1, 2, 3}, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		kind error
	}{
		{"missing", []string{"ecg", "annotate", filepath.Join(dir, "nothing")}, vigil.ErrNotFound},
		{"truncated", []string{"ecg", "annotate", filepath.Join(dir, "bad")}, vigil.ErrInvalid},
		{"no record", []string{"ecg", "annotate"}, errUsage},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env, out, _ := testEnv()
			err := Run(context.Background(), env, tc.args)
			if !errors.Is(err, tc.kind) || exitCode(err) == 0 {
				t.Errorf("vigil %v = %v, want %v", tc.args, err, tc.kind)
			}
			if strings.Contains(out.String(), ",") {
				t.Errorf("wrote CSV on bad input: %q", out)
			}
		})
	}
}

func TestECGEval(t *testing.T) {
	data := testenv.SharedData(t)
	env, out, errb := testEnv()
	args := []string{"ecg", "eval", "--db", filepath.Join(data, "mitdb-ds1"), "--records", "100x,101"}
	if err := Run(context.Background(), env, args); err == nil {
		t.Errorf("eval with a missing record: no error")
	}
	env, out, errb = testEnv()
	args = []string{"ecg", "eval", "--db", filepath.Join(data, "mitdb-ds1"), "--records", "101,119",
		"--noise", filepath.Join(data, "nstdb-noise"), "--snr", "6"}
	if err := Run(context.Background(), env, args); err != nil {
		t.Fatalf("vigil ecg eval: %v\n%s", err, errb)
	}
	for _, want := range []string{"101 ", "119 ", "gross", "bw ", "ma ", "Atrial fibrillation"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("eval output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errb.String(), "[2/2] 119") {
		t.Errorf("no progress on stderr: %q", errb)
	}
}
