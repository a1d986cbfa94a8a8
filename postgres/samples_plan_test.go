package postgres

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/internal/testenv"
)

// TestSamplesQueryPlan checks the plan of QuerySamples' statement, as a
// generic plan (what a prepared statement gets): both time bounds must be
// index conditions on the sample key, and the partitions outside them must
// be pruned, whichever bounds are open.
func TestSamplesQueryPlan(t *testing.T) {
	s, err := OpenSamples(t.Context(), testenv.Postgres(t))
	if err != nil {
		t.Fatalf("OpenSamples = %v", err)
	}
	defer s.Close()
	ctx := t.Context()
	var batch []vigil.Sample
	for m := range 3 { // three months: three partitions
		for i := range 200 {
			batch = append(batch, vigil.Sample{Patient: "p", Code: "8867-4", Device: "d", Value: 60, Unit: "/min",
				Time: time.Date(2026, time.Month(1+m), 1, 0, i, 0, 0, time.UTC)})
		}
	}
	if _, err := s.AppendSamples(ctx, batch); err != nil {
		t.Fatal(err)
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	for _, q := range []string{"ANALYZE sample", "SET plan_cache_mode = force_generic_plan",
		"PREPARE q(bigint[], timestamptz, timestamptz, int) AS " + querySamplesSQL} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	defer conn.Exec(context.WithoutCancel(ctx), "DEALLOCATE q; RESET plan_cache_mode")
	rows, err := conn.Query(ctx, `EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
		EXECUTE q('{1}', '2026-02-01T00:10:00Z', '2026-02-01T00:20:00Z', 100000)`)
	if err != nil {
		t.Fatal(err)
	}
	var plan []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, line)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	text := strings.Join(plan, "\n")
	for _, want := range []string{"Subplans Removed: 2", "(t >= $2)", "(t < $3)", "Index Cond"} {
		if !strings.Contains(text, want) {
			t.Errorf("plan of QuerySamples lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "Filter") {
		t.Errorf("plan of QuerySamples filters rows instead of bounding the index scan:\n%s", text)
	}
}
