package sqlite_test

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/sqlite"
	"github.com/vigilhealth/vigil/storetest"
)

// sampleDirs keeps one directory per test, so that the conformance suite's
// Reopen rule gets the same storage back from a second open.
type sampleDirs struct {
	mu   sync.Mutex
	dirs map[*testing.T]string
}

func (d *sampleDirs) open(t *testing.T) vigil.SampleStore {
	t.Helper()
	d.mu.Lock()
	dir, ok := d.dirs[t]
	if !ok {
		dir = t.TempDir()
		d.dirs[t] = dir
	}
	d.mu.Unlock()
	s, err := sqlite.OpenSamples(t.Context(), dir)
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
	storetest.TestSamples(t, d.open)
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
