package sqlite_test

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/sqlite"
	"github.com/vigilhealth/vigil/storetest"
)

// sampleDirs keeps one directory per test, so that the conformance suites'
// Reopen rules get the same storage back from a second open.
type sampleDirs struct {
	mu   sync.Mutex
	dirs map[*testing.T]string
	opts []sqlite.Option
}

// open opens the test's sample store (closed when the test ends).
func (d *sampleDirs) open(t *testing.T) *sqlite.Samples {
	t.Helper()
	d.mu.Lock()
	dir, ok := d.dirs[t]
	if !ok {
		dir = t.TempDir()
		d.dirs[t] = dir
	}
	d.mu.Unlock()
	s, err := sqlite.OpenSamples(t.Context(), dir, d.opts...)
	if err != nil {
		t.Fatalf("OpenSamples(%s) = %v", dir, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close() = %v", err)
		}
	})
	return s
}

func TestSamples(t *testing.T) {
	d := &sampleDirs{dirs: map[*testing.T]string{}}
	storetest.TestSamples(t, func(t *testing.T) vigil.SampleStore { return d.open(t) })
}

// BenchmarkSamples runs the shared sample benchmarks. VIGIL_SAMPLE_SYNC=NORMAL
// runs them with SyncNormal (no fsync per commit) to show the CPU cost
// apart from the disk's.
func BenchmarkSamples(b *testing.B) {
	var opts []sqlite.Option
	if os.Getenv("VIGIL_SAMPLE_SYNC") == "NORMAL" {
		opts = append(opts, sqlite.WithSynchronous(sqlite.SyncNormal))
	}
	storetest.BenchSamples(b, func(b *testing.B) vigil.SampleStore {
		s, err := sqlite.OpenSamples(b.Context(), b.TempDir(), opts...)
		if err != nil {
			b.Fatalf("OpenSamples = %v", err)
		}
		b.Cleanup(func() { s.Close() })
		return s
	})
}

// BenchmarkSamplesDiskSize stores 1,000,000 samples (250 patients with UUID
// ids, 4 codes, one device each, 1000 readings per series a minute apart,
// received 1.5 s later) and reports the size of samples.db per sample after
// Close. Each iteration starts from an empty store.
func BenchmarkSamplesDiskSize(b *testing.B) {
	const patients, perSeries = 250, 1000
	codes := []string{"8867-4", "2708-6", "9279-1", "8310-5"}
	base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var perSample float64
	for b.Loop() {
		dir := b.TempDir()
		s, err := sqlite.OpenSamples(b.Context(), dir, sqlite.WithSynchronous(sqlite.SyncNormal))
		if err != nil {
			b.Fatal(err)
		}
		batch := make([]vigil.Sample, 0, 1000)
		n := 0
		for p := range patients {
			patient := fmt.Sprintf("0193a3c0-7f6e-7c1a-9b2d-%012d", p)
			for m := range perSeries {
				at := base.Add(time.Duration(m) * time.Minute)
				for c, code := range codes {
					batch = append(batch, vigil.Sample{Patient: patient, Device: "dev-" + patient[24:], Code: code, Time: at,
						Value: float64(60+(m+c)%40) + 0.5*float64(c%2), Unit: "/min", Received: at.Add(1500 * time.Millisecond), Source: "http"})
				}
				if len(batch) == cap(batch) {
					if _, err := s.AppendSamples(b.Context(), batch); err != nil {
						b.Fatal(err)
					}
					n += len(batch)
					batch = batch[:0]
				}
			}
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		st, err := os.Stat(filepath.Join(dir, sqlite.SamplesFileName))
		if err != nil {
			b.Fatal(err)
		}
		perSample = float64(st.Size()) / float64(n)
	}
	b.ReportMetric(perSample, "disk-bytes/sample")
}

// TestSamplesFailedBatchAlone checks that a batch whose insert fails
// inside the shared transaction fails alone (the writer rolls the group
// back and commits the other batches on their own), for batches of new
// samples and for batches whose series have later samples stored already
// (looked up before they are inserted), and for batches of a few series
// (written in a savepoint each). A trigger added to samples.db from
// outside makes inserting the value 666 fail.
func TestSamplesFailedBatchAlone(t *testing.T) {
	for _, tc := range []struct {
		name   string
		shared bool // the batches write the same series, in any order
		series int  // series per batch (few: the savepoint path)
	}{{"new samples", false, 50}, {"late samples", true, 50}, {"few series", false, 4}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := sqlite.OpenSamples(t.Context(), dir)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			db, err := sql.Open("sqlite", filepath.Join(dir, sqlite.SamplesFileName))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			for _, table := range []string{"sample", "sample_log"} {
				if _, err := db.Exec(`CREATE TRIGGER refuse_666_` + table + ` BEFORE INSERT ON ` + table + ` WHEN NEW.value = 666
					BEGIN SELECT RAISE(ABORT, 'value 666 refused'); END`); err != nil {
					t.Fatal(err)
				}
			}
			t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			const batches, perBatch, bad = 24, 300, 7
			if tc.shared {
				// Later samples of every series first: each batch is then late.
				late := make([]vigil.Sample, 50)
				for i := range late {
					late[i] = vigil.Sample{Patient: fmt.Sprintf("p%d", i), Code: "8867-4", Device: "d",
						Time: t0.Add(100 * time.Hour), Value: 70, Unit: "/min", Source: "test"}
				}
				if _, err := s.AppendSamples(t.Context(), late); err != nil {
					t.Fatal(err)
				}
			}
			errs := make([]error, batches)
			var wg sync.WaitGroup
			for b := range batches {
				wg.Go(func() {
					batch := make([]vigil.Sample, perBatch)
					for i := range batch {
						patient := fmt.Sprintf("p%d", i%tc.series)
						if !tc.shared {
							patient = fmt.Sprintf("p%d-%d", b, i%tc.series)
						}
						batch[i] = vigil.Sample{Patient: patient, Code: "8867-4", Device: "d",
							Time: t0.Add(time.Duration(b*perBatch+i) * time.Second), Value: 70, Unit: "/min", Source: "test"}
					}
					if b == bad {
						batch[perBatch-1].Value = 666 // the last row: the batch's other rows went in first
					}
					stored, err := s.AppendSamples(t.Context(), batch)
					if err == nil && len(stored) != perBatch {
						err = fmt.Errorf("%d results for %d samples", len(stored), perBatch)
					}
					for i, ok := range stored {
						if !ok && err == nil {
							err = fmt.Errorf("sample %d reported duplicate", i)
						}
					}
					errs[b] = err
				})
			}
			wg.Wait()
			for b, err := range errs {
				if b == bad {
					if err == nil || !strings.Contains(err.Error(), "666 refused") {
						t.Errorf("batch %d (bad) = %v, want the trigger's error", b, err)
					}
					continue
				}
				if err != nil {
					t.Errorf("batch %d = %v, want stored", b, err)
				}
			}
			var n int
			if err := db.QueryRow("SELECT count(*) FROM (SELECT t, value FROM sample UNION ALL SELECT t, value FROM sample_log) WHERE value = 70 AND t < ?",
				t0.Add(100*time.Hour).UnixMilli()).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if want := (batches - 1) * perBatch; n != want {
				t.Errorf("%d samples stored, want %d (every batch but the bad one, whole)", n, want)
			}
		})
	}
}

// TestSamplesManySeriesDuplicates checks the savepoint-free path (batches
// of more than 16 series) tells stored, late-but-new, repeated and FHIR
// copies apart.
func TestSamplesManySeriesDuplicates(t *testing.T) {
	s, err := sqlite.OpenSamples(t.Context(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(p, sec int, src string) vigil.Sample {
		return vigil.Sample{Patient: fmt.Sprintf("p%d", p), Code: "8867-4", Device: "d", Time: t0.Add(time.Duration(sec) * time.Second),
			Value: float64(60 + sec), Unit: "/min", Source: src}
	}
	const n = 40
	var first []vigil.Sample
	for p := range n {
		first = append(first, at(p, 10, "http"))
	}
	check := func(name string, batch []vigil.Sample, want []bool) {
		t.Helper()
		got, err := s.AppendSamples(t.Context(), batch)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("%s: stored %v, want %v", name, got, want)
		}
	}
	all := func(v bool, k int) []bool {
		b := make([]bool, k)
		for i := range b {
			b[i] = v
		}
		return b
	}
	check("first", first, all(true, n))
	check("again", first, all(false, n))
	// Each series: its stored reading again, a late new one, that late one
	// repeated, and a FHIR copy of the stored one.
	var mixed []vigil.Sample
	var want []bool
	for p := range n {
		mixed = append(mixed, at(p, 10, "http"), at(p, 5, "http"), at(p, 5, "http"), at(p, 10, "fhir"))
		want = append(want, false, true, false, false)
	}
	check("mixed", mixed, want)
	got, err := s.QuerySamples(t.Context(), &vigil.SampleQuery{Patient: "p7"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !got[0].Time.Equal(t0.Add(5*time.Second)) || got[1].Source != "fhir" || got[1].Value != 70 {
		t.Errorf("p7's samples = %+v, want the late one (5 s) and the first one (10 s, value 70) now the FHIR copy's", got)
	}
}
