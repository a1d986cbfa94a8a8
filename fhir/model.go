package fhir

// This file fixes the shape of the generated data (written by ./gen,
// embedded as r4.json.gz) and of Model. The structure half (types,
// elements, bindings) is used by validate.go and summary.go; the search
// half (SearchParams, Compartment) by the search and index code.

//go:generate go run ./gen -defs ../../shared/data/fhir-r4/definitions -out r4.json.gz

// Definitions is the generated model data, as stored in r4.json.gz.
type Definitions struct {
	// Version is the FHIR version the data was generated from ("4.0.1").
	Version string `json:"version"`
	// Resources lists every concrete (non-abstract) resource type, sorted.
	Resources []string `json:"resources"`
	// Types holds the structure of every resource type, complex data type
	// and backbone element, keyed by name; backbone elements are keyed by
	// their path ("Observation.component"). Written and read by the
	// structure side (see Element).
	Types map[string]*TypeDef `json:"types"`
	// ValueSets maps a value set URL (without version) to its expansion, as
	// code system URL → sorted codes, for the value sets of the release that
	// could be expanded: those of required bindings (validation) and the
	// others (token :in and :not-in searches).
	ValueSets map[string]map[string][]string `json:"valueSets"`
	// CodeSystems maps the URL of each code system of the release with
	// complete content to its codes, as code → sorted parent codes in its
	// is-a hierarchy (none for a root; nested concepts are is-a). Token
	// :above and :below searches walk it; :in uses it for value sets that
	// include a whole system.
	CodeSystems map[string]map[string][]string `json:"codeSystems,omitempty"`
	// SearchParams are the official search parameters, as in
	// search-parameters.json, reduced to what the server uses.
	SearchParams []RawSearchParam `json:"searchParams"`
	// Compartment maps each resource type in the Patient compartment to the
	// search parameters that place a resource in it
	// (compartmentdefinition-patient.json). Types with no params are absent.
	Compartment map[string][]string `json:"compartment"`
}

// TypeDef is the structure of one resource type, data type or backbone
// element.
type TypeDef struct {
	Name string `json:"name"`
	// Kind is "resource", "complex-type", "primitive-type" or "backbone".
	Kind     string     `json:"kind"`
	Elements []*Element `json:"elements,omitempty"`

	// props maps each JSON property name ("valueQuantity", "_status") to
	// its element; built at load by compileTypes, not stored.
	props map[string]prop
	// required lists the elements with Min > 0; built at load.
	required []*Element
	// inv is the set of hand-coded invariants of the type; built at load.
	inv invariant
}

// Element is one child element of a TypeDef.
type Element struct {
	// Name is the JSON name without [x] ("value" for value[x]).
	Name string `json:"name"`
	// Choice is true for a choice element (value[x]); its JSON names are
	// Name + capitalised type code ("valueQuantity").
	Choice bool `json:"choice,omitempty"`
	// Types are the allowed type codes ("Quantity", "string", "Reference",
	// "BackboneElement" types are replaced by the backbone key such as
	// "Observation.component").
	Types []string `json:"types"`
	// Targets lists allowed reference target types for Reference elements
	// (empty means any).
	Targets []string `json:"targets,omitempty"`
	// Profiles maps a type code of the element to the profile its values
	// must conform to, as a StructureDefinition name: in R4 only
	// "Quantity" → "SimpleQuantity".
	Profiles map[string]string `json:"profiles,omitempty"`
	Min      int               `json:"min,omitempty"`
	// Max is the maximum cardinality: 1, or -1 for "*". 0 means prohibited.
	Max int `json:"max"`
	// Summary is true when the element is part of the _summary=true view.
	Summary bool `json:"summary,omitempty"`
	// Modifier is true for modifier elements (kept by _summary=true too).
	Modifier bool `json:"modifier,omitempty"`
	// Binding is the value set URL of a required binding on a code,
	// Coding or CodeableConcept element, when the value set could be
	// expanded.
	Binding string `json:"binding,omitempty"`

	// names are the JSON property names of the element, with their "_"
	// siblings for primitive types; built at load.
	names []string
	// vs is the expanded value set of Binding (nil when not enforced);
	// built at load.
	vs *valueSet
}

// RawSearchParam is one SearchParameter resource, reduced.
type RawSearchParam struct {
	Code       string               `json:"code"`
	URL        string               `json:"url"`
	Base       []string             `json:"base"`
	Type       string               `json:"type"`
	Expression string               `json:"expression,omitempty"`
	Target     []string             `json:"target,omitempty"`
	Modifier   []string             `json:"modifier,omitempty"`
	Comparator []string             `json:"comparator,omitempty"`
	Component  []RawSearchComponent `json:"component,omitempty"`
}

// RawSearchComponent is one component of a composite search parameter.
type RawSearchComponent struct {
	Definition string `json:"definition"`
	Expression string `json:"expression"`
}

// Model is the loaded FHIR R4 model. It is immutable after LoadR4 and safe
// for concurrent use.
type Model struct {
	defs  *Definitions
	types map[string]*TypeDef
	// resourceSet answers IsResourceType.
	resourceSet map[string]bool
	// search is the compiled search side (built by newSearchSet).
	search *searchSet
	// children inverts defs.CodeSystems (terminology.go), built on the
	// first :below search rather than at load; shared by copies of m.
	children *childIndex
}

// SearchOptions are the result-shaping parameters of a search (_summary,
// _elements), which the store does not see.
type SearchOptions struct {
	// Summary is "", "true", "text", "data", "count" or "false".
	Summary string
	// Elements are the top-level element names to keep (_elements).
	Elements []string
}
