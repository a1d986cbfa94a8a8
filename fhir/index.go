package fhir

import (
	"math"
	"strings"
	"time"

	"github.com/vigilhealth/vigil"
)

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
// validation is Decode's job.
func (m *Model) Index(obj map[string]any) ([]vigil.IndexEntry, error) {
	s := m.search
	if s == nil {
		return nil, vigil.Errorf(vigil.ErrUnsupported, "search is not loaded")
	}
	rt, _ := obj["resourceType"].(string)
	params, ok := s.indexed[rt]
	if !ok {
		return nil, vigil.Errorf(vigil.ErrInvalid, "unknown resource type")
	}
	c := &evalCtx{root: node{v: obj, typ: rt}, types: s.elems}
	ix := indexer{out: make([]vigil.IndexEntry, 0, 64)}
	in := []node{c.root}
	for _, pd := range params {
		ix.start = len(ix.out)
		items := pd.expr.eval(c, in)
		if len(items) == 0 {
			continue
		}
		if pd.Type == vigil.ParamComposite {
			ix.composite(c, pd, items)
			continue
		}
		for _, n := range items {
			ix.value(pd.Name, pd.Type, n, ix.add)
		}
	}
	return ix.out, nil
}

type indexer struct {
	out   []vigil.IndexEntry
	start int // first entry of the current parameter
	group int
	// scratch for composites
	parts [][]vigil.IndexEntry
}

// add appends e unless the current parameter already has it. Entries of
// one parameter are few, so a linear scan beats hashing the entry.
func (ix *indexer) add(e vigil.IndexEntry) {
	for i := ix.start; i < len(ix.out); i++ {
		if ix.out[i] == e {
			return
		}
	}
	ix.out = append(ix.out, e)
}

// composite indexes each context node as the combinations of its
// components' values, one Group per combination.
func (ix *indexer) composite(c *evalCtx, pd *paramDef, ctxNodes []node) {
	for _, cn := range ctxNodes {
		parts := ix.parts[:0]
		total := 1
		for k, comp := range pd.comps {
			var vals []vigil.IndexEntry
			for _, n := range comp.expr.eval(c, []node{cn}) {
				ix.value(pd.Name, comp.typ, n, func(e vigil.IndexEntry) {
					if e.Type == vigil.ParamToken && e.Code == "" && e.System == "" {
						return // a text-only token entry cannot match a composite value
					}
					e.Part = k
					vals = append(vals, e)
				})
			}
			if len(vals) == 0 {
				total = 0
				break
			}
			total *= len(vals)
			parts = append(parts, vals)
		}
		ix.parts = parts
		if total == 0 || total > maxCompositeGroups {
			continue
		}
		idx := make([]int, len(parts))
		for {
			ix.group++
			for k, vals := range parts {
				e := vals[idx[k]]
				e.Group = ix.group
				ix.out = append(ix.out, e)
			}
			k := len(idx) - 1
			for k >= 0 {
				idx[k]++
				if idx[k] < len(parts[k]) {
					break
				}
				idx[k] = 0
				k--
			}
			if k < 0 {
				break
			}
		}
	}
}

// value converts one FHIRPath result to entries of a parameter type.
func (ix *indexer) value(name string, pt vigil.ParamType, n node, emit func(vigil.IndexEntry)) {
	switch pt {
	case vigil.ParamString:
		indexString(name, n, emit)
	case vigil.ParamToken:
		indexToken(name, n, emit)
	case vigil.ParamReference:
		indexReference(name, n, emit)
	case vigil.ParamDate:
		indexDate(name, n, emit)
	case vigil.ParamNumber:
		if s, ok := numberString(n.v); ok {
			if v, lo, hi, err := parseDecimal(s); err == nil {
				emit(vigil.IndexEntry{Param: name, Type: pt, Value: v, Low: lo, High: hi})
			}
		}
	case vigil.ParamQuantity:
		indexQuantity(name, n, emit)
	case vigil.ParamURI:
		if s, ok := n.v.(string); ok {
			emit(vigil.IndexEntry{Param: name, Type: pt, URI: s})
		}
	}
}

func stringEntry(name, s string) vigil.IndexEntry {
	return vigil.IndexEntry{Param: name, Type: vigil.ParamString, Text: normalizeString(s), Exact: s}
}

func indexString(name string, n node, emit func(vigil.IndexEntry)) {
	switch v := n.v.(type) {
	case string:
		emit(stringEntry(name, v))
	case map[string]any:
		var keys []string
		switch nodeType(n) {
		case "HumanName":
			keys = []string{"family", "given", "prefix", "suffix", "text"}
		case "Address":
			keys = []string{"line", "city", "district", "state", "postalCode", "country", "text"}
		default:
			return
		}
		for _, k := range keys {
			switch x := v[k].(type) {
			case string:
				emit(stringEntry(name, x))
			case []any:
				for _, y := range x {
					if s, ok := y.(string); ok {
						emit(stringEntry(name, s))
					}
				}
			}
		}
	}
}

func indexToken(name string, n node, emit func(vigil.IndexEntry)) {
	switch v := n.v.(type) {
	case string:
		emit(vigil.IndexEntry{Param: name, Type: vigil.ParamToken, Code: v})
	case bool:
		code := "false"
		if v {
			code = "true"
		}
		emit(vigil.IndexEntry{Param: name, Type: vigil.ParamToken, Code: code})
	case map[string]any:
		switch nodeType(n) {
		case "CodeableConcept":
			codings, _ := v["coding"].([]any)
			for _, c := range codings {
				if cm, ok := c.(map[string]any); ok {
					emit(codingEntry(name, cm))
				}
			}
			if t, ok := v["text"].(string); ok {
				emit(vigil.IndexEntry{Param: name, Type: vigil.ParamToken, Text: normalizeString(t)})
			}
		case "Coding":
			emit(codingEntry(name, v))
		case "Identifier":
			val, _ := v["value"].(string)
			sys, _ := v["system"].(string)
			if val != "" || sys != "" {
				e := vigil.IndexEntry{Param: name, Type: vigil.ParamToken, System: sys, Code: val}
				if tm, ok := v["type"].(map[string]any); ok {
					if t, ok := tm["text"].(string); ok {
						e.Text = normalizeString(t)
					}
				}
				emit(e)
			}
		case "ContactPoint":
			if val, ok := v["value"].(string); ok {
				emit(vigil.IndexEntry{Param: name, Type: vigil.ParamToken, Code: val})
			}
		}
	default:
		if s, ok := numberString(v); ok {
			emit(vigil.IndexEntry{Param: name, Type: vigil.ParamToken, Code: s})
		}
	}
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

func indexReference(name string, n node, emit func(vigil.IndexEntry)) {
	var s string
	switch v := n.v.(type) {
	case string: // canonical, uri
		s = v
	case map[string]any:
		s, _ = v["reference"].(string)
	}
	if s == "" {
		return
	}
	e, ok := parseReference(s)
	if !ok {
		return
	}
	e.Param, e.Type = name, vigil.ParamReference
	emit(e)
}

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

func indexDate(name string, n node, emit func(vigil.IndexEntry)) {
	switch v := n.v.(type) {
	case string:
		if s, e, err := parseDateRange(v); err == nil {
			emit(vigil.IndexEntry{Param: name, Type: vigil.ParamDate, Start: s, End: e})
		}
	case map[string]any:
		switch nodeType(n) {
		case "Period":
			var start, end time.Time
			if s, ok := v["start"].(string); ok {
				st, _, err := parseDateRange(s)
				if err != nil {
					return
				}
				start = st
			}
			if s, ok := v["end"].(string); ok {
				_, en, err := parseDateRange(s)
				if err != nil {
					return
				}
				end = en
			}
			if !start.IsZero() || !end.IsZero() {
				emit(vigil.IndexEntry{Param: name, Type: vigil.ParamDate, Start: start, End: end})
			}
		case "Timing":
			events, _ := v["event"].([]any)
			for _, ev := range events {
				if s, ok := ev.(string); ok {
					if st, en, err := parseDateRange(s); err == nil {
						emit(vigil.IndexEntry{Param: name, Type: vigil.ParamDate, Start: st, End: en})
					}
				}
			}
			if rep, ok := v["repeat"].(map[string]any); ok {
				if bp, ok := rep["boundsPeriod"].(map[string]any); ok {
					indexDate(name, node{v: bp, typ: "Period"}, emit)
				}
			}
		}
	}
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

func indexQuantity(name string, n node, emit func(vigil.IndexEntry)) {
	v, ok := n.v.(map[string]any)
	if !ok {
		return
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
			return
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
		emit(e)
	case "Quantity", "Age", "Duration", "Distance", "Count", "SimpleQuantity", "Money", "MoneyQuantity":
		if e, ok := quantityEntry(name, v); ok {
			emit(e)
		}
	}
}
