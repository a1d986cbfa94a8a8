package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/vigilhealth/vigil"
)

// sameResource checks that got is the stored form of want.
func sameResource(t *testing.T, what string, got, want *vigil.Resource) {
	t.Helper()
	if got == nil {
		t.Errorf("%s = nil, want %s v%d", what, want.Ref(), want.Version)
		return
	}
	if got.Type != want.Type || got.ID != want.ID || got.Version != want.Version || got.Deleted != want.Deleted {
		t.Errorf("%s = %s v%d deleted=%v, want %s v%d deleted=%v", what,
			got.Ref(), got.Version, got.Deleted, want.Ref(), want.Version, want.Deleted)
	}
	if !got.LastUpdated.Equal(want.LastUpdated) {
		t.Errorf("%s LastUpdated = %v, want %v", what, got.LastUpdated, want.LastUpdated)
	}
	if got.LastUpdated.Location() != time.UTC {
		t.Errorf("%s LastUpdated location = %v, want UTC", what, got.LastUpdated.Location())
	}
	if got.Method != want.Method {
		t.Errorf("%s Method = %q, want %q", what, got.Method, want.Method)
	}
	if !bytes.Equal(got.JSON, want.JSON) {
		t.Errorf("%s JSON = %s, want %s", what, got.JSON, want.JSON)
	}
	if want.Deleted && got.JSON != nil {
		t.Errorf("%s deleted version has JSON %s, want nil", what, got.JSON)
	}
}

func testPut(t *testing.T, open func(t *testing.T) vigil.ResourceStore) {
	t.Run("create and update", func(t *testing.T) {
		f := newFx(t, open)
		v1 := f.save("Patient", "p1", str("name", "Ann"))
		got, err := f.s.Read(f.ctx, "Patient", "p1")
		if err != nil {
			t.Fatalf("Read after create = %v", err)
		}
		sameResource(t, "Read after create", got, v1)
		v2 := f.save("Patient", "p1", str("name", "Anne"))
		got, err = f.s.Read(f.ctx, "Patient", "p1")
		if err != nil {
			t.Fatalf("Read after update = %v", err)
		}
		sameResource(t, "Read after update", got, v2)
	})
	t.Run("millisecond time kept", func(t *testing.T) {
		f := newFx(t, open)
		at := time.Date(2024, 2, 29, 23, 59, 59, 123_000_000, time.UTC)
		r := doc("Patient", "p1", 1, at)
		if err := f.put(r, nil); err != nil {
			t.Fatalf("Put = %v", err)
		}
		got, err := f.s.Read(f.ctx, "Patient", "p1")
		if err != nil {
			t.Fatalf("Read = %v", err)
		}
		sameResource(t, "Read", got, r)
	})
	t.Run("version conflicts", func(t *testing.T) {
		f := newFx(t, open)
		cases := []struct {
			name    string
			version int64
		}{
			{"create with version 2", 2},
			{"create with version 0", 0},
		}
		for _, c := range cases {
			err := f.put(doc("Patient", "new", c.version, f.tick()), nil)
			isErr(t, "Put("+c.name+")", err, vigil.ErrConflict)
		}
		if _, err := f.s.Read(f.ctx, "Patient", "new"); !errors.Is(err, vigil.ErrNotFound) {
			t.Errorf("Read after conflicting creates = %v, want ErrNotFound", err)
		}
		v1 := f.save("Patient", "p1")
		v2 := f.save("Patient", "p1")
		for _, v := range []int64{1, 2, 4} {
			err := f.put(doc("Patient", "p1", v, f.tick()), []vigil.IndexEntry{str("name", "x")})
			isErr(t, fmt.Sprintf("Put(v%d over v2)", v), err, vigil.ErrConflict)
		}
		got, err := f.s.Read(f.ctx, "Patient", "p1")
		if err != nil {
			t.Fatalf("Read = %v", err)
		}
		sameResource(t, "Read after conflicts", got, v2)
		f.expectSet(query("Patient", param("name", vigil.ParamString, vText("x"))))
		old, err := f.s.ReadVersion(f.ctx, "Patient", "p1", 1)
		if err != nil {
			t.Fatalf("ReadVersion(1) = %v", err)
		}
		sameResource(t, "ReadVersion(1)", old, v1)
	})
	t.Run("same id in two types", func(t *testing.T) {
		f := newFx(t, open)
		f.save("Patient", "x")
		f.save("Group", "x")
		for _, typ := range []string{"Patient", "Group"} {
			r, err := f.s.Read(f.ctx, typ, "x")
			if err != nil || r.Type != typ || r.Version != 1 {
				t.Errorf("Read(%s/x) = %v, %v; want version 1", typ, r, err)
			}
		}
	})
}

func testRead(t *testing.T, open func(t *testing.T) vigil.ResourceStore) {
	f := newFx(t, open)
	v1 := f.save("Observation", "o1", tok("code", "http://loinc.org", "8867-4"))
	v2 := f.save("Observation", "o1", tok("code", "http://loinc.org", "8310-5"))
	dv := f.del("Observation", "o1")

	t.Run("not found", func(t *testing.T) {
		_, err := f.s.Read(f.ctx, "Observation", "nope")
		isErr(t, "Read(missing)", err, vigil.ErrNotFound)
		_, err = f.s.Read(f.ctx, "Patient", "o1")
		isErr(t, "Read(other type)", err, vigil.ErrNotFound)
		_, err = f.s.ReadVersion(f.ctx, "Observation", "o1", 4)
		isErr(t, "ReadVersion(4)", err, vigil.ErrNotFound)
		_, err = f.s.ReadVersion(f.ctx, "Observation", "nope", 1)
		isErr(t, "ReadVersion(missing, 1)", err, vigil.ErrNotFound)
	})
	t.Run("gone", func(t *testing.T) {
		got, err := f.s.Read(f.ctx, "Observation", "o1")
		isErr(t, "Read(deleted)", err, vigil.ErrGone)
		sameResource(t, "Read(deleted) resource", got, dv)
	})
	t.Run("vread", func(t *testing.T) {
		for _, want := range []*vigil.Resource{v1, v2, dv} {
			got, err := f.s.ReadVersion(f.ctx, "Observation", "o1", want.Version)
			if err != nil {
				t.Fatalf("ReadVersion(%d) = %v", want.Version, err)
			}
			sameResource(t, fmt.Sprintf("ReadVersion(%d)", want.Version), got, want)
		}
	})
	t.Run("deleted not searchable", func(t *testing.T) {
		f.t = t
		f.expectSet(query("Observation", param("code", vigil.ParamToken, vCode("8310-5"))))
		f.expectSet(query("Observation", vID("o1")))
		f.expectSet(query("Observation"))
	})
	t.Run("recreate after delete", func(t *testing.T) {
		f.t = t
		err := f.put(doc("Observation", "o1", 1, f.tick()), nil)
		isErr(t, "Put(v1 over deleted v3)", err, vigil.ErrConflict)
		v4 := f.save("Observation", "o1", tok("code", "http://loinc.org", "29463-7"))
		got, err := f.s.Read(f.ctx, "Observation", "o1")
		if err != nil {
			t.Fatalf("Read after recreate = %v", err)
		}
		sameResource(t, "Read after recreate", got, v4)
		f.expectSet(query("Observation", param("code", vigil.ParamToken, vCode("29463-7"))), "o1")
	})
}

func testWrite(t *testing.T, open func(t *testing.T) vigil.ResourceStore) {
	t.Run("fn error writes nothing", func(t *testing.T) {
		f := newFx(t, open)
		f.save("Patient", "p1", str("name", "old"))
		boom := errors.New("boom")
		err := f.s.Write(f.ctx, func(ctx context.Context, tx vigil.ResourceTx) error {
			if err := tx.Put(ctx, doc("Patient", "p2", 1, f.tick()), []vigil.IndexEntry{str("name", "new")}); err != nil {
				return err
			}
			if err := tx.Put(ctx, doc("Patient", "p1", 2, f.tick()), []vigil.IndexEntry{str("name", "new")}); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("Write = %v, want the fn's error", err)
		}
		_, err = f.s.Read(f.ctx, "Patient", "p2")
		isErr(t, "Read(p2 of failed Write)", err, vigil.ErrNotFound)
		if r, err := f.s.Read(f.ctx, "Patient", "p1"); err != nil || r.Version != 1 {
			t.Errorf("Read(p1) = v%v, %v; want v1", r, err)
		}
		f.expectSet(query("Patient", param("name", vigil.ParamString, vText("new"))))
		f.expectSet(query("Patient", param("name", vigil.ParamString, vText("old"))), "p1")
		h, err := f.s.History(f.ctx, &vigil.HistoryQuery{})
		if err != nil {
			t.Fatalf("History = %v", err)
		}
		if len(h.Versions) != 1 {
			t.Errorf("system history after failed Write has %d versions, want 1", len(h.Versions))
		}
	})
	t.Run("conflict in fn writes nothing", func(t *testing.T) {
		f := newFx(t, open)
		f.save("Patient", "p1")
		err := f.s.Write(f.ctx, func(ctx context.Context, tx vigil.ResourceTx) error {
			if err := tx.Put(ctx, doc("Patient", "p2", 1, f.tick()), nil); err != nil {
				return err
			}
			return tx.Put(ctx, doc("Patient", "p1", 1, f.tick()), nil)
		})
		isErr(t, "Write(conflicting Put)", err, vigil.ErrConflict)
		_, err = f.s.Read(f.ctx, "Patient", "p2")
		isErr(t, "Read(p2)", err, vigil.ErrNotFound)
	})
	t.Run("fn sees own writes", func(t *testing.T) {
		f := newFx(t, open)
		f.save("Patient", "p1", str("name", "Ann"))
		err := f.s.Write(f.ctx, func(ctx context.Context, tx vigil.ResourceTx) error {
			if err := tx.Put(ctx, doc("Patient", "p2", 1, f.tick()), []vigil.IndexEntry{str("name", "Bob")}); err != nil {
				return err
			}
			if err := tx.Put(ctx, doc("Patient", "p1", 2, f.tick()), []vigil.IndexEntry{str("name", "Bea")}); err != nil {
				return err
			}
			r, err := tx.Read(ctx, "Patient", "p2")
			if err != nil {
				return fmt.Errorf("tx.Read(p2): %w", err)
			}
			if r.Version != 1 {
				return fmt.Errorf("tx.Read(p2) version %d, want 1", r.Version)
			}
			r, err = tx.Read(ctx, "Patient", "p1")
			if err != nil || r.Version != 2 {
				return fmt.Errorf("tx.Read(p1) = %v, %v; want version 2", r, err)
			}
			if _, err := tx.ReadVersion(ctx, "Patient", "p1", 2); err != nil {
				return fmt.Errorf("tx.ReadVersion(p1, 2): %w", err)
			}
			res, err := tx.Search(ctx, query("Patient", param("name", vigil.ParamString, vText("b"))))
			if err != nil {
				return fmt.Errorf("tx.Search: %w", err)
			}
			got := refs("Patient", res.Matches)
			slices.Sort(got)
			if !slices.Equal(got, []string{"p1", "p2"}) {
				return fmt.Errorf("tx.Search(name=b) = %v, want [p1 p2]", got)
			}
			if err := tx.Put(ctx, &vigil.Resource{Type: "Patient", ID: "p2", Version: 2, LastUpdated: f.tick(), Deleted: true, Method: "DELETE"}, nil); err != nil {
				return err
			}
			if _, err := tx.Read(ctx, "Patient", "p2"); !errors.Is(err, vigil.ErrGone) {
				return fmt.Errorf("tx.Read(deleted p2) = %v, want ErrGone", err)
			}
			h, err := tx.History(ctx, &vigil.HistoryQuery{Type: "Patient", ID: "p2"})
			if err != nil {
				return fmt.Errorf("tx.History: %w", err)
			}
			if len(h.Versions) != 2 {
				return fmt.Errorf("tx.History(p2) has %d versions, want 2", len(h.Versions))
			}
			return nil
		})
		if err != nil {
			t.Fatalf("Write = %v", err)
		}
		if r, err := f.s.Read(f.ctx, "Patient", "p1"); err != nil || r.Version != 2 {
			t.Errorf("Read(p1) after Write = %v, %v; want version 2", r, err)
		}
	})
	t.Run("failing fn does not disturb others", func(t *testing.T) {
		// Several concurrent Writes, every other one failing: with group
		// commit they may share a database transaction, yet each succeeds
		// or fails alone.
		f := newFx(t, open)
		const n = 20
		errs := make(chan error, n)
		boom := errors.New("boom")
		at := f.tick()
		for i := range n {
			go func() {
				errs <- f.s.Write(f.ctx, func(ctx context.Context, tx vigil.ResourceTx) error {
					id := fmt.Sprintf("p%02d", i)
					if err := tx.Put(ctx, doc("Patient", id, 1, at), []vigil.IndexEntry{str("name", id)}); err != nil {
						return err
					}
					if i%2 == 1 {
						return boom
					}
					return nil
				})
			}()
		}
		failed := 0
		for range n {
			err := <-errs
			switch {
			case errors.Is(err, boom):
				failed++
			case err != nil:
				t.Errorf("Write = %v", err)
			}
		}
		if failed != n/2 {
			t.Errorf("%d Writes failed, want %d", failed, n/2)
		}
		var want []string
		for i := 0; i < n; i += 2 {
			want = append(want, fmt.Sprintf("p%02d", i))
		}
		f.expectSet(query("Patient"), want...)
		f.expectSet(query("Patient", param("name", vigil.ParamString, vText("p"))), want...)
	})
	t.Run("canceled context", func(t *testing.T) {
		f := newFx(t, open)
		ctx, cancel := context.WithCancel(f.ctx)
		cancel()
		err := f.s.Write(ctx, func(ctx context.Context, tx vigil.ResourceTx) error {
			return tx.Put(ctx, doc("Patient", "p1", 1, f.tick()), nil)
		})
		if err == nil {
			// A store may run fn before noticing; then it must have committed.
			if _, err := f.s.Read(f.ctx, "Patient", "p1"); err != nil {
				t.Errorf("Write with canceled ctx returned nil but Read = %v", err)
			}
		} else if _, err := f.s.Read(f.ctx, "Patient", "p1"); !errors.Is(err, vigil.ErrNotFound) {
			t.Errorf("Write with canceled ctx failed but Read = %v, want ErrNotFound", err)
		}
	})
}

// historyIDs renders versions as "Type/id/v".
func historyIDs(vs []vigil.Resource) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = fmt.Sprintf("%s/%d", v.Ref(), v.Version)
	}
	return out
}

func testHistory(t *testing.T, open func(t *testing.T) vigil.ResourceStore) {
	f := newFx(t, open)
	f.save("Patient", "p1")     // t+1
	f.save("Observation", "o1") // t+2
	f.save("Patient", "p1")     // t+3
	f.save("Patient", "p2")     // t+4
	f.del("Patient", "p1")      // t+5
	f.save("Observation", "o1") // t+6
	f.save("Patient", "p1")     // t+7
	at := func(s int) time.Time { return base().Add(time.Duration(s) * time.Second) }
	hist := func(t *testing.T, q *vigil.HistoryQuery) *vigil.HistoryResult {
		t.Helper()
		h, err := f.s.History(f.ctx, q)
		if err != nil {
			t.Fatalf("History(%+v) = %v", q, err)
		}
		return h
	}
	cases := []struct {
		name string
		q    vigil.HistoryQuery
		want []string
	}{
		{"instance", vigil.HistoryQuery{Type: "Patient", ID: "p1"},
			[]string{"Patient/p1/4", "Patient/p1/3", "Patient/p1/2", "Patient/p1/1"}},
		{"type", vigil.HistoryQuery{Type: "Patient"},
			[]string{"Patient/p1/4", "Patient/p1/3", "Patient/p2/1", "Patient/p1/2", "Patient/p1/1"}},
		{"system", vigil.HistoryQuery{},
			[]string{"Patient/p1/4", "Observation/o1/2", "Patient/p1/3", "Patient/p2/1", "Patient/p1/2", "Observation/o1/1", "Patient/p1/1"}},
		{"since", vigil.HistoryQuery{Since: at(4)},
			[]string{"Patient/p1/4", "Observation/o1/2", "Patient/p1/3", "Patient/p2/1"}},
		{"instance since", vigil.HistoryQuery{Type: "Patient", ID: "p1", Since: at(3)},
			[]string{"Patient/p1/4", "Patient/p1/3", "Patient/p1/2"}},
		{"at", vigil.HistoryQuery{At: at(5)},
			[]string{"Patient/p1/3", "Patient/p2/1", "Observation/o1/1"}},
		{"type at", vigil.HistoryQuery{Type: "Patient", At: at(3)},
			[]string{"Patient/p1/2"}},
		{"unknown instance", vigil.HistoryQuery{Type: "Patient", ID: "nope"}, []string{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := hist(t, &c.q)
			got := historyIDs(h.Versions)
			if !slices.Equal(got, c.want) {
				t.Errorf("History(%+v) = %v, want %v", c.q, got, c.want)
			}
			if h.Total != len(c.want) {
				t.Errorf("History(%+v).Total = %d, want %d", c.q, h.Total, len(c.want))
			}
			if h.Next != "" {
				t.Errorf("History(%+v).Next = %q on a single page", c.q, h.Next)
			}
		})
	}
	t.Run("versions complete", func(t *testing.T) {
		h := hist(t, &vigil.HistoryQuery{Type: "Patient", ID: "p1"})
		if len(h.Versions) != 4 {
			t.Fatalf("got %d versions", len(h.Versions))
		}
		del := h.Versions[1]
		if !del.Deleted || del.JSON != nil || del.Method != "DELETE" {
			t.Errorf("delete version = deleted %v, method %q, JSON %s", del.Deleted, del.Method, del.JSON)
		}
		first := h.Versions[3]
		sameResource(t, "first version", &first, doc("Patient", "p1", 1, at(1)))
	})
	t.Run("paging", func(t *testing.T) {
		f.t = t
		var got []string
		q := &vigil.HistoryQuery{Count: 3}
		for pages := 0; ; pages++ {
			if pages > 5 {
				t.Fatal("too many pages")
			}
			h := hist(t, q)
			if pages == 0 && h.Total != 7 {
				t.Errorf("page %d Total = %d, want 7", pages, h.Total)
			}
			if len(h.Versions) > 3 {
				t.Errorf("page %d has %d versions, Count 3", pages, len(h.Versions))
			}
			got = append(got, historyIDs(h.Versions)...)
			if pages == 0 {
				// A write after the first page does not disturb the next pages.
				f.save("Patient", "p3")
			}
			if h.Next == "" {
				break
			}
			q.Cursor = h.Next
		}
		want := []string{"Patient/p1/4", "Observation/o1/2", "Patient/p1/3", "Patient/p2/1", "Patient/p1/2", "Observation/o1/1", "Patient/p1/1"}
		if !slices.Equal(got, want) {
			t.Errorf("paged history = %v, want %v", got, want)
		}
	})
	t.Run("garbled cursor", func(t *testing.T) {
		_, err := f.s.History(f.ctx, &vigil.HistoryQuery{Cursor: "not a cursor!"})
		isErr(t, "History(garbled cursor)", err, vigil.ErrInvalid)
	})
	t.Run("default count", func(t *testing.T) {
		g := newFx(t, open)
		err := g.s.Write(g.ctx, func(ctx context.Context, tx vigil.ResourceTx) error {
			for i := range 60 {
				if err := tx.Put(ctx, doc("Patient", fmt.Sprint(i), 1, g.tick()), nil); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		h, err := g.s.History(g.ctx, &vigil.HistoryQuery{})
		if err != nil {
			t.Fatal(err)
		}
		if len(h.Versions) != 50 || h.Next == "" || h.Total != 60 {
			t.Errorf("History(Count 0) = %d versions, Next %q, Total %d; want 50, a cursor, 60", len(h.Versions), h.Next, h.Total)
		}
	})
}
