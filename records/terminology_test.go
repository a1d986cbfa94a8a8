package records_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/fhir"
	"github.com/vigilhealth/vigil/internal/teststore"
	"github.com/vigilhealth/vigil/records"
)

// TestTokenTerminologyModifiers runs token :in, :not-in, :above and :below
// (https://hl7.org/fhir/R4/search.html#token) on both stores, against the
// release's value sets and code system hierarchies and against the
// server's own ValueSet and CodeSystem resources.
func TestTokenTerminologyModifiers(t *testing.T) {
	model, err := fhir.LoadR4()
	if err != nil {
		t.Fatal(err)
	}
	const local = "http://example.org/fhir/CodeSystem/rpm-findings"
	for _, st := range teststore.All() {
		t.Run(st.Name, func(t *testing.T) {
			store := st.Open(t)
			t.Cleanup(func() { store.Close() })
			svc := records.New(store, model)
			ctx := context.Background()
			create := func(body string) string {
				t.Helper()
				res, err := svc.Create(ctx, resourceType(body), []byte(body), "")
				if err != nil {
					t.Fatalf("create %s: %v", body, err)
				}
				return res.Resource.ID
			}
			obs := func(status, catSystem, cat, codeSystem, code string) string {
				return create(fmt.Sprintf(`{"resourceType":"Observation","status":%q,
					"category":[{"coding":[{"system":%q,"code":%q}]}],
					"code":{"coding":[{"system":%q,"code":%q}]}}`, status, catSystem, cat, codeSystem, code))
			}
			const cat = "http://terminology.hl7.org/CodeSystem/observation-category"
			const loinc = "http://loinc.org"
			final := obs("final", cat, "vital-signs", loinc, "8867-4")
			amended := obs("amended", cat, "laboratory", loinc, "59408-5")
			corrected := obs("corrected", cat, "vital-signs", loinc, "8310-5")
			prelim := obs("preliminary", "http://example.org/local-category", "home", loinc, "29463-7")
			tachy := obs("final", cat, "exam", local, "tachycardia")
			brady := obs("final", cat, "exam", local, "bradycardia")
			pause := obs("final", cat, "exam", local, "pause")

			// The programme's own finding codes, a hierarchy: rhythm >
			// rate > tachycardia, bradycardia; rhythm > pause.
			create(`{"resourceType":"CodeSystem","url":"` + local + `","status":"active","content":"complete",
				"concept":[{"code":"rhythm","concept":[{"code":"rate","concept":[{"code":"tachycardia"},{"code":"bradycardia"}]},{"code":"pause"}]}]}`)
			create(`{"resourceType":"ValueSet","url":"http://example.org/fhir/ValueSet/hr-spo2","status":"active",
				"compose":{"include":[{"system":"http://loinc.org","concept":[{"code":"8867-4"},{"code":"59408-5"}]}]}}`)
			create(`{"resourceType":"ValueSet","url":"http://example.org/fhir/ValueSet/expanded","status":"active",
				"expansion":{"timestamp":"2026-12-07T10:00:00Z","contains":[{"system":"http://loinc.org","code":"8310-5"},{"system":"http://loinc.org","code":"29463-7"}]}}`)
			create(`{"resourceType":"ValueSet","url":"http://example.org/fhir/ValueSet/rate-findings","status":"active",
				"compose":{"include":[{"system":"` + local + `","filter":[{"property":"concept","op":"descendent-of","value":"rate"}]}]}}`)

			tests := []struct {
				query string
				want  []string
			}{
				// The release's hierarchy of observation-status: amended > corrected.
				{"status:below=http://hl7.org/fhir/observation-status|amended", []string{amended, corrected}},
				{"status:above=http://hl7.org/fhir/observation-status|corrected", []string{amended, corrected}},
				{"status:below=http://hl7.org/fhir/observation-status|preliminary", []string{prelim}},
				// A release value set without a required binding.
				{"category:in=http://hl7.org/fhir/ValueSet/observation-category", []string{final, amended, corrected, tachy, brady, pause}},
				{"category:not-in=http://hl7.org/fhir/ValueSet/observation-category", []string{prelim}},
				// The server's own value sets: a compose and an expansion.
				{"code:in=http://example.org/fhir/ValueSet/hr-spo2", []string{final, amended}},
				{"code:in=http://example.org/fhir/ValueSet/expanded", []string{corrected, prelim}},
				{"code:in=http://example.org/fhir/ValueSet/hr-spo2,http://example.org/fhir/ValueSet/expanded", []string{final, amended, corrected, prelim}},
				{"code:not-in=http://example.org/fhir/ValueSet/hr-spo2&category=vital-signs", []string{corrected}},
				// The server's own code system and a filter on it.
				{"code:below=" + local + "|rate", []string{tachy, brady}},
				{"code:below=" + local + "|rhythm", []string{tachy, brady, pause}},
				{"code:above=" + local + "|rate&code:below=" + local + "|rate", nil}, // both: rate itself, which nothing is coded
				{"code:above=" + local + "|tachycardia&code:below=" + local + "|rhythm", []string{tachy}},
				{"code:in=http://example.org/fhir/ValueSet/rate-findings", []string{tachy, brady}},
			}
			for _, tc := range tests {
				got := searchIDs(t, svc, "Observation", tc.query)
				want := slices.Clone(tc.want)
				slices.Sort(want)
				if !slices.Equal(got, want) {
					t.Errorf("Observation?%s = %v, want %v", tc.query, got, want)
				}
			}
			// :above of tachycardia is tachycardia, rate, rhythm: the
			// tachycardia observation only, since no observation is coded
			// rate or rhythm.
			if got := searchIDs(t, svc, "Observation", "code:above="+local+"|tachycardia"); !slices.Equal(got, []string{tachy}) {
				t.Errorf("code:above=tachycardia = %v, want [%s]", got, tachy)
			}

			// Through _has: patients with an observation in the value set.
			pat := create(`{"resourceType":"Patient","name":[{"family":"Terminology"}]}`)
			create(`{"resourceType":"Observation","status":"final","subject":{"reference":"Patient/` + pat + `"},"code":{"coding":[{"system":"http://loinc.org","code":"59408-5"}]}}`)
			if got := searchIDs(t, svc, "Patient", "_has:Observation:subject:code:in=http://example.org/fhir/ValueSet/hr-spo2"); !slices.Equal(got, []string{pat}) {
				t.Errorf("_has with :in = %v, want [%s]", got, pat)
			}

			// Errors: clear, the right kind, and not echoing the value.
			bad := []struct {
				query string
				kind  error
			}{
				{"code:in=http://example.org/secret-vs", vigil.ErrInvalid},
				{"code:below=" + local + "|secret-code", vigil.ErrInvalid},
				{"code:below=http://snomed.info/sct|404684003", vigil.ErrInvalid},
				{"code:above=secret", vigil.ErrInvalid},
			}
			for _, tc := range bad {
				_, err := svc.Search(ctx, &records.SearchRequest{Type: "Observation", Query: mustQuery(t, tc.query), Base: "http://x/fhir"})
				if !errors.Is(err, tc.kind) {
					t.Errorf("Observation?%s: err = %v, want %v", tc.query, err, tc.kind)
					continue
				}
				if strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), "404684003") {
					t.Errorf("Observation?%s: error %q echoes the value", tc.query, err)
				}
			}

			// Too many codes: refused, not turned into a scan.
			var big strings.Builder
			for i := range records.MaxTermCodes + 1 {
				if i > 0 {
					big.WriteByte(',')
				}
				fmt.Fprintf(&big, `{"code":"c%d"}`, i)
			}
			create(`{"resourceType":"ValueSet","url":"http://example.org/fhir/ValueSet/big","status":"active","compose":{"include":[{"system":"http://example.org/big","concept":[` + big.String() + `]}]}}`)
			_, err := svc.Search(ctx, &records.SearchRequest{Type: "Observation", Query: mustQuery(t, "code:in=http://example.org/fhir/ValueSet/big"), Base: "http://x/fhir"})
			if !errors.Is(err, vigil.ErrTooLarge) {
				t.Errorf("a value set of %d codes: err = %v, want ErrTooLarge", records.MaxTermCodes+1, err)
			}

			// A conditional create uses the release's terminology: amended
			// and corrected both match, so it must refuse.
			_, err = svc.Create(ctx, "Observation", []byte(`{"resourceType":"Observation","status":"corrected","code":{"text":"x"}}`),
				"status:below=http://hl7.org/fhir/observation-status|amended")
			if !errors.Is(err, vigil.ErrPrecondition) {
				t.Errorf("conditional create matching two by status:below: err = %v, want ErrPrecondition", err)
			}
		})
	}
}

func resourceType(body string) string {
	var r struct {
		ResourceType string `json:"resourceType"`
	}
	_ = json.Unmarshal([]byte(body), &r)
	return r.ResourceType
}

func mustQuery(t *testing.T, q string) url.Values {
	t.Helper()
	v, err := url.ParseQuery(q)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// searchIDs runs a search and returns the sorted ids of its matches.
func searchIDs(t *testing.T, svc *records.Service, typ, query string) []string {
	t.Helper()
	q := mustQuery(t, query)
	q.Set("_count", "100")
	page, err := svc.Search(context.Background(), &records.SearchRequest{Type: typ, Query: q, Base: "http://x/fhir"})
	if err != nil {
		t.Fatalf("%s?%s: %v", typ, query, err)
	}
	ids := []string{}
	for _, m := range page.Matches {
		ids = append(ids, m.ID)
	}
	slices.Sort(ids)
	return ids
}
