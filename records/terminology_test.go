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
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/access"
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
			// A category Coding with a release code and no system: not in
			// the release's value set (a code element such as status
			// carries its binding's system in the index; a Coding's system
			// is its own).
			nosys := create(`{"resourceType":"Observation","status":"final","category":[{"coding":[{"code":"vital-signs"}]}],"code":{"text":"x"}}`)

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
				{"category:not-in=http://hl7.org/fhir/ValueSet/observation-category", []string{prelim, nosys}},
				// A code element, status, by its binding's system.
				{"status:in=http://hl7.org/fhir/ValueSet/observation-status", []string{final, amended, corrected, prelim, tachy, brady, pause, nosys}},
				{"status=http://hl7.org/fhir/observation-status|amended", []string{amended}},
				// The server's own value sets: a compose and an expansion.
				{"code:in=http://example.org/fhir/ValueSet/hr-spo2", []string{final, amended}},
				{"code:in=http://example.org/fhir/ValueSet/expanded", []string{corrected, prelim}},
				{"code:in=http://example.org/fhir/ValueSet/hr-spo2,http://example.org/fhir/ValueSet/expanded", []string{final, amended, corrected, prelim}},
				{"code:not-in=http://example.org/fhir/ValueSet/hr-spo2&category=vital-signs", []string{corrected, nosys}},
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

// TestTerminologyReviewCases covers what a review of the first version
// found: a patient (or a narrowly scoped token) searching with :in through
// the access policy, a stored CodeSystem stub that must not hide the
// release's codes, value-set URLs holding a comma or only a version, and
// value sets that include each other many times over.
func TestTerminologyReviewCases(t *testing.T) {
	model, err := fhir.LoadR4()
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range teststore.All() {
		t.Run(st.Name, func(t *testing.T) {
			store := st.Open(t)
			t.Cleanup(func() { store.Close() })
			ctx := context.Background()
			plain := records.New(store, model)
			create := func(body string) string {
				t.Helper()
				res, err := plain.Create(ctx, resourceType(body), []byte(body), "")
				if err != nil {
					t.Fatalf("create: %v", err)
				}
				return res.Resource.ID
			}
			pat := create(`{"resourceType":"Patient","name":[{"family":"Own"}]}`)
			obs := create(`{"resourceType":"Observation","status":"amended","subject":{"reference":"Patient/` + pat + `"},
				"category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"vital-signs"}]}],
				"code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]}}`)
			final := create(`{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"9279-1"}]}}`)

			// A patient, through the access policy: the release's value
			// sets and hierarchies work without reading ValueSets.
			guarded := records.New(access.New(store, model).Store(), model, records.WithTerminology(store))
			asPatient := vigil.WithPrincipal(ctx, &vigil.Principal{AccountID: "acc-p", Username: "p", Role: vigil.RolePatient, Patient: pat})
			for _, q := range []string{
				"subject=Patient/" + pat + "&category:in=http://hl7.org/fhir/ValueSet/observation-category",
				"subject=Patient/" + pat + "&status:below=http://hl7.org/fhir/observation-status|amended",
			} {
				page, err := guarded.Search(asPatient, &records.SearchRequest{Type: "Observation", Query: mustQuery(t, q), Base: "http://x/fhir"})
				if err != nil {
					t.Errorf("as the patient, Observation?%s: %v", q, err)
					continue
				}
				if len(page.Matches) != 1 || page.Matches[0].ID != obs {
					t.Errorf("as the patient, Observation?%s = %d matches, want their own observation", q, len(page.Matches))
				}
			}

			// A stub of a release code system does not hide its codes.
			create(`{"resourceType":"CodeSystem","url":"http://hl7.org/fhir/observation-status","status":"active","content":"not-present"}`)
			create(`{"resourceType":"ValueSet","url":"http://example.org/vs/statuses","status":"active",
				"compose":{"include":[{"system":"http://hl7.org/fhir/observation-status"}]}}`)
			if got := searchIDs(t, plain, "Observation", "status:in=http://example.org/vs/statuses"); len(got) != 2 {
				t.Errorf("status:in a value set of the whole system, with a stub stored = %v, want both observations", got)
			}
			if got := searchIDs(t, plain, "Observation", "status:below=http://hl7.org/fhir/observation-status|amended"); !slices.Equal(got, []string{obs}) {
				t.Errorf("status:below=amended with a stub stored = %v, want [%s]", got, obs)
			}

			// URLs: an escaped comma is part of one URL; a bare version is
			// no URL.
			create(`{"resourceType":"ValueSet","url":"http://example.org/vs2","status":"active",
				"compose":{"include":[{"system":"http://loinc.org","concept":[{"code":"9279-1"}]}]}}`)
			for _, q := range []string{`code:in=http://nope/vs\,http://example.org/vs2`, "code:in=|1.0", "code:not-in=|1.0"} {
				_, err := plain.Search(ctx, &records.SearchRequest{Type: "Observation", Query: mustQuery(t, q), Base: "http://x/fhir"})
				if !errors.Is(err, vigil.ErrInvalid) {
					t.Errorf("Observation?%s: err = %v, want ErrInvalid", q, err)
				}
			}
			if got := searchIDs(t, plain, "Observation", "code:in=http://example.org/vs2"); !slices.Equal(got, []string{final}) {
				t.Errorf("code:in=vs2 = %v, want [%s]", got, final)
			}

			// Inside a transaction, a ValueSet created earlier in it is
			// seen, also by a Service that reads terminology elsewhere.
			withTerms := records.New(store, model, records.WithTerminology(store))
			resp, err := withTerms.Process(ctx, &records.BundleRequest{Base: "http://x/fhir", Body: []byte(`{"resourceType":"Bundle","type":"transaction","entry":[
				{"fullUrl":"urn:uuid:0f2a5c1e-0000-4000-8000-000000000001","resource":{"resourceType":"ValueSet","url":"http://example.org/vs/in-tx","status":"active",
				 "compose":{"include":[{"system":"http://loinc.org","concept":[{"code":"9279-1"}]}]}},"request":{"method":"POST","url":"ValueSet"}},
				{"request":{"method":"GET","url":"Observation?code:in=http://example.org/vs/in-tx&_total=accurate"}}]}`)})
			if err != nil {
				t.Fatalf("transaction with :in on its own ValueSet: %v", err)
			}
			if !strings.Contains(string(resp), `"total":1`) {
				t.Errorf("transaction GET with :in on its own ValueSet: %s", resp)
			}

			// Nine value sets, each including the next four times: read
			// once each, answered quickly.
			for i := range 9 {
				inc := `{"system":"http://loinc.org","concept":[{"code":"8867-4"}]}`
				if i < 8 {
					n := fmt.Sprintf(`{"valueSet":["http://example.org/nest/%d"]}`, i+1)
					inc = n + "," + n + "," + n + "," + n
				}
				create(fmt.Sprintf(`{"resourceType":"ValueSet","url":"http://example.org/nest/%d","status":"active","compose":{"include":[%s]}}`, i, inc))
			}
			start := time.Now()
			if got := searchIDs(t, plain, "Observation", "code:in=http://example.org/nest/0"); !slices.Equal(got, []string{obs}) {
				t.Errorf("nested value sets = %v, want [%s]", got, obs)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("nested value sets took %v", d)
			}
		})
	}
}
