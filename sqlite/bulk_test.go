package sqlite

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/storetest"
)

// loadObservations writes n Observations (ids o-0…) of 10 patients, with
// codes, dates, a quantity and a string, in Writes of 100.
func loadObservations(t *testing.T, db *DB, n int) {
	t.Helper()
	at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for lo := 0; lo < n; lo += 100 {
		err := db.Write(t.Context(), func(ctx context.Context, tx vigil.ResourceTx) error {
			for i := lo; i < min(lo+100, n); i++ {
				idx := storetest.ObservationIndex("Patient", fmt.Sprint("p-", i%10), at.Add(time.Duration(i)*time.Hour), []string{"8867-4", "8310-5", "29463-7"}[i%3])
				idx = append(idx,
					vigil.IndexEntry{Param: "value-quantity", Type: vigil.ParamQuantity, Value: float64(i % 90), System: "http://unitsofmeasure.org", Code: "/min", CanonCode: "/min", CanonValue: float64(i % 90)},
					vigil.IndexEntry{Param: "note", Type: vigil.ParamString, Text: fmt.Sprint("note ", i%7), Exact: fmt.Sprint("Note ", i%7)})
				r := &vigil.Resource{Type: "Observation", ID: fmt.Sprint("o-", i), Version: 1, LastUpdated: at, Method: "PUT", JSON: []byte(`{}`)}
				if err := tx.Put(ctx, r, idx); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// snapshot returns what a bulk load must leave as a normal load does: the
// index definitions, the idx_ref_token rows, and the ids a few searches
// find.
func snapshot(t *testing.T, db *DB) []string {
	t.Helper()
	var out []string
	rows, err := db.read.QueryContext(t.Context(), "SELECT name, IFNULL(sql, '') FROM sqlite_schema WHERE type = 'index' ORDER BY name")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var name, def string
		if err := rows.Scan(&name, &def); err != nil {
			t.Fatal(err)
		}
		out = append(out, "index "+name+": "+def)
	}
	rows.Close()
	rows, err = db.read.QueryContext(t.Context(), "SELECT ref_id, ref_type, ref_param, tok_param, code, system, key FROM idx_ref_token ORDER BY key, ref_param, code")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var a, b, c, d, e, f string
		var k int64
		if err := rows.Scan(&a, &b, &c, &d, &e, &f, &k); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprint("pair ", a, b, c, d, e, f, k))
	}
	rows.Close()
	subject := vigil.SearchParam{Name: "subject", Type: vigil.ParamReference, Values: []vigil.SearchValue{{RefType: "Patient", RefID: "p-3"}}}
	code := vigil.SearchParam{Name: "code", Type: vigil.ParamToken, Values: []vigil.SearchValue{{System: "http://loinc.org", Code: "8310-5"}}}
	from := time.Date(2026, 11, 5, 0, 0, 0, 0, time.UTC)
	date := vigil.SearchParam{Name: "date", Type: vigil.ParamDate, Values: []vigil.SearchValue{{Prefix: vigil.PrefixGe, Start: from, End: from.Add(time.Hour)}}}
	qty := vigil.SearchParam{Name: "value-quantity", Type: vigil.ParamQuantity, Values: []vigil.SearchValue{{Prefix: vigil.PrefixGt, Value: 80, Low: 79.5, High: 80.5, System: "http://unitsofmeasure.org", Code: "/min", CanonCode: "/min", CanonValue: 80, CanonLow: 79.5, CanonHigh: 80.5}}}
	note := vigil.SearchParam{Name: "note", Type: vigil.ParamString, Values: []vigil.SearchValue{{Text: "note 3"}}}
	for _, ps := range [][]vigil.SearchParam{{subject}, {code}, {subject, code}, {subject, code, date}, {qty}, {note}, {date, qty}} {
		ids, total := searchAll(t, db, vigil.SearchQuery{Type: "Observation", Params: ps})
		if len(ids) == 0 {
			t.Fatalf("search %+v found nothing: it compares nothing", ps)
		}
		slices.Sort(ids)
		out = append(out, fmt.Sprintf("search %+v: %d %s", ps, total, strings.Join(ids, " ")))
	}
	return out
}

// TestBulkLoad checks that a store loaded with BulkLoad, finished or cut
// short and reopened, ends up as one loaded normally, and that BulkLoad
// leaves a store that holds resources alone.
func TestBulkLoad(t *testing.T) {
	const n = 600
	open := func(t *testing.T, dir string) *DB {
		t.Helper()
		db, err := Open(t.Context(), dir)
		if err != nil {
			t.Fatal(err)
		}
		return db
	}
	normal := open(t, t.TempDir())
	defer normal.Close()
	loadObservations(t, normal, n)
	want := snapshot(t, normal)

	cases := []struct {
		name   string
		finish bool // call finish; else close and reopen, as after a crash
	}{
		{"finished", true},
		{"interrupted", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			db := open(t, dir)
			finish, err := db.BulkLoad(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			var during int
			if err := db.read.QueryRowContext(t.Context(), "SELECT count(*) FROM bulk_load").Scan(&during); err != nil {
				t.Fatal(err)
			}
			if during != len(deferredIndexes) {
				t.Errorf("bulk_load holds %d rows during the load, want %d", during, len(deferredIndexes))
			}
			loadObservations(t, db, n)
			// Searches are complete during the load too (only slower):
			// idx_ref_token, which a subject+code search reads, is kept.
			subjectCode := vigil.SearchQuery{Type: "Observation", Params: []vigil.SearchParam{
				{Name: "subject", Type: vigil.ParamReference, Values: []vigil.SearchValue{{RefType: "Patient", RefID: "p-4"}}},
				{Name: "code", Type: vigil.ParamToken, Values: []vigil.SearchValue{{System: "http://loinc.org", Code: "8867-4"}}}}}
			if got, total := searchAll(t, db, subjectCode); len(got) != n/30 || total != n/30 {
				t.Errorf("subject+code search during the load found %d resources (total %d), want %d", len(got), total, n/30)
			}
			if c.finish {
				if err := finish(t.Context()); err != nil {
					t.Fatal(err)
				}
			} else {
				if err := db.Close(); err != nil {
					t.Fatal(err)
				}
				db = open(t, dir)
			}
			defer db.Close()
			if got := snapshot(t, db); !slices.Equal(got, want) {
				t.Errorf("after a bulk load the store differs from one loaded normally:\n got %q\nwant %q", got, want)
			}
			var left int
			if err := db.read.QueryRowContext(t.Context(), "SELECT count(*) FROM bulk_load").Scan(&left); err != nil || left != 0 {
				t.Errorf("bulk_load holds %d rows (%v) after the load, want none", left, err)
			}
		})
	}

	t.Run("not empty", func(t *testing.T) {
		db := open(t, t.TempDir())
		defer db.Close()
		loadObservations(t, db, 1)
		finish, err := db.BulkLoad(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		var deferred int
		if err := db.read.QueryRowContext(t.Context(), "SELECT count(*) FROM bulk_load").Scan(&deferred); err != nil || deferred != 0 {
			t.Errorf("BulkLoad on a store with a resource deferred %d statements (%v), want none", deferred, err)
		}
		if err := finish(t.Context()); err != nil {
			t.Fatal(err)
		}
	})
}

// TestBulkLoadWriterCache checks that a bulk load lends the writer the
// readers' page cache size and that finish gives it back its own.
func TestBulkLoadWriterCache(t *testing.T) {
	db, err := Open(t.Context(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	size := func() int {
		var kib int
		err := db.Write(t.Context(), func(ctx context.Context, _ vigil.ResourceTx) error {
			return db.conn.QueryRowContext(ctx, "PRAGMA cache_size").Scan(&kib)
		})
		if err != nil {
			t.Fatal(err)
		}
		return -kib
	}
	if got := size(); got != db.writerCacheKiB || got >= db.cacheKiB {
		t.Fatalf("writer cache %d KiB, want %d (below the readers' %d)", got, db.writerCacheKiB, db.cacheKiB)
	}
	finish, err := db.BulkLoad(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got := size(); got != db.cacheKiB {
		t.Errorf("during a bulk load the writer cache is %d KiB, want %d", got, db.cacheKiB)
	}
	if err := finish(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := size(); got != db.writerCacheKiB {
		t.Errorf("after the bulk load the writer cache is %d KiB, want %d", got, db.writerCacheKiB)
	}
}
