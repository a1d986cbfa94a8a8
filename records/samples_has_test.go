package records_test

import (
	"context"
	"slices"
	"testing"

	"github.com/vigilhealth/vigil"
)

// TestSampleHas checks that Patient?_has:Observation:…:code= sees device
// readings on both stores: ps has only readings, pf only stored
// Observations, pm heart rate as readings and SpO2 stored (populate).
// Filters other than code are answered from stored Observations only, and
// a clinician finds only the patients of their care team.
func TestSampleHas(t *testing.T) {
	eachSampleBackend(t, func(t *testing.T, f *sampleFixture) {
		f.populate(t)
		ids := func(ctx context.Context, svc any, q string) []string {
			t.Helper()
			var out []string
			s := f.svc
			if svc != nil {
				s = f.guarded
			}
			for _, e := range searchAll(t, ctx, s, "Patient", "", q, nil) {
				out = append(out, e.ID)
			}
			slices.Sort(out)
			return out
		}
		ctx := context.Background()
		tests := []struct {
			query string
			want  []string
		}{
			{"_has:Observation:subject:code=" + codeHR, []string{"pf", "pm", "ps"}},
			{"_has:Observation:patient:code=http://loinc.org|" + codeHR, []string{"pf", "pm", "ps"}},
			{"_has:Observation:subject:code=" + codeSpO2, []string{"pf", "pm", "ps"}},
			{"_has:Observation:subject:code=urn:other|" + codeHR, nil},
			{"_has:Observation:subject:code=29463-7", nil},
			// Not from readings: a value filter sees stored Observations.
			{"_has:Observation:subject:value-quantity=gt0", []string{"pf", "pm"}},
			// Combined with another parameter on the patient.
			{"_has:Observation:subject:code=" + codeHR + "&_id=ps,pf", []string{"pf", "ps"}},
		}
		for _, tc := range tests {
			if got := ids(ctx, nil, tc.query); !slices.Equal(got, tc.want) {
				t.Errorf("Patient?%s = %v, want %v", tc.query, got, tc.want)
			}
		}
		// A clinician in ps's care team: ps only.
		team := map[string]any{"resourceType": "CareTeam", "id": "ct1", "status": "active",
			"subject":     map[string]any{"reference": "Patient/ps"},
			"participant": []any{map[string]any{"member": map[string]any{"reference": "Practitioner/prac1"}}}}
		if _, err := f.svc.UpdateObject(ctx, "CareTeam", "ct1", team, ""); err != nil {
			t.Fatal(err)
		}
		clin := vigil.WithPrincipal(ctx, &vigil.Principal{AccountID: "a4", Role: vigil.RoleClinician, Practitioner: "prac1"})
		if got := ids(clin, true, "_has:Observation:subject:code="+codeHR); !slices.Equal(got, []string{"ps"}) {
			t.Errorf("clinician of ps: %v, want [ps]", got)
		}
	})
}
