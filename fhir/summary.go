package fhir

import "strings"

// The SUBSETTED tag marks a resource returned with elements left out
// (https://hl7.org/fhir/R4/search.html#summary,
// https://hl7.org/fhir/R4/search.html#elements).
const (
	subsettedSystem  = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue"
	subsettedCode    = "SUBSETTED"
	subsettedDisplay = "Resource encoded in summary mode"
)

// Summarize returns a copy of the resource obj shaped for the _summary
// search parameter (https://hl7.org/fhir/R4/search.html#summary):
//
//   - "true": the elements marked as summary or modifier in the base
//     definitions, applied recursively inside complex types, backbone
//     elements and nested resources; resourceType, id and meta are kept;
//   - "text": text, id, meta and the top-level mandatory elements;
//   - "data": everything but text.
//
// Those three modes add the SUBSETTED tag to meta.tag. Any other mode
// ("false", "count", "") returns an unchanged copy: the caller validates
// the parameter. obj is not modified and the result shares no maps or
// slices with it. A resource of unknown type is returned as an unchanged
// copy.
func (m *Model) Summarize(obj map[string]any, mode string) map[string]any {
	rt, _ := obj["resourceType"].(string)
	td := m.types[rt]
	if td == nil || !m.IsResourceType(rt) {
		return deepCopyMap(obj)
	}
	var out map[string]any
	switch mode {
	case "true":
		out = summaryObject(m, obj, td, true)
	case "text":
		out = filterTop(obj, td, func(el *Element) bool {
			return el.Name == "text" || el.Min > 0
		})
	case "data":
		out = filterTop(obj, td, func(el *Element) bool { return el.Name != "text" })
	default:
		return deepCopyMap(obj)
	}
	markSubsetted(out)
	return out
}

// Elements returns a copy of the resource obj with only the listed
// top-level elements, for the _elements search parameter
// (https://hl7.org/fhir/R4/search.html#elements). Names are element names
// without [x] ("value" keeps valueQuantity), optionally prefixed with the
// resource type ("Observation.value"); unknown names are ignored.
// resourceType, id, meta and the mandatory elements are always kept, and
// meta.tag gets the SUBSETTED tag. obj is not modified and the result
// shares no maps or slices with it.
func (m *Model) Elements(obj map[string]any, names []string) map[string]any {
	rt, _ := obj["resourceType"].(string)
	td := m.types[rt]
	if td == nil || !m.IsResourceType(rt) {
		return deepCopyMap(obj)
	}
	keep := make(map[string]bool, len(names))
	for _, n := range names {
		n = strings.TrimSpace(n)
		if s, ok := strings.CutPrefix(n, rt+"."); ok {
			n = s
		}
		keep[n] = true
	}
	out := filterTop(obj, td, func(el *Element) bool { return keep[el.Name] || el.Min > 0 })
	markSubsetted(out)
	return out
}

// filterTop copies the top-level properties of obj whose element passes
// keep, plus resourceType, id and meta.
func filterTop(obj map[string]any, td *TypeDef, keep func(*Element) bool) map[string]any {
	out := make(map[string]any, len(obj))
	for k, v := range obj {
		p, ok := td.props[k]
		switch {
		case k == "resourceType":
		case !ok:
			continue // not an element of the type; Validate reports these
		case p.el.Name == "id" || p.el.Name == "meta":
		case !keep(p.el):
			continue
		}
		out[k] = deepCopy(v)
	}
	return out
}

// summaryObject copies the summary and modifier elements of obj, of type
// td, recursively.
func summaryObject(m *Model, obj map[string]any, td *TypeDef, isResource bool) map[string]any {
	out := make(map[string]any, len(obj))
	for k, v := range obj {
		if isResource && k == "resourceType" {
			out[k] = v
			continue
		}
		p, ok := td.props[k]
		if !ok {
			continue
		}
		inSummary := p.el.Summary || p.el.Modifier || isResource && (p.el.Name == "id" || p.el.Name == "meta")
		if !inSummary {
			continue
		}
		if arr, ok := v.([]any); ok {
			c := make([]any, len(arr))
			for i, x := range arr {
				c[i] = summaryValue(m, &p, x)
			}
			out[k] = c
			continue
		}
		out[k] = summaryValue(m, &p, v)
	}
	return out
}

// summaryValue applies the summary view to one value of property p.
func summaryValue(m *Model, p *prop, v any) any {
	obj, ok := v.(map[string]any)
	if !ok || p.prim != primNone {
		return deepCopy(v)
	}
	if p.resource {
		rt, _ := obj["resourceType"].(string)
		if td := m.types[rt]; td != nil && m.IsResourceType(rt) {
			return summaryObject(m, obj, td, true)
		}
		return deepCopy(v)
	}
	return summaryObject(m, obj, p.td, false)
}

// markSubsetted adds the SUBSETTED tag to the meta of the resource obj
// (which must already be a copy: meta is replaced, not changed in place).
func markSubsetted(obj map[string]any) {
	meta, _ := obj["meta"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
		obj["meta"] = meta
	}
	tags, _ := meta["tag"].([]any)
	for _, t := range tags {
		if c, ok := t.(map[string]any); ok && c["system"] == subsettedSystem && c["code"] == subsettedCode {
			return
		}
	}
	meta["tag"] = append(tags, map[string]any{
		"system":  subsettedSystem,
		"code":    subsettedCode,
		"display": subsettedDisplay,
	})
}

// deepCopy copies JSON values: maps and slices are copied recursively;
// strings, numbers, booleans and nil are immutable and shared.
func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		return deepCopyMap(x)
	case []any:
		c := make([]any, len(x))
		for i, e := range x {
			c[i] = deepCopy(e)
		}
		return c
	}
	return v
}

func deepCopyMap(obj map[string]any) map[string]any {
	c := make(map[string]any, len(obj))
	for k, v := range obj {
		c[k] = deepCopy(v)
	}
	return c
}
