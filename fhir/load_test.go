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

func TestGeneratedStructure(t *testing.T) {
	m := testModel(t)
	find := func(typ, name string) *Element {
		td := m.types[typ]
		if td == nil {
			return nil
		}
		for _, el := range td.Elements {
			if el.Name == name {
				return el
			}
		}
		return nil
	}
	tests := []struct {
		typ, name string
		types     []string
		min, max  int
		choice    bool
		binding   string
	}{
		{"Observation", "status", []string{"code"}, 1, 1, false, "http://hl7.org/fhir/ValueSet/observation-status"},
		{"Observation", "component", []string{"Observation.component"}, 0, -1, false, ""},
		{"Observation.component", "value", []string{"Quantity", "CodeableConcept", "string", "boolean", "integer", "Range", "Ratio", "SampledData", "time", "dateTime", "Period"}, 0, 1, true, ""},
		{"Questionnaire.item", "item", []string{"Questionnaire.item"}, 0, -1, false, ""},
		{"Resource", "id", []string{"id"}, 0, 1, false, ""},
		{"Patient", "id", []string{"id"}, 0, 1, false, ""},
		{"Extension", "url", []string{"uri"}, 1, 1, false, ""},
		{"Element", "id", []string{"string"}, 0, 1, false, ""},
		{"Timing", "repeat", []string{"Timing.repeat"}, 0, 1, false, ""},
		{"Bundle.entry", "resource", []string{"Resource"}, 0, 1, false, ""},
		{"Patient", "contained", []string{"Resource"}, 0, -1, false, ""},
		{"string", "extension", []string{"Extension"}, 0, -1, false, ""},
	}
	for _, tc := range tests {
		el := find(tc.typ, tc.name)
		if el == nil {
			t.Errorf("%s.%s: not generated", tc.typ, tc.name)
			continue
		}
		if !slices.Equal(el.Types, tc.types) || el.Min != tc.min || el.Max != tc.max || el.Choice != tc.choice || el.Binding != tc.binding {
			t.Errorf("%s.%s = types %v min %d max %d choice %v binding %q; want %v %d %d %v %q", tc.typ, tc.name,
				el.Types, el.Min, el.Max, el.Choice, el.Binding, tc.types, tc.min, tc.max, tc.choice, tc.binding)
		}
	}
	// Elements a distributor added to the package are not R4.
	for _, name := range []string{"project", "author", "compartment"} {
		if find("Meta", name) != nil {
			t.Errorf("Meta.%s was generated; it is not part of FHIR R4", name)
		}
	}
	if m.IsResourceType("SubscriptionStatus") {
		t.Errorf("SubscriptionStatus (R4B) is a resource type of the R4 model")
	}
	if find("string", "value") != nil {
		t.Errorf("string.value was generated; primitive values are the JSON value itself")
	}
	gender := m.defs.ValueSets["http://hl7.org/fhir/ValueSet/administrative-gender"]
	if codes := gender["http://hl7.org/fhir/administrative-gender"]; len(gender) != 1 || !slices.Equal(codes, []string{"female", "male", "other", "unknown"}) {
		t.Errorf("administrative-gender = %v, want the four codes of one system", gender)
	}
}
