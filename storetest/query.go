package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/vigilhealth/vigil"
)

func testChain(t *testing.T, open func(t *testing.T) vigil.ResourceStore) {
	f := newFx(t, open)
	f.save("Practitioner", "dr1", str("name", "Smith"))
	f.save("Practitioner", "dr2", str("name", "Jones"))
	f.save("Patient", "p1", str("name", "Ann"), ref("general-practitioner", "Practitioner", "dr1"))
	f.save("Patient", "p2", str("name", "Bob"), ref("general-practitioner", "Practitioner", "dr2"))
	f.save("Group", "p1", str("name", "Ann"))
	f.save("Observation", "o1", ref("subject", "Patient", "p1"))
	f.save("Observation", "o2", ref("subject", "Patient", "p2"))
	f.save("Observation", "o3", ref("subject", "Group", "p1"))
	f.save("Observation", "o4", ref("subject", "Patient", "p3"))
	f.save("Observation", "o5", refURI("subject", "http://elsewhere.org/Patient/p1", ""))
	chain := func(name string, types []string, next vigil.SearchParam) vigil.SearchParam {
		return vigil.SearchParam{Name: name, Type: vigil.ParamReference, TargetTypes: types, Chain: &next}
	}
	name := func(vs ...string) vigil.SearchParam {
		p := param("name", vigil.ParamString)
		for _, v := range vs {
			p.Values = append(p.Values, vText(v))
		}
		return p
	}
	gp := func(n string) vigil.SearchParam {
		return chain("general-practitioner", []string{"Practitioner"}, name(n))
	}
	runCases(t, f, "Observation", []searchCase{
		{"one level", chain("subject", []string{"Patient"}, name("ann")), []string{"o1"}},
		{"target types", chain("subject", []string{"Patient", "Group"}, name("ann")), []string{"o1", "o3"}},
		{"or values", chain("subject", []string{"Patient"}, name("ann", "bob")), []string{"o1", "o2"}},
		{"no match", chain("subject", []string{"Patient"}, name("zed")), nil},
		{"chained token", chain("subject", []string{"Patient"}, vID("p2")), []string{"o2"}},
		{"two levels", chain("subject", []string{"Patient"}, gp("smith")), []string{"o1"}},
		{"two levels other", chain("subject", []string{"Patient"}, gp("jones")), []string{"o2"}},
		{"two levels none", chain("subject", []string{"Patient"}, gp("ann")), nil},
		{"missing in target", chain("subject", []string{"Patient"}, missing("name", vigil.ParamString, true)), nil},
		{"present in target", chain("subject", []string{"Patient"}, missing("name", vigil.ParamString, false)), []string{"o1", "o2"}},
	})
	t.Run("with other params", func(t *testing.T) {
		f.t = t
		f.expectSet(query("Observation", chain("subject", []string{"Patient"}, name("ann", "bob")), vID("o2", "o3")), "o2")
	})
	t.Run("deleted target", func(t *testing.T) {
		f.t = t
		f.del("Practitioner", "dr1")
		f.expectSet(query("Observation", chain("subject", []string{"Patient"}, gp("smith"))))
		f.del("Patient", "p2")
		f.expectSet(query("Observation", chain("subject", []string{"Patient"}, name("ann", "bob"))), "o1")
		// A deleted or missing target has no entries, yet it is no match
		// for :missing either.
		f.expectSet(query("Observation", chain("subject", []string{"Patient"}, missing("name", vigil.ParamString, true))))
	})
}

func testCompartment(t *testing.T, open func(t *testing.T) vigil.ResourceStore) {
	f := newFx(t, open)
	f.save("Patient", "p1", str("name", "Ann"))
	f.save("Patient", "p2")
	f.save("Patient", "p3", ref("link", "Patient", "p1"))
	f.save("Observation", "o1", ref("subject", "Patient", "p1"), tok("code", "l", "hr"))
	f.save("Observation", "o2", ref("performer", "Patient", "p1"), tok("code", "l", "bp"))
	f.save("Observation", "o3", ref("subject", "Patient", "p2"), tok("code", "l", "hr"))
	f.save("Observation", "o4", ref("subject", "Group", "p1"))
	f.save("Observation", "o5", ref("focus", "Patient", "p1"))
	f.save("Observation", "o6", ref("subject", "Patient", "p1"))
	f.del("Observation", "o6")
	f.save("Encounter", "e1", ref("subject", "Patient", "p1"))
	f.save("Device", "d1", ref("patient", "Patient", "p1"))
	// o7 is p2's but refers to p1 through a parameter outside the
	// compartment: a chain through it must not test p1 for p2's viewers.
	f.save("Observation", "o7", ref("subject", "Patient", "p2"), ref("focus", "Patient", "p1"))
	focusAnn := func() vigil.SearchParam {
		name := param("name", vigil.ParamString, vText("ann"))
		return vigil.SearchParam{Name: "focus", Type: vigil.ParamReference, TargetTypes: []string{"Patient"}, Chain: &name}
	}
	comp := &vigil.Compartment{Type: "Patient", ID: "p1", Params: map[string][]string{
		"Observation": {"subject", "performer"},
		"Encounter":   {"subject"},
		"Patient":     {"link"},
	}}
	in := func(typ string, ps ...vigil.SearchParam) *vigil.SearchQuery {
		q := query(typ, ps...)
		q.Compartment = comp
		return q
	}
	// restrict adds an access restriction to the patients ids (several ids
	// take the IDs form, one the ID form).
	restrict := func(q *vigil.SearchQuery, ids ...string) *vigil.SearchQuery {
		r := &vigil.Compartment{Type: "Patient", Params: comp.Params}
		if len(ids) == 1 {
			r.ID = ids[0]
		} else {
			r.IDs = ids
		}
		q.Restrict = r
		return q
	}
	cases := []struct {
		name string
		q    *vigil.SearchQuery
		want []string
	}{
		{"one type", in("Observation"), []string{"o1", "o2"}},
		{"with params", in("Observation", param("code", vigil.ParamToken, vCode("hr"))), []string{"o1"}},
		{"patient itself", in("Patient"), []string{"p1", "p3"}},
		{"patient itself filtered", in("Patient", param("name", vigil.ParamString, vText("an"))), []string{"p1"}},
		{"type not in compartment", in("Device"), nil},
		{"all types", in(""), []string{"Observation/o1", "Observation/o2", "Encounter/e1", "Patient/p1", "Patient/p3"}},
		{"all types by id", in("", vID("o1", "e1", "p2")), []string{"Observation/o1", "Encounter/e1"}},
		{"other patient", &vigil.SearchQuery{Type: "Observation", Compartment: &vigil.Compartment{Type: "Patient", ID: "p2", Params: comp.Params}}, []string{"o3", "o7"}},
		{"restricted to several", restrict(query("Observation"), "p1", "p2"), []string{"o1", "o2", "o3", "o7"}},
		{"restricted to one", restrict(query("Observation"), "p2"), []string{"o3", "o7"}},
		{"restricted to none of them", restrict(query("Observation"), "nobody", "p9"), nil},
		{"restricted patients", restrict(query("Patient"), "p2", "p3"), []string{"p2", "p3"}},
		{"restricted all types", restrict(query(""), "p2"), []string{"Observation/o3", "Observation/o7", "Patient/p2"}},
		{"chain through a visible resource", restrict(query("Observation", focusAnn()), "p1", "p2"), []string{"o7"}},
		{"chain through a hidden resource", restrict(query("Observation", focusAnn()), "p2"), nil},
		{"chain without restriction", query("Observation", focusAnn()), []string{"o5", "o7"}},
		{"restricted compartment search", restrict(in("Observation"), "p2"), nil},
		{"restricted compartment search allowed", restrict(in("Observation", param("code", vigil.ParamToken, vCode("bp"))), "p2", "p1"), []string{"o2"}},
		{"restricted type not in compartment", restrict(query("Device"), "p1"), nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f.t = t
			f.expectSet(c.q, c.want...)
		})
	}
}

func testSystem(t *testing.T, open func(t *testing.T) vigil.ResourceStore) {
	f := newFx(t, open)
	f.save("Patient", "x")
	f.save("Observation", "x")
	f.save("Observation", "y")
	f.save("Encounter", "z")
	f.save("Encounter", "gone")
	f.del("Encounter", "gone")
	f.save("Patient", "x") // an update keeps the creation order
	t.Run("all", func(t *testing.T) {
		f.t = t
		f.expectOrder(query(""), "Patient/x", "Observation/x", "Observation/y", "Encounter/z")
	})
	t.Run("_id", func(t *testing.T) {
		f.t = t
		f.expectSet(query("", vID("x")), "Patient/x", "Observation/x")
	})
	t.Run("_lastUpdated", func(t *testing.T) {
		f.t = t
		at := base().Add(3 * time.Second)
		f.expectSet(query("", param("_lastUpdated", vigil.ParamDate, vDate(vigil.PrefixGe, at, at.Add(time.Millisecond)))),
			"Observation/y", "Encounter/z", "Patient/x")
	})
	t.Run("type search stays in type", func(t *testing.T) {
		f.t = t
		f.expectSet(query("Observation", vID("x")), "x")
	})
	t.Run("_type", func(t *testing.T) {
		f.t = t
		q := query("")
		q.Types = []string{"Encounter", "Patient"}
		f.expectSet(q, "Patient/x", "Encounter/z")
		q = query("", vID("x"))
		q.Types = []string{"Observation", "Encounter"}
		f.expectSet(q, "Observation/x")
		q.Total, q.Count = true, 1
		if res := f.search(q); res.Total != 1 {
			t.Errorf("total %d, want 1", res.Total)
		}
	})
}

func testInclude(t *testing.T, open func(t *testing.T) vigil.ResourceStore) {
	f := newFx(t, open)
	f.save("Practitioner", "dr1")
	f.save("Organization", "org1")
	f.save("Patient", "p1", ref("general-practitioner", "Practitioner", "dr1"), ref("organization", "Organization", "org1"))
	f.save("Patient", "p2")
	f.save("Observation", "o1", ref("subject", "Patient", "p1"), ref("performer", "Practitioner", "dr1"))
	f.save("Observation", "o2", ref("subject", "Patient", "p2"), ref("performer", "Organization", "org1"))
	f.save("Observation", "o3", ref("subject", "Patient", "p1"))
	f.save("Observation", "o4", ref("subject", "Patient", "nobody"))
	f.save("Observation", "o5", ref("subject", "Patient", "p1"))
	f.del("Observation", "o5")
	f.del("Patient", "p2")
	inc := func(src, p, target string) vigil.Include {
		return vigil.Include{SourceType: src, Param: p, TargetType: target}
	}
	cases := []struct {
		name        string
		typ         string
		ids         []string
		include     []vigil.Include
		revinclude  []vigil.Include
		count       int
		wantMatches []string
		wantInc     []string
	}{
		{name: "param", typ: "Observation", ids: []string{"o1", "o2", "o3", "o4"},
			include:     []vigil.Include{inc("Observation", "subject", "")},
			wantMatches: []string{"Observation/o1", "Observation/o2", "Observation/o3", "Observation/o4"},
			wantInc:     []string{"Patient/p1"}},
		{name: "star", typ: "Observation", ids: []string{"o1", "o2"},
			include:     []vigil.Include{inc("Observation", "*", "")},
			wantMatches: []string{"Observation/o1", "Observation/o2"},
			wantInc:     []string{"Patient/p1", "Practitioner/dr1", "Organization/org1"}},
		{name: "star target type", typ: "Observation", ids: []string{"o1", "o2"},
			include:     []vigil.Include{inc("Observation", "*", "Practitioner")},
			wantMatches: []string{"Observation/o1", "Observation/o2"},
			wantInc:     []string{"Practitioner/dr1"}},
		{name: "param target type", typ: "Observation", ids: []string{"o1", "o2"},
			include:     []vigil.Include{inc("Observation", "performer", "Organization")},
			wantMatches: []string{"Observation/o1", "Observation/o2"},
			wantInc:     []string{"Organization/org1"}},
		{name: "other source type", typ: "Observation", ids: []string{"o1"},
			include:     []vigil.Include{inc("Encounter", "subject", "")},
			wantMatches: []string{"Observation/o1"}},
		{name: "not already matched", typ: "", ids: []string{"o1", "p1"},
			include:     []vigil.Include{inc("Observation", "subject", ""), inc("Patient", "general-practitioner", "")},
			wantMatches: []string{"Patient/p1", "Observation/o1"},
			wantInc:     []string{"Practitioner/dr1"}},
		{name: "page only", typ: "Observation", ids: []string{"o1", "o2"}, count: 1,
			include:     []vigil.Include{inc("Observation", "*", "")},
			wantMatches: []string{"Observation/o1"},
			wantInc:     []string{"Patient/p1", "Practitioner/dr1"}},
		{name: "iterate", typ: "Observation", ids: []string{"o1"},
			include: []vigil.Include{inc("Observation", "subject", ""),
				{SourceType: "Patient", Param: "organization", Iterate: true}},
			wantMatches: []string{"Observation/o1"},
			wantInc:     []string{"Patient/p1", "Organization/org1"}},
		{name: "no iterate", typ: "Observation", ids: []string{"o1"},
			include:     []vigil.Include{inc("Observation", "subject", ""), inc("Patient", "organization", "")},
			wantMatches: []string{"Observation/o1"},
			wantInc:     []string{"Patient/p1"}},
		{name: "revinclude", typ: "Patient", ids: []string{"p1"},
			revinclude:  []vigil.Include{inc("Observation", "subject", "")},
			wantMatches: []string{"Patient/p1"},
			wantInc:     []string{"Observation/o1", "Observation/o3"}},
		{name: "revinclude star", typ: "Practitioner", ids: []string{"dr1"},
			revinclude:  []vigil.Include{inc("Observation", "*", ""), inc("Patient", "*", "")},
			wantMatches: []string{"Practitioner/dr1"},
			wantInc:     []string{"Observation/o1", "Patient/p1"}},
		{name: "revinclude target type", typ: "Patient", ids: []string{"p1"},
			revinclude:  []vigil.Include{inc("Observation", "subject", "Group")},
			wantMatches: []string{"Patient/p1"}},
		{name: "revinclude iterate", typ: "Organization", ids: []string{"org1"},
			revinclude: []vigil.Include{inc("Patient", "organization", ""),
				{SourceType: "Observation", Param: "subject", Iterate: true}},
			wantMatches: []string{"Organization/org1"},
			wantInc:     []string{"Patient/p1", "Observation/o1", "Observation/o3"}},
		{name: "include and revinclude", typ: "Patient", ids: []string{"p1"},
			include:     []vigil.Include{inc("Patient", "general-practitioner", "")},
			revinclude:  []vigil.Include{inc("Observation", "performer", "")},
			wantMatches: []string{"Patient/p1"},
			wantInc:     []string{"Practitioner/dr1"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q := query(c.typ, vID(c.ids...))
			q.Include, q.RevInclude, q.Count = c.include, c.revinclude, c.count
			if q.Count == 0 {
				q.Count = 100
			}
			res, err := f.s.Search(f.ctx, q)
			if err != nil {
				t.Fatalf("Search = %v", err)
			}
			matches := refs("", res.Matches)
			slices.Sort(matches)
			want := slices.Sorted(slices.Values(c.wantMatches))
			if !slices.Equal(matches, want) {
				t.Errorf("matches = %v, want %v", matches, want)
			}
			inc := refs("", res.Included)
			sorted := slices.Sorted(slices.Values(inc))
			if len(slices.Compact(slices.Clone(sorted))) != len(sorted) {
				t.Errorf("included has duplicates: %v", inc)
			}
			want = slices.Sorted(slices.Values(c.wantInc))
			if !slices.Equal(sorted, want) {
				t.Errorf("included = %v, want %v", sorted, want)
			}
			for _, r := range res.Included {
				if r.Deleted || len(r.JSON) == 0 {
					t.Errorf("included %s is deleted or has no JSON", r.Ref())
				}
			}
		})
	}
}

// testHas covers _has (reverse chaining): resources referred to by a
// current resource of a type, through a parameter, that matches a filter.
func testHas(t *testing.T, open func(t *testing.T) vigil.ResourceStore) {
	f := newFx(t, open)
	f.save("Patient", "p1", str("name", "Ann"))
	f.save("Patient", "p2", str("name", "Bob"))
	f.save("Patient", "p3", str("name", "Cid"))
	f.save("Group", "p1", str("name", "Ann"))
	f.save("Practitioner", "dr1", str("name", "Smith"))
	f.save("Observation", "o1", ref("subject", "Patient", "p1"), tok("code", "l", "hr"), ref("performer", "Practitioner", "dr1"))
	f.save("Observation", "o2", ref("subject", "Patient", "p2"), tok("code", "l", "bp"))
	f.save("Observation", "o3", ref("subject", "Group", "p1"), tok("code", "l", "bp"))
	f.save("Observation", "o4", ref("subject", "Patient", "p3"), tok("code", "l", "bp"))
	f.save("Encounter", "e1", ref("subject", "Patient", "p2"))
	f.save("AuditEvent", "a1", ref("entity", "Observation", "o2"), tok("action", "x", "R"))
	has := func(typ, ref string, filter vigil.SearchParam) vigil.SearchParam {
		return vigil.SearchParam{Name: "_has", Type: vigil.ParamSpecial, Has: &vigil.ReverseChain{Type: typ, Param: ref, Filter: &filter}}
	}
	code := func(cs ...string) vigil.SearchParam {
		p := param("code", vigil.ParamToken)
		for _, c := range cs {
			p.Values = append(p.Values, vCode(c))
		}
		return p
	}
	name := func(n string) vigil.SearchParam { return param("name", vigil.ParamString, vText(n)) }
	runCases(t, f, "Patient", []searchCase{
		{"one code", has("Observation", "subject", code("hr")), []string{"p1"}},
		{"or codes", has("Observation", "subject", code("hr", "bp")), []string{"p1", "p2", "p3"}},
		{"not another type's reference", has("Observation", "subject", code("zz")), nil},
		{"other referring type", has("Encounter", "subject", missing("subject", vigil.ParamReference, false)), []string{"p2"}},
		{"chained filter", has("Observation", "subject", vigil.SearchParam{Name: "performer", Type: vigil.ParamReference, TargetTypes: []string{"Practitioner"}, Chain: &[]vigil.SearchParam{name("smith")}[0]}), []string{"p1"}},
		{"nested", has("Observation", "subject", has("AuditEvent", "entity", param("action", vigil.ParamToken, vCode("R")))), []string{"p2"}},
	})
	runCases(t, f, "Group", []searchCase{
		{"the target type counts", has("Observation", "subject", code("bp")), []string{"p1"}},
	})
	t.Run("with other params", func(t *testing.T) {
		f.t = t
		f.expectSet(query("Patient", has("Observation", "subject", code("bp")), name("bob")), "p2")
		f.expectSet(query("Patient", has("Observation", "subject", code("bp")), has("Encounter", "subject", missing("subject", vigil.ParamReference, false))), "p2")
	})
	t.Run("deleted referrer", func(t *testing.T) {
		f.t = t
		f.del("Observation", "o4")
		f.expectSet(query("Patient", has("Observation", "subject", code("bp"))), "p2")
	})
	t.Run("restricted", func(t *testing.T) {
		f.t = t
		// p2's Observation focuses on p1: a caller restricted to p1's
		// compartment must not learn of it through p1 itself.
		f.save("Observation", "o5", ref("subject", "Patient", "p2"), tok("code", "l", "secret"), ref("focus", "Patient", "p1"))
		q := query("Patient", has("Observation", "focus", code("secret")))
		f.expectSet(q, "p1")
		comp := map[string][]string{"Observation": {"subject", "performer"}, "Patient": {"link"}}
		q.Restrict = &vigil.Compartment{Type: "Patient", ID: "p1", Params: comp}
		f.expectSet(q)
		q.Restrict = &vigil.Compartment{Type: "Patient", IDs: []string{"p1", "p2"}, Params: comp}
		f.expectSet(q, "p1")
	})
	t.Run("also", func(t *testing.T) {
		f.t = t
		// Ids found outside the store (patients with device readings)
		// match as well, ORed with the referrers, and stay under the
		// restriction like any other match.
		also := has("Observation", "subject", code("hr"))
		also.Has.Also = []string{"p3", "nobody"}
		f.expectSet(query("Patient", also), "p1", "p3")
		f.expectSet(query("Patient", also, name("cid")), "p3")
		q := query("Patient", also)
		q.Restrict = &vigil.Compartment{Type: "Patient", ID: "p1", Params: map[string][]string{"Observation": {"subject"}}}
		f.expectSet(q, "p1")
		empty := has("Observation", "subject", code("zz"))
		empty.Has.Also = []string{"p2"}
		f.expectSet(query("Patient", empty), "p2")
	})
}

// testIncludeCap checks that a page brings in at most vigil.MaxIncluded
// resources through _revinclude, and says when it cut.
func testIncludeCap(t *testing.T, open func(t *testing.T) vigil.ResourceStore) {
	f := newFx(t, open)
	f.save("Patient", "many")
	f.save("Patient", "exact")
	n := 0
	add := func(patient string, count int) {
		err := f.s.Write(f.ctx, func(ctx context.Context, tx vigil.ResourceTx) error {
			for range count {
				n++
				id := fmt.Sprintf("o%05d", n)
				if err := tx.Put(ctx, doc("Observation", id, 1, f.tick()), []vigil.IndexEntry{ref("subject", "Patient", patient)}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("Write = %v", err)
		}
	}
	add("many", vigil.MaxIncluded+5)
	add("exact", vigil.MaxIncluded)
	for _, c := range []struct {
		patients []string
		cut      bool
	}{
		{[]string{"exact"}, false},
		{[]string{"many"}, true},
		{[]string{"exact", "many"}, true},
	} {
		q := query("Patient", vID(c.patients...))
		q.RevInclude = []vigil.Include{{SourceType: "Observation", Param: "subject"}}
		res := f.search(q)
		if len(res.Included) != vigil.MaxIncluded || res.IncludedCut != c.cut {
			t.Errorf("%v with _revinclude: %d included, cut %v; want %d, %v", c.patients, len(res.Included), res.IncludedCut, vigil.MaxIncluded, c.cut)
		}
		seen := map[string]bool{}
		for _, r := range res.Included {
			if r.Type != "Observation" || seen[r.ID] {
				t.Fatalf("included %s/%s twice or of the wrong type", r.Type, r.ID)
			}
			seen[r.ID] = true
		}
	}
}

// testReindex checks vigil.Reindexer: the index entries of the current
// version are replaced in place, without a new version.
func testReindex(t *testing.T, open func(t *testing.T) vigil.ResourceStore) {
	f := newFx(t, open)
	f.save("Patient", "p1")
	f.save("Observation", "o1", tok("code", "l", "old"), ref("subject", "Patient", "p1"))
	f.save("Observation", "o2", tok("code", "l", "old"))
	f.save("Observation", "gone", tok("code", "l", "old"))
	f.del("Observation", "gone")
	reindex := func(typ, id string, version int64, idx ...vigil.IndexEntry) error {
		return f.s.Write(f.ctx, func(ctx context.Context, tx vigil.ResourceTx) error {
			r, ok := tx.(vigil.Reindexer)
			if !ok {
				// Not t.Skip: the fn may run on the store's own goroutine.
				return vigil.Errorf(vigil.ErrUnsupported, "the store's transactions are no vigil.Reindexer")
			}
			return r.Reindex(ctx, typ, id, version, idx)
		})
	}
	if err := reindex("Observation", "o1", 1, tok("code", "l", "new"), tok("code", "l", "newer"), ref("subject", "Patient", "p1")); err != nil {
		t.Fatalf("Reindex = %v", err)
	}
	code := func(c string) vigil.SearchParam { return param("code", vigil.ParamToken, vCode(c)) }
	f.expectSet(query("Observation", code("old")), "o2")
	f.expectSet(query("Observation", code("newer")), "o1")
	f.expectSet(query("Observation", code("new"), param("subject", vigil.ParamReference, vRef("Patient", "p1"))), "o1")
	if r, err := f.s.Read(f.ctx, "Observation", "o1"); err != nil || r.Version != 1 {
		t.Errorf("after Reindex: version %v, err %v; want 1", r, err)
	}
	for _, c := range []struct {
		name    string
		typ, id string
		version int64
		want    error
	}{
		{"stale version", "Observation", "o2", 2, vigil.ErrConflict},
		{"deleted", "Observation", "gone", 2, vigil.ErrConflict},
		{"missing", "Observation", "nope", 1, vigil.ErrNotFound},
	} {
		if err := reindex(c.typ, c.id, c.version, tok("code", "l", "x")); !errors.Is(err, c.want) {
			t.Errorf("%s: Reindex = %v, want %v", c.name, err, c.want)
		}
	}
	f.expectSet(query("Observation", code("x")))
	f.expectSet(query("Observation", code("old")), "o2")
}

// testPutBatch checks vigil.BatchPutter where a store has it: the batch's
// versions are stored as by Put, and a failing member fails the Write,
// which then leaves nothing of it.
func testPutBatch(t *testing.T, open func(t *testing.T) vigil.ResourceStore) {
	f := newFx(t, open)
	f.save("Observation", "taken")
	// The fn may run on the store's own goroutine: skip outside it.
	supported := false
	if err := f.s.Write(f.ctx, func(ctx context.Context, tx vigil.ResourceTx) error {
		_, supported = tx.(vigil.BatchPutter)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !supported {
		t.Skip("the store's transactions are no vigil.BatchPutter")
	}
	batch := func(ids ...string) error {
		return f.s.Write(f.ctx, func(ctx context.Context, tx vigil.ResourceTx) error {
			bp := tx.(vigil.BatchPutter)
			var rs []*vigil.Resource
			var idx [][]vigil.IndexEntry
			for _, id := range ids {
				rs = append(rs, doc("Observation", id, 1, f.tick()))
				idx = append(idx, []vigil.IndexEntry{tok("code", "l", "batch")})
			}
			return bp.PutBatch(ctx, rs, idx)
		})
	}
	if err := batch("b1", "b2", "b3"); err != nil {
		t.Fatalf("PutBatch = %v", err)
	}
	f.expectSet(query("Observation", param("code", vigil.ParamToken, vCode("batch"))), "b1", "b2", "b3")
	if err := batch("b4", "taken", "b5"); !errors.Is(err, vigil.ErrConflict) {
		t.Fatalf("PutBatch over an existing id = %v, want ErrConflict", err)
	}
	f.expectSet(query("Observation", param("code", vigil.ParamToken, vCode("batch"))), "b1", "b2", "b3")
	for _, id := range []string{"b4", "b5"} {
		if _, err := f.s.Read(f.ctx, "Observation", id); !errors.Is(err, vigil.ErrNotFound) {
			t.Errorf("Read(%s) after the failed batch = %v, want ErrNotFound", id, err)
		}
	}
}
