package sqlite

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/internal/refpair"
)

// frag is a piece of SQL with its arguments, in order of their "?".
type frag struct {
	sql  string
	args []any
}

// join concatenates fragments with sep.
func join(sep string, fs ...frag) frag {
	var out frag
	parts := make([]string, 0, len(fs))
	for _, f := range fs {
		parts = append(parts, f.sql)
		out.args = append(out.args, f.args...)
	}
	out.sql = strings.Join(parts, sep)
	return out
}

// paren wraps fs joined by sep in parentheses; an empty list is empty.
func paren(sep string, empty string, fs ...frag) frag {
	if len(fs) == 0 {
		return frag{sql: empty}
	}
	f := join(sep, fs...)
	f.sql = "(" + f.sql + ")"
	return f
}

func f(sql string, args ...any) frag { return frag{sql: sql, args: args} }

// placeholders returns "?, ?, …" for n values.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// mode says how a parameter condition joins the resource row: as the
// driving "key IN (uncorrelated subquery)" that SQLite turns into rowid
// lookups, or as a correlated EXISTS probing the (key, param) index.
type mode int

const (
	modeIn mode = iota
	modeExists
)

// builder builds the WHERE conditions of a search. It hands out unique
// table aliases for nested subqueries.
type builder struct {
	n int
	// restrict is the search's access restriction; chained parameters
	// apply it to the resources they follow, so that a chain cannot test
	// the content of a resource the caller may not see.
	restrict *vigil.Compartment
}

func (b *builder) alias(prefix string) string {
	b.n++
	return fmt.Sprintf("%s%d", prefix, b.n)
}

// tableOf returns the index table of a parameter type.
func tableOf(t vigil.ParamType) (string, bool) {
	i, ok := tableIndex(t)
	if !ok {
		return "", false
	}
	return indexTables[i], true
}

func invalid(format string, args ...any) error {
	return vigil.Errorf(vigil.ErrInvalid, format, args...)
}

// never is the score of a parameter that must not drive the query.
const never = 100

// score estimates how selective p is (lower is more selective), to pick
// the condition that drives the query.
func score(p *vigil.SearchParam) int {
	if p.Name == "_id" || p.Name == "_lastUpdated" || p.Has != nil {
		return never // conditions on the resource row itself
	}
	if p.Chain != nil {
		return 3
	}
	switch p.Modifier {
	case "missing", "not", "contains", "above":
		return never
	}
	for _, v := range p.Values {
		if v.Prefix == vigil.PrefixNe {
			return never
		}
	}
	switch p.Type {
	case vigil.ParamReference:
		return 1
	case vigil.ParamToken:
		for _, v := range p.Values {
			if v.Code == "" {
				return 5
			}
		}
		if p.Modifier == "text" {
			return 4
		}
		return 2
	case vigil.ParamString, vigil.ParamURI:
		if p.Modifier == "exact" || p.Modifier == "" && p.Type == vigil.ParamURI {
			return 2
		}
		return 4
	case vigil.ParamComposite, vigil.ParamSpecial:
		return 3
	}
	return 6
}

// filters returns the conditions on resource alias a for params and an
// optional compartment, all ANDed.
func (b *builder) filters(a, typ string, params []vigil.SearchParam, comp *vigil.Compartment) (frag, error) {
	var conds []frag
	driver := -1
	if comp != nil {
		c, err := b.compartment(a, typ, comp)
		if err != nil {
			return frag{}, err
		}
		conds = append(conds, c)
	} else if ri, ti, ok := refpair.Find(params); ok {
		// A reference and a token parameter idx_ref_token answers together
		// drive the query; the others are folded into it.
		return b.pairDriver(a, params, ri, ti)
	} else {
		best := never
		for i := range params {
			if s := score(&params[i]); s < best {
				best, driver = s, i
			}
		}
	}
	// The other index conditions are folded into the driving subquery,
	// correlated to its index row: only keys that pass them all reach the
	// resources table.
	folded := make([]bool, len(params))
	var extra func(x string) ([]frag, error)
	if driver >= 0 && plain(&params[driver]) {
		for i := range params {
			folded[i] = i != driver && !onResource(&params[i])
		}
		extra = func(x string) ([]frag, error) {
			var fs []frag
			for i := range params {
				if folded[i] {
					c, err := b.param(x, &params[i], modeExists, nil)
					if err != nil {
						return nil, err
					}
					fs = append(fs, c)
				}
			}
			return fs, nil
		}
	}
	for i := range params {
		if folded[i] {
			continue
		}
		m, e := modeExists, extra
		if i == driver {
			m = modeIn
		} else {
			e = nil
		}
		c, err := b.param(a, &params[i], m, e)
		if err != nil {
			return frag{}, err
		}
		conds = append(conds, c)
	}
	return paren(" AND ", "1", conds...), nil
}

// pairDriver returns the conditions of params on resource alias a when
// params[ri] (reference) and params[ti] (token) are answered by
// idx_ref_token: "key IN (subquery on its rows)", with the other index
// conditions correlated to its row as in filters, and the conditions on
// the resources row itself beside it.
func (b *builder) pairDriver(a string, params []vigil.SearchParam, ri, ti int) (frag, error) {
	x := b.alias("x")
	inner := []frag{pairCond(x, &params[ri], &params[ti])}
	var conds []frag
	for i := range params {
		if i == ri || i == ti {
			continue
		}
		on := x
		if onResource(&params[i]) {
			on = a
		}
		c, err := b.param(on, &params[i], modeExists, nil)
		if err != nil {
			return frag{}, err
		}
		if on == x {
			inner = append(inner, c)
		} else {
			conds = append(conds, c)
		}
	}
	in := join(" AND ", inner...)
	in.sql = fmt.Sprintf("%s.key IN (SELECT %s.key FROM idx_ref_token %s WHERE %s)", a, x, x, in.sql)
	return paren(" AND ", "1", append([]frag{in}, conds...)...), nil
}

// onResource reports whether p is answered from the resources row itself
// (a _has reads its type and id).
func onResource(p *vigil.SearchParam) bool {
	return p.Has != nil || p.Chain == nil && (p.Name == "_id" || p.Name == "_lastUpdated")
}

// plain reports whether p is a plain condition on one index table.
func plain(p *vigil.SearchParam) bool {
	return p.Chain == nil && !onResource(p) && p.Type != vigil.ParamComposite && p.Type != vigil.ParamSpecial &&
		p.Modifier != "missing" && p.Modifier != "not"
}

// compartment restricts a to the resources in comp
// (https://hl7.org/fhir/R4/compartmentdefinition.html).
func (b *builder) compartment(a, typ string, comp *vigil.Compartment) (frag, error) {
	x := b.alias("x")
	// One member compares with =; several (an access restriction) read a
	// JSON array, so that the SQL text — and the cached statement — does
	// not depend on how many there are.
	idCond, idArg := "= ?", any(comp.ID)
	if ms := comp.Members(); len(ms) != 1 {
		j, err := json.Marshal(ms)
		if err != nil {
			return frag{}, err
		}
		idCond, idArg = "IN (SELECT value FROM json_each(?))", string(j)
	} else {
		idArg = ms[0]
	}
	var alts []frag
	if typ != "" {
		if ps := comp.Params[typ]; len(ps) > 0 {
			args := []any{idArg, comp.Type}
			for _, p := range ps {
				args = append(args, p)
			}
			alts = append(alts, f(fmt.Sprintf("%s.key IN (SELECT %s.key FROM idx_ref %s WHERE %s.ref_id %s AND %s.ref_type = ? AND %s.param IN (%s))",
				a, x, x, x, idCond, x, x, placeholders(len(ps))), args...))
		}
	} else {
		y := b.alias("y")
		types := make([]string, 0, len(comp.Params))
		for t := range comp.Params {
			types = append(types, t)
		}
		slices.Sort(types)
		var byType []frag
		for _, t := range types {
			ps := comp.Params[t]
			if len(ps) == 0 {
				continue
			}
			args := []any{t}
			for _, p := range ps {
				args = append(args, p)
			}
			byType = append(byType, f(fmt.Sprintf("(%s.type = ? AND %s.param IN (%s))", y, x, placeholders(len(ps))), args...))
		}
		if len(byType) > 0 {
			inner := join(" OR ", byType...)
			alts = append(alts, frag{
				sql: fmt.Sprintf("%s.key IN (SELECT %s.key FROM idx_ref %s JOIN resources %s ON %s.key = %s.key WHERE %s.ref_id %s AND %s.ref_type = ? AND (%s))",
					a, x, x, y, y, x, x, idCond, x, inner.sql),
				args: append([]any{idArg, comp.Type}, inner.args...),
			})
		}
	}
	if comp.Type == "Patient" && (typ == "" || typ == "Patient") {
		alts = append(alts, f(fmt.Sprintf("(%s.type = 'Patient' AND %s.id %s)", a, a, idCond), idArg))
	}
	return paren(" OR ", "0", alts...), nil
}

// param returns the condition of one search parameter on alias a. For a
// plain parameter in modeIn, extra (when set) adds conditions correlated to
// the subquery's index row alias.
func (b *builder) param(a string, p *vigil.SearchParam, m mode, extra func(x string) ([]frag, error)) (frag, error) {
	if p.Chain != nil {
		return b.chain(a, p, m)
	}
	if p.Has != nil {
		return b.has(a, p.Has)
	}
	switch p.Name {
	case "_id":
		return idCond(a, p)
	case "_lastUpdated":
		return lastUpdatedCond(a, p)
	}
	if p.Modifier == "missing" {
		return b.missing(a, p)
	}
	if p.Type == vigil.ParamComposite {
		return b.composite(a, p)
	}
	if p.Type == vigil.ParamSpecial {
		return b.near(a, p)
	}
	table, ok := tableOf(p.Type)
	if !ok {
		return frag{}, invalid("search parameter %s has unsupported type %q", p.Name, p.Type)
	}
	if len(p.Values) == 0 {
		return frag{}, invalid("search parameter %s has no value", p.Name)
	}
	x := b.alias("x")
	// A probe (EXISTS on the resource's key) reads the value columns as
	// +x.col: the unary plus keeps SQLite from seeking the value index with
	// them, so it seeks the (key, param) primary key, which compares the
	// integer key first and finds the resource's few rows together.
	cx := x
	if p.Modifier == "not" || m != modeIn {
		cx = "+" + x
	}
	var alts []frag
	for _, v := range p.Values {
		c, err := valueCond(cx, p.Type, p.Modifier, &v, cx != x)
		if err != nil {
			return frag{}, fmt.Errorf("%s: %w", p.Name, err)
		}
		alts = append(alts, c)
	}
	vals := paren(" OR ", "0", alts...)
	if p.Modifier == "not" {
		return frag{
			sql:  fmt.Sprintf("NOT EXISTS (SELECT 1 FROM %s %s WHERE %s.key = %s.key AND %s.param = ? AND %s)", table, x, x, a, x, vals.sql),
			args: append([]any{p.Name}, vals.args...),
		}, nil
	}
	if m == modeIn {
		if extra != nil {
			more, err := extra(x)
			if err != nil {
				return frag{}, err
			}
			vals = join(" AND ", append([]frag{vals}, more...)...)
		}
		return frag{
			sql:  fmt.Sprintf("%s.key IN (SELECT %s.key FROM %s %s WHERE %s.param = ? AND %s)", a, x, table, x, x, vals.sql),
			args: append([]any{p.Name}, vals.args...),
		}, nil
	}
	return frag{
		sql:  fmt.Sprintf("EXISTS (SELECT 1 FROM %s %s WHERE %s.key = %s.key AND %s.param = ? AND %s)", table, x, x, a, x, vals.sql),
		args: append([]any{p.Name}, vals.args...),
	}, nil
}

func idCond(a string, p *vigil.SearchParam) (frag, error) {
	if p.Modifier != "" && p.Modifier != "not" {
		return frag{}, invalid("modifier :%s is not supported on _id", p.Modifier)
	}
	if len(p.Values) == 0 {
		return frag{}, invalid("_id has no value")
	}
	args := make([]any, len(p.Values))
	for i, v := range p.Values {
		args[i] = v.Code
	}
	op := "IN"
	if p.Modifier == "not" {
		op = "NOT IN"
	}
	return f(fmt.Sprintf("%s.id %s (%s)", a, op, placeholders(len(args))), args...), nil
}

func lastUpdatedCond(a string, p *vigil.SearchParam) (frag, error) {
	if p.Modifier != "" {
		return frag{}, invalid("modifier :%s is not supported on _lastUpdated", p.Modifier)
	}
	if len(p.Values) == 0 {
		return frag{}, invalid("_lastUpdated has no value")
	}
	// The instant covers [t, t+1ms).
	s, e := a+".last_updated", "("+a+".last_updated + 1000)"
	var alts []frag
	for _, v := range p.Values {
		alts = append(alts, dateCond(s, e, &v))
	}
	return paren(" OR ", "0", alts...), nil
}

// missing implements :missing. A composite's components live in the
// tables of their own types, so it checks every table.
func (b *builder) missing(a string, p *vigil.SearchParam) (frag, error) {
	var tables []string
	if t, ok := tableOf(p.Type); ok {
		tables = []string{t}
	} else if p.Type == vigil.ParamComposite {
		tables = indexTables[:]
	} else {
		return frag{}, invalid(":missing is not supported on %s", p.Name)
	}
	var ex []frag
	for _, t := range tables {
		x := b.alias("x")
		ex = append(ex, f(fmt.Sprintf("EXISTS (SELECT 1 FROM %s %s WHERE %s.key = %s.key AND %s.param = ?)", t, x, x, a, x), p.Name))
	}
	c := paren(" OR ", "0", ex...)
	if p.Missing {
		c.sql = "NOT " + c.sql
	}
	return c, nil
}

// chain implements a chained parameter: p.Name refers to a current
// resource of one of p.TargetTypes that matches p.Chain.
func (b *builder) chain(a string, p *vigil.SearchParam, m mode) (frag, error) {
	i, t := b.alias("i"), b.alias("t")
	inner, err := b.param(t, p.Chain, modeIn, nil)
	if err != nil {
		return frag{}, err
	}
	where := fmt.Sprintf("%s.param = ? AND %s.deleted = 0", i, t)
	args := []any{p.Name}
	if len(p.TargetTypes) > 0 {
		where += fmt.Sprintf(" AND %s.type IN (%s)", t, placeholders(len(p.TargetTypes)))
		for _, tt := range p.TargetTypes {
			args = append(args, tt)
		}
	}
	from := fmt.Sprintf("FROM idx_ref %s JOIN resources %s ON %s.type = %s.ref_type AND %s.id = %s.ref_id", i, t, t, i, t, i)
	vis, err := b.visible(t)
	if err != nil {
		return frag{}, err
	}
	cond := join(" AND ", f(where, args...), vis, inner)
	if m == modeIn {
		return frag{sql: fmt.Sprintf("%s.key IN (SELECT %s.key %s WHERE %s)", a, i, from, cond.sql), args: cond.args}, nil
	}
	return frag{sql: fmt.Sprintf("EXISTS (SELECT 1 %s WHERE %s.key = %s.key AND %s)", from, i, a, cond.sql), args: cond.args}, nil
}

// has implements a _has filter on resource alias a: a current resource of
// h.Type refers to a through h.Param and matches h.Filter. Under an access
// restriction only resources the caller may see count, as for chains.
func (b *builder) has(a string, h *vigil.ReverseChain) (frag, error) {
	i, o := b.alias("h"), b.alias("o")
	inner, err := b.param(o, h.Filter, modeIn, nil)
	if err != nil {
		return frag{}, err
	}
	vis, err := b.visible(o)
	if err != nil {
		return frag{}, err
	}
	cond := join(" AND ",
		f(fmt.Sprintf("%s.ref_id = %s.id AND %s.ref_type = %s.type AND %s.param = ? AND %s.type = ? AND %s.deleted = 0", i, a, i, a, i, o, o), h.Param, h.Type),
		vis, inner)
	ex := frag{sql: fmt.Sprintf("EXISTS (SELECT 1 FROM idx_ref %s JOIN resources %s ON %s.key = %s.key WHERE %s)", i, o, o, i, cond.sql), args: cond.args}
	if len(h.Also) == 0 {
		return ex, nil
	}
	// One JSON array, not a placeholder per id: thousands of patients may
	// have readings (SQLite allows 32,766 variables per statement).
	also, err := json.Marshal(h.Also)
	if err != nil {
		return frag{}, err
	}
	return frag{sql: fmt.Sprintf("(%s OR %s.id IN (SELECT value FROM json_each(?)))", ex.sql, a), args: append(ex.args, string(also))}, nil
}

// visible is the access restriction on a resource alias t of any type:
// resources of types that cannot be in a patient compartment stay
// visible; the others must be in the restriction's compartment. Without a
// restriction it is true.
func (b *builder) visible(t string) (frag, error) {
	if b.restrict == nil {
		return f("1"), nil
	}
	types := []any{"Patient"}
	for typ, ps := range b.restrict.Params {
		if len(ps) > 0 && typ != "Patient" {
			types = append(types, typ)
		}
	}
	c, err := b.compartment(t, "", b.restrict)
	if err != nil {
		return frag{}, err
	}
	return frag{sql: fmt.Sprintf("(%s.type NOT IN (%s) OR %s)", t, placeholders(len(types)), c.sql), args: append(types, c.args...)}, nil
}

// componentTypes guesses which index types a composite component value can
// be compared with. vigil.SearchValue does not carry the component's type;
// the stored entry does, so trying every plausible table is exact.
func componentTypes(v *vigil.SearchValue) []vigil.ParamType {
	var ts []vigil.ParamType
	if !v.Start.IsZero() || !v.End.IsZero() {
		ts = append(ts, vigil.ParamDate)
	}
	if v.URI != "" {
		ts = append(ts, vigil.ParamURI, vigil.ParamReference)
	}
	if v.RefID != "" {
		ts = append(ts, vigil.ParamReference)
	}
	if v.Code != "" || v.System != "" {
		ts = append(ts, vigil.ParamToken)
	}
	if v.Text != "" || v.Exact != "" {
		ts = append(ts, vigil.ParamString)
	}
	if len(ts) == 0 || v.Value != 0 || v.Low != 0 || v.High != 0 {
		ts = append(ts, vigil.ParamNumber, vigil.ParamQuantity)
	}
	return ts
}

// composite implements a composite parameter: all components of a value
// match the parts of one group of one resource.
func (b *builder) composite(a string, p *vigil.SearchParam) (frag, error) {
	if p.Modifier != "" {
		return frag{}, invalid("modifier :%s is not supported on composite %s", p.Modifier, p.Name)
	}
	var alts []frag
	for _, v := range p.Values {
		if len(v.Components) == 0 {
			return frag{}, invalid("composite %s value has no components", p.Name)
		}
		var sql strings.Builder
		var args []any
		c0 := ""
		for k, comp := range v.Components {
			var sets []frag
			for _, t := range componentTypes(&comp) {
				table, _ := tableOf(t)
				x := b.alias("x")
				c, err := valueCond(x, t, "", &comp, false)
				if err != nil {
					return frag{}, fmt.Errorf("%s: %w", p.Name, err)
				}
				sets = append(sets, frag{
					sql:  fmt.Sprintf("SELECT %s.key, %s.grp FROM %s %s WHERE %s.param = ? AND %s.part = ? AND %s", x, x, table, x, x, x, c.sql),
					args: append([]any{p.Name, k}, c.args...),
				})
			}
			set := join(" UNION ALL ", sets...)
			ck := b.alias("c")
			if k == 0 {
				c0 = ck
				fmt.Fprintf(&sql, "SELECT %s.key FROM (%s) %s", ck, set.sql, ck)
			} else {
				fmt.Fprintf(&sql, " JOIN (%s) %s ON %s.key = %s.key AND %s.grp = %s.grp", set.sql, ck, ck, c0, ck, c0)
			}
			args = append(args, set.args...)
		}
		alts = append(alts, frag{sql: fmt.Sprintf("%s.key IN (%s)", a, sql.String()), args: args})
	}
	return paren(" OR ", "0", alts...), nil
}

// near implements Location's near (vigil.Near): a resource matches when
// one of its positions (the latitude and longitude number entries of one
// group) is within a value's distance. The latitude span bounds the
// candidates on the number index; the haversine formula (SQLite's math
// functions) decides.
func (b *builder) near(a string, p *vigil.SearchParam) (frag, error) {
	if p.Modifier != "" {
		return frag{}, invalid("modifier :%s is not supported on %s", p.Modifier, p.Name)
	}
	table, _ := tableOf(vigil.ParamNumber)
	var alts []frag
	for _, v := range p.Values {
		n := v.Near
		if n == nil {
			return frag{}, invalid("%s value has no position", p.Name)
		}
		x, y := b.alias("x"), b.alias("y")
		lo, hi := n.LatitudeSpan()
		alts = append(alts, frag{
			sql: fmt.Sprintf("%[1]s.key IN (SELECT %[2]s.key FROM %[4]s %[2]s JOIN %[4]s %[3]s ON %[3]s.key = %[2]s.key AND %[3]s.param = %[2]s.param AND %[3]s.grp = %[2]s.grp AND %[3]s.part = 1"+
				" WHERE %[2]s.param = ? AND %[2]s.part = 0 AND %[2]s.value BETWEEN ? AND ?"+
				" AND 2 * ? * asin(min(1.0, sqrt(power(sin(radians(%[2]s.value - ?) / 2), 2) + cos(radians(?)) * cos(radians(%[2]s.value)) * power(sin(radians(%[3]s.value - ?) / 2), 2)))) <= ?)",
				a, x, y, table),
			args: []any{p.Name, lo, hi, vigil.EarthRadiusKm, n.Latitude, n.Latitude, n.Longitude, n.Km + vigil.NearSlackKm},
		})
	}
	return paren(" OR ", "0", alts...), nil
}

// valueCond is the condition one search value puts on one index row x.
// A probe (on one resource's rows) takes the plain date comparison; the
// others take the one written for index ranges.
func valueCond(x string, t vigil.ParamType, mod string, v *vigil.SearchValue, probe bool) (frag, error) {
	switch t {
	case vigil.ParamString:
		switch mod {
		case "":
			return prefixCond(x+".text", v.Text), nil
		case "exact":
			return f(x+".exact = ?", v.Exact), nil
		case "contains":
			return f("instr("+x+".text, ?) > 0", v.Text), nil
		}
	case vigil.ParamToken:
		switch mod {
		case "", "not":
			return tokenCond(x, v), nil
		case "text":
			return prefixCond(x+".text", v.Text), nil
		}
	case vigil.ParamReference:
		if mod == "" || isTypeName(mod) {
			return refCond(x, mod, v), nil
		}
	case vigil.ParamDate:
		if mod == "" {
			if probe {
				return dateCond(x+".dstart", x+".dend", v), nil
			}
			return dateEntryCond(x, v), nil
		}
	case vigil.ParamNumber:
		if mod == "" {
			return numberCond(x+".value", v.Prefix, v.Value, v.Low, v.High), nil
		}
	case vigil.ParamQuantity:
		if mod == "" {
			return quantityCond(x, v), nil
		}
	case vigil.ParamURI:
		switch mod {
		case "":
			return f(x+".uri = ?", v.URI), nil
		case "below":
			return prefixCond(x+".uri", v.URI), nil
		case "above":
			return f(fmt.Sprintf("(%s.uri <> '' AND %s.uri = substr(?, 1, length(%s.uri)))", x, x, x), v.URI), nil
		}
	}
	return frag{}, invalid("modifier :%s is not supported on %s parameters", mod, t)
}

// isTypeName reports whether a reference modifier names a resource type
// ("subject:Patient").
func isTypeName(mod string) bool { return mod != "" && mod[0] >= 'A' && mod[0] <= 'Z' }

// prefixCond matches col starting with prefix as an index range:
// col >= prefix AND col < successor(prefix). SQLite compares TEXT
// bytewise (BINARY collation), so the successor is the prefix with its
// last byte incremented.
func prefixCond(col, prefix string) frag {
	if prefix == "" {
		return f("1")
	}
	b := []byte(prefix)
	for len(b) > 0 && b[len(b)-1] == 0xff {
		b = b[:len(b)-1]
	}
	if len(b) == 0 {
		return f(col+" >= ?", prefix)
	}
	b[len(b)-1]++
	return f("("+col+" >= ? AND "+col+" < ?)", prefix, string(b))
}

func tokenCond(x string, v *vigil.SearchValue) frag {
	switch {
	case v.AnySystem:
		return f(x+".code = ?", v.Code)
	case v.Code == "":
		return f(x+".system = ?", v.System)
	default:
		return f("("+x+".code = ? AND "+x+".system = ?)", v.Code, v.System)
	}
}

func refCond(x, mod string, v *vigil.SearchValue) frag {
	switch {
	case v.URI != "" && v.RefVersion != "":
		return f("("+x+".uri = ? AND "+x+".ref_version = ?)", v.URI, v.RefVersion)
	case v.URI != "":
		return f(x+".uri = ?", v.URI)
	}
	typ := v.RefType
	if typ == "" && isTypeName(mod) {
		typ = mod
	}
	if typ == "" {
		return f("("+x+".ref_id = ? AND "+x+".ref_id <> '')", v.RefID)
	}
	return f("("+x+".ref_id = ? AND "+x+".ref_type = ?)", v.RefID, typ)
}

// dateCond compares the entry range [s, e) with the value's range [S, E)
// (https://hl7.org/fhir/R4/search.html#prefix), open ends as ±∞.
func dateCond(s, e string, v *vigil.SearchValue) frag {
	S, E := startMicros(v.Start), endMicros(v.End)
	eq := f("("+s+" >= ? AND "+e+" <= ?)", S, E)
	switch v.Prefix {
	case vigil.PrefixNe:
		return f("NOT "+eq.sql, eq.args...)
	case vigil.PrefixGt:
		return f(e+" > ?", E)
	case vigil.PrefixLt:
		return f(s+" < ?", S)
	case vigil.PrefixGe:
		return f("("+e+" > ? OR "+eq.sql+")", E, S, E)
	case vigil.PrefixLe:
		return f("("+s+" < ? OR "+eq.sql+")", S, S, E)
	case vigil.PrefixSa:
		return f(s+" >= ?", E)
	case vigil.PrefixEb:
		return f(e+" <= ?", S)
	case vigil.PrefixAp:
		return f("("+s+" < ? AND "+e+" > ?)", E, S)
	}
	return eq
}

// dateWide is the width (µs) above which a date entry is wide: only wide
// entries are in the idx_date_wide index (its WHERE clause repeats the
// literal). A narrow entry ends at most a day after it starts, so "ends
// after T" is "starts after T-dateWide" for it, a range of idx_date_start.
// Open ends are ±MaxInt64 and make the difference overflow to REAL, which
// is wide too.
const dateWide = 86_400_000_000

// wideCond is the condition that lets SQLite use idx_date_wide.
var wideCond = "(%[1]s.dend - %[1]s.dstart > " + strconv.Itoa(dateWide) + ")"

// minusWide returns t-dateWide, saturating at the smallest int64.
func minusWide(t int64) int64 {
	if t < math.MinInt64+dateWide {
		return math.MinInt64
	}
	return t - dateWide
}

// dateEntryCond is dateCond for an idx_date row x, written so that every
// prefix but ne is answered by index ranges: bounds implied by s <= e are
// added (eq: s <= E; eb: s <= S), and "e > T" is split into narrow entries
// (s > T-dateWide, idx_date_start) and wide ones (idx_date_wide).
func dateEntryCond(x string, v *vigil.SearchValue) frag {
	s, e := x+".dstart", x+".dend"
	wide := fmt.Sprintf(wideCond, x)
	S, E := startMicros(v.Start), endMicros(v.End)
	eq := f("("+s+" >= ? AND "+s+" <= ? AND "+e+" <= ?)", S, E, E)
	// endsAfter: e > t, and (when set) s < before.
	endsAfter := func(t int64, before *int64) frag {
		narrow := f("("+s+" > ? AND "+e+" > ?", minusWide(t), t)
		wideF := f("("+wide+" AND "+e+" > ?", t)
		if before != nil {
			narrow = join(" AND ", narrow, f(s+" < ?", *before))
			wideF = join(" AND ", wideF, f(s+" < ?", *before))
		}
		narrow.sql += ")"
		wideF.sql += ")"
		return paren(" OR ", "0", narrow, wideF)
	}
	switch v.Prefix {
	case vigil.PrefixNe:
		return dateCond(s, e, v)
	case vigil.PrefixGt:
		return endsAfter(E, nil)
	case vigil.PrefixLt:
		return f(s+" < ?", S)
	case vigil.PrefixGe:
		return paren(" OR ", "0", endsAfter(E, nil), eq)
	case vigil.PrefixLe:
		return paren(" OR ", "0", f(s+" < ?", S), eq)
	case vigil.PrefixSa:
		return f(s+" >= ?", E)
	case vigil.PrefixEb:
		return f("("+s+" <= ? AND "+e+" <= ?)", S, S)
	case vigil.PrefixAp:
		return endsAfter(S, &E)
	}
	return eq
}

// numberCond compares col with a number or quantity search value.
func numberCond(col string, p vigil.Prefix, value, low, high float64) frag {
	switch p {
	case vigil.PrefixNe:
		return f("NOT ("+col+" >= ? AND "+col+" < ?)", low, high)
	case vigil.PrefixGt, vigil.PrefixSa:
		return f(col+" > ?", value)
	case vigil.PrefixLt, vigil.PrefixEb:
		return f(col+" < ?", value)
	case vigil.PrefixGe:
		return f(col+" >= ?", value)
	case vigil.PrefixLe:
		return f(col+" <= ?", value)
	case vigil.PrefixAp:
		return f("("+col+" >= ? AND "+col+" <= ?)", low, high)
	}
	if math.IsInf(high, 1) {
		return f(col+" >= ?", low)
	}
	return f("("+col+" >= ? AND "+col+" < ?)", low, high)
}

// ucumSystem is the system of UCUM units. The indexer sets an entry's
// canonical form only for UCUM units it knows (search contract).
const ucumSystem = "http://unitsofmeasure.org"

// quantityCond compares an idx_quantity row with a quantity search value.
// The (param, code, value) index holds only the entries without a
// canonical form (empty canon_code): entries with one are found by their
// canonical unit. An entry with a canonical form has a UCUM system, so a
// search by a code of another system never needs them; a search by code
// without system (or with the UCUM system but a unit the parser did not
// know) checks them too, by a range of the canonical index.
func quantityCond(x string, v *vigil.SearchValue) frag {
	if v.CanonCode != "" {
		c := numberCond(x+".canon_value", v.Prefix, v.CanonValue, v.CanonLow, v.CanonHigh)
		// canon_code <> '' lets SQLite use the partial canonical index.
		return f("("+x+".canon_code <> '' AND "+x+".canon_code = ? AND "+c.sql+")", append([]any{v.CanonCode}, c.args...)...)
	}
	if v.Code == "" {
		return numberCond(x+".value", v.Prefix, v.Value, v.Low, v.High)
	}
	c := numberCond(x+".value", v.Prefix, v.Value, v.Low, v.High)
	match := f(x+".code = ?", v.Code)
	if v.System != "" {
		match = f("("+x+".code = ? AND "+x+".system = ?)", v.Code, v.System)
	}
	plain := join(" AND ", f(x+".canon_code = ''"), match, c)
	if v.System != "" && v.System != ucumSystem {
		return paren(" AND ", "1", plain)
	}
	canon := join(" AND ", f(x+".canon_code <> ''"), match, c)
	return paren(" OR ", "0", paren(" AND ", "1", plain), paren(" AND ", "1", canon))
}
