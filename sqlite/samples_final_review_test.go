package sqlite_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/sqlite"
)

// TestSamplesRandomTwoProcesses sends random batches (many devices, one
// device, runs of a few devices; repeated and FHIR-copied readings) to the
// owner of the sample log, which merges into blocks after every commit that
// logs, and to another process; every copy of a stored reading must be told
// apart, and both read each reading once.
func TestSamplesRandomTwoProcesses(t *testing.T) {
	for seed := range uint64(6) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { randomTwoProcesses(t, seed) })
	}
}

func randomTwoProcesses(t *testing.T, seed uint64) {
	dir, owner, other := twoProcesses(t, sqlite.WithSampleMerge(1+int(seed%3)*20))
	rng := rand.New(rand.NewPCG(seed, 7))
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	type key struct {
		patient, device string
		t               int64
	}
	stored := make(map[key]bool)
	sample := func(p, d, sec int) vigil.Sample {
		src := "http"
		if rng.IntN(4) == 0 {
			src = "fhir"
		}
		at := t0.Add(time.Duration(sec) * time.Second)
		return vigil.Sample{Patient: fmt.Sprintf("p%d", p), Code: "8867-4", Device: fmt.Sprintf("d%d", d), Time: at,
			Value: float64(sec % 200), Unit: "/min", Source: src}
	}
	const patients = 24
	// 40 times over 3 h 20 min: blocks of an hour at most, many repeats.
	at := func() int { return rng.IntN(40) * 300 }
	for round := range 200 {
		var batch []vigil.Sample
		switch rng.IntN(3) {
		case 0: // many devices, a reading each
			for p := range patients {
				batch = append(batch, sample(p, rng.IntN(2), at()))
			}
		case 1: // one device
			p, d := rng.IntN(patients), rng.IntN(2)
			for range 1 + rng.IntN(5) {
				batch = append(batch, sample(p, d, at()))
			}
		case 2: // runs of a few devices each
			for p := range 20 {
				sec := at()
				for k := range 5 {
					batch = append(batch, sample(p, 0, sec+k))
				}
			}
		}
		s, name := owner, "owner"
		if rng.IntN(4) == 0 {
			s, name = other, "other"
		}
		got, err := s.AppendSamples(t.Context(), batch)
		if err != nil {
			t.Fatalf("round %d (%s): %v", round, name, err)
		}
		inBatch := make(map[key]bool)
		for i, x := range batch {
			k := key{x.Patient, x.Device, x.Time.UnixMilli()}
			want := !stored[k] && !inBatch[k]
			inBatch[k] = true
			if got[i] != want {
				t.Fatalf("round %d (%s): sample %d (%s %s at %d s) stored = %v, want %v", round, name, i, x.Patient, x.Device, x.Time.Unix()-t0.Unix(), got[i], want)
			}
		}
		for k := range inBatch {
			stored[k] = true
		}
	}
	for name, s := range map[string]*sqlite.Samples{"owner": owner, "other": other} {
		for p := range patients {
			got, err := s.QuerySamples(t.Context(), &vigil.SampleQuery{Patient: fmt.Sprintf("p%d", p)})
			if err != nil {
				t.Fatal(err)
			}
			want := 0
			for k := range stored {
				if k.patient == fmt.Sprintf("p%d", p) {
					want++
				}
			}
			if len(got) != want {
				t.Errorf("%s reads p%d: %d samples, want %d", name, p, len(got), want)
			}
		}
	}
	if table, log := logRows(t, dir); table+log != len(stored) {
		t.Errorf("%d samples stored and %d logged, want %d in all", table, log, len(stored))
	}
}
