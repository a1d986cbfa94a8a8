package postgres_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/postgres"
	"github.com/vigilhealth/vigil/storetest"
)

// searchAll runs sq page by page and returns the ids of all matches in
// order.
func searchAll(t *testing.T, db *postgres.DB, sq vigil.SearchQuery) []string {
	t.Helper()
	var ids []string
	for {
		res, err := db.Search(t.Context(), &sq)
		if err != nil {
			t.Fatalf("Search(%+v) = %v", sq.Params, err)
		}
		for _, r := range res.Matches {
			ids = append(ids, r.ID)
		}
		if res.Next == "" {
			return ids
		}
		sq.Cursor = res.Next
	}
}

func putObs(t *testing.T, db *postgres.DB, id string, version int64, deleted bool, idx []vigil.IndexEntry) {
	t.Helper()
	err := db.Write(t.Context(), func(ctx context.Context, tx vigil.ResourceTx) error {
		r := &vigil.Resource{Type: "Observation", ID: id, Version: version, LastUpdated: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), Deleted: deleted, JSON: []byte(`{}`)}
		return tx.Put(ctx, r, idx)
	})
	if err != nil {
		t.Fatalf("Put(%s v%d) = %v", id, version, err)
	}
}

// TestPairSearch runs storetest.PairSearch and PairsKept on PostgreSQL:
// the searches idx_ref_token answers return what the per-type tables
// return, updates and reindexes that keep a pair keep it, and the table
// holds exactly the rows its definition derives.
func TestPairSearch(t *testing.T) {
	u := testURL(t)
	db, err := postgres.Open(t.Context(), u)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	check := func(t *testing.T) { checkPairs(t, u) }
	storetest.PairSearch(t, db, check)
	storetest.PairsKept(t, db, check)
}

// checkPairs checks that idx_ref_token holds exactly the rows the backfill
// of migration 0005 derives from the index tables: none missing, none
// stale (left by an update or delete).
func checkPairs(t *testing.T, u string) {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	const derived = `SELECT DISTINCT left(r.ref_id, 200), r.ref_type, r.rtype, t.param, left(t.code, 200), left(t.system, 200), r.key, r.param
FROM idx_ref r JOIN idx_token t ON t.key = r.key
WHERE r.param IN ('subject', 'patient') AND r.ref_id <> '' AND t.param = 'code' AND t.code <> ''`
	const stored = `SELECT ref_id, ref_type, rtype, tok_param, code, system, key, ref_param FROM idx_ref_token`
	var n, missing, stale int
	err = conn.QueryRow(t.Context(), "SELECT (SELECT COUNT(*) FROM idx_ref_token), (SELECT COUNT(*) FROM ("+derived+" EXCEPT "+stored+
		") m), (SELECT COUNT(*) FROM ("+stored+" EXCEPT "+derived+") s)").Scan(&n, &missing, &stale)
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 || missing != 0 || stale != 0 {
		t.Errorf("idx_ref_token has %d rows, %d missing, %d stale", n, missing, stale)
	}
}

// TestPairsBackfill opens a store of schema 4 (without idx_ref_token, made
// by removing it from a store with Observations): migration 0005 fills it
// from the index tables, and later writes keep it exact.
func TestPairsBackfill(t *testing.T) {
	u := testURL(t)
	db, err := postgres.Open(t.Context(), u)
	if err != nil {
		t.Fatal(err)
	}
	from := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 50 {
		putObs(t, db, fmt.Sprint("o", i), 1, false, storetest.ObservationIndex("Patient", fmt.Sprint("p", i%3), from.Add(time.Duration(i)*time.Hour), "8867-4", fmt.Sprint("c", i%2)))
	}
	db.Close()
	conn, err := pgx.Connect(t.Context(), u)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(t.Context(), "DROP TABLE idx_ref_token; DELETE FROM schema_migrations WHERE version = 5"); err != nil {
		t.Fatal(err)
	}
	conn.Close(context.Background())
	if db, err = postgres.Open(t.Context(), u); err != nil {
		t.Fatalf("Open of a schema 4 store = %v", err)
	}
	defer db.Close()
	checkPairs(t, u)
	putObs(t, db, "o1", 2, false, storetest.ObservationIndex("Patient", "p2", from, "9279-1"))
	checkPairs(t, u)
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
	slices.Sort(ids)
	// p0 has o0, o3, …, o48; c1 goes to the odd ones.
	want := []string{"o15", "o21", "o27", "o3", "o33", "o39", "o45", "o9"}
	if !slices.Equal(ids, want) {
		t.Errorf("subject=Patient/p0&code=c1 after the backfill = %v, want %v", ids, want)
	}
}

// TestPairsLongValues checks that references and codes longer than the
// pairs keep (pairClip characters) are stored, searched exactly (not
// through the pairs) and do not overflow the pairs' key.
func TestPairsLongValues(t *testing.T) {
	u := testURL(t)
	db, err := postgres.Open(t.Context(), u)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	long := strings.Repeat("x", 999)
	sys := "http://example.org/" + strings.Repeat("s", 980)
	idx := []vigil.IndexEntry{
		{Param: "subject", Type: vigil.ParamReference, RefType: "Patient", RefID: long},
		{Param: "code", Type: vigil.ParamToken, System: sys, Code: long},
	}
	putObs(t, db, "long1", 1, false, idx)
	other := slices.Clone(idx)
	other[1].Code = long[:998] + "y" // differs after 200 characters
	putObs(t, db, "long2", 1, false, other)
	checkPairs(t, u)
	q := vigil.SearchQuery{Type: "Observation", Params: []vigil.SearchParam{
		{Name: "subject", Type: vigil.ParamReference, Values: []vigil.SearchValue{{RefType: "Patient", RefID: long}}},
		{Name: "code", Type: vigil.ParamToken, Values: []vigil.SearchValue{{System: sys, Code: long}}}}}
	if got := searchAll(t, db, q); !slices.Equal(got, []string{"long1"}) {
		t.Errorf("long subject and code find %v, want [long1]", got)
	}
}
