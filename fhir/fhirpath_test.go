package fhir

import (
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"testing"
)

// TestCompileAllExpressions compiles every expression of the official
// search-parameters.json (and every composite component), so that a
// parameter Vigil cannot index shows up here by name.
func TestCompileAllExpressions(t *testing.T) {
	b, err := os.ReadFile("../../shared/data/fhir-r4/definitions/search-parameters.json")
	if errors.Is(err, os.ErrNotExist) {
		t.Skip("search-parameters.json not present (test data in /work/shared/data)")
	}
	if err != nil {
		t.Fatal(err)
	}
	var bundle struct {
		Entry []struct {
			Resource struct {
				URL        string `json:"url"`
				Expression string `json:"expression"`
				Component  []struct {
					Expression string `json:"expression"`
				} `json:"component"`
			} `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(b, &bundle); err != nil {
		t.Fatal(err)
	}
	compiled, skipped := 0, 0
	for _, e := range bundle.Entry {
		r := e.Resource
		if r.Expression == "" {
			skipped++
			continue
		}
		if _, err := compileFHIRPath(r.Expression); err != nil {
			t.Errorf("compile %s (%s): %v", r.URL, r.Expression, err)
		}
		for _, c := range r.Component {
			if _, err := compileFHIRPath(c.Expression); err != nil {
				t.Errorf("compile %s component (%s): %v", r.URL, c.Expression, err)
			}
		}
		compiled++
	}
	if skipped != 3 {
		t.Errorf("%d parameters without expression, want 3 (_text, _content, _query)", skipped)
	}
	t.Logf("compiled %d expressions", compiled)
	// The embedded model compiled its set when it loaded; report the
	// parameters the generator left out (those with no expression, and
	// DeviceDefinition-classification, which is not from FHIR 4.0.1).
	m := searchModel(t)
	inModel := map[string]bool{}
	for _, p := range m.defs.SearchParams {
		inModel[p.URL] = true
	}
	for _, e := range bundle.Entry {
		if !inModel[e.Resource.URL] {
			t.Logf("not in the embedded model: %s", e.Resource.URL)
		}
	}
}

func TestFHIRPathEval(t *testing.T) {
	res := map[string]any{
		"resourceType":    "Patient",
		"deceasedBoolean": false,
		"name":            []any{map[string]any{"family": "A", "given": []any{"B", "C"}}, map[string]any{"family": "D"}},
		"telecom": []any{
			map[string]any{"system": "email", "value": "x@y"},
			map[string]any{"system": "phone", "value": "1"},
		},
		"generalPractitioner": []any{
			map[string]any{"reference": "Practitioner/1"},
			map[string]any{"reference": "Organization/2"},
			map[string]any{"reference": "http://h/fhir/Practitioner/3/_history/1"},
		},
		"extension": []any{map[string]any{"url": "http://e", "valueString": "ext"}},
	}
	for _, tc := range []struct {
		expr string
		want []any
	}{
		{"Patient.name.family", []any{"A", "D"}},
		{"Patient.name.given", []any{"B", "C"}},
		{"Observation.status | Patient.name[1].family", []any{"D"}},
		{"Patient.name.first().family", []any{"A"}},
		{"Patient.telecom.where(system='email').value", []any{"x@y"}},
		{"Patient.telecom.where(system != 'email').value", []any{"1"}},
		{"Patient.generalPractitioner.where(resolve() is Practitioner).reference",
			[]any{"Practitioner/1", "http://h/fhir/Practitioner/3/_history/1"}},
		{"(Patient.deceased as boolean)", []any{false}},
		{"Patient.deceased.as(dateTime)", nil},
		{"Patient.deceased.ofType(boolean)", []any{false}},
		{"Patient.deceased.exists() and Patient.deceased != false", []any{false}},
		{"Patient.deceased is boolean", []any{true}},
		{"Patient.extension('http://e').value", []any{"ext"}},
		{"%resource.name[0].family", []any{"A"}},
		{"Patient.name.exists()", []any{true}},
		{"Patient.photo.exists() or Patient.name.exists()", []any{true}},
	} {
		e, err := compileFHIRPath(tc.expr)
		if err != nil {
			t.Errorf("compileFHIRPath(%q) error: %v", tc.expr, err)
			continue
		}
		c := &evalCtx{root: node{v: res, typ: "Patient"}}
		var got []any
		for _, n := range e.eval(c, []node{c.root}) {
			got = append(got, n.v)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("eval(%q) = %v, want %v", tc.expr, got, tc.want)
		}
	}
}

func TestFHIRPathErrors(t *testing.T) {
	for _, src := range []string{
		"", "Patient.", "Patient.name[", "Patient.name[x]", "Patient.where(", "Patient.foo()",
		"Patient.name.as()", "%context", "Patient.name 'x'", "Patient.extension(1)", "(Patient.name",
		"Patient.name.where()", "'unterminated", "Patient#name",
	} {
		if _, err := compileFHIRPath(src); err == nil {
			t.Errorf("compileFHIRPath(%q) = nil error, want an error", src)
		}
	}
}

func TestPruneFor(t *testing.T) {
	e, err := compileFHIRPath("Account.subject | AllergyIntolerance.patient | (Condition.onset as Age) | Resource.meta.tag")
	if err != nil {
		t.Fatal(err)
	}
	for typ, want := range map[string]int{"Account": 2, "Condition": 2, "Patient": 1} {
		n := 0
		var count func(expr)
		count = func(x expr) {
			if u, ok := x.(union); ok {
				count(u.a)
				count(u.b)
				return
			}
			n++
		}
		p := pruneFor(e, typ)
		if p != nil {
			count(p)
		}
		if n != want {
			t.Errorf("pruneFor(%s) kept %d branches, want %d", typ, n, want)
		}
	}
}

// FuzzCompileFHIRPath checks that compiling and evaluating arbitrary
// expressions never panics.
func FuzzCompileFHIRPath(f *testing.F) {
	for _, s := range []string{"Patient.name.given", "(Observation.value as Quantity) | Observation.component.value.as(Quantity)",
		"Account.subject.where(resolve() is Patient)", "Patient.deceased.exists() and Patient.deceased != false",
		"Bundle.entry[0].resource", "%resource.referenceSeq.chromosome", "Patient.telecom.where(system='email')"} {
		f.Add(s)
	}
	res := map[string]any{"resourceType": "Patient", "name": []any{map[string]any{"given": []any{"a"}}},
		"telecom": []any{map[string]any{"system": "email", "value": "x"}}, "deceasedBoolean": true}
	f.Fuzz(func(t *testing.T, src string) {
		e, err := compileFHIRPath(src)
		if err != nil {
			return
		}
		c := &evalCtx{root: node{v: res, typ: "Patient"}}
		_ = e.eval(c, []node{c.root})
	})
}
