package sqlite_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/sqlite"
)

// crashChildEnv makes the test binary act as the appender that
// TestSamplesSurviveKill kills.
const crashChildEnv = "VIGIL_SAMPLES_CRASH_CHILD_DIR"

// crashSpreadEnv makes the child append batches of many devices (which go
// to the sample log) instead of one patient's.
const crashSpreadEnv = "VIGIL_SAMPLES_CRASH_SPREAD"

// crashBatch returns batch n of the crash test: 50 samples of one patient,
// or with spread one sample of each of 50 patients.
func crashBatch(n int, spread bool) []vigil.Sample {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	out := make([]vigil.Sample, 50)
	for i := range out {
		out[i] = vigil.Sample{Patient: "p" + strconv.Itoa(n%7), Device: "d", Code: "8867-4",
			Time: base.Add(time.Duration(n*50+i) * time.Second), Value: float64(i), Unit: "/min", Source: "http"}
		if spread {
			out[i].Patient, out[i].Time = "p"+strconv.Itoa(i), base.Add(time.Duration(n)*time.Second)
		}
	}
	return out
}

// TestSamplesCrashChild is the child side: it appends batches from 4
// goroutines until killed, printing the number of each acknowledged batch.
func TestSamplesCrashChild(t *testing.T) {
	dir := os.Getenv(crashChildEnv)
	if dir == "" {
		t.Skip("runs only as the child of TestSamplesSurviveKill")
	}
	s, err := sqlite.OpenSamples(context.Background(), dir)
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(2)
	}
	acks := make(chan int)
	for g := range 4 {
		go func() {
			for n := g; ; n += 4 {
				if _, err := s.AppendSamples(context.Background(), crashBatch(n, os.Getenv(crashSpreadEnv) != "")); err != nil {
					fmt.Println("append:", err)
					os.Exit(2)
				}
				acks <- n
			}
		}()
	}
	w := bufio.NewWriter(os.Stdout)
	for n := range acks {
		fmt.Fprintln(w, n)
		w.Flush()
	}
}

// TestSamplesSurviveKill kills an appending process with SIGKILL and checks
// that every batch it had acknowledged is stored, complete, after reopening
// (batches of one patient, and of many devices: those are in the sample
// log, which the reopening merges).
func TestSamplesSurviveKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	for _, spread := range []bool{false, true} {
		t.Run(map[bool]string{false: "one patient", true: "many devices"}[spread], func(t *testing.T) { surviveKill(t, spread) })
	}
}

func surviveKill(t *testing.T, spread bool) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestSamplesCrashChild$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
	if spread {
		cmd.Env = append(cmd.Env, crashSpreadEnv+"=1")
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var acked []int
	sc := bufio.NewScanner(out)
	for sc.Scan() && len(acked) < 200 {
		n, err := strconv.Atoi(sc.Text())
		if err != nil {
			cmd.Process.Kill()
			t.Fatalf("child said %q", sc.Text())
		}
		acked = append(acked, n)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if len(acked) < 200 {
		t.Fatalf("child acknowledged %d batches before it stopped, want 200", len(acked))
	}
	if _, log := logRows(t, dir); spread && log == 0 {
		t.Fatal("the killed process left nothing in the sample log: the test does not test the log")
	}
	s, err := sqlite.OpenSamples(t.Context(), dir)
	if err != nil {
		t.Fatalf("OpenSamples after kill = %v", err)
	}
	defer s.Close()
	for _, n := range acked {
		b := crashBatch(n, spread)
		stored, err := s.AppendSamples(t.Context(), b)
		if err != nil {
			t.Fatalf("AppendSamples(batch %d) after kill = %v", n, err)
		}
		for i, ok := range stored {
			if ok {
				t.Fatalf("batch %d was acknowledged before the kill, but its sample %d was not stored", n, i)
			}
		}
	}
	t.Logf("%d acknowledged batches all present after SIGKILL", len(acked))
}
