package records_test

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/internal/testenv"
	"github.com/vigilhealth/vigil/postgres"
	"github.com/vigilhealth/vigil/records"
)

// BenchmarkSampleSearchDay searches one patient's last 24 h of heart rate
// at 1 Hz (86,400 samples, a few stored Observations beside them) for one
// page of 100, on SQLite and PostgreSQL.
func BenchmarkSampleSearchDay(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) { benchSearchDay(b, openSQLiteFixture(b)) })
	b.Run("postgres", func(b *testing.B) {
		ctx := context.Background()
		u := testenv.Postgres(b)
		db, err := postgres.Open(ctx, u)
		if err != nil {
			b.Fatal(err)
		}
		smp, err := postgres.OpenSamples(ctx, u)
		if err != nil {
			db.Close()
			b.Fatal(err)
		}
		benchSearchDay(b, newSampleFixture(b, db, smp))
	})
}

func benchSearchDay(b *testing.B, f *sampleFixture) {
	ctx := context.Background()
	f.putPatient(b, "p1")
	end := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	start := end.Add(-24 * time.Hour)
	batch := make([]vigil.Sample, 0, 10_000)
	for i := range 86_400 {
		at := start.Add(time.Duration(i) * time.Second)
		batch = append(batch, vigil.Sample{Patient: "p1", Device: "watch1", Code: codeHR, Time: at, Value: float64(60 + i%40), Unit: "/min", Received: at.Add(time.Second), Source: "http"})
		if len(batch) == cap(batch) || i == 86_399 {
			f.appendSamples(b, batch)
			batch = batch[:0]
		}
	}
	stored := readings("p1")[:4]
	for i := range stored {
		stored[i].Time = start.Add(time.Duration(i) * time.Hour).Add(500 * time.Millisecond)
	}
	f.storeAsFHIR(b, stored)
	for _, bc := range []struct{ name, query string }{
		{"newest", "subject=Patient/p1&code=http://loinc.org|8867-4&date=ge2026-03-01T00:00:00Z&_count=100&_sort=-date"},
		{"oldest", "subject=Patient/p1&code=8867-4&date=ge2026-03-01T00:00:00Z&_count=100&_sort=date"},
		{"total", "subject=Patient/p1&code=8867-4&date=ge2026-03-01T00:00:00Z&_count=100&_sort=-date&_total=accurate"},
	} {
		q, err := url.ParseQuery(bc.query)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			var n int
			for b.Loop() {
				page, err := f.svc.Search(ctx, &records.SearchRequest{Type: "Observation", Query: q, Base: "http://x/fhir"})
				if err != nil {
					b.Fatal(err)
				}
				if len(page.Matches) != 100 {
					b.Fatalf("%d matches, want 100", len(page.Matches))
				}
				n = len(page.Bundle)
			}
			b.SetBytes(int64(n))
		})
	}
}
