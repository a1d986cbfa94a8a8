package postgres_test

import (
	"sync"
	"testing"

	"github.com/vigilhealth/vigil/internal/testenv"
	"github.com/vigilhealth/vigil/postgres"
	"github.com/vigilhealth/vigil/storetest"
)

// beatSchemas keeps one schema per test (the suite's Reopen rule).
type beatSchemas struct {
	mu   sync.Mutex
	urls map[*testing.T]string
}

func (d *beatSchemas) open(t *testing.T) storetest.BeatStores {
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

func TestBeats(t *testing.T) {
	d := &beatSchemas{urls: map[*testing.T]string{}}
	storetest.TestBeats(t, d.open)
}
