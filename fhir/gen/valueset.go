package main

import (
	"encoding/json"
	"slices"
	"sort"

	"github.com/vigilhealth/vigil/fhir"
)

// valueSetOrCodeSystem is the part of a ValueSet or CodeSystem resource
// from valuesets.json that the generator reads
// (https://hl7.org/fhir/R4/valueset.html, https://hl7.org/fhir/R4/codesystem.html).
type valueSetOrCodeSystem struct {
	ResourceType string `json:"resourceType"`
	URL          string `json:"url"`
	Version      string `json:"version"`
	// CodeSystem
	Content string    `json:"content"`
	Concept []concept `json:"concept"`
	// ValueSet
	Compose *struct {
		Include []vsInclude `json:"include"`
		Exclude []vsInclude `json:"exclude"`
	} `json:"compose"`
}

type concept struct {
	Code    string    `json:"code"`
	Concept []concept `json:"concept"`
}

type vsInclude struct {
	System   string            `json:"system"`
	Version  string            `json:"version"`
	Concept  []concept         `json:"concept"`
	ValueSet []string          `json:"valueSet"`
	Filter   []json.RawMessage `json:"filter"`
}

// buildValueSets expands the value sets of the required bindings recorded
// on code, Coding and CodeableConcept elements into defs.ValueSets, as
// code system URL → codes. A value set is expanded only when every part
// of it can be enumerated from valuesets.json: explicit concept lists,
// whole code systems with complete content, and other value sets that can
// themselves be expanded. Value sets with filters or with code systems
// defined elsewhere (UCUM, BCP-47, MIME types) are skipped; their bindings
// are then not enforced (Element.Binding is cleared). It returns the
// number of value sets expanded and the URLs of those skipped.
//
// Only ValueSets of the given FHIR version are used; code systems keep
// their own versions.
func buildValueSets(defs *fhir.Definitions, b *bundle[valueSetOrCodeSystem], version string) (expanded int, skipped []string) {
	e := newExpander(b, version)
	defs.ValueSets = make(map[string]map[string][]string)
	var names []string
	for name := range defs.Types {
		names = append(names, name)
	}
	sort.Strings(names)
	seen := make(map[string]bool)
	for _, name := range names {
		for _, el := range defs.Types[name].Elements {
			if el.Binding == "" {
				continue
			}
			set, ok := e.expand(el.Binding, 0)
			if !seen[el.Binding] {
				seen[el.Binding] = true
				if ok {
					expanded++
				} else {
					skipped = append(skipped, el.Binding)
				}
			}
			if !ok {
				el.Binding = ""
				continue
			}
			defs.ValueSets[el.Binding] = set.sorted()
		}
	}
	sort.Strings(skipped)
	return expanded, skipped
}

// newExpander indexes the ValueSets of version and every CodeSystem of b.
func newExpander(b *bundle[valueSetOrCodeSystem], version string) *expander {
	e := &expander{
		valueSets:   make(map[string]*valueSetOrCodeSystem),
		codeSystems: make(map[string]*valueSetOrCodeSystem),
		done:        make(map[string]codeSet),
	}
	for _, en := range b.Entry {
		r := en.Resource
		switch r.ResourceType {
		case "ValueSet":
			if r.Version == version {
				e.valueSets[r.URL] = r
			}
		case "CodeSystem":
			e.codeSystems[r.URL] = r
		}
	}
	return e
}

// buildTerminology adds what token searches with :in, :not-in, :above and
// :below need (https://hl7.org/fhir/R4/search.html#token): every other
// ValueSet of version that can be expanded, into defs.ValueSets beside
// those of the required bindings (expanded the same way, so that no
// binding changes), and every code of each CodeSystem with complete
// content, into defs.CodeSystems as code → parent codes (nesting is is-a;
// the roots have none). It returns the number of value sets added and of
// code systems.
func buildTerminology(defs *fhir.Definitions, b *bundle[valueSetOrCodeSystem], version string) (added, systems int) {
	e := newExpander(b, version)
	urls := make([]string, 0, len(e.valueSets))
	for u := range e.valueSets {
		urls = append(urls, u)
	}
	sort.Strings(urls)
	if defs.ValueSets == nil {
		defs.ValueSets = make(map[string]map[string][]string)
	}
	for _, u := range urls {
		if _, ok := defs.ValueSets[u]; ok {
			continue
		}
		if set, ok := e.expand(u, 0); ok {
			defs.ValueSets[u] = set.sorted()
			added++
		}
	}
	defs.CodeSystems = make(map[string]map[string][]string)
	for url, cs := range e.codeSystems {
		if cs.Content != "complete" {
			continue
		}
		parents := make(map[string][]string)
		var walk func(cs []concept, parent string)
		walk = func(cs []concept, parent string) {
			for _, c := range cs {
				if parents[c.Code] == nil {
					parents[c.Code] = []string{} // a root: known, no parent
				}
				if parent != "" && !slices.Contains(parents[c.Code], parent) {
					parents[c.Code] = append(parents[c.Code], parent)
				}
				walk(c.Concept, c.Code)
			}
		}
		walk(cs.Concept, "")
		if len(parents) > 0 {
			for _, ps := range parents {
				sort.Strings(ps)
			}
			defs.CodeSystems[url] = parents
			systems++
		}
	}
	return added, systems
}

// codeSet is an expanded value set: code system URL → set of codes.
type codeSet map[string]map[string]bool

func (s codeSet) add(system, code string) {
	if s[system] == nil {
		s[system] = make(map[string]bool)
	}
	s[system][code] = true
}

func (s codeSet) addAll(o codeSet) {
	for sys, codes := range o {
		for c := range codes {
			s.add(sys, c)
		}
	}
}

// sorted returns the codes of each system as a sorted list.
func (s codeSet) sorted() map[string][]string {
	out := make(map[string][]string, len(s))
	for sys, codes := range s {
		list := make([]string, 0, len(codes))
		for c := range codes {
			list = append(list, c)
		}
		sort.Strings(list)
		out[sys] = list
	}
	return out
}

type expander struct {
	valueSets   map[string]*valueSetOrCodeSystem
	codeSystems map[string]*valueSetOrCodeSystem
	done        map[string]codeSet
}

// expand returns the codes of the value set url, or false when it cannot
// be fully expanded.
func (e *expander) expand(url string, depth int) (codeSet, bool) {
	if set, ok := e.done[url]; ok {
		return set, set != nil
	}
	vs := e.valueSets[url]
	if vs == nil || vs.Compose == nil || depth > 10 {
		e.done[url] = nil
		return nil, false
	}
	set := make(codeSet)
	for _, inc := range vs.Compose.Include {
		codes, ok := e.include(inc, depth)
		if !ok {
			e.done[url] = nil
			return nil, false
		}
		set.addAll(codes)
	}
	for _, exc := range vs.Compose.Exclude {
		codes, ok := e.include(exc, depth)
		if !ok {
			e.done[url] = nil
			return nil, false
		}
		for sys, cs := range codes {
			for c := range cs {
				delete(set[sys], c)
			}
			if len(set[sys]) == 0 {
				delete(set, sys)
			}
		}
	}
	if len(set) == 0 {
		e.done[url] = nil
		return nil, false
	}
	e.done[url] = set
	return set, true
}

// include enumerates one compose.include (or exclude) entry.
func (e *expander) include(inc vsInclude, depth int) (codeSet, bool) {
	if len(inc.Filter) > 0 {
		return nil, false
	}
	set := make(codeSet)
	switch {
	case len(inc.Concept) > 0:
		if inc.System == "" {
			return nil, false
		}
		for _, c := range inc.Concept {
			set.add(inc.System, c.Code)
		}
	case inc.System != "":
		cs := e.codeSystems[inc.System]
		if cs == nil || cs.Content != "complete" {
			return nil, false
		}
		flatten(cs.Concept, inc.System, set)
	}
	// A system and value sets together mean their intersection; only the
	// plain union of value sets is supported.
	if len(inc.ValueSet) > 0 {
		if inc.System != "" || len(inc.Concept) > 0 {
			return nil, false
		}
		for _, u := range inc.ValueSet {
			vc, ok := e.expand(u, depth+1)
			if !ok {
				return nil, false
			}
			set.addAll(vc)
		}
	}
	return set, len(set) > 0
}

// flatten adds the codes of a concept hierarchy of system to set.
func flatten(cs []concept, system string, set codeSet) {
	for _, c := range cs {
		set.add(system, c.Code)
		flatten(c.Concept, system, set)
	}
}
