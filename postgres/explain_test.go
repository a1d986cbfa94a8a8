package postgres

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/vigilhealth/vigil"
)

// TestExplainLarge loads VIGIL_EXPLAIN_ROWS Observations (1,000 patients,
// 20 codes, dates over two years, as storetest's benchmark) into the schema
// VIGIL_EXPLAIN_SCHEMA (default vigil_explain, kept for reuse; drop it by
// hand) and logs EXPLAIN ANALYZE of the typical chart search. It is a
// tool for checking query plans, skipped unless VIGIL_EXPLAIN_ROWS is set.
func TestExplainLarge(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("VIGIL_EXPLAIN_ROWS"))
	if n <= 0 {
		t.Skip("set VIGIL_EXPLAIN_ROWS (e.g. 1000000) to load that many Observations and explain the chart search")
	}
	base := os.Getenv("VIGIL_TEST_POSTGRES")
	if base == "" {
		base = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	schema := os.Getenv("VIGIL_EXPLAIN_SCHEMA")
	if schema == "" {
		schema = "vigil_explain"
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Skipf("PostgreSQL not reachable: %v", err)
	}
	if _, err := conn.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+schema); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	db, err := Open(ctx, base+sep+"search_path="+schema)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var have int
	if err := db.pool.QueryRow(ctx, "SELECT count(*) FROM resources").Scan(&have); err != nil {
		t.Fatal(err)
	}
	if have < n {
		start := time.Now()
		var wg sync.WaitGroup
		next := make(chan int)
		for range 4 {
			wg.Go(func() {
				for lo := range next {
					err := db.Write(ctx, func(ctx context.Context, tx vigil.ResourceTx) error {
						for i := lo; i < min(lo+1000, n); i++ {
							r, idx := benchObservation(int64(i))
							if err := tx.Put(ctx, r, idx); err != nil {
								return err
							}
						}
						return nil
					})
					if err != nil {
						t.Error(err)
					}
				}
			})
		}
		for lo := have; lo < n; lo += 1000 {
			next <- lo
		}
		close(next)
		wg.Wait()
		t.Logf("loaded %d Observations in %v", n-have, time.Since(start).Round(time.Millisecond))
		if os.Getenv("VIGIL_EXPLAIN_NOANALYZE") == "" {
			if _, err := db.pool.Exec(ctx, "VACUUM ANALYZE"); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i, pat := range []int{7, 123, 999} {
		q := &vigil.SearchQuery{Type: "Observation", Count: 50, Params: []vigil.SearchParam{
			{Name: "subject", Type: vigil.ParamReference, Values: []vigil.SearchValue{{RefType: "Patient", RefID: fmt.Sprintf("pat%d", pat)}}},
			{Name: "code", Type: vigil.ParamToken, Values: []vigil.SearchValue{{System: "http://loinc.org", Code: fmt.Sprintf("code-%d", i*7%20)}}},
			{Name: "date", Type: vigil.ParamDate, Values: []vigil.SearchValue{{Prefix: vigil.PrefixGe,
				Start: time.Date(2024, time.Month(3+i), 1, 0, 0, 0, 0, time.UTC), End: time.Date(2024, time.Month(3+i), 2, 0, 0, 0, 0, time.UTC)}}},
		}}
		pg, err := compile(q)
		if err != nil {
			t.Fatal(err)
		}
		explain(t, db, pg.sql, pg.args)
		explain(t, db, pg.countSQL, pg.countArgs)
		// The latest observations of a patient: subject, newest date first.
		q = &vigil.SearchQuery{Type: "Observation", Count: 10, Params: q.Params[:1],
			Sort: []vigil.SortKey{{Param: "date", Type: vigil.ParamDate, Desc: true}}}
		if pg, err = compile(q); err != nil {
			t.Fatal(err)
		}
		explain(t, db, pg.sql, pg.args)
	}
}

func explain(t *testing.T, db *DB, sql string, args []any) {
	t.Helper()
	rows, err := db.pool.Query(context.Background(), "EXPLAIN (ANALYZE, BUFFERS) "+sql, args...)
	if err != nil {
		t.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s\n%s", sql, strings.Join(lines, "\n"))
}

// benchObservation mirrors storetest's benchmark Observation n.
func benchObservation(n int64) (*vigil.Resource, []vigil.IndexEntry) {
	const patients, codes = 1000, 20
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	id := fmt.Sprintf("obs%d", n)
	when := base.Add(time.Duration(n%(2*365*24)) * time.Hour)
	pat := fmt.Sprintf("pat%d", n%patients)
	code := fmt.Sprintf("code-%d", (n/patients)%codes)
	v := float64(60 + n%40)
	r := &vigil.Resource{Type: "Observation", ID: id, Version: 1, LastUpdated: base, Method: "POST",
		JSON: fmt.Appendf(nil, `{"resourceType":"Observation","id":%q,"status":"final","code":{"coding":[{"system":"http://loinc.org","code":%q}]},"subject":{"reference":"Patient/%s"},"effectiveDateTime":%q,"valueQuantity":{"value":%v,"unit":"/min","system":"http://unitsofmeasure.org","code":"/min"}}`,
			id, code, pat, when.Format(time.RFC3339), v)}
	return r, []vigil.IndexEntry{
		{Param: "subject", Type: vigil.ParamReference, RefType: "Patient", RefID: pat},
		{Param: "patient", Type: vigil.ParamReference, RefType: "Patient", RefID: pat},
		{Param: "code", Type: vigil.ParamToken, System: "http://loinc.org", Code: code},
		{Param: "status", Type: vigil.ParamToken, Code: "final"},
		{Param: "date", Type: vigil.ParamDate, Start: when, End: when.Add(time.Second)},
		{Param: "value-quantity", Type: vigil.ParamQuantity, Value: v, Low: v - 0.5, High: v + 0.5, System: "http://unitsofmeasure.org", Code: "/min", CanonCode: "/min", CanonValue: v, CanonLow: v - 0.5, CanonHigh: v + 0.5},
	}
}
