package fhir

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"testing"

	"github.com/vigilhealth/vigil"
)

// stdDecode decodes data with encoding/json and UseNumber, the reference
// for parseStrictJSON.
func stdDecode(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err == nil {
		return nil, errors.New("trailing data")
	}
	return v, nil
}

func TestParseStrictJSON(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{`{}`, true},
		{` {"a" : [1, -2.5e+3, true, false, null, "x\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"], "b": {}} `, true},
		{`"héllo"`, true},
		{`0`, true},
		{`[]`, true},
		{`{"a":1,"a":2}`, false},
		{`{"a":1}{}`, false},
		{`{"a":01}`, false},
		{`{"a":1.}`, false},
		{`{"a":.5}`, false},
		{`{"a":+1}`, false},
		{`{"a":-}`, false},
		{`{"a":1,}`, false},
		{`[1,]`, false},
		{`{'a':1}`, false},
		{`{"a":tru}`, false},
		{`{"a":"\x"}`, false},
		{`{"a":"\u12"}`, false},
		{`{"a":"\udc00"}`, false},
		{`{"a":"\ud800x"}`, false},
		{"{\"a\":\"\t\"}", false},
		{"{\"a\":\"\xc3\"}", false},
		{"\xef\xbb\xbf{}", false}, // byte order mark
		{`{"a" 1}`, false},
		{``, false},
		{`   `, false},
		{`{"a":"unterminated}`, false},
	}
	for _, tc := range tests {
		got, err := parseStrictJSON([]byte(tc.in))
		if (err == nil) != tc.ok {
			t.Errorf("parseStrictJSON(%q) error = %v, want ok=%v", tc.in, err, tc.ok)
			continue
		}
		if err != nil {
			continue
		}
		want, err := stdDecode([]byte(tc.in))
		if err != nil {
			t.Errorf("encoding/json rejects %q (%v), parseStrictJSON accepts it", tc.in, err)
		} else if !reflect.DeepEqual(got, want) {
			t.Errorf("parseStrictJSON(%q) = %#v, want %#v", tc.in, got, want)
		}
	}
}

// FuzzDecode checks that Decode never panics, that the strict parser
// accepts only what encoding/json accepts and decodes it the same way, and
// that a decoded resource re-encoded with encoding/json decodes and
// validates the same.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{observationJSON, summaryPatient,
		`{"resourceType":"Patient","name":[{"given":["A",null],"_given":[null,{"id":"g"}]}]}`,
		`{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Patient","gender":"x"}}]}`,
		`{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueInteger":1.5,"valueString":"a"}`,
		`{"resourceType":"Patient","_birthDate":{"extension":[{"url":"u","valueDateTime":"2020-01-01T00:00:00Z"}]}}`,
		`{"resourceType":"Patient","managingOrganization":{"reference":"#o"},"generalPractitioner":[{"reference":"Medication/1"}],
			"contained":[{"resourceType":"Organization","id":"o","contained":[{"resourceType":"Patient","id":"p"}],"meta":{"versionId":"1"}},
			{"resourceType":"Practitioner","id":"x","qualification":[{"code":{"text":"x"},"issuer":{"reference":"#"}}]}]}`,
		`{"resourceType":"Observation","status":"final","code":{"text":"x"},"effectivePeriod":{"start":"2020-02","end":"2020-01-01T10:00:00Z"},
			"valueRange":{"low":{"value":5,"unit":"mg","comparator":"<"},"high":{"value":1,"unit":"mg"}}}`,
		`{"resourceType":"Condition","subject":{"reference":"Patient/1"},"clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-clinical","code":"x"}]}}`,
	} {
		f.Add([]byte(s))
	}
	m := testModel(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		obj, err := m.Decode(body)
		v, perr := parseStrictJSON(body)
		if perr != nil {
			if !errors.Is(err, vigil.ErrInvalid) {
				t.Fatalf("Decode(%q) = %v, want ErrInvalid for malformed JSON", body, err)
			}
			return
		}
		std, serr := stdDecode(body)
		if serr != nil {
			t.Fatalf("parseStrictJSON accepts %q, encoding/json rejects it: %v", body, serr)
		}
		if !reflect.DeepEqual(v, std) {
			t.Fatalf("parseStrictJSON(%q) = %#v, encoding/json gives %#v", body, v, std)
		}
		res, ok := v.(map[string]any)
		if !ok {
			return
		}
		re, err2 := json.Marshal(res)
		if err2 != nil {
			t.Fatalf("re-encode: %v", err2)
		}
		v2, err2 := parseStrictJSON(re)
		if err2 != nil {
			t.Fatalf("re-encoded resource does not parse: %v\n%s", err2, re)
		}
		if !reflect.DeepEqual(v, v2) {
			t.Fatalf("re-encoded resource decodes differently:\n%#v\n%#v", v, v2)
		}
		if _, known := res["resourceType"].(string); !known {
			return
		}
		is1, is2 := m.Validate(res), m.Validate(v2.(map[string]any))
		if !slices.Equal(issueKeys(is1), issueKeys(is2)) {
			t.Fatalf("re-encoded resource validates differently: %v vs %v", is1, is2)
		}
		if err == nil && len(is1) != 0 {
			t.Fatalf("Decode accepted a resource with issues %v", is1)
		}
		if err == nil && !reflect.DeepEqual(obj, res) {
			t.Fatalf("Decode result differs from the parsed JSON")
		}
	})
}

func BenchmarkDecodeObservation(b *testing.B) {
	m := testModel(b)
	body := []byte(observationJSON)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := m.Decode(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkValidateObservation(b *testing.B) {
	m := testModel(b)
	obj, err := m.Decode([]byte(observationJSON))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if issues := m.Validate(obj); issues != nil {
			b.Fatal(issues)
		}
	}
}

// TestDecodeConcurrent runs Decode from several goroutines on one Model;
// run it with -race.
func TestDecodeConcurrent(t *testing.T) {
	m := testModel(t)
	bodies := [][]byte{[]byte(observationJSON), []byte(summaryPatient), []byte(`{"resourceType":"Patient","gender":"x"}`)}
	done := make(chan error)
	for g := range 4 {
		go func() {
			var err error
			for i := range 50 {
				body := bodies[(g+i)%len(bodies)]
				obj, derr := m.Decode(body)
				if (derr == nil) == (obj == nil) {
					err = errors.New("Decode returned both or neither of a resource and an error")
				}
				if obj != nil {
					m.Summarize(obj, "true")
				}
			}
			done <- err
		}()
	}
	for range 4 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}
