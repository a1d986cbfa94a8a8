package postgres_test

import (
	"sync"
	"testing"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/internal/testenv"
	"github.com/vigilhealth/vigil/postgres"
	"github.com/vigilhealth/vigil/storetest"
)

// sampleSchemas keeps one schema per test, so that the conformance suites'
// Reopen rules get the same storage back from a second open.
type sampleSchemas struct {
	mu   sync.Mutex
	urls map[*testing.T]string
}

// open opens the test's sample store (closed when the test ends).
func (d *sampleSchemas) open(t *testing.T) *postgres.Samples {
	t.Helper()
	d.mu.Lock()
	url, ok := d.urls[t]
	d.mu.Unlock()
	if !ok {
		url = testenv.Postgres(t)
		d.mu.Lock()
		d.urls[t] = url
		d.mu.Unlock()
	}
	return openSamples(t, url)
}

// openSamples opens the sample store at url, closed when t ends.
func openSamples(t testing.TB, url string) *postgres.Samples {
	t.Helper()
	s, err := postgres.OpenSamples(t.Context(), url)
	if err != nil {
		t.Fatalf("OpenSamples = %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close() = %v", err)
		}
	})
	return s
}

func TestSamples(t *testing.T) {
	d := &sampleSchemas{urls: map[*testing.T]string{}}
	storetest.TestSamples(t, func(t *testing.T) vigil.SampleStore { return d.open(t) })
}

// BenchmarkSamples runs the shared sample benchmarks on PostgreSQL, each
// run in a fresh schema.
func BenchmarkSamples(b *testing.B) {
	storetest.BenchSamples(b, func(b *testing.B) vigil.SampleStore { return openSamples(b, testenv.Postgres(b)) })
}
