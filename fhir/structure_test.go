package fhir

import (
	"sync"
	"testing"
)

// structureOnly loads the structure half of the embedded model, without
// compiling search parameters, so that the validation and summary tests do
// not depend on the search half.
var structureOnly = sync.OnceValues(func() (*Model, error) {
	defs, err := decodeDefinitions(r4Data)
	if err != nil {
		return nil, err
	}
	return newStructure(defs)
})

// testModel returns the structure half of the embedded R4 model.
func testModel(t testing.TB) *Model {
	t.Helper()
	m, err := structureOnly()
	if err != nil {
		t.Fatalf("load structure: %v", err)
	}
	return m
}
