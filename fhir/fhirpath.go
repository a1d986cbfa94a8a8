package fhir

import (
	"encoding/json"
	"strings"
)

// This file compiles the FHIRPath subset used by the R4 search parameter
// expressions (https://hl7.org/fhirpath/N1/) into small expression trees
// that are built once, at load time, and evaluated against decoded JSON
// (map[string]any) for every indexed resource.
//
// Supported: member paths with ".", unions "|", parentheses, "X as T",
// "X.as(T)", "X is T", "X.ofType(T)", "X.where(criteria)" with
// "resolve() is T" and "field = 'literal'" criteria, "[n]" indexing,
// first(), exists(), "=", "!=", "and", "or", extension('url'), %resource,
// and string, boolean and number literals. Choice elements are navigated
// by their base name ("Observation.value" finds "valueQuantity" and
// remembers the type "Quantity").

// node is one item of a FHIRPath collection.
type node struct {
	v   any    // map[string]any, string, bool, json.Number, float64
	typ string // FHIR type when known ("Quantity", "dateTime"), else ""
	key string // the JSON member name the value came from ("telecom")
	// vs is the required binding of a code element ("status"), whose
	// system it implies; nil otherwise.
	vs *valueSet
}

// evalCtx is what evaluation needs besides the input collection.
type evalCtx struct {
	root  node
	types map[string]map[string]*elemInfo // element index; may be nil
	// arena is a bump allocator for collections: results are carved from
	// its free tail and capped, so that one Index call allocates a few
	// arenas instead of a slice per path step. May be nil.
	arena []node
}

// one returns a collection of one node.
func (c *evalCtx) one(n node) []node {
	if len(c.arena) == cap(c.arena) {
		c.arena = make([]node, 0, max(256, 2*cap(c.arena)))
	}
	i := len(c.arena)
	c.arena = append(c.arena, n)
	return c.arena[i : i+1 : i+1]
}

// begin returns an empty collection to append to; commit must follow
// before the arena is used again.
func (c *evalCtx) begin() []node {
	return c.arena[len(c.arena):]
}

// commit reserves what was appended to a begin() slice and returns it
// with its capacity capped, so that appending to it copies.
func (c *evalCtx) commit(out []node) []node {
	if len(out) == 0 {
		return nil
	}
	if len(out) <= cap(c.arena)-len(c.arena) { // still in the arena
		c.arena = c.arena[:len(c.arena)+len(out)]
	} else {
		c.arena = make([]node, 0, max(256, 2*len(out)))
	}
	return out[:len(out):len(out)]
}

// expr is a compiled FHIRPath expression.
type expr interface {
	eval(c *evalCtx, in []node) []node
}

// --- expression nodes ---

// thisExpr returns its input (the context of a relative path).
type thisExpr struct{}

func (thisExpr) eval(_ *evalCtx, in []node) []node { return in }

// rootType starts an absolute path such as "Observation.code": it yields
// the resource when its type is name (or name is Resource/DomainResource).
type rootType struct{ name string }

func (e rootType) eval(c *evalCtx, _ []node) []node {
	if e.name == "Resource" || e.name == "DomainResource" || c.root.typ == e.name {
		return c.one(c.root)
	}
	return nil
}

// resourceVar is %resource.
type resourceVar struct{}

func (resourceVar) eval(c *evalCtx, _ []node) []node { return c.one(c.root) }

// literal is a constant.
type literal struct{ v any }

func (e literal) eval(c *evalCtx, _ []node) []node { return c.one(node{v: e.v}) }

// child navigates to a member, flattening arrays and resolving choice
// elements by their base name.
type child struct {
	base expr
	name string
}

func (e child) eval(c *evalCtx, in []node) []node {
	items := e.base.eval(c, in)
	out := c.begin()
	for _, n := range items {
		m, ok := n.v.(map[string]any)
		if !ok {
			continue
		}
		if info := c.elem(n.typ, e.name); info != nil {
			if info.choice == nil {
				if v, ok := m[e.name]; ok {
					from := len(out)
					out = appendValue(out, v, info.typ, e.name)
					if info.vs != nil {
						for i := from; i < len(out); i++ {
							out[i].vs = info.vs
						}
					}
				}
				continue
			}
			for _, ck := range info.choice {
				if v, ok := m[ck.key]; ok {
					out = appendValue(out, v, ck.typ, e.name)
				}
			}
			continue
		}
		if v, ok := m[e.name]; ok {
			out = appendValue(out, v, "", e.name)
			continue
		}
		// A choice element: name + capitalised type ("valueQuantity").
		for k, v := range m {
			if len(k) > len(e.name) && strings.HasPrefix(k, e.name) {
				if t, ok := choiceType(k[len(e.name):]); ok {
					out = appendValue(out, v, t, e.name)
				}
			}
		}
	}
	return c.commit(out)
}

// appendValue appends v (flattening an array) as nodes of type typ.
func appendValue(out []node, v any, typ, key string) []node {
	if a, ok := v.([]any); ok {
		for _, x := range a {
			if x != nil {
				out = append(out, node{v: x, typ: typ, key: key})
			}
		}
		return out
	}
	if v == nil {
		return out
	}
	return append(out, node{v: v, typ: typ, key: key})
}

// elemInfo is what navigation needs to know of one element.
type elemInfo struct {
	typ    string      // the element's type when it has exactly one
	choice []choiceKey // for a choice element: its JSON names
	vs     *valueSet   // a code element's required binding (compileTypes)
}

type choiceKey struct{ key, typ string }

// elem returns the element name of type parent, or nil when the structure
// definitions are not loaded or do not know it.
func (c *evalCtx) elem(parent, name string) *elemInfo {
	if c.types == nil || parent == "" {
		return nil
	}
	return c.types[parent][name]
}

// elemIndex builds the navigation table from the structure definitions.
func elemIndex(types map[string]*TypeDef) map[string]map[string]*elemInfo {
	if len(types) == 0 {
		return nil
	}
	out := make(map[string]map[string]*elemInfo, len(types))
	for name, td := range types {
		m := make(map[string]*elemInfo, len(td.Elements))
		for _, el := range td.Elements {
			info := &elemInfo{}
			switch {
			case el.Choice:
				for _, t := range el.Types {
					if t == "" {
						continue
					}
					info.choice = append(info.choice, choiceKey{key: el.Name + strings.ToUpper(t[:1]) + t[1:], typ: t})
				}
			case len(el.Types) == 1 && el.Types[0] != "Resource":
				info.typ = el.Types[0]
				if info.typ == "code" {
					info.vs = el.vs
				}
			}
			m[el.Name] = info
		}
		out[name] = m
	}
	return out
}

// buildChoiceTable maps the capitalised type suffix of a choice element's
// JSON name to the FHIR type code ("DateTime" → "dateTime").
func buildChoiceTable() map[string]string {
	m := map[string]string{}
	for _, t := range []string{"base64Binary", "boolean", "canonical", "code", "date", "dateTime",
		"decimal", "id", "instant", "integer", "markdown", "oid", "positiveInt", "string", "time",
		"unsignedInt", "uri", "url", "uuid", "Address", "Age", "Annotation", "Attachment",
		"CodeableConcept", "Coding", "ContactPoint", "Count", "Distance", "Duration", "HumanName",
		"Identifier", "Money", "Period", "Quantity", "Range", "Ratio", "Reference", "SampledData",
		"Signature", "Timing", "ContactDetail", "Contributor", "DataRequirement", "Expression",
		"ParameterDefinition", "RelatedArtifact", "TriggerDefinition", "UsageContext", "Dosage", "Meta"} {
		m[strings.ToUpper(t[:1])+t[1:]] = t
	}
	return m
}

// choiceType returns the type code for a choice suffix ("Quantity",
// "DateTime" → "dateTime").
func choiceType(suffix string) (string, bool) {
	if suffix == "" || suffix[0] < 'A' || suffix[0] > 'Z' {
		return "", false
	}
	t, ok := choiceTypeTable[suffix]
	return t, ok
}

// choiceTypeTable is built once and only read.
var choiceTypeTable = buildChoiceTable()

// union concatenates two collections.
type union struct{ a, b expr }

func (e union) eval(c *evalCtx, in []node) []node {
	x := e.a.eval(c, in)
	y := e.b.eval(c, in)
	if len(x) == 0 {
		return y
	}
	if len(y) == 0 {
		return x
	}
	return append(x[:len(x):len(x)], y...)
}

// asType keeps the items of a type (X as T, X.as(T), X.ofType(T)).
type asType struct {
	base expr
	typ  string
}

func (e asType) eval(c *evalCtx, in []node) []node {
	items := e.base.eval(c, in)
	out := c.begin()
	for _, n := range items {
		if t := nodeType(n); t == "" || isSubtype(t, e.typ) {
			n.typ = e.typ
			if t != "" {
				n.typ = t
			}
			out = append(out, n)
		}
	}
	return c.commit(out)
}

// isType is "X is T": true when the (single) item is of type T.
type isType struct {
	base expr
	typ  string
}

func (e isType) eval(c *evalCtx, in []node) []node {
	items := e.base.eval(c, in)
	if len(items) == 0 {
		return nil
	}
	t := nodeType(items[0])
	return c.one(node{v: t != "" && isSubtype(t, e.typ)})
}

// resolveExpr is resolve(): references become nodes typed by the literal
// type of their target ("Patient/1" → Patient). The store is not consulted.
type resolveExpr struct{ base expr }

func (e resolveExpr) eval(c *evalCtx, in []node) []node {
	items := e.base.eval(c, in)
	out := c.begin()
	for _, n := range items {
		m, ok := n.v.(map[string]any)
		if !ok {
			continue
		}
		t := ""
		if s, ok := m["reference"].(string); ok {
			t = refTargetType(s)
		}
		if t == "" {
			t, _ = m["type"].(string)
		}
		if t != "" {
			out = append(out, node{v: n.v, typ: t, key: n.key})
		}
	}
	return c.commit(out)
}

// refTargetType returns the resource type a literal reference points at.
func refTargetType(s string) string {
	if i := strings.Index(s, "/_history/"); i >= 0 {
		s = s[:i]
	}
	parts := strings.Split(s, "/")
	if len(parts) < 2 {
		return ""
	}
	t := parts[len(parts)-2]
	if t == "" || t[0] < 'A' || t[0] > 'Z' {
		return ""
	}
	return t
}

// where filters items by a criteria evaluated with each item as context.
type where struct {
	base expr
	crit expr
}

func (e where) eval(c *evalCtx, in []node) []node {
	items := e.base.eval(c, in)
	out := items[:0:0]
	for _, n := range items {
		r := e.crit.eval(c, c.one(n))
		if len(r) == 1 {
			if b, ok := r[0].v.(bool); ok && b {
				out = append(out, n)
			}
		}
	}
	return out
}

// index is X[n] (and first(), which is X[0]).
type index struct {
	base expr
	n    int
}

func (e index) eval(c *evalCtx, in []node) []node {
	items := e.base.eval(c, in)
	if e.n < len(items) {
		return items[e.n : e.n+1 : e.n+1]
	}
	return nil
}

// exists is X.exists().
type exists struct{ base expr }

func (e exists) eval(c *evalCtx, in []node) []node {
	return c.one(node{v: len(e.base.eval(c, in)) > 0})
}

// extension is X.extension('url').
type extension struct {
	base expr
	url  string
}

func (e extension) eval(c *evalCtx, in []node) []node {
	items := e.base.eval(c, in)
	out := c.begin()
	for _, n := range items {
		m, ok := n.v.(map[string]any)
		if !ok {
			continue
		}
		exts, _ := m["extension"].([]any)
		for _, x := range exts {
			if xm, ok := x.(map[string]any); ok && xm["url"] == e.url {
				out = append(out, node{v: xm, typ: "Extension", key: "extension"})
			}
		}
	}
	return c.commit(out)
}

// equality is "a = b" or "a != b" on single primitive items.
type equality struct {
	a, b expr
	neg  bool
}

func (e equality) eval(c *evalCtx, in []node) []node {
	x := e.a.eval(c, in)
	y := e.b.eval(c, in)
	if len(x) == 0 || len(y) == 0 {
		return nil
	}
	eq := len(x) == len(y)
	for i := 0; eq && i < len(x); i++ {
		eq = primitiveEqual(x[i].v, y[i].v)
	}
	return c.one(node{v: eq != e.neg})
}

func primitiveEqual(a, b any) bool {
	switch x := a.(type) {
	case string:
		y, ok := b.(string)
		return ok && x == y
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	}
	fa, ok1 := toFloat(a)
	fb, ok2 := toFloat(b)
	return ok1 && ok2 && fa == fb
}

func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	case int:
		return float64(x), true
	}
	return 0, false
}

// logic is "a and b" / "a or b" with FHIRPath's three-valued logic.
type logic struct {
	a, b expr
	or   bool
}

func (e logic) eval(c *evalCtx, in []node) []node {
	x, xok := boolOf(e.a.eval(c, in))
	y, yok := boolOf(e.b.eval(c, in))
	switch {
	case e.or && ((xok && x) || (yok && y)):
		return c.one(node{v: true})
	case e.or && xok && yok:
		return c.one(node{v: false})
	case !e.or && ((xok && !x) || (yok && !y)):
		return c.one(node{v: false})
	case !e.or && xok && yok:
		return c.one(node{v: true})
	}
	return nil
}

// boolOf converts a collection to a boolean: empty → unknown; a single
// boolean → its value; any other single item → true.
func boolOf(items []node) (v, ok bool) {
	if len(items) != 1 {
		return false, false
	}
	if b, isBool := items[0].v.(bool); isBool {
		return b, true
	}
	return true, true
}

// quantityTypes are the specialisations of Quantity.
var quantityTypes = map[string]bool{"Age": true, "Distance": true, "Duration": true, "Count": true,
	"SimpleQuantity": true, "MoneyQuantity": true}

// isSubtype reports whether type t is type want or a specialisation of it
// (case-insensitive: the definitions spell "DateTime" and "dateTime").
func isSubtype(t, want string) bool {
	if strings.EqualFold(t, want) {
		return true
	}
	return strings.EqualFold(want, "Quantity") && quantityTypes[t]
}

// nodeType returns the known or inferred type of a node.
func nodeType(n node) string {
	if n.typ != "" {
		return n.typ
	}
	return inferType(n)
}

// inferType guesses the FHIR data type of a value from its shape and
// member name, for when the structure definitions do not say.
func inferType(n node) string {
	switch v := n.v.(type) {
	case bool:
		return "boolean"
	case json.Number, float64:
		return "decimal"
	case string:
		return ""
	case map[string]any:
		switch n.key {
		case "identifier":
			return "Identifier"
		case "telecom":
			return "ContactPoint"
		case "name":
			if v["coding"] == nil {
				return "HumanName"
			}
		}
		switch {
		case v["reference"] != nil:
			return "Reference"
		case v["coding"] != nil:
			return "CodeableConcept"
		case v["start"] != nil || v["end"] != nil:
			return "Period"
		case v["low"] != nil || v["high"] != nil:
			return "Range"
		case v["numerator"] != nil || v["denominator"] != nil:
			return "Ratio"
		case v["family"] != nil || v["given"] != nil:
			return "HumanName"
		case v["line"] != nil || v["city"] != nil || v["postalCode"] != nil || v["country"] != nil:
			return "Address"
		case v["event"] != nil || v["repeat"] != nil:
			return "Timing"
		case v["currency"] != nil:
			return "Money"
		case v["value"] != nil && (v["unit"] != nil || v["code"] != nil || v["comparator"] != nil):
			return "Quantity"
		case v["value"] != nil:
			if s, _ := v["system"].(string); contactSystems[s] {
				return "ContactPoint"
			}
			if _, isNum := v["value"].(string); !isNum {
				return "Quantity"
			}
			return "Identifier"
		case v["system"] != nil || v["code"] != nil:
			return "Coding"
		case v["text"] != nil && len(v) == 1:
			return "CodeableConcept"
		}
	}
	return ""
}

// contactSystems are the ContactPoint.system codes.
var contactSystems = map[string]bool{"phone": true, "fax": true, "email": true, "pager": true,
	"url": true, "sms": true, "other": true}
