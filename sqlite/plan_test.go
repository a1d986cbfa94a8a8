package sqlite

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vigilhealth/vigil"
)

// explain returns SQLite's query plan of the page query of sq.
func explain(t *testing.T, db *DB, sq *vigil.SearchQuery) string {
	t.Helper()
	var b builder
	fl, err := b.filters("r", sq.Type, sq.Params, sq.Compartment)
	if err != nil {
		t.Fatal(err)
	}
	where := join(" AND ", f("r.deleted = 0"), f("r.type = ?", sq.Type), fl)
	page, err := b.page(sq, where, nil, 50)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := db.read.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+page.sql, page.args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out strings.Builder
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		out.WriteString(detail + "\n")
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

// TestPlan checks that the typical searches are answered from indexes:
// the driving condition by an index search, the others by probes on the
// resource's key (the (key, param) primary key of the index table), and
// never by a scan of an index table.
func TestPlan(t *testing.T) {
	db, err := Open(t.Context(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	from := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	subject := vigil.SearchParam{Name: "subject", Type: vigil.ParamReference, Values: []vigil.SearchValue{{RefType: "Patient", RefID: "x"}}}
	code := vigil.SearchParam{Name: "code", Type: vigil.ParamToken, Values: []vigil.SearchValue{{System: "http://loinc.org", Code: "8867-4"}}}
	date := vigil.SearchParam{Name: "date", Type: vigil.ParamDate, Values: []vigil.SearchValue{{Prefix: vigil.PrefixGe, Start: from, End: from.AddDate(0, 0, 1)}}}
	name := vigil.SearchParam{Name: "name", Type: vigil.ParamString, Values: []vigil.SearchValue{{Text: "smi"}}}
	comp := &vigil.Compartment{Type: "Patient", ID: "x", Params: map[string][]string{"Observation": {"subject", "performer"}}}
	cases := []struct {
		name string
		q    *vigil.SearchQuery
		want []string // plan lines that must appear
	}{
		{"subject code date", &vigil.SearchQuery{Type: "Observation", Params: []vigil.SearchParam{date, code, subject}},
			[]string{"USING PRIMARY KEY (ref_id=? AND ref_type=? AND tok_param=? AND code=? AND system=?)", "EXISTS USING PRIMARY KEY (key=? AND param=?)"}},
		{"patient code any system", &vigil.SearchQuery{Type: "Observation", Params: []vigil.SearchParam{
			{Name: "patient", Type: vigil.ParamReference, Modifier: "Patient", Values: []vigil.SearchValue{{RefID: "x"}}},
			{Name: "code", Type: vigil.ParamToken, Values: []vigil.SearchValue{{Code: "8867-4", AnySystem: true}}}}},
			[]string{"USING PRIMARY KEY (ref_id=? AND ref_type=? AND tok_param=? AND code=?)"}},
		{"subject date", &vigil.SearchQuery{Type: "Observation", Params: []vigil.SearchParam{date, subject}},
			[]string{"idx_ref_target (ref_id=? AND ref_type=? AND param=?)", "EXISTS USING PRIMARY KEY (key=? AND param=?)"}},
		{"subject two codes", &vigil.SearchQuery{Type: "Observation", Params: []vigil.SearchParam{subject, {Name: "code", Type: vigil.ParamToken,
			Values: []vigil.SearchValue{code.Values[0], {System: "http://loinc.org", Code: "9279-1"}}}}},
			[]string{"idx_ref_target (ref_id=? AND ref_type=? AND param=?)", "EXISTS USING PRIMARY KEY (key=? AND param=?)"}},
		{"code date", &vigil.SearchQuery{Type: "Observation", Params: []vigil.SearchParam{date, code}},
			[]string{"idx_token_value (param=? AND code=? AND system=?)", "USING PRIMARY KEY (key=? AND param=?)"}},
		{"name prefix", &vigil.SearchQuery{Type: "Patient", Params: []vigil.SearchParam{name}},
			[]string{"idx_string_value (param=? AND text>? AND text<?)"}},
		{"compartment", &vigil.SearchQuery{Type: "Observation", Compartment: comp, Params: []vigil.SearchParam{code}},
			[]string{"idx_ref_target (ref_id=? AND ref_type=? AND param=?)", "EXISTS USING PRIMARY KEY (key=? AND param=?)"}},
		{"sorted by date", &vigil.SearchQuery{Type: "Observation", Params: []vigil.SearchParam{subject}, Sort: []vigil.SortKey{{Param: "date", Type: vigil.ParamDate, Desc: true}}},
			[]string{"idx_ref_target (ref_id=? AND ref_type=? AND param=?)", "USING PRIMARY KEY (key=? AND param=?)"}},
		{"quantity canonical", &vigil.SearchQuery{Type: "Observation", Params: []vigil.SearchParam{{Name: "value-quantity", Type: vigil.ParamQuantity,
			Values: []vigil.SearchValue{{Prefix: vigil.PrefixGt, Value: 5, System: "http://unitsofmeasure.org", Code: "mg", CanonCode: "g", CanonValue: 0.005}}}}},
			[]string{"idx_quantity_canon (canon_code=? AND canon_value>?)"}},
		{"quantity by code", &vigil.SearchQuery{Type: "Observation", Params: []vigil.SearchParam{{Name: "value-quantity", Type: vigil.ParamQuantity,
			Values: []vigil.SearchValue{{Prefix: vigil.PrefixGt, Value: 5, System: "http://other.org", Code: "tablet"}}}}},
			[]string{"idx_quantity_code (param=? AND code=? AND value>?)"}},
		{"chain", &vigil.SearchQuery{Type: "Observation", Params: []vigil.SearchParam{{Name: "subject", Type: vigil.ParamReference, TargetTypes: []string{"Patient"}, Chain: &name}}},
			[]string{"idx_string_value (param=? AND text>? AND text<?)"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			plan := explain(t, db, c.q)
			for _, w := range c.want {
				if !strings.Contains(plan, w) {
					t.Errorf("plan lacks %q:\n%s", w, plan)
				}
			}
			for _, line := range strings.Split(plan, "\n") {
				if strings.HasPrefix(strings.TrimSpace(line), "SCAN") && strings.Contains(line, "idx_") {
					t.Errorf("plan scans an index table: %q\n%s", line, plan)
				}
			}
			if t.Failed() || testing.Verbose() {
				t.Logf("plan:\n%s", plan)
			}
		})
	}
}

// TestPlanDate checks that date-driven searches use index ranges on a
// store with statistics (as PRAGMA optimize leaves them): narrow entries
// by start, wide ones through idx_date_wide.
func TestPlanDate(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	from := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	err = db.Write(t.Context(), func(ctx context.Context, tx vigil.ResourceTx) error {
		for i := range 2000 {
			at := from.Add(time.Duration(i) * time.Hour)
			idx := []vigil.IndexEntry{{Param: "date", Type: vigil.ParamDate, Start: at, End: at.Add(time.Second)}}
			if i%100 == 0 { // a few wide (open-ended) periods
				idx[0].End = time.Time{}
			}
			r := &vigil.Resource{Type: "Observation", ID: fmt.Sprint(i), Version: 1, LastUpdated: from, JSON: []byte(`{}`)}
			if err := tx.Put(ctx, r, idx); err != nil {
				return err
			}
		}
		_, err := db.conn.ExecContext(ctx, "ANALYZE")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// Connections load statistics with the schema: reopen.
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if db, err = Open(t.Context(), dir); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	day := func(p vigil.Prefix) *vigil.SearchQuery {
		at := from.AddDate(0, 0, 40)
		return &vigil.SearchQuery{Type: "Observation", Params: []vigil.SearchParam{{Name: "date", Type: vigil.ParamDate,
			Values: []vigil.SearchValue{{Prefix: p, Start: at, End: at.AddDate(0, 0, 1)}}}}}
	}
	cases := []struct {
		name string
		q    *vigil.SearchQuery
		want []string
	}{
		{"eq", day(vigil.PrefixEq), []string{"idx_date_start (param=? AND dstart>? AND dstart<?)"}},
		{"gt", day(vigil.PrefixGt), []string{"idx_date_start (param=? AND dstart>?)", "idx_date_wide (param=? AND dend>?)"}},
		{"ge", day(vigil.PrefixGe), []string{"idx_date_start (param=? AND dstart>?)", "idx_date_wide (param=? AND dend>?)", "idx_date_start (param=? AND dstart>? AND dstart<?)"}},
		{"ap", day(vigil.PrefixAp), []string{"idx_date_start (param=? AND dstart>? AND dstart<?)", "idx_date_wide (param=? AND dend>?)"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			plan := explain(t, db, c.q)
			for _, w := range c.want {
				if !strings.Contains(plan, w) {
					t.Errorf("plan lacks %q:\n%s", w, plan)
				}
			}
			if t.Failed() || testing.Verbose() {
				t.Logf("plan:\n%s", plan)
			}
		})
	}
}

// TestPlanClearPairs checks that clearing an updated resource's
// idx_ref_token rows seeks each row by its primary key rather than
// scanning the table (which holds two rows per Observation).
func TestPlanClearPairs(t *testing.T) {
	db, err := Open(t.Context(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.read.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+deletePairs, int64(1))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan strings.Builder
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		plan.WriteString(detail + "\n")
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if want := "SEARCH idx_ref_token USING PRIMARY KEY (ref_id=? AND ref_type=? AND tok_param=? AND code=? AND system=? AND key=?"; !strings.Contains(plan.String(), want) {
		t.Errorf("plan lacks %q:\n%s", want, plan.String())
	}
	if strings.Contains(plan.String(), "SCAN") {
		t.Errorf("plan scans:\n%s", plan.String())
	}
}

// TestPlanAfterSmallClose checks that a store closed while nearly empty
// still reads a resource by its id through the (type, id) index after it
// reopens: statistics of a one-row table made the planner scan every
// resource instead, for each read and each import line.
func TestPlanAfterSmallClose(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Write(t.Context(), func(ctx context.Context, tx vigil.ResourceTx) error {
		return tx.Put(ctx, &vigil.Resource{Type: "Patient", ID: "p1", Version: 1, LastUpdated: time.Now(), Method: "PUT", JSON: []byte(`{"resourceType":"Patient","id":"p1"}`)}, nil)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.read.QueryContext(t.Context(), "EXPLAIN QUERY PLAN SELECT "+resourceCols+" FROM resources r JOIN versions v ON v.seq = r.seq WHERE r.type = ? AND r.id = ?", "Patient", "p1")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan strings.Builder
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		plan.WriteString(detail + "\n")
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if got := plan.String(); strings.Contains(got, "SCAN") || !strings.Contains(got, "USING INDEX") {
		t.Errorf("plan of a read by id after reopening a small store:\n%s\nwant index searches, no scan", got)
	}
}
