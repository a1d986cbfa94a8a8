package fhir

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vigilhealth/vigil"
)

// SearchParamDef describes one search parameter of one resource type
// (https://hl7.org/fhir/R4/searchparameter.html).
type SearchParamDef struct {
	// Name is the parameter code used in queries ("subject", "_tag").
	Name string
	// Type is the parameter type.
	Type vigil.ParamType
	// Definition is the canonical URL of the SearchParameter.
	Definition string
	// Expression is the published FHIRPath expression (all base types).
	Expression string
	// Targets are the resource types a reference parameter may point at.
	Targets []string
	// Components are the parts of a composite parameter, in order.
	Components []SearchComponentDef
}

// SearchComponentDef is one component of a composite search parameter.
type SearchComponentDef struct {
	// Definition is the URL of the component's own SearchParameter.
	Definition string
	// Type is that parameter's type.
	Type vigil.ParamType
}

// paramDef is a search parameter compiled for one resource type.
type paramDef struct {
	SearchParamDef
	expr  expr // pruned to the branches of this type; nil: not indexed
	comps []compDef
}

type compDef struct {
	expr expr
	typ  vigil.ParamType
}

// searchSet is the compiled search side of a Model; immutable.
type searchSet struct {
	// params maps resource type → name → definition; "" holds the
	// Resource-level parameters (_id, _lastUpdated, _tag, …).
	params map[string]map[string]*paramDef
	// indexed lists, per type, the parameters Index evaluates, by name.
	indexed map[string][]*paramDef
	// resources is the set of concrete resource types.
	resources   map[string]bool
	compartment map[string][]string
	elems       map[string]map[string]*elemInfo
	now         func() time.Time
	// arenas recycles Index's node arenas (*[]node).
	arenas *sync.Pool
}

// nearParam is the one special search parameter of a type that Vigil
// supports: Location's near, indexed as positions (indexer.position).
const nearParam = "near"

// notIndexed are parameters that Index does not extract: the store answers
// _id and _lastUpdated from its columns; the rest have no expression or
// need the server (_text, _content, _query).
var notIndexed = map[string]bool{"_id": true, "_lastUpdated": true}

// resourceLevel are the Resource parameters offered on every type.
var resourceLevel = map[string]bool{"_id": true, "_lastUpdated": true, "_tag": true,
	"_profile": true, "_security": true, "_source": true}

// newSearchSet compiles the search parameters of defs. It fails, naming
// them, when any expression is outside the supported FHIRPath subset.
func newSearchSet(defs *Definitions) (*searchSet, error) {
	s := &searchSet{
		params:      map[string]map[string]*paramDef{"": {}},
		indexed:     map[string][]*paramDef{},
		resources:   map[string]bool{},
		compartment: maps.Clone(defs.Compartment),
		now:         time.Now,
		arenas:      &sync.Pool{},
	}
	for _, r := range defs.Resources {
		s.resources[r] = true
	}
	if len(defs.Resources) == 0 {
		for _, p := range defs.SearchParams {
			for _, b := range p.Base {
				if b != "Resource" && b != "DomainResource" {
					s.resources[b] = true
				}
			}
		}
	}
	s.elems = elemIndex(defs.Types)
	byURL := map[string]*RawSearchParam{}
	for i := range defs.SearchParams {
		byURL[defs.SearchParams[i].URL] = &defs.SearchParams[i]
	}
	var bad []string
	for i := range defs.SearchParams {
		rp := &defs.SearchParams[i]
		typ := vigil.ParseParamType(rp.Type)
		if typ == vigil.ParamUnknown {
			bad = append(bad, rp.URL+": unknown type")
			continue
		}
		def := SearchParamDef{Name: rp.Code, Type: typ, Definition: rp.URL,
			Expression: rp.Expression, Targets: slices.Clone(rp.Target)}
		var full expr
		if rp.Expression != "" && (typ != vigil.ParamSpecial || rp.Code == nearParam) {
			e, err := compileFHIRPath(rp.Expression)
			if err != nil {
				bad = append(bad, fmt.Sprintf("%s: %v", rp.URL, err))
				continue
			}
			full = e
		}
		var comps []compDef
		for _, c := range rp.Component {
			cp := byURL[c.Definition]
			if cp == nil {
				bad = append(bad, rp.URL+": unknown component "+c.Definition)
				break
			}
			ce, err := compileFHIRPath(c.Expression)
			if err != nil {
				bad = append(bad, fmt.Sprintf("%s: component %s: %v", rp.URL, c.Definition, err))
				break
			}
			ct := vigil.ParseParamType(cp.Type)
			def.Components = append(def.Components, SearchComponentDef{Definition: c.Definition, Type: ct})
			comps = append(comps, compDef{expr: ce, typ: ct})
		}
		if typ == vigil.ParamComposite && len(comps) != len(rp.Component) {
			continue
		}
		for _, base := range rp.Base {
			if base == "Resource" || base == "DomainResource" {
				if !resourceLevel[rp.Code] {
					continue // _text, _content, _query: not supported
				}
				s.params[""][rp.Code] = &paramDef{SearchParamDef: def, expr: full, comps: comps}
				continue
			}
			pd := &paramDef{SearchParamDef: def, comps: comps}
			if full != nil {
				pd.expr = pruneFor(full, base)
			}
			if s.params[base] == nil {
				s.params[base] = map[string]*paramDef{}
			}
			s.params[base][rp.Code] = pd
		}
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("compile search parameters: %w", errors.New(strings.Join(bad, "; ")))
	}
	for t := range s.resources {
		var list []*paramDef
		for _, pd := range s.params[""] {
			if pd.expr != nil && !notIndexed[pd.Name] {
				list = append(list, pd)
			}
		}
		for _, pd := range s.params[t] {
			if pd.expr != nil {
				list = append(list, pd)
			}
		}
		slices.SortFunc(list, func(a, b *paramDef) int { return strings.Compare(a.Name, b.Name) })
		s.indexed[t] = list
	}
	return s, nil
}

// lookup returns the parameter name of type typ ("" for system search).
func (s *searchSet) lookup(typ, name string) *paramDef {
	if pd := s.params[""][name]; pd != nil {
		return pd
	}
	if typ == "" {
		return nil
	}
	return s.params[typ][name]
}

// SearchParams returns the search parameters of resource type typ, sorted
// by name: the type's own parameters and _tag, _profile, _security and
// _source. The resource-level _id and _lastUpdated, answered by every
// store from its own columns, are not listed; nor are parameters Vigil
// does not support (_text, _content, _query). The
// caller owns the returned slice but must not modify the Targets and
// Components it shares with the model.
func (m *Model) SearchParams(typ string) []SearchParamDef {
	s := m.search
	if s == nil {
		return nil
	}
	var out []SearchParamDef
	for name, pd := range s.params[""] {
		if name != "_id" && name != "_lastUpdated" && s.resources[typ] {
			out = append(out, pd.SearchParamDef)
		}
	}
	for _, pd := range s.params[typ] {
		if pd.Type != vigil.ParamSpecial || pd.expr != nil {
			out = append(out, pd.SearchParamDef)
		}
	}
	slices.SortFunc(out, func(a, b SearchParamDef) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// PatientCompartment returns, for each resource type in the Patient
// compartment (https://hl7.org/fhir/R4/compartmentdefinition-patient.html),
// the reference parameters that place a resource in it. It returns a fresh
// copy on every call (about 70 entries); callers may modify it.
func (m *Model) PatientCompartment() map[string][]string {
	if m.search == nil {
		return nil
	}
	out := make(map[string][]string, len(m.search.compartment))
	for k, v := range m.search.compartment {
		out[k] = slices.Clone(v)
	}
	return out
}

// WithClock returns a copy of m whose ParseSearch takes the current time
// from now (used by the "ap" prefix on dates). m itself is unchanged.
func (m *Model) WithClock(now func() time.Time) *Model {
	c := *m
	if m.search == nil {
		return &c
	}
	s := *m.search
	s.now = now
	c.search = &s
	return &c
}
