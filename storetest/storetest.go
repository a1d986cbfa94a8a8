package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigilhealth/vigil"
)

// Run runs the conformance suite against the store returned by open. open
// is called once per subtest and must return a new, empty store; it should
// register its own cleanup (t.Cleanup) to close it. Run calls t.Run for
// each group of rules, so individual rules can be selected with -run.
func Run(t *testing.T, open func(t *testing.T) vigil.ResourceStore) {
	t.Helper()
	groups := []struct {
		name string
		fn   func(t *testing.T, open func(t *testing.T) vigil.ResourceStore)
	}{
		{"Put", testPut},
		{"Read", testRead},
		{"Write", testWrite},
		{"History", testHistory},
		{"Search", testSearch},
		{"Chain", testChain},
		{"Has", testHas},
		{"Compartment", testCompartment},
		{"System", testSystem},
		{"Sort", testSort},
		{"Paging", testPaging},
		{"Total", testTotal},
		{"Include", testInclude},
		{"IncludeCap", testIncludeCap},
		{"Reindex", testReindex},
		{"PutBatch", testPutBatch},
		{"Concurrent", testConcurrent},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) { g.fn(t, open) })
	}
}

// base is the first instant the fixtures use; every write advances the
// fixture clock by one second.
func base() time.Time { return time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC) }

// fx is a test fixture: a store, a clock and helpers that fail the test on
// unexpected errors.
type fx struct {
	t   *testing.T
	s   vigil.ResourceStore
	ctx context.Context
	now time.Time
}

func newFx(t *testing.T, open func(t *testing.T) vigil.ResourceStore) *fx {
	t.Helper()
	s := open(t)
	if s == nil {
		t.Fatal("open returned a nil store")
	}
	return &fx{t: t, s: s, ctx: t.Context(), now: base()}
}

// tick advances the fixture clock by one second and returns it.
func (f *fx) tick() time.Time {
	f.now = f.now.Add(time.Second)
	return f.now
}

// doc returns a resource version with a small JSON body that names it.
func doc(typ, id string, version int64, at time.Time) *vigil.Resource {
	method := "PUT"
	if version == 1 {
		method = "POST"
	}
	return &vigil.Resource{
		Type: typ, ID: id, Version: version, LastUpdated: at, Method: method,
		JSON: fmt.Appendf(nil, `{"resourceType":%q,"id":%q,"meta":{"versionId":"%d","lastUpdated":%q}}`,
			typ, id, version, at.Format(time.RFC3339Nano)),
	}
}

// put writes r with idx in its own Write call.
func (f *fx) put(r *vigil.Resource, idx []vigil.IndexEntry) error {
	return f.s.Write(f.ctx, func(ctx context.Context, tx vigil.ResourceTx) error {
		return tx.Put(ctx, r, idx)
	})
}

// nextVersion returns the version a new write of typ/id must carry.
func (f *fx) nextVersion(typ, id string) int64 {
	f.t.Helper()
	cur, err := f.s.Read(f.ctx, typ, id)
	switch {
	case err == nil, errors.Is(err, vigil.ErrGone):
		return cur.Version + 1
	case errors.Is(err, vigil.ErrNotFound):
		return 1
	default:
		f.t.Fatalf("Read(%s/%s) = %v", typ, id, err)
		return 0
	}
}

// save writes the next version of typ/id with the given index entries.
func (f *fx) save(typ, id string, idx ...vigil.IndexEntry) *vigil.Resource {
	f.t.Helper()
	r := doc(typ, id, f.nextVersion(typ, id), f.tick())
	if err := f.put(r, idx); err != nil {
		f.t.Fatalf("Put(%s/%s v%d) = %v", typ, id, r.Version, err)
	}
	return r
}

// del writes a delete version of typ/id.
func (f *fx) del(typ, id string) *vigil.Resource {
	f.t.Helper()
	r := &vigil.Resource{Type: typ, ID: id, Version: f.nextVersion(typ, id), LastUpdated: f.tick(), Deleted: true, Method: "DELETE"}
	if err := f.put(r, nil); err != nil {
		f.t.Fatalf("Put(delete %s/%s v%d) = %v", typ, id, r.Version, err)
	}
	return r
}

// search runs q and fails the test on error.
func (f *fx) search(q *vigil.SearchQuery) *vigil.SearchResult {
	f.t.Helper()
	res, err := f.s.Search(f.ctx, q)
	if err != nil {
		f.t.Fatalf("Search(%s) = %v", describe(q), err)
	}
	return res
}

// expectSet checks that q matches exactly the resources want ("Type/id"
// or, for q.Type set, bare ids), in any order.
func (f *fx) expectSet(q *vigil.SearchQuery, want ...string) {
	f.t.Helper()
	q.Count = 1000
	got := refs(q.Type, f.search(q).Matches)
	slices.Sort(got)
	want = slices.Clone(want)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		f.t.Errorf("Search(%s) matched %v, want %v", describe(q), got, want)
	}
}

// expectOrder checks that q matches exactly want, in that order, on one page.
func (f *fx) expectOrder(q *vigil.SearchQuery, want ...string) {
	f.t.Helper()
	if q.Count == 0 {
		q.Count = 1000
	}
	got := refs(q.Type, f.search(q).Matches)
	if !slices.Equal(got, want) {
		f.t.Errorf("Search(%s) = %v, want in this order %v", describe(q), got, want)
	}
}

// refs names resources: bare ids when typ is set, "Type/id" otherwise.
func refs(typ string, rs []vigil.Resource) []string {
	out := make([]string, 0, len(rs))
	for _, r := range rs {
		if typ != "" && r.Type == typ {
			out = append(out, r.ID)
		} else {
			out = append(out, r.Ref())
		}
	}
	return out
}

// describe renders a query compactly for failure messages.
func describe(q *vigil.SearchQuery) string {
	var b strings.Builder
	b.WriteString(q.Type)
	b.WriteString("?")
	for i, p := range q.Params {
		if i > 0 {
			b.WriteString("&")
		}
		describeParam(&b, p)
	}
	if len(q.Sort) > 0 {
		b.WriteString("&_sort=")
		for i, k := range q.Sort {
			if i > 0 {
				b.WriteString(",")
			}
			if k.Desc {
				b.WriteString("-")
			}
			b.WriteString(k.Param)
		}
	}
	if q.Compartment != nil {
		fmt.Fprintf(&b, " in %s/%s", q.Compartment.Type, q.Compartment.ID)
	}
	return b.String()
}

func describeParam(b *strings.Builder, p vigil.SearchParam) {
	b.WriteString(p.Name)
	if p.Modifier != "" {
		b.WriteString(":" + p.Modifier)
	}
	if p.Chain != nil {
		b.WriteString(".")
		describeParam(b, *p.Chain)
		return
	}
	if p.Has != nil {
		fmt.Fprintf(b, ":%s:%s:", p.Has.Type, p.Has.Param)
		describeParam(b, *p.Has.Filter)
		return
	}
	if p.Modifier == "missing" {
		fmt.Fprintf(b, "=%v", p.Missing)
		return
	}
	b.WriteString("=")
	for i, v := range p.Values {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(describeValue(p.Type, v))
	}
}

func describeValue(typ vigil.ParamType, v vigil.SearchValue) string {
	pre := ""
	if v.Prefix != vigil.PrefixEq {
		pre = v.Prefix.String()
	}
	switch typ {
	case vigil.ParamString:
		if v.Exact != "" {
			return v.Exact
		}
		return v.Text
	case vigil.ParamToken:
		if v.Text != "" {
			return v.Text
		}
		if v.AnySystem {
			return v.Code
		}
		return v.System + "|" + v.Code
	case vigil.ParamReference:
		if v.URI != "" {
			if v.RefVersion != "" {
				return v.URI + "|" + v.RefVersion
			}
			return v.URI
		}
		if v.RefType == "" {
			return v.RefID
		}
		return v.RefType + "/" + v.RefID
	case vigil.ParamDate:
		return pre + fmt.Sprintf("[%s,%s)", fmtTime(v.Start), fmtTime(v.End))
	case vigil.ParamNumber:
		return pre + fmt.Sprintf("%g[%g,%g)", v.Value, v.Low, v.High)
	case vigil.ParamQuantity:
		return pre + fmt.Sprintf("%g|%s|%s(canon %s %g)", v.Value, v.System, v.Code, v.CanonCode, v.CanonValue)
	case vigil.ParamURI:
		return v.URI
	case vigil.ParamComposite:
		parts := make([]string, len(v.Components))
		for i, c := range v.Components {
			parts[i] = fmt.Sprintf("%+v", c)
		}
		return strings.Join(parts, "$")
	}
	return fmt.Sprintf("%+v", v)
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "∞"
	}
	return t.Format(time.RFC3339Nano)
}

// Index entry constructors.

func str(param, s string) vigil.IndexEntry {
	return vigil.IndexEntry{Param: param, Type: vigil.ParamString, Text: strings.ToLower(s), Exact: s}
}

func tok(param, system, code string) vigil.IndexEntry {
	return vigil.IndexEntry{Param: param, Type: vigil.ParamToken, System: system, Code: code}
}

func tokText(param, system, code, text string) vigil.IndexEntry {
	e := tok(param, system, code)
	e.Text = text
	return e
}

func ref(param, typ, id string) vigil.IndexEntry {
	return vigil.IndexEntry{Param: param, Type: vigil.ParamReference, RefType: typ, RefID: id}
}

func refURI(param, uri, version string) vigil.IndexEntry {
	return vigil.IndexEntry{Param: param, Type: vigil.ParamReference, URI: uri, RefVersion: version}
}

func date(param string, start, end time.Time) vigil.IndexEntry {
	return vigil.IndexEntry{Param: param, Type: vigil.ParamDate, Start: start, End: end}
}

func num(param string, v, low, high float64) vigil.IndexEntry {
	return vigil.IndexEntry{Param: param, Type: vigil.ParamNumber, Value: v, Low: low, High: high}
}

// qty is a quantity entry; canon empty means no canonical form.
func qty(param string, v float64, system, code, canon string, cv float64) vigil.IndexEntry {
	e := vigil.IndexEntry{Param: param, Type: vigil.ParamQuantity, Value: v, Low: v * 0.95, High: v * 1.05, System: system, Code: code}
	if canon != "" {
		e.CanonCode, e.CanonValue, e.CanonLow, e.CanonHigh = canon, cv, cv*0.95, cv*1.05
	}
	return e
}

func uri(param, u string) vigil.IndexEntry {
	return vigil.IndexEntry{Param: param, Type: vigil.ParamURI, URI: u}
}

// part makes e a component of composite param in group g at position p.
func part(param string, g, p int, e vigil.IndexEntry) vigil.IndexEntry {
	e.Param, e.Group, e.Part = param, g, p
	return e
}

// Query constructors.

func query(typ string, params ...vigil.SearchParam) *vigil.SearchQuery {
	return &vigil.SearchQuery{Type: typ, Params: params}
}

func param(name string, typ vigil.ParamType, vals ...vigil.SearchValue) vigil.SearchParam {
	return vigil.SearchParam{Name: name, Type: typ, Values: vals}
}

func modified(p vigil.SearchParam, mod string) vigil.SearchParam {
	p.Modifier = mod
	return p
}

func missing(name string, typ vigil.ParamType, m bool) vigil.SearchParam {
	return vigil.SearchParam{Name: name, Type: typ, Modifier: "missing", Missing: m}
}

func vText(s string) vigil.SearchValue {
	return vigil.SearchValue{Text: strings.ToLower(s), Exact: s}
}

func vCode(code string) vigil.SearchValue { return vigil.SearchValue{Code: code, AnySystem: true} }

func vSysCode(system, code string) vigil.SearchValue {
	return vigil.SearchValue{System: system, Code: code}
}

func vRef(typ, id string) vigil.SearchValue { return vigil.SearchValue{RefType: typ, RefID: id} }

func vDate(p vigil.Prefix, start, end time.Time) vigil.SearchValue {
	return vigil.SearchValue{Prefix: p, Start: start, End: end}
}

func vNum(p vigil.Prefix, v, low, high float64) vigil.SearchValue {
	return vigil.SearchValue{Prefix: p, Value: v, Low: low, High: high}
}

func vID(ids ...string) vigil.SearchParam {
	p := vigil.SearchParam{Name: "_id", Type: vigil.ParamToken}
	for _, id := range ids {
		p.Values = append(p.Values, vCode(id))
	}
	return p
}

// day returns the instant range of one UTC day.
func day(y int, m time.Month, d int) (time.Time, time.Time) {
	s := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	return s, s.AddDate(0, 0, 1)
}

// isErr checks that err is the sentinel want.
func isErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s = %v, want %v", what, err, want)
	}
}
