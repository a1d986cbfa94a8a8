package records_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"slices"
	"testing"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/records"
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
			// A LOINC code under the MDC system names no reading.
			{"_has:Observation:subject:code=urn:oid:2.16.840.1.113883.6.24|" + codeHR, nil},
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
		// A batch GET entry sees readings too.
		resp, err := f.svc.Process(ctx, &records.BundleRequest{Base: "http://x/fhir", Body: []byte(`{"resourceType":"Bundle","type":"batch","entry":[
			{"request":{"method":"GET","url":"Patient?_has:Observation:subject:code=` + codeHR + `&_total=accurate"}}]}`)})
		if err != nil {
			t.Fatal(err)
		}
		var out struct {
			Entry []struct {
				Resource struct {
					Total int `json:"total"`
				} `json:"resource"`
			} `json:"entry"`
		}
		if err := json.Unmarshal(resp, &out); err != nil || len(out.Entry) != 1 || out.Entry[0].Resource.Total != 3 {
			t.Errorf("batch GET _has: %s (%v), want a searchset of 3", resp, err)
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
		// A token that may read Patients but not Observations may not ask
		// about their Observations (readings or stored).
		narrow := vigil.WithPrincipal(ctx, &vigil.Principal{AccountID: "a5", Role: vigil.RoleClinician, Practitioner: "prac1",
			Scopes: []vigil.Scope{{Type: "Patient", Read: true}}})
		_, err = f.guarded.Search(narrow, &records.SearchRequest{Type: "Patient", Query: url.Values{"_has:Observation:subject:code": {codeHR}}})
		if !errors.Is(err, vigil.ErrForbidden) {
			t.Errorf("Patient-only token, _has on Observation: err = %v, want ErrForbidden", err)
		}
	})
}
