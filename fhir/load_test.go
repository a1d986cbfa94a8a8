package fhir

import (
	"slices"
	"testing"
)

func TestLoadR4(t *testing.T) {
	m, err := LoadR4()
	if err != nil {
		t.Fatalf("LoadR4() error: %v", err)
	}
	if m2, err := LoadR4(); err != nil || m2 != m {
		t.Errorf("LoadR4() second call = %p, %v; want the same model %p", m2, err, m)
	}
	if got := m.Version(); got != "4.0.1" {
		t.Errorf("Version() = %q, want 4.0.1", got)
	}
	rts := m.ResourceTypes()
	if !slices.IsSorted(rts) {
		t.Errorf("ResourceTypes() not sorted")
	}
	for _, rt := range rts {
		if !m.IsResourceType(rt) {
			t.Errorf("IsResourceType(%q) = false for a listed resource type", rt)
		}
	}
	for _, tc := range []struct {
		name string
		want bool
	}{
		{"Patient", true},
		{"Observation", true},
		{"Parameters", true},
		{"Bundle", true},
		{"Resource", false},
		{"DomainResource", false},
		{"patient", false},
		{"HumanName", false},
		{"", false},
	} {
		if got := m.IsResourceType(tc.name); got != tc.want {
			t.Errorf("IsResourceType(%q) = %v, want %v", tc.name, got, tc.want)
		}
	}
	if len(m.defs.SearchParams) == 0 {
		t.Errorf("no search parameters loaded")
	}
	if got := m.defs.Compartment["Observation"]; !slices.Contains(got, "subject") {
		t.Errorf("Compartment[Observation] = %v, want it to contain subject", got)
	}
	if _, ok := m.defs.Compartment["ActivityDefinition"]; ok {
		t.Errorf("Compartment has ActivityDefinition, which has no params")
	}
}
