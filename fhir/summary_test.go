package fhir

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"
)

const summaryPatient = `{
  "resourceType": "Patient",
  "id": "p1",
  "meta": {"versionId": "2", "tag": [{"system": "http://example.org/tags", "code": "vip"}]},
  "text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">Jane</div>"},
  "extension": [{"url": "http://example.org/ext", "valueString": "x"}],
  "identifier": [{"system": "http://example.org/mrn", "value": "123", "extension": [{"url": "http://example.org/e", "valueBoolean": true}]}],
  "active": true,
  "name": [{"family": "Doe", "given": ["Jane"], "id": "n1"}],
  "gender": "female",
  "maritalStatus": {"text": "married"},
  "contact": [{"name": {"family": "Doe"}}],
  "link": [{"other": {"reference": "Patient/p2"}, "type": "seealso"}]
}`

// topKeys returns the sorted top-level keys of obj.
func topKeys(obj map[string]any) []string {
	var ks []string
	for k := range obj {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func decodeTest(t *testing.T, m *Model, body string) map[string]any {
	t.Helper()
	obj, err := m.Decode([]byte(body))
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	return obj
}

func hasSubsetted(obj map[string]any) bool {
	meta, _ := obj["meta"].(map[string]any)
	tags, _ := meta["tag"].([]any)
	for _, t := range tags {
		if c, _ := t.(map[string]any); c["code"] == subsettedCode && c["system"] == subsettedSystem {
			return true
		}
	}
	return false
}

func TestSummarize(t *testing.T) {
	m := testModel(t)
	tests := []struct {
		mode      string
		want      []string
		subsetted bool
	}{
		{"true", []string{"active", "gender", "id", "identifier", "link", "meta", "name", "resourceType"}, true},
		{"text", []string{"id", "meta", "resourceType", "text"}, true},
		{"data", []string{"active", "contact", "extension", "gender", "id", "identifier", "link", "maritalStatus", "meta", "name", "resourceType"}, true},
		{"false", []string{"active", "contact", "extension", "gender", "id", "identifier", "link", "maritalStatus", "meta", "name", "resourceType", "text"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.mode, func(t *testing.T) {
			obj := decodeTest(t, m, summaryPatient)
			orig := deepCopyMap(obj)
			got := m.Summarize(obj, tc.mode)
			if keys := topKeys(got); !slices.Equal(keys, tc.want) {
				t.Errorf("Summarize(%q) keys = %q, want %q", tc.mode, keys, tc.want)
			}
			if hasSubsetted(got) != tc.subsetted {
				t.Errorf("Summarize(%q) SUBSETTED tag = %v, want %v", tc.mode, hasSubsetted(got), tc.subsetted)
			}
			if !reflect.DeepEqual(obj, orig) {
				t.Errorf("Summarize(%q) modified its input", tc.mode)
			}
			if issues := m.Validate(got); issues != nil {
				t.Errorf("Summarize(%q) result does not validate: %v", tc.mode, issues)
			}
		})
	}
}

func TestSummarizeRecursive(t *testing.T) {
	m := testModel(t)
	got := m.Summarize(decodeTest(t, m, summaryPatient), "true")
	want := map[string]any{
		"identifier": []any{map[string]any{"system": "http://example.org/mrn", "value": "123"}},
		"name":       []any{map[string]any{"family": "Doe", "given": []any{"Jane"}}},
		"link":       []any{map[string]any{"other": map[string]any{"reference": "Patient/p2"}, "type": "seealso"}},
	}
	for k, w := range want {
		if !reflect.DeepEqual(got[k], w) {
			gj, _ := json.Marshal(got[k])
			wj, _ := json.Marshal(w)
			t.Errorf("Summarize(true)[%q] = %s, want %s", k, gj, wj)
		}
	}
}

func TestSummarizeBundleEntry(t *testing.T) {
	m := testModel(t)
	obj := decodeTest(t, m, `{"resourceType":"Bundle","type":"searchset","total":1,"entry":[{"fullUrl":"http://x/Patient/p1",
		"resource":{"resourceType":"Patient","id":"p1","maritalStatus":{"text":"m"},"gender":"male"}}]}`)
	got := m.Summarize(obj, "true")
	entry := got["entry"].([]any)[0].(map[string]any)
	res := entry["resource"].(map[string]any)
	if keys := topKeys(res); !slices.Equal(keys, []string{"gender", "id", "resourceType"}) {
		t.Errorf("Summarize(true) nested resource keys = %q, want [gender id resourceType]", keys)
	}
}

func TestElements(t *testing.T) {
	m := testModel(t)
	tests := []struct {
		names []string
		body  string
		want  []string
	}{
		{[]string{"gender", "name"}, summaryPatient, []string{"gender", "id", "meta", "name", "resourceType"}},
		{[]string{"Patient.active", "nonsense"}, summaryPatient, []string{"active", "id", "meta", "resourceType"}},
		{nil, summaryPatient, []string{"id", "meta", "resourceType"}},
		// status and code are mandatory; "value" keeps valueQuantity.
		{[]string{"value"}, `{"resourceType":"Observation","id":"o","status":"final","code":{"text":"x"},
			"subject":{"reference":"Patient/p"},"valueQuantity":{"value":1}}`,
			[]string{"code", "id", "meta", "resourceType", "status", "valueQuantity"}},
	}
	for _, tc := range tests {
		obj := decodeTest(t, m, tc.body)
		orig := deepCopyMap(obj)
		got := m.Elements(obj, tc.names)
		if keys := topKeys(got); !slices.Equal(keys, tc.want) {
			t.Errorf("Elements(%q) keys = %q, want %q", tc.names, keys, tc.want)
		}
		if !hasSubsetted(got) {
			t.Errorf("Elements(%q) has no SUBSETTED tag", tc.names)
		}
		if !reflect.DeepEqual(obj, orig) {
			t.Errorf("Elements(%q) modified its input", tc.names)
		}
	}
}
