package mqtt

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/vigilhealth/vigil"
)

func TestDecode(t *testing.T) {
	const hr = `{"code":"8867-4","time":"2026-11-25T10:00:00Z","value":72,"unit":"/min"}`
	const bp = `{"device":"d1","code":"85354-9","time":"2026-11-25T10:00:00Z","components":[{"code":"8480-6","value":120,"unit":"mm[Hg]"},{"code":"8462-4","value":80,"unit":"mm[Hg]"}]}`
	const ecg = `{"code":"131329","start":"2026-11-25T10:00:00Z","rate_hz":250,"gain":0.005,"unit":"mV","samples":[12,15,-3]}`
	tests := []struct {
		name     string
		in       string
		lim      Limits
		codes    []string // decoded readings
		rejected []int    // indexes of rejected items
		err      error    // whole-payload error kind
	}{
		{name: "object", in: hr, codes: []string{"8867-4"}},
		{name: "object with blanks", in: "\n  " + hr + " \r\n", codes: []string{"8867-4"}},
		{name: "array", in: "[" + hr + "," + bp + "," + ecg + "]", codes: []string{"8867-4", "85354-9", "131329"}},
		{name: "ndjson", in: hr + "\n" + bp + "\n" + ecg + "\n", codes: []string{"8867-4", "85354-9", "131329"}},
		{name: "ndjson crlf", in: hr + "\r\n" + bp, codes: []string{"8867-4", "85354-9"}},
		{name: "item of wrong type", in: `[` + hr + `,{"code":"8867-4","value":"72"},3,null,` + bp + `]`, codes: []string{"8867-4", "85354-9"}, rejected: []int{1, 2, 3}},
		{name: "unknown field", in: `[{"code":"8867-4","valeu":72}]`, rejected: []int{0}},
		{name: "bad time", in: `[{"code":"8867-4","time":"yesterday"}]`, rejected: []int{0}},
		{name: "sample out of int32", in: `[{"code":"131329","samples":[1,4294967296]}]`, rejected: []int{0}},
		{name: "empty", in: "  ", err: vigil.ErrInvalid},
		{name: "empty array", in: "[]", err: vigil.ErrInvalid},
		{name: "string", in: `"x"`, err: vigil.ErrInvalid},
		{name: "null", in: `null`, err: vigil.ErrInvalid},
		{name: "truncated array", in: `[` + hr, err: vigil.ErrInvalid},
		{name: "trailing after array", in: `[` + hr + `] []`, err: vigil.ErrInvalid},
		{name: "objects on one line", in: hr + hr, err: vigil.ErrInvalid},
		{name: "ndjson non-object", in: hr + "\n[1]", err: vigil.ErrInvalid},
		{name: "ndjson malformed line", in: hr + "\n{\"code\":", err: vigil.ErrInvalid},
		{name: "not utf-8", in: "[{\"code\":\"\xff\"}]", err: vigil.ErrInvalid},
		{name: "too large", in: "[" + hr + "]", lim: Limits{MaxBytes: 20}, err: vigil.ErrTooLarge},
		{name: "too many in array", in: "[" + hr + "," + hr + "]", lim: Limits{MaxItems: 1}, err: vigil.ErrTooLarge},
		{name: "too many in ndjson", in: hr + "\n" + hr, lim: Limits{MaxItems: 1}, err: vigil.ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Decode([]byte(tt.in), tt.lim)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("Decode(%q) error = %v, want %v", tt.in, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode(%q) error = %v", tt.in, err)
			}
			var codes []string
			for _, r := range p.Readings {
				codes = append(codes, r.Code)
			}
			var rej []int
			for _, r := range p.Rejected {
				rej = append(rej, r.Index)
				if r.Status != vigil.ItemRejected || r.Error == "" {
					t.Errorf("rejection %+v has no status or message", r)
				}
			}
			if fmt.Sprint(codes) != fmt.Sprint(tt.codes) || fmt.Sprint(rej) != fmt.Sprint(tt.rejected) {
				t.Errorf("Decode(%q) = codes %v rejected %v, want %v and %v", tt.in, codes, rej, tt.codes, tt.rejected)
			}
			if p.Items != len(p.Readings)+len(p.Rejected) || len(p.Index) != len(p.Readings) {
				t.Errorf("Items %d, %d readings, %d indexes, %d rejected: inconsistent", p.Items, len(p.Readings), len(p.Index), len(p.Rejected))
			}
		})
	}
}

// Error messages must not echo measurements back (encoding/json quotes the
// offending number in its own messages).
func TestDecodeMessagesHoldNoValues(t *testing.T) {
	for _, in := range []string{
		`[{"code":"8867-4","value":1e999}]`,
		`[{"code":"131329","samples":[987654321987]}]`,
		`[{"code":"8867-4","time":"2026-13-45T99:00:00Z"}]`,
		`[{"code":"8867-4","value":"123456"}]`,
	} {
		p, err := Decode([]byte(in), Limits{})
		if err != nil {
			t.Fatalf("Decode(%q): %v", in, err)
		}
		msg := p.Rejected[0].Error
		for _, v := range []string{"1e999", "987654321987", "2026-13", "123456"} {
			if strings.Contains(msg, v) {
				t.Errorf("Decode(%q) message %q echoes %q", in, msg, v)
			}
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"code":"8867-4","time":"2026-11-25T10:00:00Z","value":72,"unit":"/min"}`,
		`[{"device":"d","code":"85354-9","components":[{"code":"8480-6","value":120,"unit":"mm[Hg]"}]},3]`,
		"{\"code\":\"a\"}\n{\"code\":\"b\",\"samples\":[1,2]}\n",
		`[{"code":"131329","start":"2026-11-25T10:00:00+01:00","rate_hz":250,"gain":0.005,"samples":[1]}]`,
		`[]`, `{`, `[{"x":1}]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Decode(data, Limits{MaxBytes: 1 << 16, MaxItems: 100})
		if err != nil {
			if vigil.PublicMessage(err) == "internal error" {
				t.Fatalf("Decode error %v has no public message", err)
			}
			return
		}
		// The one-pass path agrees with the item-by-item one.
		if fast, ok := decodeFast(data, data[skipSpace(data, 0)], 100); ok {
			slow, err := decodeSlow(data, skipSpace(data, 0), Limits{MaxBytes: 1 << 16, MaxItems: 100})
			if err != nil || len(slow.Rejected) != 0 {
				t.Fatalf("fast path accepted what the slow path rejects: %v %+v", err, slow)
			}
			a, _ := json.Marshal(fast.Readings)
			b, _ := json.Marshal(slow.Readings)
			if !bytes.Equal(a, b) {
				t.Fatalf("fast and slow paths differ:\n%s\n%s", a, b)
			}
		}
		if p.Items != len(p.Readings)+len(p.Rejected) || p.Items == 0 {
			t.Fatalf("inconsistent payload: %d items, %d readings, %d rejected", p.Items, len(p.Readings), len(p.Rejected))
		}
		if len(p.Readings) == 0 {
			return
		}
		// decode ∘ encode is the identity on what was accepted.
		enc, err := json.Marshal(p.Readings)
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		q, err := Decode(enc, Limits{MaxBytes: 1 << 20, MaxItems: 100})
		if err != nil || len(q.Rejected) != 0 {
			t.Fatalf("re-decoding %s: %v, rejected %+v", enc, err, q)
		}
		enc2, _ := json.Marshal(q.Readings)
		if !bytes.Equal(enc, enc2) {
			t.Fatalf("round trip differs:\n%s\n%s", enc, enc2)
		}
	})
}

func ExampleDecode() {
	payload := []byte(`[
		{"code":"8867-4","time":"2026-11-25T10:00:00Z","value":72,"unit":"/min"},
		{"code":"2708-6","time":"2026-11-25T10:00:00Z","value":"97","unit":"%"}
	]`)
	p, err := Decode(payload, Limits{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(p.Readings), "reading(s), first at index", p.Index[0])
	for _, r := range p.Rejected {
		fmt.Printf("item %d %s: %s\n", r.Index, r.Status, r.Error)
	}
	// Output:
	// 1 reading(s), first at index 0
	// item 1 rejected: field "value" has the wrong type or is out of range (want number)
}
