package fhir_test

import (
	"slices"
	"testing"

	"github.com/vigilhealth/vigil/fhir"
)

// TestSubsumption checks :above/:below's hierarchy walk on code systems of
// the release whose concepts nest, against the hierarchies printed in the
// specification (observation-status: amended has child corrected;
// data-absent-reason: unknown has asked-unknown, temp-unknown, not-asked
// and asked-declined; error has not-a-number and the infinities).
func TestSubsumption(t *testing.T) {
	m, err := fhir.LoadR4()
	if err != nil {
		t.Fatal(err)
	}
	const status = "http://hl7.org/fhir/observation-status"
	const absent = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
	tests := []struct {
		system, code string
		below        bool
		want         []string
		ok           bool
	}{
		{status, "amended", true, []string{"amended", "corrected"}, true},
		{status, "corrected", false, []string{"amended", "corrected"}, true},
		{status, "final", true, []string{"final"}, true},
		{status, "final", false, []string{"final"}, true},
		{absent, "unknown", true, []string{"asked-declined", "asked-unknown", "not-asked", "temp-unknown", "unknown"}, true},
		{absent, "asked-declined", false, []string{"asked-declined", "unknown"}, true},
		{absent, "error", true, []string{"error", "negative-infinity", "not-a-number", "positive-infinity"}, true},
		{status, "no-such-code", true, nil, false},
		{"http://loinc.org", "8867-4", true, nil, false},
	}
	for _, tc := range tests {
		got, ok := m.Subsumption(tc.system, tc.code, tc.below)
		if ok != tc.ok || !slices.Equal(got, tc.want) {
			t.Errorf("Subsumption(%s, %s, below=%v) = %q, %v; want %q, %v", tc.system, tc.code, tc.below, got, ok, tc.want, tc.ok)
		}
	}
}

// TestValueSet checks that value sets without a required binding are
// expanded too, and that a version suffix is ignored.
func TestValueSet(t *testing.T) {
	m, err := fhir.LoadR4()
	if err != nil {
		t.Fatal(err)
	}
	vs, ok := m.ValueSet("http://hl7.org/fhir/ValueSet/observation-category|4.0.1")
	if !ok {
		t.Fatal("observation-category (preferred binding) not expanded")
	}
	if codes := vs["http://terminology.hl7.org/CodeSystem/observation-category"]; !slices.Contains(codes, "vital-signs") || len(codes) != 9 {
		t.Errorf("observation-category = %q, want the 9 categories incl. vital-signs", codes)
	}
	if _, ok := m.ValueSet("http://snomed.info/sct?fhir_vs"); ok {
		t.Error("an implicit SNOMED value set cannot be expanded here")
	}
}
