package sqlite_test

import (
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
