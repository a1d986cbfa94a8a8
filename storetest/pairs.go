package storetest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/vigilhealth/vigil"
)

// The stores keep a table of (patient, code) pairs (idx_ref_token) so that
// a search by subject or patient and code reads one range of it
// (internal/refpair). PairSearch and PairsKept check that the searches
// it answers return what the per-type index tables return; check is the
// store's own test that the table holds exactly the rows derived from its
// index tables, run after the writes.

// ObservationIndex returns the index entries of an Observation of
// subject (a "Type/id" pair) with the given LOINC codes, effective at at:
// subject (and patient for a Patient), status, date and code, as the
// stores' pair tests write them.
func ObservationIndex(subjType, subjID string, at time.Time, codes ...string) []vigil.IndexEntry {
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

// pairSearchAll runs sq page by page and returns the ids of all matches in
// order and the total of the first page.
func pairSearchAll(t *testing.T, s vigil.ResourceStore, sq vigil.SearchQuery) (ids []string, total int) {
	t.Helper()
	sq.Total = true
	for page := 0; ; page++ {
		res, err := s.Search(t.Context(), &sq)
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

func pairPut(t *testing.T, s vigil.ResourceStore, id string, version int64, deleted bool, idx []vigil.IndexEntry) {
	t.Helper()
	err := s.Write(t.Context(), func(ctx context.Context, tx vigil.ResourceTx) error {
		r := &vigil.Resource{Type: "Observation", ID: id, Version: version, LastUpdated: base(), Deleted: deleted, JSON: []byte(`{}`)}
		return tx.Put(ctx, r, idx)
	})
	if err != nil {
		t.Fatalf("Put(%s v%d) = %v", id, version, err)
	}
}

// PairSearch writes 300 Observations of four subjects and three codes,
// then moves some to another patient and code and deletes others, and
// checks that every search the pairs answer returns what the same search
// written so that the pairs do not apply (a second code value that no
// resource has) returns: with paging, sorting, totals and an access
// restriction. Then it runs check.
func PairSearch(t *testing.T, s vigil.ResourceStore, check func(t *testing.T)) {
	from := base()
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
		pairPut(t, s, fmt.Sprint("o", i), 1, false, ObservationIndex(subjType, fmt.Sprint("p", i%4), at, cs...))
	}
	for i := 0; i < 300; i += 7 { // another patient and code
		pairPut(t, s, fmt.Sprint("o", i), 2, false, ObservationIndex("Patient", fmt.Sprint("p", (i+1)%4), from.Add(time.Duration(i)*time.Hour), codes[(i+2)%len(codes)]))
	}
	for i := 3; i < 300; i += 11 {
		pairPut(t, s, fmt.Sprint("o", i), 3-int64(min(1, i%7)), true, nil)
	}
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
			got, gotTotal := pairSearchAll(t, s, c.q)
			want, wantTotal := pairSearchAll(t, s, unpaired(c.q))
			if !slices.Equal(got, want) || gotTotal != wantTotal {
				t.Errorf("with pairs: %d %v, want %d %v", gotTotal, got, wantTotal, want)
			}
			if c.name != "no match" && c.name != "restricted, hidden" && len(got) == 0 {
				t.Errorf("no match: the case tests nothing")
			}
		})
	}
	check(t)
}

// PairsKept checks the writes where the old and the new version share
// pairs: an update that keeps the subject and code (a status change), one
// that adds a second code and one that removes it, a reindex when the
// store's transactions are vigil.Reindexers, and a delete; after each the
// search by subject and code finds the resource while it has them, and
// check passes. It uses a patient of its own, so it may share a store.
func PairsKept(t *testing.T, s vigil.ResourceStore, check func(t *testing.T)) {
	at := base()
	q := vigil.SearchQuery{Type: "Observation", Params: []vigil.SearchParam{
		{Name: "subject", Type: vigil.ParamReference, Values: []vigil.SearchValue{{RefType: "Patient", RefID: "kept"}}},
		{Name: "code", Type: vigil.ParamToken, Values: []vigil.SearchValue{{System: "http://loinc.org", Code: "8867-4"}}}}}
	found := func(step string, want int) {
		t.Helper()
		if got, _ := pairSearchAll(t, s, q); len(got) != want {
			t.Errorf("%s: subject+code finds %v, want %d", step, got, want)
		}
		check(t)
	}
	pairPut(t, s, "k1", 1, false, ObservationIndex("Patient", "kept", at, "8867-4"))
	found("create", 1)
	pairPut(t, s, "k1", 2, false, ObservationIndex("Patient", "kept", at.Add(time.Hour), "8867-4"))
	found("update keeping subject and code", 1)
	pairPut(t, s, "k1", 3, false, ObservationIndex("Patient", "kept", at, "8867-4", "9279-1"))
	found("update adding a code", 1)
	pairPut(t, s, "k1", 4, false, ObservationIndex("Patient", "kept", at, "8867-4"))
	found("update removing it again", 1)
	err := s.Write(t.Context(), func(ctx context.Context, tx vigil.ResourceTx) error {
		if ri, ok := tx.(vigil.Reindexer); ok {
			return ri.Reindex(ctx, "Observation", "k1", 4, ObservationIndex("Patient", "kept", at, "8867-4"))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	found("reindex", 1)
	pairPut(t, s, "k1", 5, true, nil)
	if got, _ := pairSearchAll(t, s, q); len(got) != 0 {
		t.Errorf("delete: subject+code finds %v", got)
	}
	check(t)
}
