package fhir

import (
	"math"
	"slices"
	"strings"
	"time"

	"github.com/vigilhealth/vigil"
)

// IndexRevision numbers the revisions of what Index extracts. Stores
// record the revision their entries were made by (vigil.IndexRevisioner),
// and a server finding an older one rebuilds them
// (records.Service.ReindexIfStale). Raise it whenever Index extracts
// something new or differently.
//
//   - 1: the first revision.
//   - 2 (2026-12-07): Reference.identifier (:identifier) and Identifier.type
//     (:of-type).
//   - 3 (session 15): Location.position for near; code elements carry the
//     system of their required binding.
const IndexRevision = 3

// maxCompositeGroups bounds the combinations one composite context node
// may produce (the product of its components' values).
const maxCompositeGroups = 64

// Index extracts the search index entries of a resource, as defined in
// the search contract (see vigil.IndexEntry): every search parameter of
// obj's resourceType and the Resource-level _tag, _profile, _security and
// _source, but not _id and _lastUpdated, which stores keep as columns.
// Values are converted by their FHIR data type, known from the structure
// definitions or the JSON member name (valueQuantity) or, failing that,
// inferred from the value's shape. Identical entries are removed.
//
// obj is a decoded resource (numbers as json.Number or float64); it is
// not modified. Index fails with vigil.ErrInvalid when obj has no known
// resourceType. Values that do not convert (a malformed date) are skipped:
// validation is Decode's job. Not indexed: SampledData values of the
// quantity parameters, "Bundle.entry[0].resource" (composition, message)
// and references that are contained ("#id") or logical (identifier only).
//
// Index runs on every write: it costs tens of microseconds and a few dozen
// allocations per Observation (see BenchmarkIndexObservation), and is safe
// for concurrent use.
func (m *Model) Index(obj map[string]any) ([]vigil.IndexEntry, error) {
	return m.index(obj, nil)
}

// IndexParams is Index restricted to the named parameters: the access
// policy uses it to find the patients whose compartment a resource is in
// without evaluating every other parameter.
func (m *Model) IndexParams(obj map[string]any, names []string) ([]vigil.IndexEntry, error) {
	if names == nil {
		names = []string{}
	}
	return m.index(obj, names)
}

// index evaluates the parameters named in only (all when only is nil).
func (m *Model) index(obj map[string]any, only []string) ([]vigil.IndexEntry, error) {
	s := m.search
	if s == nil {
		return nil, vigil.Errorf(vigil.ErrUnsupported, "search is not loaded")
	}
	rt, _ := obj["resourceType"].(string)
	params, ok := s.indexed[rt]
	if !ok {
		return nil, vigil.Errorf(vigil.ErrInvalid, "unknown resource type %s", safeName(rt))
	}
	c := &evalCtx{root: node{v: obj, typ: rt}, types: s.elems}
	if a, ok := s.arenas.Get().(*[]node); ok {
		c.arena = *a
	}
	defer func() {
		a := c.arena[:cap(c.arena)]
		clear(a) // drop references to this resource
		a = a[:0]
		s.arenas.Put(&a)
	}()
	ix := indexer{out: make([]vigil.IndexEntry, 0, 32)}
	in := c.one(c.root)
	for _, pd := range params {
		if only != nil && !slices.Contains(only, pd.Name) {
			continue
		}
		items := pd.expr.eval(c, in)
		if len(items) == 0 {
			continue
		}
		if pd.Type == vigil.ParamComposite {
			ix.composite(c, pd, items)
			continue
		}
		if pd.Type == vigil.ParamSpecial {
			ix.position(pd.Name, items)
			continue
		}
		start := len(ix.out)
		for _, n := range items {
			ix.out = appendEntries(ix.out, pd.Name, pd.Type, n)
		}
		ix.out = dedupe(ix.out, start)
	}
	return ix.out, nil
}

type indexer struct {
	out   []vigil.IndexEntry
	group int
	// scratch for composites
	vals  []vigil.IndexEntry
	parts [][2]int
	idx   []int
}

// dedupe removes the repeated entries of es[start:] (one parameter's).
// Entries of one parameter are few, so a linear scan beats hashing.
func dedupe(es []vigil.IndexEntry, start int) []vigil.IndexEntry {
	w := start
	for r := start; r < len(es); r++ {
		dup := false
		for k := start; k < w; k++ {
			if es[k] == es[r] {
				dup = true
				break
			}
		}
		if !dup {
			es[w] = es[r]
			w++
		}
	}
	return es[:w]
}

// position indexes each Location.position node with a valid latitude
// and longitude as the number entries of one Group: Part 0 the latitude,
// Part 1 the longitude (vigil.Near).
func (ix *indexer) position(name string, nodes []node) {
	for _, n := range nodes {
		m, ok := n.v.(map[string]any)
		if !ok {
			continue
		}
		lat, ok1 := toFloat(m["latitude"])
		lon, ok2 := toFloat(m["longitude"])
		if !ok1 || !ok2 || !(lat >= -90 && lat <= 90) || !(lon >= -180 && lon <= 180) {
			continue
		}
		ix.group++
		ix.out = append(ix.out,
			vigil.IndexEntry{Param: name, Type: vigil.ParamNumber, Group: ix.group, Part: 0, Value: lat, Low: lat, High: lat},
			vigil.IndexEntry{Param: name, Type: vigil.ParamNumber, Group: ix.group, Part: 1, Value: lon, Low: lon, High: lon})
	}
}

// composite indexes each context node as the combinations of its
// components' values, one Group per combination. A node whose
// combinations exceed maxCompositeGroups is not indexed.
func (ix *indexer) composite(c *evalCtx, pd *paramDef, ctxNodes []node) {
	for _, cn := range ctxNodes {
		vals, parts := ix.vals[:0], ix.parts[:0]
		total := 1
		for k, comp := range pd.comps {
			from := len(vals)
			for _, n := range comp.expr.eval(c, c.one(cn)) {
				vals = appendEntries(vals, pd.Name, comp.typ, n)
			}
			w := from
			for _, e := range vals[from:] {
				if e.Type == vigil.ParamToken && e.Code == "" && e.System == "" {
					continue // a text-only token entry cannot match a composite value
				}
				e.Part = k
				vals[w] = e
				w++
			}
			vals = dedupe(vals[:w], from)
			if len(vals) == from {
				total = 0
				break
			}
			total *= len(vals) - from
			parts = append(parts, [2]int{from, len(vals)})
		}
		ix.vals, ix.parts = vals, parts
		if total == 0 || total > maxCompositeGroups {
			continue
		}
		idx := ix.idx[:0]
		for _, p := range parts {
			idx = append(idx, p[0])
		}
		ix.idx = idx
		for {
			ix.group++
			for _, i := range idx {
				e := vals[i]
				e.Group = ix.group
				ix.out = append(ix.out, e)
			}
			k := len(idx) - 1
			for k >= 0 {
				idx[k]++
				if idx[k] < parts[k][1] {
					break
				}
				idx[k] = parts[k][0]
				k--
			}
			if k < 0 {
				break
			}
		}
	}
}

// appendEntries converts one FHIRPath result to entries of a parameter
// type and appends them to dst.
func appendEntries(dst []vigil.IndexEntry, name string, pt vigil.ParamType, n node) []vigil.IndexEntry {
	switch pt {
	case vigil.ParamString:
		return indexString(dst, name, n)
	case vigil.ParamToken:
		return indexToken(dst, name, n)
	case vigil.ParamReference:
		return indexReference(dst, name, n)
	case vigil.ParamDate:
		return indexDate(dst, name, n)
	case vigil.ParamNumber:
		if s, ok := numberString(n.v); ok {
			if v, lo, hi, err := parseDecimal(s); err == nil {
				dst = append(dst, vigil.IndexEntry{Param: name, Type: pt, Value: v, Low: lo, High: hi})
			}
		}
	case vigil.ParamQuantity:
		return indexQuantity(dst, name, n)
	case vigil.ParamURI:
		if s, ok := n.v.(string); ok {
			dst = append(dst, vigil.IndexEntry{Param: name, Type: pt, URI: s})
		}
	}
	return dst
}

func stringEntry(name, s string) vigil.IndexEntry {
	return vigil.IndexEntry{Param: name, Type: vigil.ParamString, Text: normalizeString(s), Exact: s}
}

func indexString(dst []vigil.IndexEntry, name string, n node) []vigil.IndexEntry {
	switch v := n.v.(type) {
	case string:
		dst = append(dst, stringEntry(name, v))
	case map[string]any:
		var keys []string
		switch nodeType(n) {
		case "HumanName":
			keys = []string{"family", "given", "prefix", "suffix", "text"}
		case "Address":
			keys = []string{"line", "city", "district", "state", "postalCode", "country", "text"}
		default:
			return dst
		}
		for _, k := range keys {
			switch x := v[k].(type) {
			case string:
				dst = append(dst, stringEntry(name, x))
			case []any:
				for _, y := range x {
					if s, ok := y.(string); ok {
						dst = append(dst, stringEntry(name, s))
					}
				}
			}
		}
	}
	return dst
}

func indexToken(dst []vigil.IndexEntry, name string, n node) []vigil.IndexEntry {
	switch v := n.v.(type) {
	case string:
		// A code element ("status") is indexed with the system its
		// required binding implies, so that system|code finds it.
		sys := ""
		if n.vs != nil {
			sys = n.vs.systemOf(v)
		}
		dst = append(dst, vigil.IndexEntry{Param: name, Type: vigil.ParamToken, System: sys, Code: v})
	case bool:
		code := "false"
		if v {
			code = "true"
		}
		dst = append(dst, vigil.IndexEntry{Param: name, Type: vigil.ParamToken, Code: code})
	case map[string]any:
		switch nodeType(n) {
		case "CodeableConcept":
			codings, _ := v["coding"].([]any)
			for _, c := range codings {
				if cm, ok := c.(map[string]any); ok {
					dst = append(dst, codingEntry(name, cm))
				}
			}
			if t, ok := v["text"].(string); ok {
				dst = append(dst, vigil.IndexEntry{Param: name, Type: vigil.ParamToken, Text: normalizeString(t)})
			}
		case "Coding":
			dst = append(dst, codingEntry(name, v))
		case "Identifier":
			val, _ := v["value"].(string)
			sys, _ := v["system"].(string)
			if val != "" || sys != "" {
				e := vigil.IndexEntry{Param: name, Type: vigil.ParamToken, System: sys, Code: val}
				if tm, ok := v["type"].(map[string]any); ok {
					if t, ok := tm["text"].(string); ok {
						e.Text = normalizeString(t)
					}
					// name:of-type: the type's codings with the value.
					codings, _ := tm["coding"].([]any)
					for _, c := range codings {
						cm, _ := c.(map[string]any)
						code, _ := cm["code"].(string)
						if code != "" && val != "" {
							tsys, _ := cm["system"].(string)
							dst = append(dst, vigil.IndexEntry{Param: OfTypeParam(name), Type: vigil.ParamToken, System: tsys, Code: code + "|" + val})
						}
					}
				}
				dst = append(dst, e)
			}
		case "ContactPoint":
			if val, ok := v["value"].(string); ok {
				dst = append(dst, vigil.IndexEntry{Param: name, Type: vigil.ParamToken, Code: val})
			}
		}
	default:
		if s, ok := numberString(v); ok {
			dst = append(dst, vigil.IndexEntry{Param: name, Type: vigil.ParamToken, Code: s})
		}
	}
	return dst
}

func codingEntry(name string, c map[string]any) vigil.IndexEntry {
	e := vigil.IndexEntry{Param: name, Type: vigil.ParamToken}
	e.System, _ = c["system"].(string)
	e.Code, _ = c["code"].(string)
	if d, ok := c["display"].(string); ok {
		e.Text = normalizeString(d)
	}
	return e
}

func indexReference(dst []vigil.IndexEntry, name string, n node) []vigil.IndexEntry {
	var s string
	switch v := n.v.(type) {
	case string: // canonical, uri
		s = v
	case map[string]any:
		s, _ = v["reference"].(string)
		// Reference.identifier, for name:identifier: a token entry under
		// that name (IdentifierParam).
		if id, ok := v["identifier"].(map[string]any); ok {
			val, _ := id["value"].(string)
			sys, _ := id["system"].(string)
			if val != "" || sys != "" {
				dst = append(dst, vigil.IndexEntry{Param: IdentifierParam(name), Type: vigil.ParamToken, System: sys, Code: val})
			}
		}
	}
	if s == "" {
		return dst
	}
	e, ok := parseReference(s)
	if !ok {
		return dst
	}
	e.Param, e.Type = name, vigil.ParamReference
	dst = append(dst, e)
	return dst
}

// IdentifierParam is the name under which the identifiers of the references
// of reference parameter name are indexed, as token entries: the search
// subject:identifier=system|value is a token search on
// IdentifierParam("subject").
func IdentifierParam(name string) string { return name + ":identifier" }

// OfTypeParam is the name under which identifiers are indexed for
// name:of-type=system|code|value: a token entry per coding of
// Identifier.type, with the coding's system and "code|value" as code.
func OfTypeParam(name string) string { return name + ":of-type" }

// parseReference splits a reference or canonical: "Type/id" (with an
// optional /_history/n) → RefType/RefID; an absolute URL, urn: or other
// canonical → URI, "url|version" → URI and RefVersion. Contained ("#id")
// references give nothing.
func parseReference(s string) (vigil.IndexEntry, bool) {
	var e vigil.IndexEntry
	if s == "" || s[0] == '#' {
		return e, false
	}
	if strings.Contains(s, ":") { // absolute URL or urn
		if u, ver, ok := strings.Cut(s, "|"); ok {
			e.URI, e.RefVersion = u, ver
		} else {
			e.URI = s
		}
		return e, true
	}
	if i := strings.Index(s, "/_history/"); i >= 0 {
		s = s[:i]
	}
	t, id, ok := strings.Cut(s, "/")
	if !ok || t == "" || id == "" || strings.Contains(id, "/") || t[0] < 'A' || t[0] > 'Z' {
		e.URI = s
		return e, true
	}
	e.RefType, e.RefID = t, id
	return e, true
}

func indexDate(dst []vigil.IndexEntry, name string, n node) []vigil.IndexEntry {
	switch v := n.v.(type) {
	case string:
		if s, e, err := parseDateRange(v); err == nil {
			dst = append(dst, vigil.IndexEntry{Param: name, Type: vigil.ParamDate, Start: s, End: e})
		}
	case map[string]any:
		switch nodeType(n) {
		case "Period":
			var start, end time.Time
			if s, ok := v["start"].(string); ok {
				st, _, err := parseDateRange(s)
				if err != nil {
					return dst
				}
				start = st
			}
			if s, ok := v["end"].(string); ok {
				_, en, err := parseDateRange(s)
				if err != nil {
					return dst
				}
				end = en
			}
			if !start.IsZero() || !end.IsZero() {
				dst = append(dst, vigil.IndexEntry{Param: name, Type: vigil.ParamDate, Start: start, End: end})
			}
		case "Timing":
			events, _ := v["event"].([]any)
			for _, ev := range events {
				if s, ok := ev.(string); ok {
					if st, en, err := parseDateRange(s); err == nil {
						dst = append(dst, vigil.IndexEntry{Param: name, Type: vigil.ParamDate, Start: st, End: en})
					}
				}
			}
			if rep, ok := v["repeat"].(map[string]any); ok {
				if bp, ok := rep["boundsPeriod"].(map[string]any); ok {
					dst = indexDate(dst, name, node{v: bp, typ: "Period"})
				}
			}
		}
	}
	return dst
}

// quantityEntry converts a Quantity-like map (value, unit, system, code).
func quantityEntry(name string, q map[string]any) (vigil.IndexEntry, bool) {
	s, ok := numberString(q["value"])
	if !ok {
		return vigil.IndexEntry{}, false
	}
	v, lo, hi, err := parseDecimal(s)
	if err != nil {
		return vigil.IndexEntry{}, false
	}
	e := vigil.IndexEntry{Param: name, Type: vigil.ParamQuantity, Value: v, Low: lo, High: hi}
	e.System, _ = q["system"].(string)
	e.Code, _ = q["code"].(string)
	if e.Code == "" {
		e.Code, _ = q["unit"].(string)
	}
	if cur, ok := q["currency"].(string); ok && e.Code == "" { // Money
		e.System, e.Code = "urn:iso:std:iso:4217", cur
	}
	if e.System == ucumSystem {
		if u, ok := canonUnit(e.Code); ok {
			e.CanonCode = u.canonCode()
			e.CanonValue, e.CanonLow, e.CanonHigh = u.convert(v), u.convert(lo), u.convert(hi)
		}
	}
	return e, true
}

func indexQuantity(dst []vigil.IndexEntry, name string, n node) []vigil.IndexEntry {
	v, ok := n.v.(map[string]any)
	if !ok {
		return dst
	}
	switch nodeType(n) {
	case "Range":
		// A Range is one entry whose Low/High are its bounds (open bounds
		// are ±MaxFloat64) and whose Value is the midpoint, or the bound
		// present; units come from the bound.
		lm, _ := v["low"].(map[string]any)
		hm, _ := v["high"].(map[string]any)
		low, lok := quantityEntry(name, lm)
		high, hok := quantityEntry(name, hm)
		if !lok && !hok {
			return dst
		}
		e := low
		if !lok {
			e = high
			e.Low, e.CanonLow = -math.MaxFloat64, -math.MaxFloat64
		} else {
			e.Low, e.CanonLow = low.Value, low.CanonValue
		}
		if hok {
			e.High, e.CanonHigh = high.Value, high.CanonValue
			if high.CanonCode != e.CanonCode {
				e.CanonCode, e.CanonValue, e.CanonLow, e.CanonHigh = "", 0, 0, 0
			}
		} else {
			e.High, e.CanonHigh = math.MaxFloat64, math.MaxFloat64
		}
		if lok && hok {
			e.Value = (low.Value + high.Value) / 2
			if e.CanonCode != "" {
				e.CanonValue = (low.CanonValue + high.CanonValue) / 2
			}
		}
		if e.CanonCode == "" {
			e.CanonValue, e.CanonLow, e.CanonHigh = 0, 0, 0
		}
		dst = append(dst, e)
	case "Quantity", "Age", "Duration", "Distance", "Count", "SimpleQuantity", "Money", "MoneyQuantity":
		if e, ok := quantityEntry(name, v); ok {
			dst = append(dst, e)
		}
	}
	return dst
}
