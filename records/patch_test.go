package records

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/vigilhealth/vigil"
)

// Cases from RFC 6902 Appendix A.
func TestApplyPatch(t *testing.T) {
	tests := []struct {
		name, doc, patch, want string
		wantErr                bool
	}{
		{"A.1 add object member", `{"foo":"bar"}`, `[{"op":"add","path":"/baz","value":"qux"}]`, `{"baz":"qux","foo":"bar"}`, false},
		{"A.2 add array element", `{"foo":["bar","baz"]}`, `[{"op":"add","path":"/foo/1","value":"qux"}]`, `{"foo":["bar","qux","baz"]}`, false},
		{"A.3 remove object member", `{"baz":"qux","foo":"bar"}`, `[{"op":"remove","path":"/baz"}]`, `{"foo":"bar"}`, false},
		{"A.4 remove array element", `{"foo":["bar","qux","baz"]}`, `[{"op":"remove","path":"/foo/1"}]`, `{"foo":["bar","baz"]}`, false},
		{"A.5 replace", `{"baz":"qux","foo":"bar"}`, `[{"op":"replace","path":"/baz","value":"boo"}]`, `{"baz":"boo","foo":"bar"}`, false},
		{"A.6 move value", `{"foo":{"bar":"baz","waldo":"fred"},"qux":{"corge":"grault"}}`, `[{"op":"move","from":"/foo/waldo","path":"/qux/thud"}]`, `{"foo":{"bar":"baz"},"qux":{"corge":"grault","thud":"fred"}}`, false},
		{"A.7 move array element", `{"foo":["all","grass","cows","eat"]}`, `[{"op":"move","from":"/foo/1","path":"/foo/3"}]`, `{"foo":["all","cows","eat","grass"]}`, false},
		{"A.8 test success", `{"baz":"qux","foo":["a",2,"c"]}`, `[{"op":"test","path":"/baz","value":"qux"},{"op":"test","path":"/foo/1","value":2}]`, `{"baz":"qux","foo":["a",2,"c"]}`, false},
		{"A.9 test failure", `{"baz":"qux"}`, `[{"op":"test","path":"/baz","value":"bar"}]`, ``, true},
		{"A.10 add nested", `{"foo":"bar"}`, `[{"op":"add","path":"/child","value":{"grandchild":{}}}]`, `{"child":{"grandchild":{}},"foo":"bar"}`, false},
		{"A.12 add to nonexistent target", `{"foo":"bar"}`, `[{"op":"add","path":"/baz/bat","value":"qux"}]`, ``, true},
		{"A.14 ~ escapes", `{"/":9,"~1":10}`, `[{"op":"test","path":"/~01","value":10}]`, `{"/":9,"~1":10}`, false},
		{"A.16 add array value", `{"foo":["bar"]}`, `[{"op":"add","path":"/foo/-","value":["abc","def"]}]`, `{"foo":["bar",["abc","def"]]}`, false},
		{"remove missing", `{"foo":"bar"}`, `[{"op":"remove","path":"/nope"}]`, ``, true},
		{"index out of range", `{"foo":[1]}`, `[{"op":"add","path":"/foo/5","value":2}]`, ``, true},
		{"leading zero index", `{"foo":[1,2]}`, `[{"op":"remove","path":"/foo/01"}]`, ``, true},
		{"copy", `{"a":{"b":1}}`, `[{"op":"copy","from":"/a","path":"/c"}]`, `{"a":{"b":1},"c":{"b":1}}`, false},
		{"move into own child", `{"a":{"b":1}}`, `[{"op":"move","from":"/a","path":"/a/b/c"}]`, ``, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ops, err := ParsePatch([]byte(tc.patch))
			if err != nil {
				t.Fatalf("ParsePatch(%s): %v", tc.patch, err)
			}
			var doc any
			dec := json.NewDecoder(bytes.NewReader([]byte(tc.doc)))
			dec.UseNumber()
			if err := dec.Decode(&doc); err != nil {
				t.Fatal(err)
			}
			got, err := ApplyPatch(doc, ops)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("ApplyPatch(%s, %s) succeeded, want an error", tc.doc, tc.patch)
				}
				if !errors.Is(err, vigil.ErrUnprocessable) {
					t.Errorf("error %v is not ErrUnprocessable", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ApplyPatch(%s, %s): %v", tc.doc, tc.patch, err)
			}
			b, _ := json.Marshal(got)
			if string(b) != tc.want {
				t.Errorf("ApplyPatch(%s, %s) = %s, want %s", tc.doc, tc.patch, b, tc.want)
			}
		})
	}
}

func TestParsePatchRejects(t *testing.T) {
	for _, p := range []string{`{}`, `[{"op":"frobnicate","path":"/a"}]`, `[{"op":"add","path":"/a"}]`, `[{"op":"add","path":"a","value":1}]`, `[{"op":"move","path":"/a"}]`, `[{"op":"remove","path":"/a","extra":1}]`, `[] []`} {
		if _, err := ParsePatch([]byte(p)); !errors.Is(err, vigil.ErrInvalid) {
			t.Errorf("ParsePatch(%s) error = %v, want ErrInvalid", p, err)
		}
	}
}

func FuzzPatch(f *testing.F) {
	f.Add([]byte(`{"a":[1,2,{"b":"c"}]}`), []byte(`[{"op":"move","from":"/a/0","path":"/a/-"},{"op":"copy","from":"/a","path":"/d"}]`))
	f.Add([]byte(`{"foo":"bar"}`), []byte(`[{"op":"replace","path":"/foo","value":{"x":[]}}]`))
	f.Fuzz(func(t *testing.T, doc, patch []byte) {
		ops, err := ParsePatch(patch)
		if err != nil {
			return
		}
		var d any
		if json.Unmarshal(doc, &d) != nil {
			return
		}
		_, _ = ApplyPatch(d, ops) // must not panic
	})
}

func TestNewID(t *testing.T) {
	seen := map[string]bool{}
	prev := ""
	for i := range 1000 {
		id := NewID()
		if !validID(id) || len(id) != 36 || seen[id] {
			t.Fatalf("NewID() = %q: invalid or repeated", id)
		}
		if id[14] != '7' || !strings.ContainsRune("89ab", rune(id[19])) {
			t.Fatalf("NewID() = %q: not a UUID version 7 with the RFC 9562 variant", id)
		}
		// The first 48 bits are milliseconds: a later id never sorts before an
		// earlier one by more than its own millisecond.
		if i > 0 && id[:13] < prev[:13] {
			t.Fatalf("NewID() = %q sorts before the earlier %q", id, prev)
		}
		seen[id], prev = true, id
	}
}

func TestMarshalOrder(t *testing.T) {
	got, err := Marshal(Object{"status": "final", "resourceType": "Observation", "contained": []any{map[string]any{"id": "a", "resourceType": "Patient"}}, "note": "<b>&</b>"})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"resourceType":"Observation","contained":[{"resourceType":"Patient","id":"a"}],"note":"<b>&</b>","status":"final"}`
	if string(got) != want {
		t.Errorf("Marshal = %s, want %s", got, want)
	}
}
