package postgres

import (
	"slices"
	"strings"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/internal/refpair"
)

// This file turns SearchQuery filters into SQL conditions on a resources
// row, following docs/store-contract.md. Each parameter becomes an
// EXISTS over its index table, correlated on the resource key; the value
// conditions sit inside it so that PostgreSQL can also drive the search
// from the index table's value index (a semi-join).

// tableOf returns the index table of a parameter type, or "".
func tableOf(t vigil.ParamType) string {
	switch t {
	case vigil.ParamString:
		return "idx_string"
	case vigil.ParamToken:
		return "idx_token"
	case vigil.ParamReference:
		return "idx_ref"
	case vigil.ParamDate:
		return "idx_date"
	case vigil.ParamNumber:
		return "idx_number"
	case vigil.ParamQuantity:
		return "idx_quantity"
	case vigil.ParamURI:
		return "idx_uri"
	}
	return ""
}

// allTables lists every index table.
func allTables() []string {
	return []string{"idx_string", "idx_token", "idx_ref", "idx_date", "idx_number", "idx_quantity", "idx_uri"}
}

// maxRune is the largest code point: every string with prefix p sorts
// before p+maxRune in the "C" collation.
const maxRune = "\U0010FFFF"

// where returns the conditions of q on the resources row r.
func (b *sqlBuilder) where(q *vigil.SearchQuery) (string, error) {
	conds := []string{"NOT r.deleted"}
	rt := ""
	if q.Type != "" {
		rt = b.arg(q.Type)
		conds = append(conds, "r.type = "+rt)
	} else if len(q.Types) > 0 {
		conds = append(conds, "r.type = ANY("+b.arg(q.Types)+")")
	}
	if q.Compartment != nil {
		conds = append(conds, b.compartment("r", q.Type, q.Compartment))
	}
	if q.Restrict != nil {
		conds = append(conds, b.compartment("r", q.Type, q.Restrict))
	}
	ri, ti := -1, -1
	if rt != "" {
		// A reference and a token parameter idx_ref_token answers together
		// are one condition on it (pairs.go).
		if r, t, ok := refpair.Find(q.Params); ok && shortPair(&q.Params[r], &q.Params[t]) {
			ri, ti = r, t
			conds = append(conds, b.pairCond("r", rt, &q.Params[ri], &q.Params[ti]))
		}
	}
	for i := range q.Params {
		if i == ri || i == ti {
			continue
		}
		c, err := b.param("r", rt, &q.Params[i])
		if err != nil {
			return "", err
		}
		conds = append(conds, c)
	}
	return strings.Join(conds, " AND "), nil
}

// compartment places resource row a in compartment c
// (https://hl7.org/fhir/R4/compartmentdefinition.html).
func (b *sqlBuilder) compartment(a, typ string, c *vigil.Compartment) string {
	types := make([]string, 0, len(c.Params))
	for t, params := range c.Params {
		if (typ == "" || t == typ) && len(params) > 0 {
			types = append(types, t)
		}
	}
	slices.Sort(types)
	self := c.Type == "Patient" && (typ == "" || typ == "Patient")
	if len(types) == 0 && !self {
		return "FALSE"
	}
	ctype, cid := b.arg(c.Type), b.arg(c.Members())
	var ors []string
	for _, t := range types {
		ta := b.arg(t)
		x := b.newAlias("x")
		ors = append(ors, "("+a+".type = "+ta+" AND EXISTS (SELECT 1 FROM idx_ref "+x+" WHERE "+x+".key = "+a+".key AND "+
			x+".rtype = "+ta+" AND "+x+".param = ANY("+b.arg(c.Params[t])+") AND "+x+".ref_type = "+ctype+" AND "+x+".ref_id = ANY("+cid+")))")
	}
	if self {
		ors = append(ors, "("+a+".type = "+ctype+" AND "+a+".id = ANY("+cid+"))")
	}
	return "(" + strings.Join(ors, " OR ") + ")"
}

// param returns the condition of one search parameter on resource row a.
// rt is the SQL expression of a's resource type, or "" when unknown.
func (b *sqlBuilder) param(a, rt string, p *vigil.SearchParam) (string, error) {
	switch p.Name {
	case "_id":
		return b.idParam(a, p)
	case "_lastUpdated":
		return b.lastUpdatedParam(a, p)
	}
	switch {
	case p.Modifier == "missing":
		return b.missing(a, rt, p)
	case p.Chain != nil:
		return b.chain(a, rt, p)
	case p.Has != nil:
		return b.has(a, p.Has)
	case p.Type == vigil.ParamComposite:
		return b.composite(a, rt, p)
	case p.Type == vigil.ParamSpecial:
		return b.near(a, rt, p)
	}
	table := tableOf(p.Type)
	if table == "" {
		return "", vigil.Errorf(vigil.ErrUnsupported, "search parameter %s of type %q is not supported", p.Name, p.Type)
	}
	if len(p.Values) == 0 {
		return "", vigil.Errorf(vigil.ErrInvalid, "search parameter %s has no value", p.Name)
	}
	mod, not := p.Modifier, false
	if mod == "not" {
		mod, not = "", true
	}
	i := b.newAlias("i")
	var ors []string
	for k := range p.Values {
		c, err := b.value(i, p.Type, mod, &p.Values[k])
		if err != nil {
			return "", err
		}
		ors = append(ors, c)
	}
	c := "EXISTS (SELECT 1 FROM " + table + " " + i + " WHERE " + b.entryOf(i, a, rt, b.arg(p.Name)) +
		" AND (" + strings.Join(ors, " OR ") + "))"
	if not {
		c = "NOT " + c
	}
	return c, nil
}

// entryOf correlates index alias i with resource row a for parameter name.
func (b *sqlBuilder) entryOf(i, a, rt, name string) string {
	s := i + ".key = " + a + ".key AND " + i + ".param = " + name
	if rt != "" {
		s += " AND " + i + ".rtype = " + rt
	}
	return s
}

func (b *sqlBuilder) idParam(a string, p *vigil.SearchParam) (string, error) {
	switch p.Modifier {
	case "missing":
		if p.Missing {
			return "FALSE", nil
		}
		return "TRUE", nil
	case "", "not", "exact":
	default:
		return "", vigil.Errorf(vigil.ErrUnsupported, "modifier %q is not supported on _id", p.Modifier)
	}
	ids := make([]string, 0, len(p.Values))
	for _, v := range p.Values {
		ids = append(ids, v.Code)
	}
	c := a + ".id = ANY(" + b.arg(ids) + ")"
	if p.Modifier == "not" {
		c = "NOT " + c
	}
	return c, nil
}

func (b *sqlBuilder) lastUpdatedParam(a string, p *vigil.SearchParam) (string, error) {
	switch p.Modifier {
	case "missing":
		if p.Missing {
			return "FALSE", nil
		}
		return "TRUE", nil
	case "":
	default:
		return "", vigil.Errorf(vigil.ErrUnsupported, "modifier %q is not supported on _lastUpdated", p.Modifier)
	}
	if len(p.Values) == 0 {
		return "", vigil.Errorf(vigil.ErrInvalid, "search parameter _lastUpdated has no value")
	}
	// The instant covers [t, t+1ms).
	var ors []string
	for k := range p.Values {
		c, err := b.dateRange(a+".last_updated", "("+a+".last_updated + interval '1 millisecond')", &p.Values[k])
		if err != nil {
			return "", err
		}
		ors = append(ors, c)
	}
	return "(" + strings.Join(ors, " OR ") + ")", nil
}

// missing implements :missing. For a composite the entries may be in any
// table, so all are checked.
func (b *sqlBuilder) missing(a, rt string, p *vigil.SearchParam) (string, error) {
	name := b.arg(p.Name)
	var ts []string
	if p.Type == vigil.ParamComposite {
		ts = allTables()
	} else if t := tableOf(p.Type); t != "" {
		ts = []string{t}
	} else {
		return "", vigil.Errorf(vigil.ErrUnsupported, "search parameter %s of type %q is not supported", p.Name, p.Type)
	}
	var ors []string
	for _, t := range ts {
		i := b.newAlias("m")
		ors = append(ors, "EXISTS (SELECT 1 FROM "+t+" "+i+" WHERE "+b.entryOf(i, a, rt, name)+")")
	}
	c := "(" + strings.Join(ors, " OR ") + ")"
	if p.Missing {
		c = "NOT " + c
	}
	return c, nil
}

// chain implements a chained parameter: one of a's references through
// p.Name points to a current resource of p.TargetTypes matching p.Chain.
func (b *sqlBuilder) chain(a, rt string, p *vigil.SearchParam) (string, error) {
	if p.Type != vigil.ParamReference && p.Type != vigil.ParamUnknown {
		return "", vigil.Errorf(vigil.ErrInvalid, "chained parameter %s is not a reference", p.Name)
	}
	if len(p.TargetTypes) == 0 {
		return "", vigil.Errorf(vigil.ErrInvalid, "chained parameter %s has no target type", p.Name)
	}
	i, t := b.newAlias("c"), b.newAlias("t")
	sub, err := b.param(t, t+".type", p.Chain)
	if err != nil {
		return "", err
	}
	// A chain must not test the content of a resource the caller may not
	// see.
	vis := b.visible(t)
	return "EXISTS (SELECT 1 FROM idx_ref " + i + " JOIN resources " + t + " ON " + t + ".type = " + i + ".ref_type AND " + t + ".id = " + i + ".ref_id" +
		" WHERE " + b.entryOf(i, a, rt, b.arg(p.Name)) + " AND " + i + ".ref_type = ANY(" + b.arg(p.TargetTypes) + ") AND NOT " + t + ".deleted AND " + sub + vis + ")", nil
}

// has implements a _has filter on resource row a: a current resource of
// h.Type refers to a through h.Param and matches h.Filter. Under an access
// restriction only resources the caller may see count, as for chains.
func (b *sqlBuilder) has(a string, h *vigil.ReverseChain) (string, error) {
	i, o := b.newAlias("h"), b.newAlias("o")
	sub, err := b.param(o, o+".type", h.Filter)
	if err != nil {
		return "", err
	}
	ex := "EXISTS (SELECT 1 FROM idx_ref " + i + " JOIN resources " + o + " ON " + o + ".key = " + i + ".key" +
		" WHERE " + i + ".ref_id = " + a + ".id AND " + i + ".ref_type = " + a + ".type AND " + i + ".rtype = " + b.arg(h.Type) +
		" AND " + i + ".param = " + b.arg(h.Param) + " AND " + o + ".type = " + b.arg(h.Type) + " AND NOT " + o + ".deleted AND " + sub + b.visible(o) + ")"
	if len(h.Also) == 0 {
		return ex, nil
	}
	return "(" + ex + " OR " + a + ".id = ANY(" + b.arg(h.Also) + "))", nil
}

// visible is the access restriction on resource row t of any type, as
// " AND …", or "" without one: types that can be in a patient compartment
// must be in the restriction's.
func (b *sqlBuilder) visible(t string) string {
	if b.restrict == nil {
		return ""
	}
	types := []string{"Patient"}
	for typ, ps := range b.restrict.Params {
		if len(ps) > 0 && typ != "Patient" {
			types = append(types, typ)
		}
	}
	slices.Sort(types)
	return " AND (NOT " + t + ".type = ANY(" + b.arg(types) + ") OR " + b.compartment(t, "", b.restrict) + ")"
}

// near implements Location's near (vigil.Near): a resource matches when
// one of its positions (the latitude and longitude number entries of one
// group) is within a value's distance, by the haversine formula; the
// latitude span bounds the candidates.
func (b *sqlBuilder) near(a, rt string, p *vigil.SearchParam) (string, error) {
	if p.Modifier != "" {
		return "", vigil.Errorf(vigil.ErrUnsupported, "modifier %q is not supported on %s", p.Modifier, p.Name)
	}
	if len(p.Values) == 0 {
		return "", vigil.Errorf(vigil.ErrInvalid, "search parameter %s has no value", p.Name)
	}
	name := b.arg(p.Name)
	var ors []string
	for _, v := range p.Values {
		n := v.Near
		if n == nil {
			return "", vigil.Errorf(vigil.ErrInvalid, "%s value has no position", p.Name)
		}
		x, y := b.newAlias("g"), b.newAlias("g")
		lo, hi := n.LatitudeSpan()
		lat := b.arg(n.Latitude)
		ors = append(ors, "EXISTS (SELECT 1 FROM idx_number "+x+" JOIN idx_number "+y+" ON "+y+".key = "+x+".key AND "+y+".param = "+x+".param AND "+
			y+".grp = "+x+".grp AND "+y+".part = 1 WHERE "+b.entryOf(x, a, rt, name)+" AND "+x+".part = 0 AND "+
			x+".value BETWEEN "+b.arg(lo)+"::float8 AND "+b.arg(hi)+"::float8 AND 2 * "+b.arg(vigil.EarthRadiusKm)+"::float8 * asin(least(1.0, sqrt("+
			"power(sin(radians("+x+".value - "+lat+"::float8) / 2), 2) + cos(radians("+lat+"::float8)) * cos(radians("+x+".value)) * "+
			"power(sin(radians("+y+".value - "+b.arg(n.Longitude)+"::float8) / 2), 2)))) <= "+b.arg(n.Km+vigil.NearSlackKm)+"::float8)")
	}
	return "(" + strings.Join(ors, " OR ") + ")", nil
}

// composite implements a composite parameter: all components of one value
// match the parts of one group of entries. The component types are not in
// the query, so each component is matched against the tables its value
// can belong to (a value's set fields tell which).
func (b *sqlBuilder) composite(a, rt string, p *vigil.SearchParam) (string, error) {
	if len(p.Values) == 0 {
		return "", vigil.Errorf(vigil.ErrInvalid, "search parameter %s has no value", p.Name)
	}
	name := b.arg(p.Name)
	var ors []string
	for k := range p.Values {
		comps := p.Values[k].Components
		if len(comps) == 0 {
			return "", vigil.Errorf(vigil.ErrInvalid, "composite parameter %s needs component values", p.Name)
		}
		c, err := b.component(a, rt, name, comps, 0, "")
		if err != nil {
			return "", err
		}
		ors = append(ors, c)
	}
	c := "(" + strings.Join(ors, " OR ") + ")"
	if p.Modifier == "not" {
		c = "NOT " + c
	} else if p.Modifier != "" {
		return "", vigil.Errorf(vigil.ErrUnsupported, "modifier %q is not supported on composite parameters", p.Modifier)
	}
	return c, nil
}

// component matches comps[k:] within the group grp ("" for k == 0: any
// group).
func (b *sqlBuilder) component(a, rt, name string, comps []vigil.SearchValue, k int, grp string) (string, error) {
	var alts []string
	for _, t := range componentTypes(&comps[k]) {
		i := b.newAlias("p")
		v, err := b.value(i, t, "", &comps[k])
		if err != nil {
			return "", err
		}
		c := "EXISTS (SELECT 1 FROM " + tableOf(t) + " " + i + " WHERE " + b.entryOf(i, a, rt, name) +
			" AND " + i + ".part = " + b.arg(int32(k))
		if grp != "" {
			c += " AND " + i + ".grp = " + grp
		}
		c += " AND " + v
		if k+1 < len(comps) {
			rest, err := b.component(a, rt, name, comps, k+1, i+".grp")
			if err != nil {
				return "", err
			}
			c += " AND " + rest
		}
		alts = append(alts, c+")")
	}
	return "(" + strings.Join(alts, " OR ") + ")", nil
}

// componentTypes guesses the parameter types a composite component value
// can have from the fields set on it.
func componentTypes(v *vigil.SearchValue) []vigil.ParamType {
	switch {
	case !v.Start.IsZero() || !v.End.IsZero():
		return []vigil.ParamType{vigil.ParamDate}
	case v.RefID != "":
		return []vigil.ParamType{vigil.ParamReference}
	case v.URI != "":
		return []vigil.ParamType{vigil.ParamURI, vigil.ParamReference}
	case v.Value != 0 || v.Low != 0 || v.High != 0 || v.CanonCode != "":
		if v.Code != "" || v.System != "" || v.CanonCode != "" {
			return []vigil.ParamType{vigil.ParamQuantity}
		}
		return []vigil.ParamType{vigil.ParamNumber, vigil.ParamQuantity}
	case v.Code != "" || v.System != "":
		return []vigil.ParamType{vigil.ParamToken}
	case v.Text != "" || v.Exact != "":
		return []vigil.ParamType{vigil.ParamString}
	}
	return []vigil.ParamType{vigil.ParamToken}
}

// value returns the condition of one search value on index alias i.
func (b *sqlBuilder) value(i string, t vigil.ParamType, mod string, v *vigil.SearchValue) (string, error) {
	switch t {
	case vigil.ParamString:
		switch mod {
		case "":
			return b.prefix(i+".text", clip(v.Text)), nil
		case "exact":
			return i + ".exact = " + b.arg(v.Exact), nil
		case "contains":
			return "strpos(" + i + ".text, " + b.arg(clip(v.Text)) + ") > 0", nil
		}
	case vigil.ParamToken:
		switch mod {
		case "text":
			return b.prefix(i+".text", v.Text), nil
		case "":
			switch {
			case v.AnySystem:
				return i + ".code = " + b.arg(clip(v.Code)), nil
			case v.System != "" && v.Code != "":
				return "(" + i + ".code = " + b.arg(clip(v.Code)) + " AND " + i + ".system = " + b.arg(clip(v.System)) + ")", nil
			case v.System != "":
				return i + ".system = " + b.arg(clip(v.System)), nil
			default:
				return "(" + i + ".code = " + b.arg(clip(v.Code)) + " AND " + i + ".system = '')", nil
			}
		}
	case vigil.ParamReference:
		var conds []string
		if mod != "" {
			if !isTypeName(mod) {
				break
			}
			conds = append(conds, i+".ref_type = "+b.arg(mod))
		}
		switch {
		case v.URI != "":
			conds = append(conds, i+".uri = "+b.arg(clip(v.URI)))
			if v.RefVersion != "" {
				conds = append(conds, i+".ref_version = "+b.arg(v.RefVersion))
			}
		case v.RefType != "":
			conds = append(conds, i+".ref_id = "+b.arg(clip(v.RefID)), i+".ref_type = "+b.arg(clip(v.RefType)))
		default:
			conds = append(conds, i+".ref_id = "+b.arg(clip(v.RefID)))
		}
		return "(" + strings.Join(conds, " AND ") + ")", nil
	case vigil.ParamURI:
		switch mod {
		case "":
			return i + ".uri = " + b.arg(clip(v.URI)), nil
		case "below":
			return b.prefix(i+".uri", clip(v.URI)), nil
		case "above":
			return "starts_with(" + b.arg(v.URI) + "::text, " + i + ".uri)", nil
		}
	case vigil.ParamDate:
		if mod == "" {
			return b.dateRange(i+".start_t", i+".end_t", v)
		}
	case vigil.ParamNumber:
		if mod == "" {
			return b.number(i+".value", v.Prefix, v.Value, v.Low, v.High)
		}
	case vigil.ParamQuantity:
		if mod != "" {
			break
		}
		switch {
		case v.CanonCode != "":
			n, err := b.number(i+".canon_value", v.Prefix, v.CanonValue, v.CanonLow, v.CanonHigh)
			if err != nil {
				return "", err
			}
			return "(" + i + ".canon_code = " + b.arg(clip(v.CanonCode)) + " AND " + n + ")", nil
		case v.Code != "":
			n, err := b.number(i+".value", v.Prefix, v.Value, v.Low, v.High)
			if err != nil {
				return "", err
			}
			c := "(" + i + ".code = " + b.arg(clip(v.Code))
			if v.System != "" {
				c += " AND " + i + ".system = " + b.arg(clip(v.System))
			}
			return c + " AND " + n + ")", nil
		default:
			return b.number(i+".value", v.Prefix, v.Value, v.Low, v.High)
		}
	}
	return "", vigil.Errorf(vigil.ErrUnsupported, "modifier %q is not supported on %s parameters", mod, t)
}

// isTypeName reports whether s looks like a FHIR resource type name (the
// reference type modifier), as opposed to a modifier keyword.
func isTypeName(s string) bool {
	return s != "" && s[0] >= 'A' && s[0] <= 'Z'
}

// prefix matches col starting with p. The range lets PostgreSQL use the
// btree index ("C" collation); starts_with makes it exact.
func (b *sqlBuilder) prefix(col, p string) string {
	if p == "" {
		return "TRUE"
	}
	pa := b.arg(p)
	return "(" + col + " >= " + pa + " AND " + col + " < " + b.arg(p+maxRune) + " AND starts_with(" + col + ", " + pa + "))"
}

// dateRange compares the entry range [s, e) with the search range of v
// (https://hl7.org/fhir/R4/search.html#prefix; contract: date).
func (b *sqlBuilder) dateRange(s, e string, v *vigil.SearchValue) (string, error) {
	S, E := lowerBound(v.Start), upperBound(v.End)
	eq := func() string { return "(" + s + " >= " + b.arg(S) + " AND " + e + " <= " + b.arg(E) + ")" }
	switch v.Prefix {
	case vigil.PrefixEq:
		return eq(), nil
	case vigil.PrefixNe:
		return "NOT " + eq(), nil
	case vigil.PrefixGt:
		return e + " > " + b.arg(E), nil
	case vigil.PrefixLt:
		return s + " < " + b.arg(S), nil
	case vigil.PrefixGe:
		return "(" + e + " > " + b.arg(E) + " OR " + eq() + ")", nil
	case vigil.PrefixLe:
		return "(" + s + " < " + b.arg(S) + " OR " + eq() + ")", nil
	case vigil.PrefixSa:
		return s + " >= " + b.arg(E), nil
	case vigil.PrefixEb:
		return e + " <= " + b.arg(S), nil
	case vigil.PrefixAp:
		return "(" + s + " < " + b.arg(E) + " AND " + e + " > " + b.arg(S) + ")", nil
	}
	return "", vigil.Errorf(vigil.ErrInvalid, "unknown prefix %q", v.Prefix)
}

// number compares the entry value col with a number or quantity value.
func (b *sqlBuilder) number(col string, p vigil.Prefix, value, low, high float64) (string, error) {
	switch p {
	case vigil.PrefixEq:
		return "(" + col + " >= " + b.arg(low) + " AND " + col + " < " + b.arg(high) + ")", nil
	case vigil.PrefixNe:
		return "NOT (" + col + " >= " + b.arg(low) + " AND " + col + " < " + b.arg(high) + ")", nil
	case vigil.PrefixGt, vigil.PrefixSa:
		return col + " > " + b.arg(value), nil
	case vigil.PrefixLt, vigil.PrefixEb:
		return col + " < " + b.arg(value), nil
	case vigil.PrefixGe:
		return col + " >= " + b.arg(value), nil
	case vigil.PrefixLe:
		return col + " <= " + b.arg(value), nil
	case vigil.PrefixAp:
		return "(" + col + " >= " + b.arg(low) + " AND " + col + " <= " + b.arg(high) + ")", nil
	}
	return "", vigil.Errorf(vigil.ErrInvalid, "unknown prefix %q", p)
}
