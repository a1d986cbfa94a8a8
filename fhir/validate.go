package fhir

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/vigilhealth/vigil"
)

// prop is what a JSON property name of a type means: which element, which
// of its types, and how to check the value. Built at load by compileTypes.
type prop struct {
	el  *Element
	typ string // the type code this property carries
	// td is the definition of typ. For primitives it holds only id and
	// extension, which is what the "_name" sibling may contain.
	td   *TypeDef
	prim primKind // primNone for complex types
	// ext is true for "_name", the id/extension sibling of a primitive.
	ext bool
	// resource is true when typ is a resource type (Resource for contained
	// and Bundle.entry.resource, or a concrete one such as OperationOutcome):
	// the value carries and is validated by its own resourceType.
	resource bool
	// rule selects the checks of invariant.go that apply to the value.
	rule rule
	// sibling is the other half of a primitive: "_name" for "name" and
	// "name" for "_name".
	sibling string
}

// valueSet is an expanded value set of a required binding.
type valueSet struct {
	url string
	// bySystem maps a code system URL to its codes in the value set.
	bySystem map[string]map[string]struct{}
	// all holds the codes of every system, for code elements, which carry
	// no system.
	all map[string]struct{}
}

// systemOf returns the code system of code in the value set: the one
// system that has it ("" when none or several do). A code element carries
// no system; its required binding implies it.
func (vs *valueSet) systemOf(code string) string {
	sys := ""
	for s, codes := range vs.bySystem {
		if _, ok := codes[code]; ok {
			if sys != "" {
				return ""
			}
			sys = s
		}
	}
	return sys
}

// has reports whether code of system is in the value set.
func (vs *valueSet) has(system, code string) bool {
	_, ok := vs.bySystem[system][code]
	return ok
}

// newValueSets builds the lookup sets of the generated expansions that a
// required binding names (the others serve token :in searches only, which
// read the expansions themselves).
func newValueSets(types map[string]*TypeDef, expansions map[string]map[string][]string) map[string]*valueSet {
	bound := make(map[string]bool)
	for _, td := range types {
		for _, el := range td.Elements {
			if el.Binding != "" {
				bound[el.Binding] = true
			}
		}
	}
	out := make(map[string]*valueSet, len(bound))
	for url, systems := range expansions {
		if !bound[url] {
			continue
		}
		vs := &valueSet{url: url, bySystem: make(map[string]map[string]struct{}, len(systems)), all: make(map[string]struct{})}
		for sys, codes := range systems {
			set := make(map[string]struct{}, len(codes))
			for _, c := range codes {
				set[c] = struct{}{}
				vs.all[c] = struct{}{}
			}
			vs.bySystem[sys] = set
		}
		out[url] = vs
	}
	return out
}

// compileTypes builds the lookup tables of every TypeDef (props, required,
// inv, Element.names, Element.vs) so that validation does no string
// building or searching.
func compileTypes(types map[string]*TypeDef, expansions map[string]map[string][]string) error {
	valueSets := newValueSets(types, expansions)
	var err error
	for name, td := range types {
		td.props = make(map[string]prop)
		td.inv = invariantsOf(name)
		for _, el := range td.Elements {
			if !el.Choice && len(el.Types) != 1 {
				return fmt.Errorf("%s.%s: %d types on a non-choice element", name, el.Name, len(el.Types))
			}
			if el.Binding != "" {
				el.vs = valueSets[el.Binding]
			}
			for _, t := range el.Types {
				ttd := types[t]
				if ttd == nil {
					return fmt.Errorf("%s.%s: unknown type %s", name, el.Name, t)
				}
				key := el.Name
				if el.Choice {
					key += strings.ToUpper(t[:1]) + t[1:]
				}
				if _, dup := td.props[key]; dup {
					return fmt.Errorf("%s: duplicate property %s", name, key)
				}
				p := prop{el: el, typ: t, td: ttd, prim: primKindOf(t), resource: ttd.Kind == "resource"}
				if p.rule, err = ruleOf(td, el, t); err != nil {
					return fmt.Errorf("%s.%s: %w", name, el.Name, err)
				}
				el.names = append(el.names, key)
				if p.prim != primNone {
					p.sibling = "_" + key
					td.props["_"+key] = prop{el: el, typ: t, td: ttd, prim: p.prim, ext: true, sibling: key}
					el.names = append(el.names, "_"+key)
				}
				td.props[key] = p
			}
			if el.Min > 0 {
				td.required = append(td.required, el)
			}
		}
	}
	return nil
}

// Validate checks a decoded resource against the FHIR R4 structure
// definitions (https://hl7.org/fhir/R4/validation.html, "Structure" and
// "Cardinality" and "Value Domains" aspects) and returns the problems
// found, sorted by path; nil means the resource conforms. It checks:
//
//   - every property is a known element of its type, including "_name"
//     siblings of primitives and choice names such as "valueQuantity", with
//     at most one type per choice element;
//   - JSON kinds: arrays exactly for repeating elements, objects for
//     complex types, no empty objects or arrays, null only inside
//     primitive arrays where the "_name" array has an entry at that index
//     (https://hl7.org/fhir/R4/json.html);
//   - primitive values against the formats of
//     https://hl7.org/fhir/R4/datatypes.html;
//   - cardinality and required elements;
//   - codes with a required binding, where the value set could be expanded;
//   - contained and other Resource-typed elements by their own type;
//   - extensions: a url, and either a value or extensions (ext-1);
//   - literal references: the target type against the element's allowed
//     types, and "#id" against the contained resources (ref-1);
//   - Coding and CodeableConcept elements with a required binding;
//   - the SimpleQuantity profile where the base definitions use it
//     (sqty-1);
//   - the invariants of the base types and DomainResource that need no
//     FHIRPath engine (see invariant.go): ele-1 (an element with only an
//     id), per-1, qty-3, rng-2, rat-1, dom-2, dom-3, dom-4 and dom-5.
//
// Other invariants (FHIRPath constraints) and profiles named in
// meta.profile are not checked. Every issue has severity "error".
// Messages name paths and types, never values from the resource; a path
// names an unknown property only when its name looks like an element name.
//
// Validate does not modify obj. Numbers may be json.Number or float64.
func (m *Model) Validate(obj map[string]any) []vigil.Issue {
	rt, _ := obj["resourceType"].(string)
	if !m.IsResourceType(rt) {
		return []vigil.Issue{{Severity: "error", Code: "structure", Path: "resourceType",
			Message: "missing or unknown resourceType"}}
	}
	w := walker{m: m}
	w.path = w.buf[:0]
	w.res = w.resBuf[:0]
	w.push(rt, -1)
	w.resource(obj, m.types[rt])
	if len(w.issues) > 1 {
		slices.SortStableFunc(w.issues, func(a, b vigil.Issue) int { return cmp.Compare(a.Path, b.Path) })
	}
	return w.issues
}

// seg is one step of a location in the resource: an element name and,
// inside an array, an index (-1 otherwise).
type seg struct {
	name  string
	index int
}

// walker collects the issues of one Validate call. It tracks the current
// location as a stack of segments, turned into a path string only when an
// issue is reported.
type walker struct {
	m      *Model
	issues []vigil.Issue
	path   []seg
	buf    [24]seg // initial storage of path
	// res is the stack of resources being walked (the validated resource
	// and those nested in Bundle entries or Parameters), for reference
	// and contained-resource checks; contained resources share the entry
	// of their container.
	res    []resCtx
	resBuf [2]resCtx // initial storage of res
}

func (w *walker) push(name string, index int) { w.path = append(w.path, seg{name, index}) }
func (w *walker) pop()                        { w.path = w.path[:len(w.path)-1] }

// pathString renders the current location as a FHIRPath-like path:
// "Observation.code.coding[0].system".
func (w *walker) pathString() string {
	b := make([]byte, 0, 64)
	for i, s := range w.path {
		if i > 0 {
			b = append(b, '.')
		}
		b = append(b, s.name...)
		if s.index >= 0 {
			b = append(b, '[')
			b = strconv.AppendInt(b, int64(s.index), 10)
			b = append(b, ']')
		}
	}
	return string(b)
}

// add reports an issue at the current location.
func (w *walker) add(code, msg string) {
	w.issues = append(w.issues, vigil.Issue{Severity: "error", Code: code, Path: w.pathString(), Message: msg})
}

// addAt reports an issue at the child name of the current location.
func (w *walker) addAt(name, code, msg string) {
	w.push(name, -1)
	w.add(code, msg)
	w.pop()
}

// choiceUse records which type a choice element was given in one object.
type choiceUse struct {
	el  *Element
	typ string
}

// object validates the properties of obj against td.
func (w *walker) object(obj map[string]any, td *TypeDef, isResource bool) {
	if len(obj) == 0 {
		w.add("structure", "empty object")
		return
	}
	var buf [4]choiceUse
	choices := buf[:0]
	for k, v := range obj {
		p, ok := td.props[k]
		if !ok {
			if isResource && k == "resourceType" {
				continue
			}
			if isPropertyName(k) {
				w.addAt(k, "structure", "unknown element")
			} else {
				// A key that cannot be an element name may be data sent by
				// mistake; keep it out of the issue.
				w.add("structure", "unknown element (its name is not shown: not a valid element name)")
			}
			continue
		}
		if p.el.Choice {
			dup := false
			for _, c := range choices {
				if c.el == p.el && c.typ != p.typ {
					dup = true
				}
			}
			if dup {
				w.addAt(p.el.Name, "structure", "more than one type given for a choice element")
			} else {
				choices = append(choices, choiceUse{p.el, p.typ})
			}
		}
		w.property(obj, k, &p, v)
	}
	for _, el := range td.required {
		present := false
		for _, n := range el.names {
			if _, ok := obj[n]; ok {
				present = true
				break
			}
		}
		if !present {
			w.addAt(el.Name, "required", "missing required element")
		}
	}
	if td.Name == "Extension" && obj["extension"] != nil && hasValue(obj, td) {
		// ext-1 (https://hl7.org/fhir/R4/extensibility.html#Extension).
		w.add("invariant", "extension must have either extensions or a value, not both")
	}
	if td.inv != invNone {
		w.typeInvariants(obj, td.inv)
	}
}

// isPropertyName reports whether k looks like a FHIR JSON property name:
// an optional "_", then letters and digits, starting with a letter, at
// most 64 characters.
func isPropertyName(k string) bool {
	k = strings.TrimPrefix(k, "_")
	if k == "" || len(k) > 64 || !(k[0] >= 'a' && k[0] <= 'z' || k[0] >= 'A' && k[0] <= 'Z') {
		return false
	}
	for i := 1; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// hasValue reports whether the Extension obj has a value[x].
func hasValue(obj map[string]any, td *TypeDef) bool {
	for k := range obj {
		if p, ok := td.props[k]; ok && p.el.Name == "value" {
			return true
		}
	}
	return false
}

// property validates the value v of property key of obj.
func (w *walker) property(obj map[string]any, key string, p *prop, v any) {
	if p.el.Max == 1 || p.el.Max == 0 {
		w.push(key, -1)
		switch v.(type) {
		case []any:
			w.add("structure", "expected a single value, not an array")
		case nil:
			w.add("structure", "null is not allowed here")
		default:
			if p.el.Max == 0 {
				w.add("structure", "element not allowed")
			} else {
				w.item(p, v)
			}
		}
		w.pop()
		return
	}
	arr, ok := v.([]any)
	switch {
	case !ok:
		w.addAt(key, "structure", "expected an array")
		return
	case len(arr) == 0:
		w.addAt(key, "structure", "empty array")
		return
	case p.el.Max > 1 && len(arr) > p.el.Max:
		w.addAt(key, "structure", "too many items")
	case len(arr) < p.el.Min:
		w.addAt(key, "required", "too few items")
	}
	var sibling []any
	if p.prim != primNone {
		if s, ok := obj[p.sibling]; ok {
			sibling, _ = s.([]any)
			if !p.ext && sibling != nil && len(sibling) != len(arr) {
				w.addAt(key, "structure", "array and its \"_\" sibling differ in length")
			}
		}
	}
	for i, item := range arr {
		w.push(key, i)
		if item == nil {
			if sibling == nil || i >= len(sibling) || sibling[i] == nil {
				w.add("structure", "null is not allowed here")
			}
		} else {
			w.item(p, item)
		}
		w.pop()
	}
}

// item validates one value (not an array) of property p.
func (w *walker) item(p *prop, v any) {
	if p.prim != primNone && !p.ext {
		if !p.prim.check(v) {
			w.add("value", "invalid "+p.typ+" value")
			return
		}
		if p.el.vs != nil {
			if _, ok := p.el.vs.all[v.(string)]; !ok {
				w.add("code-invalid", "code is not in the required value set "+p.el.Binding)
			}
		}
		if p.rule == ruleLocalURI {
			if s := v.(string); len(s) > 1 && s[0] == '#' {
				w.markLocal(s[1:])
			}
		}
		return
	}
	obj, ok := v.(map[string]any)
	if !ok {
		w.add("structure", "expected an object of type "+p.typ)
		return
	}
	if !p.resource {
		w.object(obj, p.td, false)
		w.rules(obj, p)
		return
	}
	rt, _ := obj["resourceType"].(string)
	if !w.m.IsResourceType(rt) {
		w.addAt("resourceType", "structure", "missing or unknown resourceType")
		return
	}
	if rt != p.typ && p.typ != "Resource" && p.typ != "DomainResource" {
		w.addAt("resourceType", "structure", "resource type not allowed here, expected "+p.typ)
		return
	}
	if p.rule == ruleContained && len(w.res) > 0 {
		w.contained(obj, w.m.types[rt])
		return
	}
	w.resource(obj, w.m.types[rt])
}
