package fhir

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/vigilhealth/vigil"
)

// issueKeys renders issues as "code path" for comparison.
func issueKeys(issues []vigil.Issue) []string {
	var out []string
	for _, is := range issues {
		out = append(out, is.Code+" "+is.Path)
	}
	return out
}

func TestValidate(t *testing.T) {
	m := testModel(t)
	tests := []struct {
		name string
		json string
		want []string // "code path" of each issue, sorted by path
	}{
		{"minimal observation", `{"resourceType":"Observation","status":"final","code":{"text":"x"}}`, nil},
		{"full observation", observationJSON, nil},
		{"patient with primitive extension", `{"resourceType":"Patient","birthDate":"1970-03-30",
			"_birthDate":{"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/patient-birthTime","valueDateTime":"1970-03-30T10:15:00+01:00"}]}}`, nil},
		{"extension only, no value", `{"resourceType":"Patient","_gender":{"extension":[{"url":"http://example.org/x","valueString":"a"}]}}`, nil},
		{"primitive array with nulls paired", `{"resourceType":"Patient","name":[{"given":["A",null],"_given":[null,{"id":"g2"}]}]}`, nil},
		{"contained and bundle resource", `{"resourceType":"Bundle","type":"collection","entry":[{"resource":
			{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"#p1"},"contained":[{"resourceType":"Patient","id":"p1"}]}}]}`, nil},
		{"backbone and content reference", `{"resourceType":"Questionnaire","status":"draft","item":[{"linkId":"1","type":"group",
			"item":[{"linkId":"1.1","type":"string","enableWhen":[{"question":"1","operator":"exists","answerBoolean":true}]}]}]}`, nil},
		{"leap day", `{"resourceType":"Patient","birthDate":"2000-02-29"}`, nil},

		{"unknown element", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"colour":"red"}`,
			[]string{"structure Observation.colour"}},
		{"unknown element with a non-FHIR name", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"Jane Doe, 12 Main St":1}`,
			[]string{"structure Observation"}},
		{"unknown nested element", `{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","cde":"1"}]}}`,
			[]string{"structure Observation.code.coding[0].cde"}},
		{"missing required", `{"resourceType":"Observation","code":{"text":"x"}}`,
			[]string{"required Observation.status"}},
		{"missing required in backbone", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"component":[{"valueString":"a"}]}`,
			[]string{"required Observation.component[0].code"}},
		{"bad code binding", `{"resourceType":"Observation","status":"done","code":{"text":"x"}}`,
			[]string{"code-invalid Observation.status"}},
		{"bad code format", `{"resourceType":"Observation","status":" final","code":{"text":"x"}}`,
			[]string{"value Observation.status"}},
		{"array for single", `{"resourceType":"Observation","status":"final","code":[{"text":"x"}]}`,
			[]string{"structure Observation.code"}},
		{"single for array", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"category":{"text":"y"}}`,
			[]string{"structure Observation.category"}},
		{"string for object", `{"resourceType":"Observation","status":"final","code":"x"}`,
			[]string{"structure Observation.code"}},
		{"two choice types", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueString":"a","valueBoolean":true}`,
			[]string{"structure Observation.value"}},
		{"choice with its extension is fine", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueString":"a","_valueString":{"id":"v"}}`, nil},
		{"unknown choice type", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueMoney":{"value":1}}`,
			[]string{"structure Observation.valueMoney"}},
		{"bad decimal kind", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":"5.4"}}`,
			[]string{"value Observation.valueQuantity.value"}},
		{"bad integer", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueInteger":1.5}`,
			[]string{"value Observation.valueInteger"}},
		{"integer out of range", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueInteger":2147483648}`,
			[]string{"value Observation.valueInteger"}},
		{"positiveInt zero", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueSampledData":{"origin":{"value":1},"period":1,"dimensions":0}}`,
			[]string{"value Observation.valueSampledData.dimensions"}},
		{"bad boolean", `{"resourceType":"Patient","active":"true"}`,
			[]string{"value Patient.active"}},
		{"bad date", `{"resourceType":"Patient","birthDate":"1970-02-30"}`,
			[]string{"value Patient.birthDate"}},
		{"dateTime without zone", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"effectiveDateTime":"2020-01-01T10:00:00"}`,
			[]string{"value Observation.effectiveDateTime"}},
		{"bad instant", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"issued":"2020-01-01"}`,
			[]string{"value Observation.issued"}},
		{"bad id", `{"resourceType":"Patient","id":"a_b"}`,
			[]string{"value Patient.id"}},
		{"bad uri", `{"resourceType":"Patient","identifier":[{"system":"http://x y"}]}`,
			[]string{"value Patient.identifier[0].system"}},
		{"empty string", `{"resourceType":"Patient","name":[{"family":""}]}`,
			[]string{"value Patient.name[0].family"}},
		{"empty object", `{"resourceType":"Patient","name":[{}]}`,
			[]string{"structure Patient.name[0]"}},
		{"empty array", `{"resourceType":"Patient","name":[]}`,
			[]string{"structure Patient.name"}},
		{"null single", `{"resourceType":"Patient","gender":null}`,
			[]string{"structure Patient.gender"}},
		{"null in complex array", `{"resourceType":"Patient","name":[null]}`,
			[]string{"structure Patient.name[0]"}},
		{"unpaired null in primitive array", `{"resourceType":"Patient","name":[{"given":["A",null]}]}`,
			[]string{"structure Patient.name[0].given[1]"}},
		{"sibling length mismatch", `{"resourceType":"Patient","name":[{"given":["A","B"],"_given":[{"id":"x"}]}]}`,
			[]string{"structure Patient.name[0].given"}},
		{"extension without url", `{"resourceType":"Patient","extension":[{"valueString":"a"}]}`,
			[]string{"required Patient.extension[0].url"}},
		{"extension value and extensions", `{"resourceType":"Patient","extension":[{"url":"http://x","valueString":"a","extension":[{"url":"y","valueBoolean":true}]}]}`,
			[]string{"invariant Patient.extension[0]"}},
		{"underscore on complex element", `{"resourceType":"Patient","_name":[{"id":"x"}]}`,
			[]string{"structure Patient._name"}},
		{"contained without resourceType", `{"resourceType":"Patient","contained":[{"id":"x"}]}`,
			[]string{"invariant Patient.contained[0]", "structure Patient.contained[0].resourceType"}},
		{"contained validated by its type", `{"resourceType":"Patient","contained":[{"resourceType":"Observation","id":"o","code":{"text":"x"}}]}`,
			[]string{"invariant Patient.contained[0]", "required Patient.contained[0].status"}},
		{"bundle entry resource invalid", `{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Patient","gender":"f"}}]}`,
			[]string{"code-invalid Bundle.entry[0].resource.gender"}},
		{"parameters resource", `{"resourceType":"Parameters","parameter":[{"name":"p","resource":{"resourceType":"Nope"}}]}`,
			[]string{"structure Parameters.parameter[0].resource.resourceType"}},
		{"several issues sorted", `{"resourceType":"Observation","code":{"text":""},"zz":1}`,
			[]string{"value Observation.code.text", "required Observation.status", "structure Observation.zz"}},
		{"unknown resource type", `{"resourceType":"Patients"}`,
			[]string{"structure resourceType"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := parseStrictJSON([]byte(tc.json))
			if err != nil {
				t.Fatalf("parse test input: %v", err)
			}
			got := issueKeys(m.Validate(v.(map[string]any)))
			if !slices.Equal(got, tc.want) {
				t.Errorf("Validate(%s) = %q, want %q", tc.json, got, tc.want)
			}
		})
	}
}

// TestValidateMessagesHaveNoData checks that issue messages and paths never
// repeat values from the resource.
func TestValidateMessagesHaveNoData(t *testing.T) {
	m := testModel(t)
	const secret = "Zebediah-7731"
	body := fmt.Sprintf(`{"resourceType":"Patient","id":"%[1]s!","gender":"%[1]s","birthDate":"%[1]s","%[1]s":1,
		"name":[{"family":1,"given":["%[1]s",null]}],"active":"%[1]s","telecom":[{"system":"%[1]s"}],
		"generalPractitioner":[{"reference":"Medication/%[1]s"},{"reference":"#%[1]s"},{"reference":"%[1]s/x"}]}`, secret)
	v, err := parseStrictJSON([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	issues := m.Validate(v.(map[string]any))
	if len(issues) < 9 {
		t.Fatalf("Validate found %d issues, want at least 9: %v", len(issues), issues)
	}
	for _, is := range issues {
		if strings.Contains(is.Message, secret) || strings.Contains(is.Path, secret) {
			t.Errorf("issue %+v contains a value from the resource", is)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	m := testModel(t)
	tests := []struct {
		name string
		body string
		kind error
	}{
		{"not JSON", `{"resourceType":`, vigil.ErrInvalid},
		{"trailing data", `{"resourceType":"Patient"} {}`, vigil.ErrInvalid},
		{"trailing garbage", `{"resourceType":"Patient"}x`, vigil.ErrInvalid},
		{"duplicate key", `{"resourceType":"Patient","gender":"male","gender":"female"}`, vigil.ErrInvalid},
		{"duplicate nested key", `{"resourceType":"Patient","name":[{"family":"a","family":"b"}]}`, vigil.ErrInvalid},
		{"invalid UTF-8", "{\"resourceType\":\"Patient\",\"name\":[{\"family\":\"\xff\"}]}", vigil.ErrInvalid},
		{"lone surrogate", `{"resourceType":"Patient","name":[{"family":"\ud800"}]}`, vigil.ErrInvalid},
		{"array", `[{"resourceType":"Patient"}]`, vigil.ErrInvalid},
		{"no resourceType", `{"id":"x"}`, vigil.ErrInvalid},
		{"numeric resourceType", `{"resourceType":1}`, vigil.ErrInvalid},
		{"unknown resourceType", `{"resourceType":"Patientx"}`, vigil.ErrInvalid},
		{"abstract resourceType", `{"resourceType":"DomainResource"}`, vigil.ErrInvalid},
		{"too deep", strings.Repeat("[", maxJSONDepth+1), vigil.ErrInvalid},
		{"invalid structure", `{"resourceType":"Patient","gender":"f"}`, vigil.ErrUnprocessable},
		{"valid", `{"resourceType":"Patient","gender":"female"}`, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			obj, err := m.Decode([]byte(tc.body))
			if tc.kind == nil {
				if err != nil || obj == nil {
					t.Fatalf("Decode(%q) = %v, %v; want a resource", tc.body, obj, err)
				}
				return
			}
			if !errors.Is(err, tc.kind) {
				t.Fatalf("Decode(%q) error = %v, want %v", tc.body, err, tc.kind)
			}
			var ve *vigil.Error
			if !errors.As(err, &ve) {
				t.Fatalf("Decode(%q) error %T is not a *vigil.Error", tc.body, err)
			}
			if tc.kind == vigil.ErrUnprocessable && len(ve.Issues) == 0 {
				t.Errorf("Decode(%q): unprocessable error without issues", tc.body)
			}
		})
	}
}

// observationJSON is a realistic vital-signs Observation, used by tests and
// the benchmark.
const observationJSON = `{
  "resourceType": "Observation",
  "id": "blood-pressure",
  "meta": {"versionId": "1", "lastUpdated": "2024-05-01T10:00:00.123Z",
    "profile": ["http://hl7.org/fhir/StructureDefinition/vitalsigns"]},
  "identifier": [{"system": "urn:ietf:rfc:3986", "value": "urn:uuid:187e0c12-8dd2-67e2-99b2-bf273c878281"}],
  "basedOn": [{"identifier": {"system": "https://acme.org/identifiers", "value": "1234"}}],
  "status": "final",
  "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
    "code": "vital-signs", "display": "Vital Signs"}]}],
  "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9",
    "display": "Blood pressure panel with all children optional"}], "text": "Blood pressure systolic & diastolic"},
  "subject": {"reference": "Patient/example"},
  "effectiveDateTime": "2012-09-17T08:30:00+02:00",
  "performer": [{"reference": "Practitioner/example"}],
  "interpretation": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
    "code": "L", "display": "low"}], "text": "Below low normal"}],
  "bodySite": {"coding": [{"system": "http://snomed.info/sct", "code": "368209003", "display": "Right arm"}]},
  "component": [
    {"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6", "display": "Systolic blood pressure"}]},
     "valueQuantity": {"value": 107, "unit": "mmHg", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"},
     "interpretation": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
       "code": "N", "display": "normal"}]}]},
    {"code": {"coding": [{"system": "http://loinc.org", "code": "8462-4", "display": "Diastolic blood pressure"}]},
     "valueQuantity": {"value": 60.5, "unit": "mmHg", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"},
     "interpretation": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
       "code": "L", "display": "low"}]}]}
  ]
}`
