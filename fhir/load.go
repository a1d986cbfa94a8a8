package fhir

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sync"
)

//go:embed r4.json.gz
var r4Data []byte

// loadR4 decodes the embedded model once per process; the Model it returns
// is immutable, so sharing it is safe.
var loadR4 = sync.OnceValues(func() (*Model, error) { return load(r4Data) })

// LoadR4 returns the FHIR R4 model built from the embedded definitions.
//
// The first call decompresses and decodes the embedded data and compiles
// the validation tables and search parameters (tens of milliseconds); later
// calls return the same *Model, or the same error. The Model is immutable
// and safe for concurrent use.
func LoadR4() (*Model, error) {
	return loadR4()
}

// load builds a Model from gzipped Definitions JSON.
func load(gz []byte) (*Model, error) {
	defs, err := decodeDefinitions(gz)
	if err != nil {
		return nil, err
	}
	m, err := newStructure(defs)
	if err != nil {
		return nil, err
	}
	if m.search, err = newSearchSet(defs); err != nil {
		return nil, fmt.Errorf("load fhir model: %w", err)
	}
	return m, nil
}

// decodeDefinitions decodes gzipped Definitions JSON.
func decodeDefinitions(gz []byte) (*Definitions, error) {
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, fmt.Errorf("load fhir model: %w", err)
	}
	js, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("load fhir model: %w", err)
	}
	var defs Definitions
	if err := json.Unmarshal(js, &defs); err != nil {
		return nil, fmt.Errorf("load fhir model: %w", err)
	}
	return &defs, nil
}

// newStructure builds the structure half of a Model from defs (types,
// resource set, validation tables); the caller adds the search half.
func newStructure(defs *Definitions) (*Model, error) {
	m := &Model{
		defs:        defs,
		types:       defs.Types,
		resourceSet: make(map[string]bool, len(defs.Resources)),
		children:    &childIndex{},
	}
	if m.types == nil {
		m.types = map[string]*TypeDef{}
	}
	for _, r := range defs.Resources {
		if m.types[r] == nil {
			return nil, fmt.Errorf("load fhir model: no structure for resource %s", r)
		}
		m.resourceSet[r] = true
	}
	if err := compileTypes(m.types, defs.ValueSets); err != nil {
		return nil, fmt.Errorf("load fhir model: %w", err)
	}
	return m, nil
}

// IsResourceType reports whether name is a concrete FHIR R4 resource type
// ("Patient", "Observation"; not "Resource" or "DomainResource").
func (m *Model) IsResourceType(name string) bool {
	return m.resourceSet[name]
}

// ResourceTypes returns the concrete resource types, sorted. The caller
// owns the returned slice.
func (m *Model) ResourceTypes() []string {
	return slices.Clone(m.defs.Resources)
}

// Version returns the FHIR version of the model ("4.0.1").
func (m *Model) Version() string {
	return m.defs.Version
}
