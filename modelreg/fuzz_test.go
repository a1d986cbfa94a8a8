package modelreg

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// FuzzEvents feeds arbitrary bytes as the event log: reading never panics,
// and a log that reads is replayed into a consistent state.
func FuzzEvents(f *testing.F) {
	f.Add([]byte(""))
	f.Add([]byte(`{"seq":1,"at":"2026-11-01T09:00:00Z","kind":"registered","version":"v1","by":"a","chain":""}` + "\n"))
	f.Add([]byte(`{"seq":1,"at":"2026-11-01T09:00:00Z","kind":"promoted","version":"v1","by":"a","chain":""}` + "\n" +
		`{"seq":2,"at":"2026-11-01T09:00:00Z","kind":"rolled_back","version":"v0","by":"a","chain":"x"}` + "\n"))
	f.Add([]byte("{\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, eventsFile), b, 0o640); err != nil {
			t.Fatal(err)
		}
		r, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		evs, err := r.Events(context.Background())
		if err != nil {
			return
		}
		s := replay(evs)
		if a := s.active(); a != "" && s.status(a) != StatusActive {
			t.Errorf("active %s has status %s", a, s.status(a))
		}
	})
}
