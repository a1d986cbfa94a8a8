package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/internal/testenv"
)

// BenchmarkSampleInsertPath compares ways of sending a group of 1000 new
// samples to the partitioned sample table on one connection: arrays
// through unnest (what Samples does), and COPY into a temporary staging
// table followed by INSERT … SELECT, each as a plain INSERT and with ON
// CONFLICT DO NOTHING RETURNING. It reports samples/s.
func BenchmarkSampleInsertPath(b *testing.B) {
	url := testenv.Postgres(b)
	st := openSamples(b, url) // applies the migrations
	ctx := b.Context()
	base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	// One sample makes the month's partition; its series is id 1.
	if _, err := st.AppendSamples(ctx, []vigil.Sample{{Patient: "p", Code: "8867-4", Time: base, Value: 1, Unit: "/min"}}); err != nil {
		b.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, `CREATE TEMP TABLE sample_stage (LIKE sample) ON COMMIT DELETE ROWS`); err != nil {
		b.Fatal(err)
	}
	const size = 1000
	next := int64(0)
	// batch returns the columns of size new samples: series 2.., one second apart.
	batch := func() ([]int64, []time.Time, []float64, []string, []time.Time, []string) {
		n := next
		next++
		series := make([]int64, size)
		ts := make([]time.Time, size)
		values := make([]float64, size)
		units := make([]string, size)
		received := make([]time.Time, size)
		sources := make([]string, size)
		for i := range size {
			series[i] = 2 + n%500
			ts[i] = base.Add(time.Duration(n/500*size+int64(i)) * time.Second)
			values[i], units[i], received[i], sources[i] = float64(60+i%40), "/min", ts[i].Add(time.Second), "http"
		}
		return series, ts, values, units, received, sources
	}
	const unnest = `INSERT INTO sample (series, t, value, unit, received, source)
SELECT * FROM unnest($1::bigint[], $2::timestamptz[], $3::float8[], $4::text[], $5::timestamptz[], $6::text[])`
	paths := []struct {
		name string
		run  func() error
	}{
		{"unnest", func() error {
			s, t, v, u, r, src := batch()
			_, err := conn.Exec(ctx, unnest, s, t, v, u, r, src)
			return err
		}},
		{"unnest-on-conflict-returning", func() error {
			s, t, v, u, r, src := batch()
			rows, err := conn.Query(ctx, unnest+` ON CONFLICT DO NOTHING RETURNING series, t`, s, t, v, u, r, src)
			if err != nil {
				return err
			}
			n := 0
			for rows.Next() {
				n++
			}
			rows.Close()
			if n != size {
				return fmt.Errorf("%d rows inserted, want %d", n, size)
			}
			return rows.Err()
		}},
		{"copy-stage", func() error { return copyStage(ctx, conn, batch, "") }},
		{"copy-stage-on-conflict-returning", func() error {
			return copyStage(ctx, conn, batch, " ON CONFLICT DO NOTHING RETURNING series, t")
		}},
	}
	for _, p := range paths {
		b.Run(p.name, func(b *testing.B) {
			b.ReportAllocs()
			start := time.Now()
			n := 0
			for b.Loop() {
				if err := p.run(); err != nil {
					b.Fatal(err)
				}
				n += size
			}
			b.ReportMetric(float64(n)/time.Since(start).Seconds(), "samples/s")
		})
	}
}

// copyStage sends a batch with COPY into the staging table and moves it
// into sample in the same transaction.
func copyStage(ctx context.Context, conn *pgx.Conn, batch func() ([]int64, []time.Time, []float64, []string, []time.Time, []string), suffix string) error {
	s, t, v, u, r, src := batch()
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"sample_stage"}, []string{"series", "t", "value", "unit", "received", "source"},
			pgx.CopyFromSlice(len(s), func(i int) ([]any, error) { return []any{s[i], t[i], v[i], u[i], r[i], src[i]}, nil }))
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `INSERT INTO sample SELECT * FROM sample_stage`+suffix)
		if err != nil {
			return err
		}
		for rows.Next() {
		}
		rows.Close()
		return rows.Err()
	})
}
