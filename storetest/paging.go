package storetest

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/vigilhealth/vigil"
)

func testSort(t *testing.T, open func(t *testing.T) vigil.ResourceStore) {
	// Five resources per type: r1 {3}, r2 {1, 5}, r3 without a value,
	// r4 {2}, r5 {2}, created in that order. Ascending sorts by the
	// smallest value, descending by the largest; missing last; ties by
	// creation order.
	asc := []string{"r2", "r4", "r5", "r1", "r3"}
	desc := []string{"r2", "r1", "r4", "r5", "r3"}
	const ucum = "http://unitsofmeasure.org"
	kinds := []struct {
		typ   vigil.ParamType
		entry func(n int) vigil.IndexEntry
	}{
		{vigil.ParamString, func(n int) vigil.IndexEntry { return str("p", string(rune('a'+n))+"x") }},
		{vigil.ParamToken, func(n int) vigil.IndexEntry { return tok("p", "s", fmt.Sprintf("c%d", n)) }},
		{vigil.ParamDate, func(n int) vigil.IndexEntry { s, e := day(2020+n, 1, 1); return date("p", s, e) }},
		{vigil.ParamNumber, func(n int) vigil.IndexEntry { return num("p", float64(n), float64(n)-0.5, float64(n)+0.5) }},
		{vigil.ParamQuantity, func(n int) vigil.IndexEntry { return qty("p", float64(n)*10, ucum, "mg", "g", float64(n)/100) }},
		{vigil.ParamURI, func(n int) vigil.IndexEntry { return uri("p", fmt.Sprintf("http://x.org/%d", n)) }},
		{vigil.ParamReference, func(n int) vigil.IndexEntry { return ref("p", "Patient", fmt.Sprintf("id%d", n)) }},
	}
	for _, k := range kinds {
		t.Run(k.typ.String(), func(t *testing.T) {
			f := newFx(t, open)
			f.save("Basic", "r1", k.entry(3))
			f.save("Basic", "r2", k.entry(1), k.entry(5))
			f.save("Basic", "r3", str("other", "x"))
			f.save("Basic", "r4", k.entry(2))
			f.save("Basic", "r5", k.entry(2))
			q := query("Basic")
			q.Sort = []vigil.SortKey{{Param: "p", Type: k.typ}}
			f.expectOrder(q, asc...)
			q = query("Basic")
			q.Sort = []vigil.SortKey{{Param: "p", Type: k.typ, Desc: true}}
			f.expectOrder(q, desc...)
		})
	}
	t.Run("_id", func(t *testing.T) {
		f := newFx(t, open)
		for _, id := range []string{"c", "a", "e", "b", "d"} {
			f.save("Basic", id)
		}
		q := query("Basic")
		q.Sort = []vigil.SortKey{{Param: "_id", Type: vigil.ParamToken}}
		f.expectOrder(q, "a", "b", "c", "d", "e")
		q.Sort[0].Desc = true
		f.expectOrder(q, "e", "d", "c", "b", "a")
	})
	t.Run("_lastUpdated", func(t *testing.T) {
		f := newFx(t, open)
		f.save("Basic", "a")
		f.save("Basic", "b")
		f.save("Basic", "c")
		f.save("Basic", "a")
		q := query("Basic")
		q.Sort = []vigil.SortKey{{Param: "_lastUpdated", Type: vigil.ParamDate}}
		f.expectOrder(q, "b", "c", "a")
		q.Sort[0].Desc = true
		f.expectOrder(q, "a", "c", "b")
	})
	t.Run("default creation order", func(t *testing.T) {
		f := newFx(t, open)
		f.save("Basic", "z")
		f.save("Basic", "a")
		f.save("Basic", "m")
		f.save("Basic", "z") // updates keep the creation key
		f.expectOrder(query("Basic"), "z", "a", "m")
	})
	t.Run("two keys", func(t *testing.T) {
		f := newFx(t, open)
		y := func(n int) vigil.IndexEntry { s, e := day(n, 1, 1); return date("date", s, e) }
		f.save("Basic", "a", tok("code", "", "x"), y(2020))
		f.save("Basic", "b", tok("code", "", "x"), y(2021))
		f.save("Basic", "c", tok("code", "", "y"), y(2019))
		f.save("Basic", "d", tok("code", "", "x"))
		f.save("Basic", "e")
		q := query("Basic")
		q.Sort = []vigil.SortKey{{Param: "code", Type: vigil.ParamToken}, {Param: "date", Type: vigil.ParamDate, Desc: true}}
		f.expectOrder(q, "b", "a", "d", "c", "e")
	})
	t.Run("filtered", func(t *testing.T) {
		f := newFx(t, open)
		f.save("Basic", "a", tok("code", "", "x"), num("n", 3, 2.5, 3.5))
		f.save("Basic", "b", tok("code", "", "y"), num("n", 1, 0.5, 1.5))
		f.save("Basic", "c", tok("code", "", "x"), num("n", 2, 1.5, 2.5))
		q := query("Basic", param("code", vigil.ParamToken, vCode("x")))
		q.Sort = []vigil.SortKey{{Param: "n", Type: vigil.ParamNumber}}
		f.expectOrder(q, "c", "a")
	})
}

// pageAll follows q's cursors to the end and returns the matches of every
// page, calling between(i) after page i.
func (f *fx) pageAll(q *vigil.SearchQuery, between func(page int)) []string {
	f.t.Helper()
	var all []string
	for page := 0; ; page++ {
		if page > 1000 {
			f.t.Fatal("paging does not end")
		}
		res := f.search(q)
		if q.Count > 0 && len(res.Matches) > q.Count {
			f.t.Errorf("page %d has %d matches, Count %d", page, len(res.Matches), q.Count)
		}
		all = append(all, refs(q.Type, res.Matches)...)
		if between != nil {
			between(page)
		}
		if res.Next == "" {
			return all
		}
		q.Cursor = res.Next
	}
}

func noDuplicates(t *testing.T, got []string) {
	t.Helper()
	seen := map[string]bool{}
	for _, id := range got {
		if seen[id] {
			t.Errorf("%s returned twice in %v", id, got)
		}
		seen[id] = true
	}
}

func testPaging(t *testing.T, open func(t *testing.T) vigil.ResourceStore) {
	t.Run("pages", func(t *testing.T) {
		f := newFx(t, open)
		var want []string
		for i := range 25 {
			id := fmt.Sprintf("p%02d", i)
			f.save("Patient", id)
			want = append(want, id)
		}
		q := query("Patient")
		q.Count = 10
		got := f.pageAll(q, nil)
		if !slices.Equal(got, want) {
			t.Errorf("pages = %v, want %v", got, want)
		}
		res := f.search(&vigil.SearchQuery{Type: "Patient", Count: 10})
		if len(res.Matches) != 10 || res.Next == "" {
			t.Errorf("first page has %d matches and Next %q, want 10 and a cursor", len(res.Matches), res.Next)
		}
	})
	t.Run("exact multiple", func(t *testing.T) {
		f := newFx(t, open)
		for i := range 6 {
			f.save("Patient", fmt.Sprint(i))
		}
		q := query("Patient")
		q.Count = 3
		got := f.pageAll(q, nil)
		if !slices.Equal(got, []string{"0", "1", "2", "3", "4", "5"}) {
			t.Errorf("pages = %v", got)
		}
	})
	t.Run("changes between pages", func(t *testing.T) {
		f := newFx(t, open)
		for i := range 25 {
			f.save("Patient", fmt.Sprintf("p%02d", i), tok("code", "", "x"))
		}
		q := query("Patient", param("code", vigil.ParamToken, vCode("x")))
		q.Count = 10
		got := f.pageAll(q, func(page int) {
			if page != 0 {
				return
			}
			f.del("Patient", "p03")                                          // before the cursor
			f.del("Patient", "p15")                                          // after the cursor
			f.save("Patient", "p12", tok("code", "", "x"), str("name", "u")) // updated after the cursor
			f.save("Patient", "p05", tok("code", "", "x"), str("name", "u")) // updated before the cursor
			f.save("Patient", "p25", tok("code", "", "x"))                   // created after
		})
		var want []string
		for i := range 26 {
			if i != 15 {
				want = append(want, fmt.Sprintf("p%02d", i))
			}
		}
		noDuplicates(t, got)
		if !slices.Equal(got, want) {
			t.Errorf("pages = %v, want %v", got, want)
		}
	})
	t.Run("changes between sorted pages", func(t *testing.T) {
		f := newFx(t, open)
		d := func(n int) vigil.IndexEntry { s, e := day(2024, 1, 1+n); return date("date", s, e) }
		for i := range 20 {
			f.save("Observation", fmt.Sprintf("s%02d", i), d(2*i+2))
		}
		q := query("Observation")
		q.Sort = []vigil.SortKey{{Param: "date", Type: vigil.ParamDate}}
		q.Count = 5
		got := f.pageAll(q, func(page int) {
			if page != 0 {
				return
			}
			f.save("Observation", "early", d(1)) // sorts before the cursor
			f.save("Observation", "mid", d(17))  // between s07 and s08
			f.save("Observation", "tie", d(20))  // ties with s09, created later
			f.save("Observation", "nodate")      // sorts last
			f.del("Observation", "s06")
			f.del("Observation", "s02")
		})
		want := []string{"s00", "s01", "s02", "s03", "s04", "s05", "s07", "mid", "s08", "s09", "tie"}
		for i := 10; i < 20; i++ {
			want = append(want, fmt.Sprintf("s%02d", i))
		}
		want = append(want, "nodate")
		noDuplicates(t, got)
		if !slices.Equal(got, want) {
			t.Errorf("pages = %v, want %v", got, want)
		}
	})
	t.Run("sorted with ties and missing", func(t *testing.T) {
		f := newFx(t, open)
		err := f.s.Write(f.ctx, func(ctx context.Context, tx vigil.ResourceTx) error {
			for i := range 30 {
				var idx []vigil.IndexEntry
				if i%5 != 0 {
					s, e := day(2024, 1, 1+i%7)
					idx = append(idx, date("date", s, e), str("name", fmt.Sprintf("n%d", i%4)))
				}
				if err := tx.Put(ctx, doc("Observation", fmt.Sprintf("o%02d", i), 1, f.tick()), idx); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, sort := range [][]vigil.SortKey{
			{{Param: "date", Type: vigil.ParamDate, Desc: true}},
			{{Param: "date", Type: vigil.ParamDate}},
			{{Param: "name", Type: vigil.ParamString}, {Param: "date", Type: vigil.ParamDate, Desc: true}},
			{{Param: "name", Type: vigil.ParamString, Desc: true}, {Param: "_id", Type: vigil.ParamToken, Desc: true}},
			{{Param: "_lastUpdated", Type: vigil.ParamDate, Desc: true}},
		} {
			q := query("Observation")
			q.Sort, q.Count = sort, 1000
			all := refs("Observation", f.search(q).Matches)
			if len(all) != 30 {
				t.Fatalf("sort %v: one page has %d matches, want 30", sort, len(all))
			}
			for _, count := range []int{1, 4, 7} {
				q := query("Observation")
				q.Sort, q.Count = sort, count
				got := f.pageAll(q, nil)
				if !slices.Equal(got, all) {
					t.Errorf("sort %v in pages of %d = %v, want %v", sort, count, got, all)
				}
			}
		}
	})
	t.Run("count default and cap", func(t *testing.T) {
		f := newFx(t, open)
		err := f.s.Write(f.ctx, func(ctx context.Context, tx vigil.ResourceTx) error {
			at := f.tick()
			for i := range 1005 {
				if err := tx.Put(ctx, doc("Patient", fmt.Sprint(i), 1, at), nil); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		res := f.search(query("Patient"))
		if len(res.Matches) != 50 || res.Next == "" {
			t.Errorf("Count 0: %d matches, Next %q; want 50 and a cursor", len(res.Matches), res.Next)
		}
		q := query("Patient")
		q.Count = 5000
		res = f.search(q)
		if len(res.Matches) != 1000 || res.Next == "" {
			t.Errorf("Count 5000: %d matches, Next %q; want 1000 and a cursor", len(res.Matches), res.Next)
		}
		q.Cursor = res.Next
		res = f.search(q)
		if len(res.Matches) != 5 || res.Next != "" {
			t.Errorf("second page of Count 5000: %d matches, Next %q; want 5 and none", len(res.Matches), res.Next)
		}
	})
	t.Run("bad cursor", func(t *testing.T) {
		f := newFx(t, open)
		for i := range 5 {
			f.save("Patient", fmt.Sprint(i), str("name", "x"), tok("code", "", "c"))
		}
		q := query("Patient")
		q.Count = 2
		cursor := f.search(q).Next
		if cursor == "" {
			t.Fatal("no cursor")
		}
		other := func(mod func(q *vigil.SearchQuery)) *vigil.SearchQuery {
			q := query("Patient")
			q.Count, q.Cursor = 2, cursor
			mod(q)
			return q
		}
		cases := []struct {
			name string
			q    *vigil.SearchQuery
		}{
			{"other params", other(func(q *vigil.SearchQuery) {
				q.Params = []vigil.SearchParam{param("name", vigil.ParamString, vText("x"))}
			})},
			{"other type", other(func(q *vigil.SearchQuery) { q.Type = "Observation" })},
			{"other sort", other(func(q *vigil.SearchQuery) {
				q.Sort = []vigil.SortKey{{Param: "_id", Type: vigil.ParamToken}}
			})},
			{"other value", func() *vigil.SearchQuery {
				q := query("Patient", param("code", vigil.ParamToken, vCode("c")))
				q.Count = 2
				c := f.search(q).Next
				q = query("Patient", param("code", vigil.ParamToken, vCode("d")))
				q.Count, q.Cursor = 2, c
				return q
			}()},
			{"garbled", other(func(q *vigil.SearchQuery) { q.Cursor = "!!not-a-cursor" })},
			{"truncated", other(func(q *vigil.SearchQuery) { q.Cursor = cursor[:len(cursor)/2] })},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				_, err := f.s.Search(f.ctx, c.q)
				isErr(t, "Search(foreign cursor)", err, vigil.ErrInvalid)
			})
		}
	})
}

func testTotal(t *testing.T, open func(t *testing.T) vigil.ResourceStore) {
	f := newFx(t, open)
	for i := range 5 {
		f.save("Patient", fmt.Sprint(i), tok("active", "", "true"))
	}
	f.save("Patient", "inactive", tok("active", "", "false"))
	f.save("Patient", "deleted", tok("active", "", "true"))
	f.del("Patient", "deleted")
	active := func() *vigil.SearchQuery {
		return query("Patient", param("active", vigil.ParamToken, vCode("true")))
	}
	t.Run("not asked", func(t *testing.T) {
		f.t = t
		if res := f.search(active()); res.Total != -1 {
			t.Errorf("Total = %d without Total, want -1", res.Total)
		}
	})
	t.Run("every page", func(t *testing.T) {
		f.t = t
		q := active()
		q.Total, q.Count = true, 2
		for page := 0; ; page++ {
			res := f.search(q)
			if res.Total != 5 {
				t.Errorf("page %d Total = %d, want 5", page, res.Total)
			}
			if res.Next == "" || page > 5 {
				break
			}
			q.Cursor = res.Next
		}
	})
	t.Run("summary count", func(t *testing.T) {
		f.t = t
		q := active()
		q.SummaryCount = true
		res := f.search(q)
		if res.Total != 5 || len(res.Matches) != 0 || len(res.Included) != 0 {
			t.Errorf("SummaryCount: Total %d, %d matches, %d included; want 5, 0, 0", res.Total, len(res.Matches), len(res.Included))
		}
		q = query("")
		q.SummaryCount = true
		if res := f.search(q); res.Total != 6 {
			t.Errorf("SummaryCount of all: Total %d, want 6", res.Total)
		}
	})
	t.Run("zero", func(t *testing.T) {
		f.t = t
		q := query("Observation")
		q.Total = true
		if res := f.search(q); res.Total != 0 || len(res.Matches) != 0 || res.Next != "" {
			t.Errorf("empty search: Total %d, %d matches, Next %q", res.Total, len(res.Matches), res.Next)
		}
	})
}
