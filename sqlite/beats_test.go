package sqlite_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/sqlite"
	"github.com/vigilhealth/vigil/storetest"
)

func TestBeats(t *testing.T) {
	d := &sampleDirs{dirs: map[*testing.T]string{}}
	storetest.TestBeats(t, func(t *testing.T) storetest.BeatStores { return d.open(t) })
}

// BenchmarkBeatsDiskSize stores 24 hours of one lead's beats at 75/min
// (108,000 beats, 10 % V), in batches of 2 seconds as the monitor writes
// them, and reports the size of samples.db per beat after Close.
func BenchmarkBeatsDiskSize(b *testing.B) {
	base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var perBeat float64
	for b.Loop() {
		dir := b.TempDir()
		s, err := sqlite.OpenSamples(b.Context(), dir, sqlite.WithSynchronous(sqlite.SyncNormal))
		if err != nil {
			b.Fatal(err)
		}
		const n = 108_000
		batch := make([]vigil.Beat, 0, 3)
		at := base
		for i := range n {
			rr := 800*time.Millisecond + time.Duration(i%7)*time.Millisecond
			c := "N"
			if i%10 == 9 {
				c, rr = "V", 450*time.Millisecond
			}
			at = at.Add(rr)
			batch = append(batch, vigil.Beat{Patient: "0193a3c0-7f6e-7c1a-9b2d-000000000001", Device: "patch-1", Code: "131330",
				Time: at, Class: c, RR: rr, Model: "beatclass-0123456789ab"})
			if len(batch) == cap(batch) || i == n-1 {
				if err := s.AppendBeats(b.Context(), batch); err != nil {
					b.Fatal(err)
				}
				batch = batch[:0]
			}
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		st, err := os.Stat(filepath.Join(dir, sqlite.SamplesFileName))
		if err != nil {
			b.Fatal(err)
		}
		perBeat = float64(st.Size()) / n
	}
	b.ReportMetric(perBeat, "disk-bytes/beat")
}
