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
)

// obsIndex returns the index entries of an Observation of subject (a
// "Type/id" pair) with the given LOINC codes, effective at at.
func obsIndex(subjType, subjID string, at time.Time, codes ...string) []vigil.IndexEntry {
	idx := []vigil.IndexEntry{
		{Param: "subject", Type: vigil.ParamReference, RefType: subjType, RefID: subjID},
		{Param: "status", Type: vigil.ParamToken, System: "http://hl7.org/fhir/observation-status", Code: "final"},
		{Param: "date", Type: vigil.ParamDate, Start: at, End: at.Add(time.Second)},
	}
	if subjType == "Patient" {
		idx = append(idx, vigil.IndexEntry{Param: "patient", Type: vigil.ParamReference, RefType: subjType, RefID: subjID})
	}
	for _, c := range codes {
		idx = append(idx, vigil.IndexEntry{Param: "code", Type: vigil.ParamToken, System: "http://loinc.org", Code: c})
	}
	return idx
}

// searchAll runs sq page by page and returns the ids of all matches in
// order and the total of the first page.
func searchAll(t *testing.T, db *postgres.DB, sq vigil.SearchQuery) (ids []string, total int) {
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

// TestPairSearch checks that searches idx_ref_token answers return what
// the per-type tables return (the same search written so that the pairs
// do not apply: a second code value that no resource has), after
// creates, updates that move a resource to another patient or code, and
// deletes; with paging, sorting, totals and an access restriction.
func TestPairSearch(t *testing.T) {
	u := testURL(t)
	db, err := postgres.Open(t.Context(), u)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	from := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	codes := []string{"8867-4", "9279-1", "2708-6"}
	for i := range 300 {
		at := from.Add(time.Duration(i*7%300) * time.Hour)
		cs := []string{codes[i%len(codes)]}
		if i%10 == 0 { // two codings, one of them twice
			cs = append(cs, codes[(i+1)%len(codes)], codes[(i+1)%len(codes)])
		}
		subjType := "Patient"
		if i%17 == 0 {
			subjType = "Group"
		}
		putObs(t, db, fmt.Sprint("o", i), 1, false, obsIndex(subjType, fmt.Sprint("p", i%4), at, cs...))
	}
	for i := 0; i < 300; i += 7 { // another patient and code
		putObs(t, db, fmt.Sprint("o", i), 2, false, obsIndex("Patient", fmt.Sprint("p", (i+1)%4), from.Add(time.Duration(i)*time.Hour), codes[(i+2)%len(codes)]))
	}
	for i := 3; i < 300; i += 11 {
		putObs(t, db, fmt.Sprint("o", i), 3-int64(min(1, i%7)), true, nil)
	}
	// Without the pairs: a second code value no resource has.
	unpaired := func(q vigil.SearchQuery) vigil.SearchQuery {
		params := slices.Clone(q.Params)
		for i, p := range params {
			if p.Name == "code" {
				params[i].Values = append(slices.Clone(p.Values), vigil.SearchValue{System: "http://loinc.org", Code: "none"})
			}
		}
		q.Params = params
		return q
	}
	subject := func(name, typ, id string) vigil.SearchParam {
		return vigil.SearchParam{Name: name, Type: vigil.ParamReference, Values: []vigil.SearchValue{{RefType: typ, RefID: id}}}
	}
	code := func(c string, any bool) vigil.SearchParam {
		v := vigil.SearchValue{System: "http://loinc.org", Code: c, AnySystem: any}
		if any {
			v.System = ""
		}
		return vigil.SearchParam{Name: "code", Type: vigil.ParamToken, Values: []vigil.SearchValue{v}}
	}
	date := vigil.SearchParam{Name: "date", Type: vigil.ParamDate, Values: []vigil.SearchValue{{Prefix: vigil.PrefixGe, Start: from.Add(100 * time.Hour), End: from.Add(101 * time.Hour)}}}
	restrict := &vigil.Compartment{Type: "Patient", IDs: []string{"p1", "p2"}, Params: map[string][]string{"Observation": {"subject", "patient"}}}
	cases := []struct {
		name string
		q    vigil.SearchQuery
	}{
		{"subject code", vigil.SearchQuery{Params: []vigil.SearchParam{subject("subject", "Patient", "p1"), code("8867-4", false)}}},
		{"patient code date", vigil.SearchQuery{Params: []vigil.SearchParam{date, code("9279-1", false), subject("patient", "Patient", "p2")}}},
		{"group subject", vigil.SearchQuery{Params: []vigil.SearchParam{subject("subject", "Group", "p0"), code("2708-6", false)}}},
		{"any system", vigil.SearchQuery{Params: []vigil.SearchParam{subject("subject", "Patient", "p3"), code("2708-6", true)}}},
		{"type modifier", vigil.SearchQuery{Params: []vigil.SearchParam{{Name: "subject", Type: vigil.ParamReference, Modifier: "Patient",
			Values: []vigil.SearchValue{{RefID: "p0"}}}, code("8867-4", false)}}},
		{"paged", vigil.SearchQuery{Count: 7, Params: []vigil.SearchParam{subject("subject", "Patient", "p1"), code("9279-1", false)}}},
		{"sorted", vigil.SearchQuery{Count: 5, Sort: []vigil.SortKey{{Param: "date", Type: vigil.ParamDate, Desc: true}},
			Params: []vigil.SearchParam{subject("subject", "Patient", "p2"), code("2708-6", false)}}},
		{"with _id", vigil.SearchQuery{Params: []vigil.SearchParam{subject("subject", "Patient", "p1"), code("8867-4", false),
			{Name: "_id", Type: vigil.ParamToken, Values: []vigil.SearchValue{{Code: "o1"}, {Code: "o5"}, {Code: "o9"}, {Code: "o13"}}}}}},
		{"restricted, visible", vigil.SearchQuery{Restrict: restrict, Params: []vigil.SearchParam{subject("subject", "Patient", "p1"), code("8867-4", false)}}},
		{"restricted, hidden", vigil.SearchQuery{Restrict: restrict, Params: []vigil.SearchParam{subject("subject", "Patient", "p3"), code("8867-4", false)}}},
		{"no match", vigil.SearchQuery{Params: []vigil.SearchParam{subject("subject", "Patient", "p9"), code("8867-4", false)}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.q.Type = "Observation"
			got, gotTotal := searchAll(t, db, c.q)
			want, wantTotal := searchAll(t, db, unpaired(c.q))
			if !slices.Equal(got, want) || gotTotal != wantTotal {
				t.Errorf("with pairs: %d %v, want %d %v", gotTotal, got, wantTotal, want)
			}
			if c.name != "no match" && c.name != "restricted, hidden" && len(got) == 0 {
				t.Errorf("no match: the case tests nothing")
			}
		})
	}
	checkPairs(t, u)
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
		putObs(t, db, fmt.Sprint("o", i), 1, false, obsIndex("Patient", fmt.Sprint("p", i%3), from.Add(time.Duration(i)*time.Hour), "8867-4", fmt.Sprint("c", i%2)))
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
	putObs(t, db, "o1", 2, false, obsIndex("Patient", "p2", from, "9279-1"))
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

// TestPairsKeptByUpdates checks the cases where the old and the new
// version share pairs: an update that keeps the subject and code (a status
// change), one that adds a second code, a reindex, and a delete. Every
// step must leave the table exactly as derived, and the search by subject
// and code must find the resource while it has them.
func TestPairsKeptByUpdates(t *testing.T) {
	u := testURL(t)
	db, err := postgres.Open(t.Context(), u)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	at := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	q := vigil.SearchQuery{Type: "Observation", Params: []vigil.SearchParam{
		{Name: "subject", Type: vigil.ParamReference, Values: []vigil.SearchValue{{RefType: "Patient", RefID: "p1"}}},
		{Name: "code", Type: vigil.ParamToken, Values: []vigil.SearchValue{{System: "http://loinc.org", Code: "8867-4"}}}}}
	found := func(step string, want int) {
		t.Helper()
		if got, _ := searchAll(t, db, q); len(got) != want {
			t.Errorf("%s: subject+code finds %v, want %d", step, got, want)
		}
		checkPairs(t, u)
	}
	putObs(t, db, "o1", 1, false, obsIndex("Patient", "p1", at, "8867-4"))
	found("create", 1)
	putObs(t, db, "o1", 2, false, obsIndex("Patient", "p1", at.Add(time.Hour), "8867-4"))
	found("update keeping subject and code", 1)
	putObs(t, db, "o1", 3, false, obsIndex("Patient", "p1", at, "8867-4", "9279-1"))
	found("update adding a code", 1)
	putObs(t, db, "o1", 4, false, obsIndex("Patient", "p1", at, "8867-4"))
	found("update removing it again", 1)
	err = db.Write(t.Context(), func(ctx context.Context, tx vigil.ResourceTx) error {
		return tx.(vigil.Reindexer).Reindex(ctx, "Observation", "o1", 4, obsIndex("Patient", "p1", at, "8867-4"))
	})
	if err != nil {
		t.Fatal(err)
	}
	found("reindex", 1)
	putObs(t, db, "o1", 5, true, nil)
	if got, _ := searchAll(t, db, q); len(got) != 0 {
		t.Errorf("delete: subject+code finds %v", got)
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
	if got, _ := searchAll(t, db, q); !slices.Equal(got, []string{"long1"}) {
		t.Errorf("long subject and code find %v, want [long1]", got)
	}
}
