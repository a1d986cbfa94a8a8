package main

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/vigilhealth/vigil/fhir"
)

func TestBuildValueSets(t *testing.T) {
	const bundleJSON = `{"entry":[
	  {"resource":{"resourceType":"CodeSystem","url":"http://x/cs","version":"4.0.1","content":"complete",
	    "concept":[{"code":"a","concept":[{"code":"a1"}]},{"code":"b"}]}},
	  {"resource":{"resourceType":"CodeSystem","url":"http://x/frag","version":"4.0.1","content":"fragment","concept":[{"code":"f"}]}},
	  {"resource":{"resourceType":"ValueSet","url":"http://x/whole","version":"4.0.1","compose":{"include":[{"system":"http://x/cs"}]}}},
	  {"resource":{"resourceType":"ValueSet","url":"http://x/listed","version":"4.0.1","compose":{"include":[{"system":"http://ext","concept":[{"code":"z"},{"code":"y"}]}]}}},
	  {"resource":{"resourceType":"ValueSet","url":"http://x/union","version":"4.0.1","compose":{"include":[{"valueSet":["http://x/listed"]},{"system":"http://x/cs"}],
	    "exclude":[{"system":"http://x/cs","concept":[{"code":"b"}]}]}}},
	  {"resource":{"resourceType":"ValueSet","url":"http://x/filtered","version":"4.0.1","compose":{"include":[{"system":"http://x/cs","filter":[{"property":"concept","op":"is-a","value":"a"}]}]}}},
	  {"resource":{"resourceType":"ValueSet","url":"http://x/fragment","version":"4.0.1","compose":{"include":[{"system":"http://x/frag"}]}}},
	  {"resource":{"resourceType":"ValueSet","url":"http://x/external","version":"4.0.1","compose":{"include":[{"system":"urn:ietf:bcp:13"}]}}},
	  {"resource":{"resourceType":"ValueSet","url":"http://x/newer","version":"5.0.0","compose":{"include":[{"system":"http://x/cs"}]}}}
	]}`
	var b bundle[valueSetOrCodeSystem]
	if err := json.Unmarshal([]byte(bundleJSON), &b); err != nil {
		t.Fatal(err)
	}
	urls := []string{"http://x/whole", "http://x/listed", "http://x/union", "http://x/filtered", "http://x/fragment", "http://x/external", "http://x/newer", "http://x/missing"}
	td := &fhir.TypeDef{Name: "T"}
	for _, u := range urls {
		td.Elements = append(td.Elements, &fhir.Element{Name: "e", Types: []string{"code"}, Max: 1, Binding: u})
	}
	defs := &fhir.Definitions{Types: map[string]*fhir.TypeDef{"T": td}}
	expanded, skipped := buildValueSets(defs, &b, "4.0.1")
	want := map[string]map[string][]string{
		"http://x/whole":  {"http://x/cs": {"a", "a1", "b"}},
		"http://x/listed": {"http://ext": {"y", "z"}},
		"http://x/union":  {"http://x/cs": {"a", "a1"}, "http://ext": {"y", "z"}},
	}
	if expanded != len(want) {
		t.Errorf("buildValueSets expanded %d, want %d", expanded, len(want))
	}
	wantSkipped := []string{"http://x/external", "http://x/filtered", "http://x/fragment", "http://x/missing", "http://x/newer"}
	if !slices.Equal(skipped, wantSkipped) {
		t.Errorf("buildValueSets skipped %q, want %q", skipped, wantSkipped)
	}
	for u, systems := range want {
		got := defs.ValueSets[u]
		if len(got) != len(systems) {
			t.Errorf("ValueSets[%s] = %q, want %q", u, got, systems)
			continue
		}
		for sys, codes := range systems {
			if !slices.Equal(got[sys], codes) {
				t.Errorf("ValueSets[%s][%s] = %q, want %q", u, sys, got[sys], codes)
			}
		}
	}
	for i, el := range td.Elements {
		_, ok := want[urls[i]]
		if (el.Binding != "") != ok {
			t.Errorf("binding %s kept = %v, want %v", urls[i], el.Binding != "", ok)
		}
	}
}

func TestElement(t *testing.T) {
	modifier := false
	sd := &structureDef{Type: "Patient", Kind: "resource"}
	tests := []struct {
		ed       elementDef
		backbone bool
		want     fhir.Element
	}{
		{elementDef{Path: "Patient.id", Max: "1", IsModifier: &modifier, Type: []typeRef{{Code: "http://hl7.org/fhirpath/System.String"}}},
			false, fhir.Element{Name: "id", Types: []string{"id"}, Max: 1}},
		{elementDef{Path: "Patient.deceased[x]", Max: "1", IsModifier: &modifier, Type: []typeRef{{Code: "boolean"}, {Code: "dateTime"}}},
			false, fhir.Element{Name: "deceased", Choice: true, Types: []string{"boolean", "dateTime"}, Max: 1}},
		{elementDef{Path: "Patient.contact", Max: "*", IsModifier: &modifier, Type: []typeRef{{Code: "BackboneElement"}}},
			true, fhir.Element{Name: "contact", Types: []string{"Patient.contact"}, Max: -1}},
		{elementDef{Path: "Patient.link.other", Min: 1, Max: "1", IsModifier: &modifier, Type: []typeRef{{Code: "Reference",
			TargetProfile: []string{sdPrefix + "RelatedPerson", sdPrefix + "Patient"}}}},
			false, fhir.Element{Name: "other", Types: []string{"Reference"}, Targets: []string{"Patient", "RelatedPerson"}, Min: 1, Max: 1}},
		{elementDef{Path: "Patient.item.item", Max: "*", IsModifier: &modifier, ContentReference: "#Patient.item"},
			false, fhir.Element{Name: "item", Types: []string{"Patient.item"}, Max: -1}},
		{elementDef{Path: "Patient.dose[x]", Max: "1", IsModifier: &modifier, Type: []typeRef{{Code: "Range"},
			{Code: "Quantity", Profile: []string{sdPrefix + "SimpleQuantity"}}}},
			false, fhir.Element{Name: "dose", Choice: true, Types: []string{"Range", "Quantity"}, Profiles: map[string]string{"Quantity": "SimpleQuantity"}, Max: 1}},
		{elementDef{Path: "Patient.status", Max: "1", IsModifier: &modifier, Type: []typeRef{{Code: "CodeableConcept"}},
			Binding: &struct {
				Strength string `json:"strength"`
				ValueSet string `json:"valueSet"`
			}{"required", "http://x/vs|4.0.1"}},
			false, fhir.Element{Name: "status", Types: []string{"CodeableConcept"}, Max: 1, Binding: "http://x/vs"}},
		{elementDef{Path: "Patient.kind", Max: "1", IsModifier: &modifier, Type: []typeRef{{Code: "Quantity"}},
			Binding: &struct {
				Strength string `json:"strength"`
				ValueSet string `json:"valueSet"`
			}{"required", "http://x/vs"}},
			false, fhir.Element{Name: "kind", Types: []string{"Quantity"}, Max: 1}},
	}
	for _, tc := range tests {
		_, name, _ := cutLast(tc.ed.Path)
		got, err := element(sd, &tc.ed, name, tc.backbone)
		if err != nil {
			t.Errorf("element(%s): %v", tc.ed.Path, err)
			continue
		}
		gj, _ := json.Marshal(got)
		wj, _ := json.Marshal(tc.want)
		if string(gj) != string(wj) {
			t.Errorf("element(%s) = %s, want %s", tc.ed.Path, gj, wj)
		}
	}
}
