package fhir

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigilhealth/vigil"
)

const examplesDir = "../../shared/data/fhir-r4/examples"

// searchModel returns the embedded R4 model with its search half.
func searchModel(t testing.TB) *Model {
	t.Helper()
	m, err := LoadR4()
	if err != nil {
		t.Fatalf("LoadR4() error: %v", err)
	}
	return m
}

// decodeJSON decodes a resource the way the records service does.
func decodeJSON(t testing.TB, b []byte) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		t.Fatalf("decode: %v", err)
	}
	return obj
}

// readExample reads an official example, skipping when the data is absent.
func readExample(t testing.TB, name string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(examplesDir, name))
	if errors.Is(err, os.ErrNotExist) {
		t.Skipf("example %s not present (test data in /work/shared/data)", name)
	}
	if err != nil {
		t.Fatal(err)
	}
	return decodeJSON(t, b)
}

func day(s string) time.Time {
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		panic(err)
	}
	return t
}

func hasEntry(es []vigil.IndexEntry, want vigil.IndexEntry) bool {
	for _, e := range es {
		if e == want {
			return true
		}
	}
	return false
}

func checkNoDuplicates(t *testing.T, es []vigil.IndexEntry) {
	t.Helper()
	seen := map[vigil.IndexEntry]bool{}
	for _, e := range es {
		if seen[e] {
			t.Errorf("duplicate entry %+v", e)
		}
		seen[e] = true
	}
}

func TestIndexExamples(t *testing.T) {
	for name, m := range map[string]*Model{"typed": searchModel(t), "shape-only": shapeOnlyModel(t)} {
		t.Run(name, func(t *testing.T) { testIndexExamples(t, m, name == "typed") })
	}
}

// testIndexExamples checks entries of examples; typed says m knows the
// structure definitions, and so the systems that code elements' required
// bindings imply.
func testIndexExamples(t *testing.T, m *Model, typed bool) {
	bound := func(sys string) string {
		if typed {
			return sys
		}
		return ""
	}
	tok := func(p, sys, code, text string) vigil.IndexEntry {
		return vigil.IndexEntry{Param: p, Type: vigil.ParamToken, System: sys, Code: code, Text: text}
	}
	ref := func(p, typ, id string) vigil.IndexEntry {
		return vigil.IndexEntry{Param: p, Type: vigil.ParamReference, RefType: typ, RefID: id}
	}
	str := func(p, text, exact string) vigil.IndexEntry {
		return vigil.IndexEntry{Param: p, Type: vigil.ParamString, Text: text, Exact: exact}
	}
	loinc := "http://loinc.org"
	for _, tc := range []struct {
		file    string
		want    []vigil.IndexEntry
		notWant []string // params that must have no entry
	}{
		{"Observation-heart-rate.json", []vigil.IndexEntry{
			tok("code", loinc, "8867-4", "heart rate"),
			tok("status", bound("http://hl7.org/fhir/observation-status"), "final", ""),
			tok("category", "http://terminology.hl7.org/CodeSystem/observation-category", "vital-signs", "vital signs"),
			ref("subject", "Patient", "example"),
			ref("patient", "Patient", "example"),
			{Param: "date", Type: vigil.ParamDate, Start: day("1999-07-02"), End: day("1999-07-03")},
			{Param: "value-quantity", Type: vigil.ParamQuantity, Value: 44, Low: 43.5, High: 44.5,
				System: "http://unitsofmeasure.org", Code: "/min", CanonCode: "s-1",
				CanonValue: roundSig(44.0 / 60), CanonLow: roundSig(43.5 / 60), CanonHigh: roundSig(44.5 / 60)},
			{Param: "_profile", Type: vigil.ParamURI, URI: "http://hl7.org/fhir/StructureDefinition/vitalsigns"},
		}, []string{"_id", "_lastUpdated", "component-code", "value-concept"}},
		{"Patient-example.json", []vigil.IndexEntry{
			str("family", "chalmers", "Chalmers"),
			str("given", "jim", "Jim"),
			str("name", "peter", "Peter"),
			str("address-city", "pleasantville", "PleasantVille"),
			tok("identifier", "urn:oid:1.2.36.146.595.217.0.1", "12345", ""),
			tok("gender", bound("http://hl7.org/fhir/administrative-gender"), "male", ""),
			tok("active", "", "true", ""),
			tok("deceased", "", "false", ""),
			tok("phone", "", "(03) 5555 6473", ""),
			{Param: "birthdate", Type: vigil.ParamDate, Start: day("1974-12-25"), End: day("1974-12-26")},
			ref("organization", "Organization", "1"),
		}, []string{"email", "death-date"}},
		{"Device-example.json", []vigil.IndexEntry{
			tok("identifier", "http://goodcare.org/devices/id", "345675", ""),
		}, []string{"patient", "type"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			obj := readExample(t, tc.file)
			es, err := m.Index(obj)
			if err != nil {
				t.Fatalf("Index() error: %v", err)
			}
			for _, w := range tc.want {
				if !hasEntry(es, w) {
					t.Errorf("Index() lacks %+v", w)
				}
			}
			for _, e := range es {
				for _, p := range tc.notWant {
					if e.Param == p {
						t.Errorf("Index() has unexpected %+v", e)
					}
				}
			}
			checkNoDuplicates(t, es)
		})
	}
}

// TestIndexPosition checks that Location.position is indexed for near as
// one group of latitude and longitude, and an impossible position not at
// all.
func TestIndexPosition(t *testing.T) {
	m := searchModel(t)
	for _, tc := range []struct {
		name     string
		position any
		want     []vigil.IndexEntry
	}{
		{"position", map[string]any{"latitude": 51.5074, "longitude": -0.1278, "altitude": 11.0}, []vigil.IndexEntry{
			{Param: "near", Type: vigil.ParamNumber, Group: 1, Part: 0, Value: 51.5074, Low: 51.5074, High: 51.5074},
			{Param: "near", Type: vigil.ParamNumber, Group: 1, Part: 1, Value: -0.1278, Low: -0.1278, High: -0.1278}}},
		{"latitude out of range", map[string]any{"latitude": 91.0, "longitude": 0.0}, nil},
		{"longitude missing", map[string]any{"latitude": 1.0}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			es, err := m.Index(map[string]any{"resourceType": "Location", "position": tc.position})
			if err != nil {
				t.Fatal(err)
			}
			var got []vigil.IndexEntry
			for _, e := range es {
				if e.Param == "near" {
					got = append(got, e)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("near entries = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestIndexCodeSystem checks that a code element is indexed with the
// system its required binding implies, and without one when it has no
// such binding or the code is not in the value set.
func TestIndexCodeSystem(t *testing.T) {
	m := searchModel(t)
	for _, tc := range []struct {
		name  string
		obj   map[string]any
		param string
		want  vigil.IndexEntry
	}{
		{"Observation.status", map[string]any{"resourceType": "Observation", "status": "final"}, "status",
			vigil.IndexEntry{Param: "status", Type: vigil.ParamToken, System: "http://hl7.org/fhir/observation-status", Code: "final"}},
		{"Patient.gender", map[string]any{"resourceType": "Patient", "gender": "female"}, "gender",
			vigil.IndexEntry{Param: "gender", Type: vigil.ParamToken, System: "http://hl7.org/fhir/administrative-gender", Code: "female"}},
		{"a code outside the value set", map[string]any{"resourceType": "Patient", "gender": "nope"}, "gender",
			vigil.IndexEntry{Param: "gender", Type: vigil.ParamToken, Code: "nope"}},
		{"a boolean", map[string]any{"resourceType": "Patient", "active": true}, "active",
			vigil.IndexEntry{Param: "active", Type: vigil.ParamToken, Code: "true"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			es, err := m.Index(tc.obj)
			if err != nil {
				t.Fatal(err)
			}
			var got []vigil.IndexEntry
			for _, e := range es {
				if e.Param == tc.param {
					got = append(got, e)
				}
			}
			if len(got) != 1 || got[0] != tc.want {
				t.Errorf("%s entries = %+v, want [%+v]", tc.param, got, tc.want)
			}
		})
	}
}

// TestIndexBloodPressure checks composite entries: each component of the
// blood pressure panel gives component-code-value-quantity groups pairing
// its code (Part 0) with its value (Part 1).
func TestIndexBloodPressure(t *testing.T) {
	m := searchModel(t)
	es, err := m.Index(readExample(t, "Observation-blood-pressure.json"))
	if err != nil {
		t.Fatalf("Index() error: %v", err)
	}
	type pair struct {
		code  string
		value float64
		canon string
	}
	groups := map[int][]vigil.IndexEntry{}
	for _, e := range es {
		if e.Param == "component-code-value-quantity" {
			if e.Group <= 0 {
				t.Errorf("composite entry without group: %+v", e)
			}
			groups[e.Group] = append(groups[e.Group], e)
		} else if strings.HasSuffix(e.Param, ":identifier") {
			continue // Reference.identifier (IdentifierParam), a token
		} else if isComposite := m.search.lookup("Observation", e.Param).Type == vigil.ParamComposite; isComposite != (e.Group > 0) {
			t.Errorf("entry %+v: Group %d for a composite=%v parameter", e, e.Group, isComposite)
		}
	}
	got := map[pair]bool{}
	for g, parts := range groups {
		if len(parts) != 2 || parts[0].Part != 0 || parts[1].Part != 1 ||
			parts[0].Type != vigil.ParamToken || parts[1].Type != vigil.ParamQuantity {
			t.Errorf("group %d = %+v, want a token part 0 and a quantity part 1", g, parts)
			continue
		}
		if parts[0].System == "http://loinc.org" {
			got[pair{parts[0].Code, parts[1].Value, parts[1].CanonCode}] = true
		}
	}
	for _, w := range []pair{{"8480-6", 107, "g.m-1.s-2"}, {"8462-4", 60, "g.m-1.s-2"}} {
		if !got[w] {
			t.Errorf("component-code-value-quantity lacks %+v; got %v", w, got)
		}
	}
	if got[pair{"8480-6", 60, "g.m-1.s-2"}] {
		t.Errorf("systolic code paired with the diastolic value")
	}
	// code-value-quantity uses Observation.value, which a panel lacks.
	for _, e := range es {
		if e.Param == "code-value-quantity" || e.Param == "value-quantity" {
			t.Errorf("unexpected %+v", e)
		}
	}
}

// shapeOnlyModel compiles the search parameters without the structure
// definitions, so that Index infers every type from JSON names and shapes.
func shapeOnlyModel(t testing.TB) *Model {
	t.Helper()
	full := searchModel(t)
	defs := *full.defs
	defs.Types = nil
	s, err := newSearchSet(&defs)
	if err != nil {
		t.Fatalf("newSearchSet() error: %v", err)
	}
	return &Model{defs: &defs, search: s}
}

// TestIndexShapes covers data types and expression forms on small
// synthetic resources, with and without the structure definitions.
func TestIndexShapes(t *testing.T) {
	for name, m := range map[string]*Model{"typed": searchModel(t), "shape-only": shapeOnlyModel(t)} {
		t.Run(name, func(t *testing.T) { testIndexShapes(t, m) })
	}
}

func testIndexShapes(t *testing.T, m *Model) {
	utc := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v.UTC()
	}
	for _, tc := range []struct {
		name string
		json string
		want []vigil.IndexEntry
		none []string
	}{
		{"period and accents", `{"resourceType":"Encounter","period":{"start":"2020-03-04T10:00:00+02:00"},
			"subject":{"reference":"Patient/p1/_history/3"},"participant":[{"individual":{"reference":"Practitioner/d1"}},
			{"individual":{"reference":"RelatedPerson/r1"}}]}`,
			[]vigil.IndexEntry{
				{Param: "date", Type: vigil.ParamDate, Start: utc("2020-03-04T08:00:00Z")},
				{Param: "subject", Type: vigil.ParamReference, RefType: "Patient", RefID: "p1"},
				{Param: "patient", Type: vigil.ParamReference, RefType: "Patient", RefID: "p1"},
				{Param: "practitioner", Type: vigil.ParamReference, RefType: "Practitioner", RefID: "d1"},
				{Param: "participant", Type: vigil.ParamReference, RefType: "RelatedPerson", RefID: "r1"},
			}, nil},
		{"identifier of-type", `{"resourceType":"Patient","identifier":[{"type":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v2-0203","code":"MR"},{"code":"local"}],"text":"Medical record"},"system":"urn:mrn","value":"12345"}]}`,
			[]vigil.IndexEntry{
				{Param: "identifier", Type: vigil.ParamToken, System: "urn:mrn", Code: "12345", Text: "medical record"},
				{Param: "identifier:of-type", Type: vigil.ParamToken, System: "http://terminology.hl7.org/CodeSystem/v2-0203", Code: "MR|12345"},
				{Param: "identifier:of-type", Type: vigil.ParamToken, Code: "local|12345"},
			}, nil},
		{"reference identifiers", `{"resourceType":"Observation","status":"final","code":{"text":"x"},
			"subject":{"type":"Patient","identifier":{"system":"urn:mrn","value":"12345"}},"performer":[{"reference":"Practitioner/d1","identifier":{"value":"D-1"}}]}`,
			[]vigil.IndexEntry{
				{Param: "subject:identifier", Type: vigil.ParamToken, System: "urn:mrn", Code: "12345"},
				{Param: "patient:identifier", Type: vigil.ParamToken, System: "urn:mrn", Code: "12345"},
				{Param: "performer:identifier", Type: vigil.ParamToken, Code: "D-1"},
				{Param: "performer", Type: vigil.ParamReference, RefType: "Practitioner", RefID: "d1"},
			}, []string{"subject"}},
		{"where resolve is excludes other types", `{"resourceType":"Encounter",
			"participant":[{"individual":{"reference":"RelatedPerson/r1"}}]}`,
			nil, []string{"practitioner"}},
		{"timing events, absolute reference", `{"resourceType":"MedicationRequest","status":"active",
			"subject":{"reference":"http://other.org/fhir/Patient/9"},
			"dosageInstruction":[{"timing":{"event":["2021-05-01","2021-05-02T08:30:00Z"]}}]}`,
			nil, nil},
		{"name normalisation and telecom email", `{"resourceType":"Patient","name":[{"family":"Dubé  Renée ","given":["Zoë"]}],
			"telecom":[{"system":"email","value":"a@b.org"},{"system":"phone","value":"123"}]}`,
			[]vigil.IndexEntry{
				{Param: "family", Type: vigil.ParamString, Text: "dube renee", Exact: "Dubé  Renée "},
				{Param: "given", Type: vigil.ParamString, Text: "zoe", Exact: "Zoë"},
				{Param: "email", Type: vigil.ParamToken, Code: "a@b.org"},
				{Param: "phone", Type: vigil.ParamToken, Code: "123"},
				{Param: "telecom", Type: vigil.ParamToken, Code: "a@b.org"},
			}, []string{"identifier"}},
		{"deceased date", `{"resourceType":"Patient","deceasedDateTime":"2019-02"}`,
			[]vigil.IndexEntry{
				{Param: "deceased", Type: vigil.ParamToken, Code: "true"},
				{Param: "death-date", Type: vigil.ParamDate, Start: day("2019-02-01"), End: day("2019-03-01")},
			}, nil},
		{"range and age", `{"resourceType":"Condition","subject":{"reference":"Patient/1"},
			"onsetRange":{"low":{"value":2,"system":"http://unitsofmeasure.org","code":"a"},"high":{"value":4,"system":"http://unitsofmeasure.org","code":"a"}},
			"abatementAge":{"value":5,"system":"http://unitsofmeasure.org","code":"a"}}`,
			[]vigil.IndexEntry{
				{Param: "onset-age", Type: vigil.ParamQuantity, Value: 3, Low: 2, High: 4,
					System: ucumSystem, Code: "a", CanonCode: "s", CanonValue: 3 * 31557600, CanonLow: 2 * 31557600, CanonHigh: 4 * 31557600},
				{Param: "abatement-age", Type: vigil.ParamQuantity, Value: 5, Low: 4.5, High: 5.5,
					System: ucumSystem, Code: "a", CanonCode: "s", CanonValue: 5 * 31557600, CanonLow: 4.5 * 31557600, CanonHigh: 5.5 * 31557600},
			}, []string{"onset-date", "abatement-date"}},
		{"canonical with version, uri", `{"resourceType":"Questionnaire","status":"active","url":"http://x.org/q",
			"derivedFrom":["http://x.org/base|2.0"]}`,
			[]vigil.IndexEntry{
				{Param: "url", Type: vigil.ParamURI, URI: "http://x.org/q"},
			}, nil},
		{"number precision", `{"resourceType":"RiskAssessment","status":"final","subject":{"reference":"Patient/1"},
			"prediction":[{"probabilityDecimal":0.25}]}`,
			[]vigil.IndexEntry{
				{Param: "probability", Type: vigil.ParamNumber, Value: 0.25, Low: 0.245, High: 0.255},
			}, nil},
		{"meta tag and security", `{"resourceType":"Basic","code":{"text":"x"},"meta":{"tag":[{"system":"s","code":"c"}],
			"security":[{"system":"v","code":"R"}],"source":"urn:dev:1"}}`,
			[]vigil.IndexEntry{
				{Param: "_tag", Type: vigil.ParamToken, System: "s", Code: "c"},
				{Param: "_security", Type: vigil.ParamToken, System: "v", Code: "R"},
				{Param: "_source", Type: vigil.ParamURI, URI: "urn:dev:1"},
				{Param: "code", Type: vigil.ParamToken, Text: "x"},
			}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			es, err := m.Index(decodeJSON(t, []byte(tc.json)))
			if err != nil {
				t.Fatalf("Index() error: %v", err)
			}
			for _, w := range tc.want {
				if !hasEntry(es, w) {
					t.Errorf("Index() lacks %+v\ngot %+v", w, es)
				}
			}
			for _, e := range es {
				for _, p := range tc.none {
					if e.Param == p {
						t.Errorf("Index() has unexpected %+v", e)
					}
				}
			}
			checkNoDuplicates(t, es)
		})
	}
}

func TestIndexTimingAndURLs(t *testing.T) {
	m := searchModel(t)
	es, err := m.Index(decodeJSON(t, []byte(`{"resourceType":"MedicationRequest","status":"active",
		"subject":{"reference":"http://other.org/fhir/Patient/9"},
		"dosageInstruction":[{"timing":{"event":["2021-05-01","2021-05-02T08:30:00Z"]}}]}`)))
	if err != nil {
		t.Fatalf("Index() error: %v", err)
	}
	sec := time.Date(2021, 5, 2, 8, 30, 0, 0, time.UTC)
	for _, w := range []vigil.IndexEntry{
		{Param: "subject", Type: vigil.ParamReference, URI: "http://other.org/fhir/Patient/9"},
		{Param: "patient", Type: vigil.ParamReference, URI: "http://other.org/fhir/Patient/9"},
		{Param: "date", Type: vigil.ParamDate, Start: day("2021-05-01"), End: day("2021-05-02")},
		{Param: "date", Type: vigil.ParamDate, Start: sec, End: sec.Add(time.Second)},
	} {
		if !hasEntry(es, w) {
			t.Errorf("Index() lacks %+v\ngot %+v", w, es)
		}
	}
}

func TestIndexErrors(t *testing.T) {
	m := searchModel(t)
	for _, obj := range []map[string]any{{}, {"resourceType": "Nope"}, {"resourceType": 3}} {
		_, err := m.Index(obj)
		if !errors.Is(err, vigil.ErrInvalid) {
			t.Errorf("Index(%v) error = %v, want ErrInvalid", obj, err)
		}
	}
}

// TestIndexRangeOpen checks that an open Range bound is unbounded.
func TestIndexRangeOpen(t *testing.T) {
	m := searchModel(t)
	es, err := m.Index(decodeJSON(t, []byte(`{"resourceType":"Condition","subject":{"reference":"Patient/1"},
		"onsetRange":{"low":{"value":60,"system":"http://unitsofmeasure.org","code":"a"}}}`)))
	if err != nil {
		t.Fatalf("Index() error: %v", err)
	}
	for _, e := range es {
		if e.Param == "onset-age" {
			if e.Low != 60 || e.High != math.MaxFloat64 || e.CanonHigh != math.MaxFloat64 {
				t.Errorf("onset-age = %+v, want Low 60 and open High", e)
			}
			return
		}
	}
	t.Errorf("no onset-age entry in %+v", es)
}

func BenchmarkIndexObservation(b *testing.B) {
	m := searchModel(b)
	for _, name := range []string{"heart-rate", "blood-pressure"} {
		raw, err := os.ReadFile(filepath.Join(examplesDir, "Observation-"+name+".json"))
		if err != nil {
			b.Skipf("example not present: %v", err)
		}
		obj := decodeJSON(b, raw)
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := m.Index(obj); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestIndexOfficialArchive indexes every resource of the official R4
// examples package: no errors, no duplicates, and nearly every parameter
// that has values in the examples yields entries.
func TestIndexOfficialArchive(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	m := searchModel(t)
	n, entries := 0, 0
	seen := map[string]bool{}
	eachExample(t, func(name string, b []byte) {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		var obj map[string]any
		if dec.Decode(&obj) != nil {
			return
		}
		rt, _ := obj["resourceType"].(string)
		if !m.IsResourceType(rt) {
			return
		}
		es, err := m.Index(obj)
		if err != nil {
			t.Errorf("Index(%s) error: %v", name, err)
			return
		}
		n++
		entries += len(es)
		for _, e := range es {
			seen[rt+"."+e.Param] = true
		}
	})
	total, hit := 0, 0
	for rt, list := range m.search.indexed {
		for _, pd := range list {
			total++
			if seen[rt+"."+pd.Name] {
				hit++
			}
		}
	}
	t.Logf("indexed %d resources, %d entries; %d of %d (type, parameter) pairs have entries", n, entries, hit, total)
}

// TestIndexShapeInference indexes the example resources with and without
// the structure definitions: inference from JSON names and shapes must
// give the same entries as the declared types.
func TestIndexShapeInference(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(examplesDir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Skipf("examples not present in %s", examplesDir)
	}
	typed, shaped := searchModel(t), shapeOnlyModel(t)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		obj := decodeJSON(t, b)
		if rt, _ := obj["resourceType"].(string); !typed.IsResourceType(rt) {
			continue
		}
		a, errA := typed.Index(obj)
		c, errC := shaped.Index(obj)
		if errA != nil || errC != nil {
			t.Errorf("Index(%s) errors: %v, %v", filepath.Base(f), errA, errC)
			continue
		}
		if len(a) != len(c) {
			t.Errorf("Index(%s): %d entries typed, %d shape-only", filepath.Base(f), len(a), len(c))
		}
		for _, e := range a {
			bare := e
			bare.System = "" // a code element's system comes from its binding, which shapes do not tell
			if !hasEntry(c, e) && !(e.Type == vigil.ParamToken && hasEntry(c, bare)) {
				t.Errorf("Index(%s) shape-only lacks %+v", filepath.Base(f), e)
			}
		}
	}
}

// TestIndexConcurrent runs Index from several goroutines (the arena pool
// is shared) and checks each result against a sequential run.
func TestIndexConcurrent(t *testing.T) {
	m := searchModel(t)
	objs := []map[string]any{
		readExample(t, "Observation-blood-pressure.json"),
		readExample(t, "Patient-example.json"),
		readExample(t, "Observation-heart-rate.json"),
	}
	want := make([][]vigil.IndexEntry, len(objs))
	for i, o := range objs {
		es, err := m.Index(o)
		if err != nil {
			t.Fatal(err)
		}
		want[i] = es
	}
	errs := make(chan error, 4)
	for g := range 4 {
		go func() {
			for k := range 50 {
				i := (g + k) % len(objs)
				es, err := m.Index(objs[i])
				if err == nil && !reflect.DeepEqual(es, want[i]) {
					err = fmt.Errorf("Index(%d) differs from the sequential result", i)
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
