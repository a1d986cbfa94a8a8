package sqlite_test

import (
	"os"
	"sync"
	"testing"

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
