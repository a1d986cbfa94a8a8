package monitor

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/alert"
	"github.com/vigilhealth/vigil/sqlite"
)

// TestStateBuiltOutsideLock checks how patient states are built on first
// sight: a patient whose state is being built (its programme lookup held
// back here) does not hold up another patient of the same shard; a second
// reading of the patient waits for that build instead of starting its
// own; and a state built while the patient was forgotten (a programme
// change) serves the reading that built it but is not kept.
func TestStateBuiltOutsideLock(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	samples, err := sqlite.OpenSamples(ctx, dir, sqlite.WithSynchronous(sqlite.SyncNormal))
	if err != nil {
		t.Fatal(err)
	}
	defer samples.Close()
	as, err := sqlite.OpenAlerts(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer as.Close()
	now := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	eng, err := alert.New(alert.Config{Store: as, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	var builds atomic.Int32
	entered := make(chan string, 4)
	release := make(chan struct{})
	var m *Monitor
	m, err = New(Config{Samples: samples, Alerts: eng, Now: func() time.Time { return now },
		ProgrammeFor: func(ctx context.Context, patient string) (Programme, error) {
			if patient == "slow" {
				builds.Add(1)
				entered <- patient
				<-release
			}
			return DefaultProgramme(), nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	// Another patient in the slow patient's shard.
	other := ""
	for i := 0; other == ""; i++ {
		if id := fmt.Sprintf("p%d", i); m.shardOf(id) == m.shardOf("slow") {
			other = id
		}
	}
	reading := func(p string, sec int) []vigil.Sample {
		return []vigil.Sample{{Patient: p, Code: "8867-4", Device: "d", Time: now.Add(time.Duration(sec) * time.Second), Value: 70, Unit: "/min", Source: "http"}}
	}

	var wg sync.WaitGroup
	wg.Go(func() { m.Observe(ctx, reading("slow", 1)) })
	<-entered
	wg.Go(func() { m.Observe(ctx, reading("slow", 2)) }) // waits for the first build
	// The other patient of the shard is analysed while "slow" is built.
	done := make(chan struct{})
	go func() { m.Observe(ctx, reading(other, 1)); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a patient of the same shard waited for another patient's state to be built")
	}
	m.Forget("slow") // during the build: that state is not kept
	close(release)
	wg.Wait()
	// The second reading waited, then built a state of its own (the first
	// was forgotten); exactly two builds so far.
	if n := builds.Load(); n != 2 {
		t.Errorf("%d builds of the patient's state, want 2 (the forgotten one and the waiter's)", n)
	}
	sh := m.shardOf("slow")
	sh.mu.Lock()
	p, loading := sh.patients["slow"], len(sh.loading)
	sh.mu.Unlock()
	if p == nil || loading != 0 {
		t.Errorf("after the builds: state kept %v, %d builds pending; want a state, none pending", p != nil, loading)
	}
	// A later reading uses the kept state.
	m.Observe(ctx, reading("slow", 3))
	if n := builds.Load(); n != 2 {
		t.Errorf("%d builds after a reading of a known patient, want 2", n)
	}
}
