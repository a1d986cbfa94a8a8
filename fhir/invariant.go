package fhir

import (
	"fmt"
	"strings"
	"time"
)

// This file holds the checks of Validate that go beyond one element's
// structure: references, required bindings on Coding and CodeableConcept,
// the SimpleQuantity profile, and the FHIRPath invariants of the base
// types and of DomainResource, hand-coded (there is no FHIRPath engine for
// validation). Each invariant issue has code "invariant" and the message
// "<key>: <human text>" of the R4 definitions
// (https://hl7.org/fhir/R4/datatypes.html, https://hl7.org/fhir/R4/domainresource.html).

// The human texts of the invariants, as in profiles-types.json and
// profiles-resources.json (R4 4.0.1).
const (
	msgEle1  = "ele-1: All FHIR elements must have a @value or children"
	msgPer1  = "per-1: If present, start SHALL have a lower value than end"
	msgQty3  = "qty-3: If a code for the unit is present, the system SHALL also be present"
	msgSqty1 = "sqty-1: The comparator is not used on a SimpleQuantity"
	msgRng2  = "rng-2: If present, low SHALL have a lower value than high"
	msgRat1  = "rat-1: Numerator and denominator SHALL both be present, or both are absent. If both are absent, there SHALL be some extension present"
	msgRef1  = "ref-1: SHALL have a contained resource if a local reference is provided"
	msgDom2  = "dom-2: If the resource is contained in another resource, it SHALL NOT contain nested Resources"
	msgDom3  = "dom-3: If the resource is contained in another resource, it SHALL be referred to from elsewhere in the resource or SHALL refer to the containing resource"
	msgDom4  = "dom-4: If a resource is contained in another resource, it SHALL NOT have a meta.versionId or a meta.lastUpdated"
	msgDom5  = "dom-5: If a resource is contained in another resource, it SHALL NOT have a security label"
)

// invariant selects the hand-coded invariants of a type.
type invariant uint8

const (
	invNone     invariant = iota
	invPeriod             // per-1
	invQuantity           // qty-3, on Quantity and its specialisations
	invRange              // rng-2
	invRatio              // rat-1
)

// invariantsOf returns the hand-coded invariants of the type name.
func invariantsOf(name string) invariant {
	switch name {
	case "Period":
		return invPeriod
	case "Quantity", "Age", "Count", "Distance", "Duration":
		return invQuantity
	case "Range":
		return invRange
	case "Ratio":
		return invRatio
	}
	return invNone
}

// rule selects the checks of this file that apply to the values of one
// property, besides the invariants of their type.
type rule uint8

const (
	ruleNone rule = iota
	// ruleReference: a Reference, checked by reference.
	ruleReference
	// ruleSimpleQuantity: a Quantity that must conform to SimpleQuantity.
	ruleSimpleQuantity
	// ruleCoding and ruleConcept: a Coding or CodeableConcept with an
	// enforced required binding.
	ruleCoding
	ruleConcept
	// ruleLocalURI: a canonical, uri or url, which may point at a
	// contained resource ("#id") for dom-3.
	ruleLocalURI
	// ruleContained: DomainResource.contained, whose resources share the
	// reference context of their container.
	ruleContained
)

// ruleOf returns the rule of the values of type typ of element el of td.
// Element.vs must be set. It fails on a profile it cannot check.
func ruleOf(td *TypeDef, el *Element, typ string) (rule, error) {
	if pr, ok := el.Profiles[typ]; ok {
		if pr != "SimpleQuantity" || typ != "Quantity" {
			return ruleNone, fmt.Errorf("unsupported profile %s on %s", pr, typ)
		}
		return ruleSimpleQuantity, nil
	}
	switch {
	case typ == "Reference":
		return ruleReference, nil
	case typ == "Coding" && el.vs != nil:
		return ruleCoding, nil
	case typ == "CodeableConcept" && el.vs != nil:
		return ruleConcept, nil
	case typ == "canonical" || typ == "uri" || typ == "url":
		return ruleLocalURI, nil
	case typ == "Resource" && el.Name == "contained" && td.Kind == "resource":
		return ruleContained, nil
	}
	return ruleNone, nil
}

// resCtx is what the walker knows about one resource (and the resources
// it contains) for ref-1 and dom-3.
type resCtx struct {
	// contained describes the contained resources by index; nil when
	// there are none.
	contained []containedRes
	// in is the index of the contained resource being walked, or -1.
	in int
}

// containedRes is one contained resource of a resCtx.
type containedRes struct {
	// id and typ are its id and resourceType ("" when absent).
	id, typ string
	// referenced is true when something in the resource refers to it
	// ("#id").
	referenced bool
	// refsContainer is true when it refers to its container ("#").
	refsContainer bool
}

// resource validates obj, a resource of type td that is not contained in
// another, with a reference context of its own.
func (w *walker) resource(obj map[string]any, td *TypeDef) {
	rc := resCtx{in: -1}
	list, _ := obj["contained"].([]any)
	if len(list) > 0 && td.props["contained"].rule == ruleContained {
		rc.contained = make([]containedRes, len(list))
		for i, c := range list {
			if c, ok := c.(map[string]any); ok {
				rc.contained[i].id, _ = c["id"].(string)
				rc.contained[i].typ, _ = c["resourceType"].(string)
			}
		}
	}
	w.res = append(w.res, rc)
	top := len(w.res) - 1
	w.object(obj, td, true)
	// dom-3: every contained resource is referred to from elsewhere in
	// the resource, or refers to its container.
	for i, c := range w.res[top].contained {
		if !c.referenced && !c.refsContainer {
			w.push("contained", i)
			w.add("invariant", msgDom3)
			w.pop()
		}
	}
	w.res = w.res[:top]
}

// contained validates obj, the contained resource at the current
// location, in the reference context of its container, and checks dom-2,
// dom-4 and dom-5.
func (w *walker) contained(obj map[string]any, td *TypeDef) {
	if _, ok := obj["contained"]; ok {
		w.add("invariant", msgDom2)
	}
	if meta, ok := obj["meta"].(map[string]any); ok {
		if meta["versionId"] != nil || meta["lastUpdated"] != nil {
			w.add("invariant", msgDom4)
		}
		if meta["security"] != nil {
			w.add("invariant", msgDom5)
		}
	}
	rc := &w.res[len(w.res)-1]
	if rc.in >= 0 {
		// A contained resource inside a contained resource (dom-2,
		// reported above): validate its structure only.
		w.object(obj, td, true)
		return
	}
	rc.in = w.path[len(w.path)-1].index
	w.object(obj, td, true)
	w.res[len(w.res)-1].in = -1
}

// markLocal records a local reference "#id" (id without the "#") in the
// current resource and reports whether a contained resource has that id.
func (w *walker) markLocal(id string) bool {
	if len(w.res) == 0 {
		return false
	}
	rc := &w.res[len(w.res)-1]
	for i := range rc.contained {
		if c := &rc.contained[i]; c.id == id && id != "" {
			c.referenced = true
			return true
		}
	}
	return false
}

// rules applies the checks that depend on the element and type of a
// complex value obj, after its structure has been validated.
func (w *walker) rules(obj map[string]any, p *prop) {
	if len(obj) == 1 && !p.ext {
		if _, ok := obj["id"]; ok {
			w.add("invariant", msgEle1)
		}
	}
	switch p.rule {
	case ruleReference:
		w.reference(obj, p.el)
	case ruleSimpleQuantity:
		if _, ok := obj["comparator"]; ok {
			w.add("invariant", msgSqty1)
		}
	case ruleCoding:
		w.coding(obj, p.el.vs)
	case ruleConcept:
		w.concept(obj, p.el.vs)
	}
}

// reference checks the literal reference of the Reference obj of element
// el (https://hl7.org/fhir/R4/references.html#literal): a "#id" must name
// a contained resource (ref-1), and the resource type of a relative
// reference ("Patient/1", "Patient/1/_history/2"), or of an http(s) URL
// ending that way, must be one of el.Targets. urn:uuid: and urn:oid:
// references and other URLs are not checked.
func (w *walker) reference(obj map[string]any, el *Element) {
	ref, ok := obj["reference"].(string)
	if !ok || ref == "" {
		return
	}
	if ref[0] == '#' {
		w.localReference(ref[1:], el)
		return
	}
	typ, relative := literalRefType(ref)
	if typ == "" {
		return
	}
	if !w.m.IsResourceType(typ) {
		if relative {
			w.addAt("reference", "value", "reference names an unknown resource type")
		}
		return
	}
	w.checkTarget(typ, el)
}

// localReference checks a reference to the contained resource id, or to
// the container when id is empty.
func (w *walker) localReference(id string, el *Element) {
	if len(w.res) == 0 {
		return
	}
	rc := &w.res[len(w.res)-1]
	if id == "" {
		// "#" is the container, allowed from a contained resource (dom-3).
		if rc.in >= 0 {
			rc.contained[rc.in].refsContainer = true
		}
		return
	}
	for i := range rc.contained {
		if c := &rc.contained[i]; c.id == id {
			c.referenced = true
			if w.m.IsResourceType(c.typ) {
				w.checkTarget(c.typ, el)
			}
			return
		}
	}
	w.add("invariant", msgRef1)
}

// checkTarget reports a reference to a resource of type typ where el does
// not allow it.
func (w *walker) checkTarget(typ string, el *Element) {
	if len(el.Targets) == 0 {
		return
	}
	for _, t := range el.Targets {
		if t == typ {
			return
		}
	}
	w.addAt("reference", "value", "reference target type not allowed; allowed: "+strings.Join(el.Targets, ", "))
}

// literalRefType returns the resource type named by a literal reference
// of the form "Type/id" or "Type/id/_history/vid", relative or at the end
// of an http(s) URL, and whether it is relative; typ is "" for any other
// form (conditional references, other URLs, urn:).
func literalRefType(ref string) (typ string, relative bool) {
	rest, absolute := strings.CutPrefix(ref, "https://")
	if !absolute {
		rest, absolute = strings.CutPrefix(ref, "http://")
	}
	if !absolute && strings.Contains(ref, ":") {
		return "", false
	}
	if i := strings.LastIndex(rest, "/_history/"); i >= 0 {
		if !isRefID(rest[i+len("/_history/"):]) {
			return "", false
		}
		rest = rest[:i]
	}
	i := strings.LastIndexByte(rest, '/')
	if i < 0 || !isRefID(rest[i+1:]) {
		return "", false
	}
	rest = rest[:i]
	j := strings.LastIndexByte(rest, '/')
	if j >= 0 && !absolute {
		return "", false // relative references have one "/" before the id
	}
	if absolute && j < 0 {
		return "", false // "http://host/id": no type segment
	}
	typ = rest[j+1:]
	if typ == "" || typ[0] < 'A' || typ[0] > 'Z' {
		return "", false
	}
	for k := 1; k < len(typ); k++ {
		if c := typ[k]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return "", false
		}
	}
	return typ, !absolute
}

// isRefID reports whether s can be the id (or version) of a literal
// reference: 1 to 64 letters, digits, "-" and ".".
func isRefID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// coding checks a Coding with a required binding
// (https://hl7.org/fhir/R4/terminologies.html#required): when its system
// is a code system of the value set, its code must be in the value set.
// Codings of other systems, or without a system, are not checked.
func (w *walker) coding(obj map[string]any, vs *valueSet) {
	sys, _ := obj["system"].(string)
	code, ok := obj["code"].(string)
	if !ok {
		return
	}
	if _, known := vs.bySystem[sys]; known && !vs.has(sys, code) {
		w.addAt("code", "code-invalid", "code is not in the required value set "+vs.url)
	}
}

// concept checks a CodeableConcept with a required binding: at least one
// of its codings must be from the value set (system and code).
func (w *walker) concept(obj map[string]any, vs *valueSet) {
	codings, _ := obj["coding"].([]any)
	for _, c := range codings {
		c, _ := c.(map[string]any)
		sys, _ := c["system"].(string)
		code, _ := c["code"].(string)
		if vs.has(sys, code) {
			return
		}
	}
	w.add("code-invalid", "no coding from the required value set "+vs.url)
}

// typeInvariants checks the hand-coded invariants inv of obj.
func (w *walker) typeInvariants(obj map[string]any, inv invariant) {
	switch inv {
	case invPeriod:
		s, ok1 := obj["start"].(string)
		e, ok2 := obj["end"].(string)
		if ok1 && ok2 && certainlyAfter(s, e) {
			w.add("invariant", msgPer1)
		}
	case invQuantity:
		if obj["code"] != nil && obj["system"] == nil {
			w.add("invariant", msgQty3)
		}
	case invRange:
		low, _ := obj["low"].(map[string]any)
		high, _ := obj["high"].(map[string]any)
		if low != nil && high != nil && reversedRange(low, high) {
			w.add("invariant", msgRng2)
		}
	case invRatio:
		_, num := obj["numerator"]
		_, den := obj["denominator"]
		_, ext := obj["extension"]
		if num != den || !num && !ext {
			w.add("invariant", msgRat1)
		}
	}
}

// zoneSlack widens a date without a time when it is compared with a
// dateTime that has one: the date's time zone is unknown, and zones span
// UTC-12:00 to UTC+14:00.
const zoneSlack = 14 * time.Hour

// certainlyAfter reports whether the date, dateTime or instant a is
// certainly later than b, whatever the values' precision: a comparison
// FHIRPath leaves empty (different precisions, equal at the coarser one)
// is not a violation of per-1. Values that do not parse are left to the
// primitive checks.
func certainlyAfter(a, b string) bool {
	aStart, _, err1 := parseDateRange(a)
	_, bEnd, err2 := parseDateRange(b)
	if err1 != nil || err2 != nil {
		return false
	}
	aTime, bTime := len(a) > 10, len(b) > 10
	if aTime != bTime {
		if !aTime {
			aStart = aStart.Add(-zoneSlack)
		} else {
			bEnd = bEnd.Add(zoneSlack)
		}
	}
	return !aStart.Before(bEnd)
}

// reversedRange reports whether the Quantity low is greater than high
// when both have a value and the same unit (system and code, or the same
// unit text when neither has a code).
func reversedRange(low, high map[string]any) bool {
	lv, ok1 := toFloat(low["value"])
	hv, ok2 := toFloat(high["value"])
	if !ok1 || !ok2 {
		return false
	}
	ls, _ := low["system"].(string)
	hs, _ := high["system"].(string)
	lc, _ := low["code"].(string)
	hc, _ := high["code"].(string)
	lu, _ := low["unit"].(string)
	hu, _ := high["unit"].(string)
	if ls != hs || lc != hc || lc == "" && lu != hu {
		return false
	}
	return lv > hv
}
