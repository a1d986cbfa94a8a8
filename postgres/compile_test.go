package postgres

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/vigilhealth/vigil"
)

func TestComponentTypes(t *testing.T) {
	day := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		v    vigil.SearchValue
		want []vigil.ParamType
	}{
		{"token code", vigil.SearchValue{Code: "8480-6", AnySystem: true}, []vigil.ParamType{vigil.ParamToken}},
		{"token system|code", vigil.SearchValue{System: "http://loinc.org", Code: "8480-6"}, []vigil.ParamType{vigil.ParamToken}},
		{"number", vigil.SearchValue{Value: 0, Low: -0.5, High: 0.5}, []vigil.ParamType{vigil.ParamNumber, vigil.ParamQuantity}},
		{"quantity with unit", vigil.SearchValue{Value: 120, Low: 119.5, High: 120.5, Code: "mm[Hg]"}, []vigil.ParamType{vigil.ParamQuantity}},
		{"date", vigil.SearchValue{Start: day, End: day.AddDate(0, 0, 1)}, []vigil.ParamType{vigil.ParamDate}},
		{"string", vigil.SearchValue{Text: "peter", Exact: "Peter"}, []vigil.ParamType{vigil.ParamString}},
		{"reference", vigil.SearchValue{RefType: "Patient", RefID: "1"}, []vigil.ParamType{vigil.ParamReference}},
		{"uri", vigil.SearchValue{URI: "http://x"}, []vigil.ParamType{vigil.ParamURI, vigil.ParamReference}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := componentTypes(&tt.v); !slices.Equal(got, tt.want) {
				t.Errorf("componentTypes(%+v) = %v, want %v", tt.v, got, tt.want)
			}
		})
	}
}

// TestCompileNeverInterpolates checks that search values reach PostgreSQL
// only as arguments.
func TestCompileNeverInterpolates(t *testing.T) {
	evil := "x'); DROP TABLE resources; --"
	q := &vigil.SearchQuery{Type: "Patient", Params: []vigil.SearchParam{
		{Name: "name", Type: vigil.ParamString, Values: []vigil.SearchValue{{Text: evil, Exact: evil}}},
		{Name: "identifier", Type: vigil.ParamToken, Values: []vigil.SearchValue{{System: evil, Code: evil}}},
		{Name: evil, Type: vigil.ParamURI, Modifier: "below", Values: []vigil.SearchValue{{URI: evil}}},
	}, Sort: []vigil.SortKey{{Param: evil, Type: vigil.ParamString}}}
	pg, err := compile(q)
	if err != nil {
		t.Fatalf("compile = %v", err)
	}
	if strings.Contains(pg.sql, "DROP") || strings.Contains(pg.countSQL, "DROP") {
		t.Errorf("compile put a value into the SQL text: %s", pg.sql)
	}
}

func TestCursorMismatch(t *testing.T) {
	q1 := &vigil.SearchQuery{Type: "Patient", Sort: []vigil.SortKey{{Param: "_id"}}}
	q2 := &vigil.SearchQuery{Type: "Observation", Sort: []vigil.SortKey{{Param: "_id"}}}
	pg, err := compile(q1)
	if err != nil {
		t.Fatalf("compile = %v", err)
	}
	cur := encodeCursor(searchCursor{Hash: pg.hash, Key: 10, Vals: cursorVals([]any{textVal("p9")})})
	tests := []struct {
		name    string
		q       *vigil.SearchQuery
		cursor  string
		wantErr bool
	}{
		{"same query", q1, cur, false},
		{"other query", q2, cur, true},
		{"garbage", q1, "!!!", true},
		{"not json", q1, "bm90IGpzb24", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := *tt.q
			q.Cursor = tt.cursor
			_, err := compile(&q)
			if tt.wantErr != errors.Is(err, vigil.ErrInvalid) || (!tt.wantErr && err != nil) {
				t.Errorf("compile(cursor %q) = %v, want error %v", tt.cursor, err, tt.wantErr)
			}
		})
	}
}

// FuzzCompileCursor checks that no cursor, however mangled, makes compile
// panic; a bad one is ErrInvalid.
func FuzzCompileCursor(f *testing.F) {
	q := &vigil.SearchQuery{Type: "Observation", Sort: []vigil.SortKey{
		{Param: "date", Type: vigil.ParamDate, Desc: true}, {Param: "value", Type: vigil.ParamQuantity}, {Param: "_id"}}}
	pg, err := compile(q)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(encodeCursor(searchCursor{Hash: pg.hash, Key: 3, Vals: cursorVals([]any{timeVal("infinity"), floatVal(1.5), textVal("a")})}))
	f.Add(encodeCursor(searchCursor{Hash: pg.hash, Key: 3, Vals: cursorVals([]any{nil, nil, nil})}))
	f.Add("")
	f.Fuzz(func(t *testing.T, cursor string) {
		q := *q
		q.Cursor = cursor
		if _, err := compile(&q); err != nil && !errors.Is(err, vigil.ErrInvalid) {
			t.Errorf("compile(cursor %q) = %v, want nil or ErrInvalid", cursor, err)
		}
	})
}

func textVal(s string) *pgtype.Text     { return &pgtype.Text{String: s, Valid: true} }
func floatVal(f float64) *pgtype.Float8 { return &pgtype.Float8{Float64: f, Valid: true} }
func timeVal(string) *pgtype.Timestamptz {
	return &pgtype.Timestamptz{InfinityModifier: pgtype.Infinity, Valid: true}
}

// TestCompilePairs checks which searches idx_ref_token answers: one
// reference value by type and id of subject or patient with one code, on
// a typed search; not a chain, not several values, not a system search.
func TestCompilePairs(t *testing.T) {
	subj := vigil.SearchParam{Name: "subject", Type: vigil.ParamReference, Values: []vigil.SearchValue{{RefType: "Patient", RefID: "p1"}}}
	code := vigil.SearchParam{Name: "code", Type: vigil.ParamToken, Values: []vigil.SearchValue{{System: "http://loinc.org", Code: "8867-4"}}}
	twoCodes := code
	twoCodes.Values = append(slices.Clone(code.Values), vigil.SearchValue{Code: "x", AnySystem: true})
	bareID := subj
	bareID.Values = []vigil.SearchValue{{RefID: "p1"}}
	notCode := code
	notCode.Modifier = "not"
	tests := []struct {
		name string
		q    vigil.SearchQuery
		want bool
	}{
		{"subject and code", vigil.SearchQuery{Type: "Observation", Params: []vigil.SearchParam{code, subj}}, true},
		{"two codes", vigil.SearchQuery{Type: "Observation", Params: []vigil.SearchParam{subj, twoCodes}}, false},
		{"bare id", vigil.SearchQuery{Type: "Observation", Params: []vigil.SearchParam{bareID, code}}, false},
		{":not", vigil.SearchQuery{Type: "Observation", Params: []vigil.SearchParam{subj, notCode}}, false},
		{"system search", vigil.SearchQuery{Params: []vigil.SearchParam{subj, code}}, false},
	}
	for _, tc := range tests {
		pg, err := compile(&tc.q)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := strings.Contains(pg.countSQL, "idx_ref_token"); got != tc.want {
			t.Errorf("%s: uses idx_ref_token = %v, want %v (%s)", tc.name, got, tc.want, pg.countSQL)
		}
	}
}
