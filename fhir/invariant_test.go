package fhir

import (
	"slices"
	"strings"
	"testing"

	"github.com/vigilhealth/vigil"
)

// ruleKeys renders issues as "code path", followed for invariants by the
// invariant key ("invariant Observation.valueRange rng-2").
func ruleKeys(issues []vigil.Issue) []string {
	var out []string
	for _, is := range issues {
		k := is.Code + " " + is.Path
		if key, _, ok := strings.Cut(is.Message, ":"); ok && is.Code == "invariant" {
			k += " " + key
		}
		out = append(out, k)
	}
	return out
}

// obs wraps Observation properties into a valid Observation.
func obs(props string) string {
	return `{"resourceType":"Observation","status":"final","code":{"text":"x"},` + props + `}`
}

func TestValidateReferences(t *testing.T) {
	m := testModel(t)
	tests := []struct {
		name string
		json string
		want []string
	}{
		{"relative", obs(`"subject":{"reference":"Patient/1"}`), nil},
		{"relative with version", obs(`"subject":{"reference":"Group/g-1/_history/2"}`), nil},
		{"absolute", obs(`"subject":{"reference":"https://example.org/fhir/Patient/a.1"}`), nil},
		{"absolute with version", obs(`"subject":{"reference":"http://example.org/Device/d/_history/3"}`), nil},
		{"urn uuid", obs(`"subject":{"reference":"urn:uuid:187e0c12-8dd2-67e2-99b2-bf273c878281"}`), nil},
		{"urn oid", obs(`"subject":{"reference":"urn:oid:1.2.3"}`), nil},
		{"conditional", obs(`"subject":{"reference":"Patient?identifier=x"}`), nil},
		{"other URL", obs(`"subject":{"reference":"http://example.org/people/Medication"}`), nil},
		{"identifier only", obs(`"subject":{"identifier":{"value":"1"}}`), nil},
		{"any target", obs(`"focus":[{"reference":"Medication/1"}]`), nil},
		{"wrong type", obs(`"subject":{"reference":"Medication/1"}`),
			[]string{"value Observation.subject.reference"}},
		{"wrong type with version", obs(`"subject":{"reference":"Medication/1/_history/1"}`),
			[]string{"value Observation.subject.reference"}},
		{"wrong type absolute", obs(`"subject":{"reference":"https://example.org/fhir/Medication/1"}`),
			[]string{"value Observation.subject.reference"}},
		{"wrong type in array", obs(`"performer":[{"reference":"Practitioner/1"},{"reference":"Encounter/1"}]`),
			[]string{"value Observation.performer[1].reference"}},
		{"unknown type", obs(`"subject":{"reference":"Patients/1"}`),
			[]string{"value Observation.subject.reference"}},
		{"contained", obs(`"subject":{"reference":"#p"},"contained":[{"resourceType":"Patient","id":"p"}]`), nil},
		{"contained missing", obs(`"subject":{"reference":"#q"},"contained":[{"resourceType":"Patient","id":"p"}]`),
			[]string{"invariant Observation.contained[0] dom-3", "invariant Observation.subject ref-1"}},
		{"contained none", obs(`"subject":{"reference":"#p"}`),
			[]string{"invariant Observation.subject ref-1"}},
		{"contained wrong type", obs(`"subject":{"reference":"#m"},"contained":[{"resourceType":"Medication","id":"m"}]`),
			[]string{"value Observation.subject.reference"}},
		{"contained refers to container", `{"resourceType":"Patient","contained":[{"resourceType":"Observation","id":"o",
			"status":"final","code":{"text":"x"},"subject":{"reference":"#"}}]}`, nil},
		{"contained referenced from another contained", `{"resourceType":"Patient","generalPractitioner":[{"reference":"#pr"}],
			"contained":[{"resourceType":"Organization","id":"o"},
			{"resourceType":"Practitioner","id":"pr","qualification":[{"code":{"text":"x"},"issuer":{"reference":"#o"}}]}]}`, nil},
		{"contained referenced by canonical", `{"resourceType":"Questionnaire","status":"draft",
			"contained":[{"resourceType":"ValueSet","id":"vs","status":"draft"}],
			"item":[{"linkId":"1","type":"choice","answerValueSet":"#vs"}]}`, nil},
		{"contained not referenced", `{"resourceType":"Patient","contained":[{"resourceType":"Organization","id":"o"}]}`,
			[]string{"invariant Patient.contained[0] dom-3"}},
		{"bundle entries have their own contained", `{"resourceType":"Bundle","type":"collection","entry":[
			{"resource":{"resourceType":"Patient","contained":[{"resourceType":"Organization","id":"o"}],"managingOrganization":{"reference":"#o"}}},
			{"resource":{"resourceType":"Patient","managingOrganization":{"reference":"#o"}}}]}`,
			[]string{"invariant Bundle.entry[1].resource.managingOrganization ref-1"}},
	}
	runRuleTests(t, m, tests)
}

func TestValidateContainedInvariants(t *testing.T) {
	m := testModel(t)
	tests := []struct {
		name string
		json string
		want []string
	}{
		{"plain", `{"resourceType":"Patient","managingOrganization":{"reference":"#o"},
			"contained":[{"resourceType":"Organization","id":"o","meta":{"profile":["http://x/p"]}}]}`, nil},
		{"dom-2 nested contained", `{"resourceType":"Patient","managingOrganization":{"reference":"#o"},
			"contained":[{"resourceType":"Organization","id":"o","contained":[{"resourceType":"Patient","id":"p"}]}]}`,
			[]string{"invariant Patient.contained[0] dom-2"}},
		{"dom-4 versionId", `{"resourceType":"Patient","managingOrganization":{"reference":"#o"},
			"contained":[{"resourceType":"Organization","id":"o","meta":{"versionId":"1"}}]}`,
			[]string{"invariant Patient.contained[0] dom-4"}},
		{"dom-4 lastUpdated", `{"resourceType":"Patient","managingOrganization":{"reference":"#o"},
			"contained":[{"resourceType":"Organization","id":"o","meta":{"lastUpdated":"2020-01-01T00:00:00Z"}}]}`,
			[]string{"invariant Patient.contained[0] dom-4"}},
		{"dom-5 security", `{"resourceType":"Patient","managingOrganization":{"reference":"#o"},
			"contained":[{"resourceType":"Organization","id":"o","meta":{"security":[{"code":"R"}]}}]}`,
			[]string{"invariant Patient.contained[0] dom-5"}},
		{"no contained element", `{"resourceType":"Bundle","type":"collection","contained":[{"resourceType":"Patient","id":"p"}]}`,
			[]string{"structure Bundle.contained"}},
		{"top-level meta is fine", `{"resourceType":"Patient","meta":{"versionId":"1","security":[{"code":"R"}]}}`, nil},
	}
	runRuleTests(t, m, tests)
}

func TestValidateBindings(t *testing.T) {
	m := testModel(t)
	cond := func(cc string) string {
		return `{"resourceType":"Condition","subject":{"reference":"Patient/1"},"clinicalStatus":` + cc + `}`
	}
	const sys = `"system":"http://terminology.hl7.org/CodeSystem/condition-clinical"`
	tests := []struct {
		name string
		json string
		want []string
	}{
		{"code in value set", cond(`{"coding":[{` + sys + `,"code":"active"}]}`), nil},
		{"one coding of several", cond(`{"coding":[{"system":"http://snomed.info/sct","code":"55561003"},{` + sys + `,"code":"remission"}]}`), nil},
		{"code not in value set", cond(`{"coding":[{` + sys + `,"code":"finished"}]}`),
			[]string{"code-invalid Condition.clinicalStatus"}},
		{"other system only", cond(`{"coding":[{"system":"http://snomed.info/sct","code":"55561003"}]}`),
			[]string{"code-invalid Condition.clinicalStatus"}},
		{"no system", cond(`{"coding":[{"code":"active"}]}`),
			[]string{"code-invalid Condition.clinicalStatus"}},
		{"text only", cond(`{"text":"active"}`),
			[]string{"code-invalid Condition.clinicalStatus"}},
		{"unbound concept", `{"resourceType":"Condition","subject":{"reference":"Patient/1"},"code":{"coding":[{"system":"http://x","code":"y"}]}}`, nil},
	}
	runRuleTests(t, m, tests)
}

// TestValidateCodingBinding checks required bindings on Coding elements,
// which R4's base resources do not use, on a model made for the test.
func TestValidateCodingBinding(t *testing.T) {
	prim := func(name string) *TypeDef { return &TypeDef{Name: name, Kind: "primitive-type"} }
	defs := &Definitions{
		Resources: []string{"Thing"},
		Types: map[string]*TypeDef{
			"Thing": {Name: "Thing", Kind: "resource", Elements: []*Element{
				{Name: "kind", Types: []string{"Coding"}, Max: 1, Binding: "http://x/vs"}}},
			"Coding": {Name: "Coding", Kind: "complex-type", Elements: []*Element{
				{Name: "system", Types: []string{"uri"}, Max: 1},
				{Name: "code", Types: []string{"code"}, Max: 1}}},
			"uri": prim("uri"), "code": prim("code"),
		},
		ValueSets: map[string]map[string][]string{"http://x/vs": {"http://x/cs": {"a", "b"}}},
	}
	m, err := newStructure(defs)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		json string
		want []string
	}{
		{"in value set", `{"resourceType":"Thing","kind":{"system":"http://x/cs","code":"a"}}`, nil},
		{"other system", `{"resourceType":"Thing","kind":{"system":"http://y","code":"z"}}`, nil},
		{"system only", `{"resourceType":"Thing","kind":{"system":"http://x/cs"}}`, nil},
		{"not in value set", `{"resourceType":"Thing","kind":{"system":"http://x/cs","code":"c"}}`,
			[]string{"code-invalid Thing.kind.code"}},
	}
	runRuleTests(t, m, tests)
}

func TestValidateTypeInvariants(t *testing.T) {
	m := testModel(t)
	const ucum = `"system":"http://unitsofmeasure.org"`
	tests := []struct {
		name string
		json string
		want []string
	}{
		{"per-1 ordered", obs(`"effectivePeriod":{"start":"2020-01-01","end":"2020-01-02"}`), nil},
		{"per-1 equal", obs(`"effectivePeriod":{"start":"2020-01-01","end":"2020-01-01"}`), nil},
		{"per-1 start only", obs(`"effectivePeriod":{"start":"2020-01-01"}`), nil},
		{"per-1 precision unknown", obs(`"effectivePeriod":{"start":"2020-01","end":"2020-01-15"}`), nil},
		{"per-1 zones", obs(`"effectivePeriod":{"start":"2020-01-01T10:00:00+02:00","end":"2020-01-01T09:00:00Z"}`), nil},
		{"per-1 date and zoned time", obs(`"effectivePeriod":{"start":"2020-01-02","end":"2020-01-01T23:00:00-05:00"}`), nil},
		{"per-1 reversed dates", obs(`"effectivePeriod":{"start":"2020-02-01","end":"2020-01-01"}`),
			[]string{"invariant Observation.effectivePeriod per-1"}},
		{"per-1 reversed times", obs(`"effectivePeriod":{"start":"2020-01-01T10:00:00Z","end":"2020-01-01T09:59:59.5Z"}`),
			[]string{"invariant Observation.effectivePeriod per-1"}},
		{"per-1 reversed mixed", obs(`"effectivePeriod":{"start":"2020-01-03","end":"2020-01-01T23:00:00Z"}`),
			[]string{"invariant Observation.effectivePeriod per-1"}},
		{"per-1 nested", `{"resourceType":"Patient","name":[{"family":"x","period":{"start":"2021","end":"2020"}}]}`,
			[]string{"invariant Patient.name[0].period per-1"}},

		{"qty-3 ok", obs(`"valueQuantity":{"value":1,` + ucum + `,"code":"mg"}`), nil},
		{"qty-3 unit only", obs(`"valueQuantity":{"value":1,"unit":"mg"}`), nil},
		{"qty-3 code without system", obs(`"valueQuantity":{"value":1,"code":"mg"}`),
			[]string{"invariant Observation.valueQuantity qty-3"}},
		{"qty-3 on Age", `{"resourceType":"Condition","subject":{"reference":"Patient/1"},"onsetAge":{"value":1,"code":"a"}}`,
			[]string{"invariant Condition.onsetAge qty-3"}},

		{"sqty-1 comparator on Quantity", obs(`"valueQuantity":{"value":1,"comparator":"<"}`), nil},
		{"sqty-1 comparator in Range", obs(`"valueRange":{"low":{"value":1,"comparator":">"}}`),
			[]string{"invariant Observation.valueRange.low sqty-1"}},
		{"sqty-1 comparator in referenceRange", obs(`"referenceRange":[{"high":{"value":1,"comparator":"<"}}]`),
			[]string{"invariant Observation.referenceRange[0].high sqty-1"}},

		{"rng-2 ordered", obs(`"valueRange":{"low":{"value":1,` + ucum + `,"code":"mg"},"high":{"value":2,` + ucum + `,"code":"mg"}}`), nil},
		{"rng-2 equal", obs(`"valueRange":{"low":{"value":2.0},"high":{"value":2}}`), nil},
		{"rng-2 other units", obs(`"valueRange":{"low":{"value":5,` + ucum + `,"code":"g"},"high":{"value":2,` + ucum + `,"code":"kg"}}`), nil},
		{"rng-2 reversed", obs(`"valueRange":{"low":{"value":5,` + ucum + `,"code":"mg"},"high":{"value":2,` + ucum + `,"code":"mg"}}`),
			[]string{"invariant Observation.valueRange rng-2"}},
		{"rng-2 reversed, unit text", obs(`"valueRange":{"low":{"value":5,"unit":"mg"},"high":{"value":2.5,"unit":"mg"}}`),
			[]string{"invariant Observation.valueRange rng-2"}},

		{"rat-1 both", obs(`"valueRatio":{"numerator":{"value":1},"denominator":{"value":2}}`), nil},
		{"rat-1 extension only", obs(`"valueRatio":{"extension":[{"url":"http://x","valueString":"a"}]}`), nil},
		{"rat-1 numerator only", obs(`"valueRatio":{"numerator":{"value":1}}`),
			[]string{"invariant Observation.valueRatio rat-1"}},

		{"ele-1 id only", obs(`"category":[{"id":"c"}]`),
			[]string{"invariant Observation.category[0] ele-1"}},
		{"ele-1 id of a primitive", `{"resourceType":"Patient","gender":"male","_gender":{"id":"g"}}`, nil},
	}
	runRuleTests(t, m, tests)
}

func runRuleTests(t *testing.T, m *Model, tests []struct {
	name string
	json string
	want []string
}) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := parseStrictJSON([]byte(tc.json))
			if err != nil {
				t.Fatalf("parse test input: %v", err)
			}
			got := ruleKeys(m.Validate(v.(map[string]any)))
			if !slices.Equal(got, tc.want) {
				t.Errorf("Validate(%s) = %q, want %q", tc.json, got, tc.want)
			}
		})
	}
}

// TestReferenceMessages checks that a target-type issue names the
// allowed types and not the reference.
func TestReferenceMessages(t *testing.T) {
	m := testModel(t)
	v, err := parseStrictJSON([]byte(obs(`"subject":{"reference":"Medication/secret-77"}`)))
	if err != nil {
		t.Fatal(err)
	}
	issues := m.Validate(v.(map[string]any))
	if len(issues) != 1 {
		t.Fatalf("Validate = %v, want one issue", issues)
	}
	msg := issues[0].Message
	if !strings.Contains(msg, "Device, Group, Location, Patient") || strings.Contains(msg, "secret") || strings.Contains(msg, "Medication") {
		t.Errorf("message %q: want the allowed types and no part of the reference", msg)
	}
}

func TestLiteralRefType(t *testing.T) {
	tests := []struct {
		ref      string
		typ      string
		relative bool
	}{
		{"Patient/1", "Patient", true},
		{"Patient/1/_history/2", "Patient", true},
		{"http://x.org/fhir/Patient/1", "Patient", false},
		{"https://x.org/Patient/a-b.c/_history/v1", "Patient", false},
		{"http://x.org/1", "", false},
		{"a/b/Patient/1", "", false},
		{"Patient/", "", false},
		{"Patient/a b", "", false},
		{"Patient?name=x", "", false},
		{"urn:uuid:1234", "", false},
		{"ftp://x/Patient/1", "", false},
		{"patient/1", "", false},
		{"Patient/1/_history/", "", false},
		{"#p", "", false},
	}
	for _, tc := range tests {
		typ, rel := literalRefType(tc.ref)
		if typ != tc.typ || rel != tc.relative {
			t.Errorf("literalRefType(%q) = %q, %v; want %q, %v", tc.ref, typ, rel, tc.typ, tc.relative)
		}
	}
}
