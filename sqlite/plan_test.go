package sqlite

import (
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
// the driving condition by an index search, the others by (key, param)
// probes, and never by a scan of an index table.
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
			[]string{"idx_ref_target (ref_id=? AND ref_type=? AND param=?)", "COVERING INDEX idx_token_key (key=? AND param=? AND code=? AND system=?)", "COVERING INDEX idx_date_key (key=? AND param=?"}},
		{"code date", &vigil.SearchQuery{Type: "Observation", Params: []vigil.SearchParam{date, code}},
			[]string{"idx_token_value (param=? AND code=? AND system=?)", "COVERING INDEX idx_date_key (key=? AND param=?"}},
		{"name prefix", &vigil.SearchQuery{Type: "Patient", Params: []vigil.SearchParam{name}},
			[]string{"idx_string_value (param=? AND text>? AND text<?)"}},
		{"compartment", &vigil.SearchQuery{Type: "Observation", Compartment: comp, Params: []vigil.SearchParam{code}},
			[]string{"idx_ref_target (ref_id=? AND ref_type=? AND param=?)", "COVERING INDEX idx_token_key (key=? AND param=? AND code=? AND system=?)"}},
		{"sorted by date", &vigil.SearchQuery{Type: "Observation", Params: []vigil.SearchParam{subject}, Sort: []vigil.SortKey{{Param: "date", Type: vigil.ParamDate, Desc: true}}},
			[]string{"idx_ref_target (ref_id=? AND ref_type=? AND param=?)", "COVERING INDEX idx_date_key (key=? AND param=?"}},
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
