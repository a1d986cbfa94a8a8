package fhir

import (
	"errors"
	"maps"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigilhealth/vigil"
)

// maxCount is the largest _count honoured; larger values are capped.
const maxCount = 1000

// maxChain is the deepest chain accepted (subject.organization.partof.name).
const maxChain = 4

// errUnknownParam marks an unknown parameter, which lenient parsing skips.
var errUnknownParam = errors.New("unknown search parameter")

// ParseSearch parses the query of a search on resource type typ ("" for a
// search across all types) into a vigil.SearchQuery and the
// result-shaping options, following https://hl7.org/fhir/R4/search.html.
//
// Filters: every search parameter of typ (see SearchParams) plus _id and
// _lastUpdated; for typ "" only _id, _lastUpdated, _tag, _profile,
// _security and _source. A repeated parameter is ANDed (one SearchParam
// per occurrence); comma-separated values are ORed ("\," "\|" "\$" and
// "\\" escape). Supported syntax:
//
//   - prefixes eq ne gt lt ge le sa eb ap on date, number and quantity
//     values (on other types the letters are part of the value);
//   - date: YYYY, YYYY-MM, YYYY-MM-DD, and with time "Thh:mm[:ss[.fff]]"
//     and zone ("Z", "+hh:mm"; none means UTC), each giving the range
//     [Start, End) its precision covers; "ap" widens it on both sides by
//     10 % of the distance between now and Start, and at least one day;
//   - number: the value and the range its precision implies (100 →
//     [99.5, 100.5)); "ap" widens that to at least ±10 % of the value;
//   - quantity: "value[|system|code]", canonicalised when system is UCUM;
//   - token: "code", "system|code", "|code", "system|"; modifiers :text,
//     :not, and :of-type ("type-system|type-code|value" on identifiers,
//     against OfTypeParam's entries); :in and :not-in take a value set URL
//     (in URI), :above and :below "system|code" — the caller resolves these
//     four against terminology (records does) before a store sees them;
//   - string: modifiers :exact, :contains;
//   - uri: modifiers :above, :below;
//   - reference: "id", "Type/id", an absolute URL, "url|version"; the
//     modifier :Type sets the type; :identifier takes a token
//     ("system|value") matched against Reference.identifier (a token
//     parameter named IdentifierParam(name));
//     chains "subject:Patient.name=x" and "subject.name=x", up to 4 deep;
//   - _has (reverse chaining): "_has:Observation:patient:code=x" on
//     Patient, nested or ending in a chain, up to 4 deep;
//   - composite: components separated by "$", each parsed by its type;
//   - :missing=true|false on every type.
//
// _type=T1,T2 on a search across all types (typ "") limits it to those
// types (SearchQuery.Types, with the parameters common to all types); with
// one type it is the search of that type, with all of its parameters.
//
// Result parameters: _count (capped at 1000; 0 asks only for the total and
// sets SummaryCount, as stores read Count 0 as their default page size), _sort (comma list, "-"
// descending), _include and _revinclude ("Source:param[:Target]" or "*",
// ":iterate"), _summary (count sets SummaryCount), _elements, _total
// (accurate and estimate set Total); _format and _pretty are ignored.
//
// An unknown parameter is an ErrInvalid *vigil.Error when strict, else a
// warning issue (code "not-supported") and ignored. Malformed values give
// an ErrInvalid *vigil.Error naming the parameter but never quoting the
// value, which may hold patient data.
func (m *Model) ParseSearch(typ string, q url.Values, strict bool) (*vigil.SearchQuery, *SearchOptions, []vigil.Issue, error) {
	s := m.search
	if s == nil {
		return nil, nil, nil, vigil.Errorf(vigil.ErrUnsupported, "search is not loaded")
	}
	if typ != "" && !s.resources[typ] {
		return nil, nil, nil, vigil.Errorf(vigil.ErrInvalid, "unknown resource type %s", safeName(typ))
	}
	if vals, ok := q["_type"]; ok {
		if typ != "" {
			return nil, nil, nil, invalid("_type", "only a search across all types takes _type")
		}
		types, err := s.parseTypes(vals)
		if err != nil {
			return nil, nil, nil, err
		}
		q = maps.Clone(q)
		delete(q, "_type")
		if len(types) == 1 {
			// One type: the search of that type, with all its parameters.
			return m.ParseSearch(types[0], q, strict)
		}
		sq, opts, issues, err := m.ParseSearch("", q, strict)
		if sq != nil {
			sq.Types = types
		}
		return sq, opts, issues, err
	}
	sq := &vigil.SearchQuery{Type: typ}
	opts := &SearchOptions{}
	var issues []vigil.Issue
	unknown := func(key string, cause error) error {
		msg := "unknown search parameter " + safeName(key)
		if strict {
			return &vigil.Error{Kind: vigil.ErrInvalid, Message: msg, Err: cause}
		}
		path := key
		if len(path) > 64 {
			path = path[:64]
		}
		issues = append(issues, vigil.Issue{Severity: "warning", Code: "not-supported", Path: path,
			Message: msg + " ignored"})
		return nil
	}
	for _, key := range slices.Sorted(maps.Keys(q)) {
		vals := q[key]
		base, mod, _ := strings.Cut(key, ":")
		var err error
		switch base {
		case "_format", "_pretty", "_count", "_sort", "_summary", "_elements", "_total":
			if mod != "" {
				return nil, nil, nil, invalid(base, "modifiers are not allowed")
			}
		}
		switch base {
		case "_format", "_pretty":
		case "_count":
			err = parseCount(sq, vals)
		case "_sort":
			err = s.parseSort(sq, typ, vals, unknown)
		case "_include", "_revinclude":
			err = s.parseInclude(sq, typ, key, mod, vals, unknown)
		case "_summary":
			err = parseSummary(sq, opts, vals)
		case "_elements":
			err = parseElements(opts, vals)
		case "_total":
			err = parseTotal(sq, vals)
		default:
			for _, v := range vals {
				var p *vigil.SearchParam
				p, err = s.parseParam(typ, key, v, 0)
				if errors.Is(err, errUnknownParam) {
					err = unknown(key, err)
					break
				}
				if err != nil {
					break
				}
				if p != nil {
					sq.Params = append(sq.Params, *p)
				}
			}
		}
		if err != nil {
			return nil, nil, nil, err
		}
	}
	return sq, opts, issues, nil
}

// safeName returns a parameter name fit for an error message: names are
// not patient data, but the caller chose them, so they are cut short.
func safeName(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return strconv.Quote(s)
}

func invalid(name, what string) error {
	return vigil.Errorf(vigil.ErrInvalid, "search parameter %s: %s", safeName(name), what)
}

func unsupported(name, what string) error {
	return vigil.Errorf(vigil.ErrUnsupported, "search parameter %s: %s", safeName(name), what)
}

// parseTypes parses the comma-separated resource types of _type, sorted
// and without duplicates.
func (s *searchSet) parseTypes(vals []string) ([]string, error) {
	var types []string
	for _, v := range vals {
		for t := range strings.SplitSeq(v, ",") {
			t = strings.TrimSpace(t)
			if !s.resources[t] {
				return nil, invalid("_type", "unknown resource type")
			}
			types = append(types, t)
		}
	}
	if len(types) == 0 {
		return nil, invalid("_type", "expected resource types")
	}
	slices.Sort(types)
	return slices.Compact(types), nil
}

func parseCount(sq *vigil.SearchQuery, vals []string) error {
	for _, v := range vals {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return invalid("_count", "expected a non-negative integer")
		}
		sq.Count = min(n, maxCount)
		if n == 0 { // _count=0: no resources, only the total
			sq.SummaryCount = true
		}
	}
	return nil
}

func parseSummary(sq *vigil.SearchQuery, opts *SearchOptions, vals []string) error {
	for _, v := range vals {
		switch v {
		case "true", "text", "data", "count", "false":
			opts.Summary = v
			sq.SummaryCount = v == "count"
		default:
			return invalid("_summary", "expected true, text, data, count or false")
		}
	}
	return nil
}

func parseElements(opts *SearchOptions, vals []string) error {
	for _, v := range vals {
		for e := range strings.SplitSeq(v, ",") {
			e = strings.TrimSpace(e)
			if _, after, ok := strings.Cut(e, "."); ok && e[0] >= 'A' && e[0] <= 'Z' {
				e = after // "Patient.name"
			}
			if !isElementName(e) {
				return invalid("_elements", "expected element names")
			}
			if !slices.Contains(opts.Elements, e) {
				opts.Elements = append(opts.Elements, e)
			}
		}
	}
	return nil
}

func isElementName(s string) bool {
	if s == "" || !(s[0] >= 'a' && s[0] <= 'z' || s[0] == '_') {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isIdentByte(s[i]) {
			return false
		}
	}
	return true
}

func parseTotal(sq *vigil.SearchQuery, vals []string) error {
	for _, v := range vals {
		switch v {
		case "none":
			sq.Total = false
		case "estimate", "accurate":
			sq.Total = true
		default:
			return invalid("_total", "expected none, estimate or accurate")
		}
	}
	return nil
}

func (s *searchSet) parseSort(sq *vigil.SearchQuery, typ string, vals []string, unknown func(string, error) error) error {
	for _, v := range vals {
		for k := range strings.SplitSeq(v, ",") {
			k = strings.TrimSpace(k)
			desc := strings.HasPrefix(k, "-")
			name := strings.TrimPrefix(k, "-")
			if name == "" {
				return invalid("_sort", "empty sort key")
			}
			pd := s.lookup(typ, name)
			if pd == nil {
				if err := unknown("_sort="+name, errUnknownParam); err != nil {
					return err
				}
				continue
			}
			switch pd.Type {
			case vigil.ParamComposite, vigil.ParamSpecial:
				return invalid("_sort", "cannot sort by a "+pd.Type.String()+" parameter")
			}
			sq.Sort = append(sq.Sort, vigil.SortKey{Param: name, Type: pd.Type, Desc: desc})
		}
	}
	return nil
}

func (s *searchSet) parseInclude(sq *vigil.SearchQuery, typ, key, mod string, vals []string, unknown func(string, error) error) error {
	iterate := false
	switch mod {
	case "":
	case "iterate", "recurse":
		iterate = true
	default:
		return invalid(key, "unknown modifier")
	}
	rev := strings.HasPrefix(key, "_revinclude")
	name := "_include"
	if rev {
		name = "_revinclude"
	}
	for _, v := range vals {
		inc := vigil.Include{Iterate: iterate}
		if v == "*" {
			if typ == "" {
				return invalid(name, "* needs a resource type")
			}
			inc.SourceType, inc.Param = typ, "*"
		} else {
			parts := strings.Split(v, ":")
			if len(parts) < 2 || len(parts) > 3 {
				return invalid(name, "expected Source:param[:Target]")
			}
			inc.SourceType, inc.Param = parts[0], parts[1]
			if !s.resources[inc.SourceType] {
				return invalid(name, "unknown source type")
			}
			if len(parts) == 3 {
				inc.TargetType = parts[2]
				if !s.resources[inc.TargetType] {
					return invalid(name, "unknown target type")
				}
			}
			if inc.Param != "*" {
				pd := s.params[inc.SourceType][inc.Param]
				if pd == nil {
					if err := unknown(name+"="+inc.SourceType+":"+inc.Param, errUnknownParam); err != nil {
						return err
					}
					continue
				}
				if pd.Type != vigil.ParamReference {
					return invalid(name, "not a reference parameter")
				}
			}
		}
		if rev {
			sq.RevInclude = append(sq.RevInclude, inc)
		} else {
			sq.Include = append(sq.Include, inc)
		}
	}
	return nil
}

// parseParam parses one occurrence of a filter parameter. It returns nil
// without error for an empty value, which is ignored.
func (s *searchSet) parseParam(typ, key, raw string, depth int) (*vigil.SearchParam, error) {
	if depth > maxChain {
		return nil, invalid(key, "chain too deep")
	}
	if after, ok := strings.CutPrefix(key, "_has:"); ok {
		return s.parseHas(typ, after, raw, depth)
	}
	head, rest, chained := strings.Cut(key, ".")
	name, mod, _ := strings.Cut(head, ":")
	pd := s.lookup(typ, name)
	if pd == nil {
		return nil, errUnknownParam
	}
	p := &vigil.SearchParam{Name: name, Type: pd.Type}
	if chained {
		return s.parseChain(p, pd, mod, rest, raw, depth)
	}
	if pd.Type == vigil.ParamSpecial {
		if pd.expr == nil {
			return nil, unsupported(name, "special parameters are not supported")
		}
		if mod != "" {
			return nil, unsupported(name, "modifiers are not supported on near")
		}
		for _, item := range splitEscaped(raw, ',') {
			if item == "" {
				continue
			}
			n, err := parseNear(item)
			if err != nil {
				return nil, invalid(name, err.Error())
			}
			p.Values = append(p.Values, vigil.SearchValue{Near: n})
		}
		if len(p.Values) == 0 {
			return nil, nil
		}
		return p, nil
	}
	if err := checkModifier(s, pd, name, mod); err != nil {
		return nil, err
	}
	if mod == "missing" {
		switch raw {
		case "true", "false":
			p.Modifier, p.Missing = mod, raw == "true"
			return p, nil
		}
		return nil, invalid(name, "expected true or false")
	}
	if mod == "identifier" {
		// A token search on the references' identifiers (IdentifierParam).
		p.Name, p.Type, mod, pd = IdentifierParam(name), vigil.ParamToken, "", &paramDef{SearchParamDef: SearchParamDef{Name: name, Type: vigil.ParamToken}}
	}
	if mod == "of-type" {
		// type-system|type-code|value against OfTypeParam's entries.
		p.Name, p.Modifier = OfTypeParam(name), ""
		for _, item := range splitEscaped(raw, ',') {
			if item == "" {
				continue
			}
			parts := splitEscaped(item, '|')
			if len(parts) != 3 || parts[1] == "" || parts[2] == "" {
				return nil, invalid(name, "expected type-system|type-code|value")
			}
			p.Values = append(p.Values, vigil.SearchValue{System: unescape(parts[0]), Code: unescape(parts[1]) + "|" + unescape(parts[2])})
		}
		if len(p.Values) == 0 {
			return nil, nil
		}
		return p, nil
	}
	p.Modifier = mod
	for _, item := range splitEscaped(raw, ',') {
		if item == "" {
			continue
		}
		v, err := s.parseValue(pd.Type, pd, mod, item)
		if err != nil {
			return nil, invalid(name, err.Error())
		}
		p.Values = append(p.Values, v)
	}
	if len(p.Values) == 0 {
		return nil, nil
	}
	return p, nil
}

// parseHas parses the rest of "_has:Type:param:filter=value" on typ: a
// current resource of Type must refer to the resource through its
// reference parameter param (which must be able to point at typ) and match
// filter, which may be another _has, a chain or a plain parameter.
func (s *searchSet) parseHas(typ, rest, raw string, depth int) (*vigil.SearchParam, error) {
	if typ == "" {
		return nil, invalid("_has", "needs a resource type")
	}
	src, rest, ok1 := strings.Cut(rest, ":")
	ref, filter, ok2 := strings.Cut(rest, ":")
	if !ok1 || !ok2 || filter == "" {
		return nil, invalid("_has", "expected _has:Type:reference:parameter")
	}
	if !s.resources[src] {
		return nil, invalid("_has", "unknown resource type")
	}
	pd := s.lookup(src, ref)
	if pd == nil {
		return nil, errUnknownParam
	}
	if pd.Type != vigil.ParamReference {
		return nil, invalid("_has", "not a reference parameter")
	}
	if len(pd.Targets) > 0 && !slices.Contains(pd.Targets, typ) {
		return nil, invalid("_has", "the reference parameter cannot point to this resource type")
	}
	f, err := s.parseParam(src, filter, raw, depth+1)
	if err != nil || f == nil {
		return nil, err
	}
	return &vigil.SearchParam{Name: "_has", Type: vigil.ParamSpecial,
		Has: &vigil.ReverseChain{Type: src, Param: ref, Filter: f}}, nil
}

// parseChain parses "ref[:Type].rest=value".
func (s *searchSet) parseChain(p *vigil.SearchParam, pd *paramDef, mod, rest, raw string, depth int) (*vigil.SearchParam, error) {
	if pd.Type != vigil.ParamReference {
		return nil, invalid(p.Name, "chaining needs a reference parameter")
	}
	var candidates []string
	switch {
	case mod != "":
		if !s.resources[mod] || (len(pd.Targets) > 0 && !slices.Contains(pd.Targets, mod)) {
			return nil, invalid(p.Name, "type modifier is not a target of the parameter")
		}
		candidates = []string{mod}
	case len(pd.Targets) > 0:
		candidates = pd.Targets
	default:
		return nil, invalid(p.Name, "chaining needs a type modifier for a parameter without targets")
	}
	next, _, _ := strings.Cut(rest, ".")
	next, _, _ = strings.Cut(next, ":")
	var first string
	for _, t := range candidates {
		if s.lookup(t, next) != nil {
			if first == "" {
				first = t
			}
			p.TargetTypes = append(p.TargetTypes, t)
		}
	}
	if first == "" {
		return nil, errUnknownParam
	}
	c, err := s.parseParam(first, rest, raw, depth+1)
	if err != nil || c == nil {
		return nil, err
	}
	p.Chain = c
	return p, nil
}

// checkModifier accepts the modifiers a parameter type allows.
func checkModifier(s *searchSet, pd *paramDef, name, mod string) error {
	if mod == "" || mod == "missing" {
		return nil
	}
	switch pd.Type {
	case vigil.ParamString:
		if mod == "exact" || mod == "contains" {
			return nil
		}
	case vigil.ParamToken:
		switch mod {
		case "text", "not":
			return nil
		case "of-type":
			return nil
		case "above", "below", "in", "not-in":
			// Resolved against terminology by the caller (records) before
			// the store sees the query.
			return nil
		}
	case vigil.ParamURI:
		if mod == "above" || mod == "below" {
			return nil
		}
	case vigil.ParamReference:
		switch {
		case mod == "identifier":
			return nil
		case mod == "above" || mod == "below":
			return unsupported(name, "modifier not supported")
		case s.resources[mod]:
			if len(pd.Targets) > 0 && !slices.Contains(pd.Targets, mod) {
				return invalid(name, "type modifier is not a target of the parameter")
			}
			return nil
		}
	}
	return invalid(name, "unknown modifier")
}

// parseValue parses one (comma-separated) value of type pt.
func (s *searchSet) parseValue(pt vigil.ParamType, pd *paramDef, mod, item string) (vigil.SearchValue, error) {
	var v vigil.SearchValue
	switch pt {
	case vigil.ParamString:
		u := unescape(item)
		v.Text, v.Exact = normalizeString(u), u
	case vigil.ParamToken:
		switch mod {
		case "text":
			v.Text = normalizeString(unescape(item))
			return v, nil
		case "in", "not-in":
			if v.URI = unescape(item); v.URI == "" {
				return v, errors.New("expected a value set URL")
			}
			return v, nil
		case "above", "below":
			parts := splitEscaped(item, '|')
			if len(parts) != 2 || parts[0] == "" || parts[1] == "" {
				return v, errors.New("expected system|code")
			}
			v.System, v.Code = unescape(parts[0]), unescape(parts[1])
			return v, nil
		}
		parts := splitEscaped(item, '|')
		switch len(parts) {
		case 1:
			v.Code, v.AnySystem = unescape(parts[0]), true
		case 2:
			v.System, v.Code = unescape(parts[0]), unescape(parts[1])
			if v.System == "" && v.Code == "" {
				return v, errors.New("empty token")
			}
		default:
			return v, errors.New("expected code, system|code, |code or system|")
		}
	case vigil.ParamURI:
		v.URI = unescape(item)
	case vigil.ParamReference:
		return parseRefValue(s, mod, item)
	case vigil.ParamDate:
		v.Prefix, item = cutPrefix(item)
		st, en, err := parseDateRange(unescape(item))
		if err != nil {
			return v, errors.New("invalid date")
		}
		if v.Prefix == vigil.PrefixAp {
			st, en = widenDate(st, en, s.now())
		}
		v.Start, v.End = st, en
	case vigil.ParamNumber:
		v.Prefix, item = cutPrefix(item)
		n, lo, hi, err := parseDecimal(unescape(item))
		if err != nil {
			return v, errors.New("invalid number")
		}
		v.Value, v.Low, v.High = n, lo, hi
		if v.Prefix == vigil.PrefixAp {
			v.Low, v.High = widenNumber(n, lo, hi)
		}
	case vigil.ParamQuantity:
		return parseQuantityValue(item)
	case vigil.ParamComposite:
		parts := splitEscaped(item, '$')
		if len(parts) != len(pd.comps) {
			return v, errors.New("wrong number of composite components")
		}
		for k, part := range parts {
			c, err := s.parseValue(pd.comps[k].typ, nil, "", part)
			if err != nil {
				return v, err
			}
			v.Components = append(v.Components, c)
		}
	default:
		return v, errors.New("unsupported parameter type")
	}
	return v, nil
}

func parseRefValue(s *searchSet, mod, item string) (vigil.SearchValue, error) {
	var v vigil.SearchValue
	u := unescape(item)
	if strings.Contains(u, ":") { // absolute URL, urn or canonical
		if parts := splitEscaped(item, '|'); len(parts) == 2 {
			v.URI, v.RefVersion = unescape(parts[0]), unescape(parts[1])
		} else {
			v.URI = u
		}
		if v.URI == "" {
			return v, errors.New("empty reference")
		}
		return v, nil
	}
	if i := strings.Index(u, "/_history/"); i >= 0 {
		u = u[:i]
	}
	t, id, ok := strings.Cut(u, "/")
	if !ok {
		t, id = "", u
	}
	if id == "" || strings.Contains(id, "/") {
		return v, errors.New("invalid reference")
	}
	if t != "" && !s.resources[t] {
		return v, errors.New("unknown resource type in reference")
	}
	if mod != "" && s.resources[mod] {
		if t != "" && t != mod {
			return v, errors.New("reference type differs from the type modifier")
		}
		t = mod
	}
	v.RefType, v.RefID = t, id
	return v, nil
}

func parseQuantityValue(item string) (vigil.SearchValue, error) {
	var v vigil.SearchValue
	v.Prefix, item = cutPrefix(item)
	parts := splitEscaped(item, '|')
	if len(parts) != 1 && len(parts) != 3 {
		return v, errors.New("expected value|system|code")
	}
	n, lo, hi, err := parseDecimal(unescape(parts[0]))
	if err != nil {
		return v, errors.New("invalid number")
	}
	if v.Prefix == vigil.PrefixAp {
		lo, hi = widenNumber(n, lo, hi)
	}
	v.Value, v.Low, v.High = n, lo, hi
	if len(parts) == 3 {
		v.System, v.Code = unescape(parts[1]), unescape(parts[2])
		if v.System == ucumSystem {
			if u, ok := canonUnit(v.Code); ok {
				v.CanonCode = u.canonCode()
				v.CanonValue, v.CanonLow, v.CanonHigh = u.convert(n), u.convert(lo), u.convert(hi)
			}
		}
	}
	return v, nil
}

// widenDate widens [st, en) for "ap": by 10 % of the distance between now
// and st on both sides, and by at least one day.
func widenDate(st, en, now time.Time) (time.Time, time.Time) {
	d := now.Sub(st)
	if d < 0 {
		d = -d
	}
	w := d / 10
	if w < 24*time.Hour {
		w = 24 * time.Hour
	}
	return st.Add(-w), en.Add(w)
}

// widenNumber widens a number's precision range for "ap" to at least
// ±10 % of the value.
func widenNumber(v, lo, hi float64) (float64, float64) {
	w := math.Abs(v) / 10
	return min(lo, v-w), max(hi, v+w)
}

// cutPrefix removes a comparison prefix from an ordered value.
func cutPrefix(s string) (vigil.Prefix, string) {
	if len(s) >= 2 {
		p := vigil.PrefixEq
		switch s[:2] {
		case "eq":
		case "ne":
			p = vigil.PrefixNe
		case "gt":
			p = vigil.PrefixGt
		case "lt":
			p = vigil.PrefixLt
		case "ge":
			p = vigil.PrefixGe
		case "le":
			p = vigil.PrefixLe
		case "sa":
			p = vigil.PrefixSa
		case "eb":
			p = vigil.PrefixEb
		case "ap":
			p = vigil.PrefixAp
		default:
			return vigil.PrefixEq, s
		}
		return p, s[2:]
	}
	return vigil.PrefixEq, s
}

// splitEscaped splits s on sep where sep is not escaped by a backslash;
// the parts keep their escapes.
func splitEscaped(s string, sep byte) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case sep:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// unescape removes the backslash escapes of search values (\, \| \$ \\).
func unescape(s string) string {
	if strings.IndexByte(s, '\\') < 0 {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// NearDefaultKm is the distance of a near search that gives none (R4
// leaves it to the server).
const NearDefaultKm = 10

// nearUnits are the UCUM units a near distance may be given in, as
// kilometres (R4: "If the units are omitted, then kms should be assumed").
var nearUnits = map[string]float64{"km": 1, "m": 0.001, "[mi_i]": 1.609344, "[mi_us]": 1.609347218694437, "[nmi_i]": 1.852}

// parseNear parses one value of Location's near:
// [latitude]|[longitude]|[distance]|[units] (WGS84 degrees; the distance
// and units are optional).
func parseNear(item string) (*vigil.Near, error) {
	parts := splitEscaped(item, '|')
	if len(parts) < 2 || len(parts) > 4 {
		return nil, errors.New("expected latitude|longitude|distance|units")
	}
	num := func(s string) (float64, bool) {
		f, err := strconv.ParseFloat(unescape(s), 64)
		return f, err == nil && !math.IsInf(f, 0) && !math.IsNaN(f)
	}
	lat, ok1 := num(parts[0])
	lon, ok2 := num(parts[1])
	if !ok1 || !ok2 || lat < -90 || lat > 90 || lon < -180 || lon > 180 {
		return nil, errors.New("latitude must be a number from -90 to 90 and longitude from -180 to 180")
	}
	n := &vigil.Near{Latitude: lat, Longitude: lon, Km: NearDefaultKm}
	if len(parts) > 2 && parts[2] != "" {
		d, ok := num(parts[2])
		if !ok || d < 0 {
			return nil, errors.New("the distance must be a number, 0 or more")
		}
		per := 1.0
		if len(parts) > 3 && parts[3] != "" {
			if per, ok = nearUnits[unescape(parts[3])]; !ok {
				return nil, errors.New("distance units must be km, m, [mi_i], [mi_us] or [nmi_i]")
			}
		}
		n.Km = d * per
	}
	return n, nil
}
