package sqlite

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/storetest"
)

// searchAll runs sq page by page and returns the ids of all matches in
// order and the total of the first page.
func searchAll(t *testing.T, db *DB, sq vigil.SearchQuery) (ids []string, total int) {
	t.Helper()
	sq.Total = true
	for page := 0; ; page++ {
		res, err := db.Search(t.Context(), &sq)
		if err != nil {
			t.Fatalf("Search(%+v) = %v", sq.Params, err)
		}
		if page == 0 {
			total = res.Total
		}
		for _, r := range res.Matches {
			ids = append(ids, r.ID)
		}
		if res.Next == "" {
			return ids, total
		}
		sq.Cursor = res.Next
	}
}

// TestPairSearch runs storetest.PairSearch and PairsKept on SQLite: the
// searches idx_ref_token answers return what the per-type tables return,
// and the table holds exactly the rows its definition derives.
func TestPairSearch(t *testing.T) {
	db, err := Open(t.Context(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	check := func(t *testing.T) { checkPairs(t, db) }
	storetest.PairSearch(t, db, check)
	storetest.PairsKept(t, db, check)
}

// checkPairs checks that idx_ref_token holds exactly the rows the backfill
// of migration 0003 derives from the index tables: none missing, none
// stale (left by an update or delete).
func checkPairs(t *testing.T, db *DB) {
	t.Helper()
	const derived = `SELECT DISTINCT r.ref_id, r.ref_type, r.param, t.param, t.code, t.system, r.key
FROM idx_ref r JOIN idx_token t ON t.key = r.key
WHERE r.param IN ('subject', 'patient') AND r.ref_id <> '' AND t.param = 'code' AND t.code <> ''`
	const stored = `SELECT ref_id, ref_type, ref_param, tok_param, code, system, key FROM idx_ref_token`
	var n, missing, stale int
	err := db.read.QueryRowContext(t.Context(), "SELECT (SELECT COUNT(*) FROM idx_ref_token), (SELECT COUNT(*) FROM ("+derived+" EXCEPT "+stored+
		")), (SELECT COUNT(*) FROM ("+stored+" EXCEPT "+derived+"))").Scan(&n, &missing, &stale)
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 || missing != 0 || stale != 0 {
		t.Errorf("idx_ref_token has %d rows, %d missing, %d stale", n, missing, stale)
	}
}

// TestPairsBackfill opens a store of schema 2 (without idx_ref_token, made
// by removing it from a store with Observations): migration 0003 fills it
// from the index tables, and later writes keep it exact.
func TestPairsBackfill(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	from := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	put := func(db *DB, id string, version int64, idx []vigil.IndexEntry) {
		t.Helper()
		err := db.Write(t.Context(), func(ctx context.Context, tx vigil.ResourceTx) error {
			return tx.Put(ctx, &vigil.Resource{Type: "Observation", ID: id, Version: version, LastUpdated: from, JSON: []byte(`{}`)}, idx)
		})
		if err != nil {
			t.Fatalf("Put(%s v%d) = %v", id, version, err)
		}
	}
	for i := range 50 {
		put(db, fmt.Sprint("o", i), 1, storetest.ObservationIndex("Patient", fmt.Sprint("p", i%3), from.Add(time.Duration(i)*time.Hour), "8867-4", fmt.Sprint("c", i%2)))
	}
	if _, err := db.conn.ExecContext(t.Context(), "DROP TABLE idx_ref_token"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.conn.ExecContext(t.Context(), "PRAGMA user_version = 2"); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if db, err = Open(t.Context(), dir); err != nil {
		t.Fatalf("Open of a schema 2 store = %v", err)
	}
	defer db.Close()
	var v int
	if err := db.read.QueryRowContext(t.Context(), "PRAGMA user_version").Scan(&v); err != nil || v < 3 {
		t.Errorf("user_version = %d (%v), want at least 3", v, err)
	}
	checkPairs(t, db)
	put(db, "o1", 2, storetest.ObservationIndex("Patient", "p2", from, "9279-1"))
	checkPairs(t, db)
	q := &vigil.SearchQuery{Type: "Observation", Params: []vigil.SearchParam{
		{Name: "subject", Type: vigil.ParamReference, Values: []vigil.SearchValue{{RefType: "Patient", RefID: "p0"}}},
		{Name: "code", Type: vigil.ParamToken, Values: []vigil.SearchValue{{System: "http://loinc.org", Code: "c1"}}}}}
	res, err := db.Search(t.Context(), q)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range res.Matches {
		ids = append(ids, r.ID)
	}
	// p0 has o0, o3, …, o48; c1 goes to the odd ones.
	if want := []string{"o3", "o9", "o15", "o21", "o27", "o33", "o39", "o45"}; !slices.Equal(ids, want) {
		t.Errorf("subject=Patient/p0&code=c1 after the backfill = %v, want %v", ids, want)
	}
}
