package ecg

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/vigilhealth/vigil"
)

func TestAnnotationsRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		in   []Annotation
	}{
		{"empty", nil},
		{"beats", []Annotation{{Sample: 18, Symbol: "N"}, {Sample: 300, Symbol: "V"}, {Sample: 301, Symbol: "/"}}},
		{"skip both ways large", []Annotation{{Sample: 5000, Symbol: "N"}, {Sample: 5000 + 1<<20, Symbol: "A"}, {Sample: 1<<31 - 1, Symbol: "Q"}}},
		{"modifiers", []Annotation{
			{Sample: 0, Symbol: "+", Aux: "(AFIB"},
			{Sample: 10, Symbol: "N", Sub: -3, Chan: 1, Num: 5},
			{Sample: 20, Symbol: "N", Chan: 1, Num: 5},
			{Sample: 20, Symbol: "~", Sub: 127, Chan: 255, Num: -128, Aux: "even"},
			{Sample: 30, Symbol: "[42]"},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteAnnotations(&buf, tc.in); err != nil {
				t.Fatalf("WriteAnnotations: %v", err)
			}
			got, err := ReadAnnotations(&buf)
			if err != nil {
				t.Fatalf("ReadAnnotations: %v", err)
			}
			if !reflect.DeepEqual(got, tc.in) {
				t.Errorf("round trip = %+v, want %+v", got, tc.in)
			}
		})
	}
}

func TestReadAnnotationsBytes(t *testing.T) {
	// Hand-assembled: N at 5, SKIP +70000, V at 70005 with SUB 2 and AUX "ab",
	// then EOF and trailing garbage that must be ignored.
	in := []byte{
		5, 1 << 2, // code 1 (N), time 5
		0, 59 << 2, 1, 0, 0x70, 0x11, // SKIP 0x00011170 = 70000
		0, 5 << 2, // V, +0
		2, 61 << 2, // SUB 2
		2, 63 << 2, 'a', 'b', // AUX len 2
		0, 0, 0xff,
	}
	got, err := ReadAnnotations(bytes.NewReader(in))
	if err != nil {
		t.Fatalf("ReadAnnotations: %v", err)
	}
	want := []Annotation{{Sample: 5, Symbol: "N"}, {Sample: 70005, Symbol: "V", Sub: 2, Aux: "ab"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ReadAnnotations = %+v, want %+v", got, want)
	}
}

func TestReadAnnotationsInvalid(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
	}{
		{"odd length", []byte{5, 4, 1}},
		{"truncated skip", []byte{0, 59 << 2, 1, 0}},
		{"truncated aux", []byte{5, 4, 5, 63 << 2, 'a'}},
		{"modifier first", []byte{1, 60 << 2}},
		{"undefined code", []byte{1, 55 << 2}},
		{"zero code with time", []byte{7, 0}},
		{"negative time", []byte{0, 59 << 2, 0xff, 0xff, 0xff, 0xff, 0, 4}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadAnnotations(bytes.NewReader(tc.in))
			if !errors.Is(err, vigil.ErrInvalid) {
				t.Errorf("ReadAnnotations(% x) = %v, want ErrInvalid", tc.in, err)
			}
		})
	}
}

func TestWriteAnnotationsInvalid(t *testing.T) {
	tests := []struct {
		name string
		in   []Annotation
	}{
		{"unknown symbol", []Annotation{{Symbol: "Z"}}},
		{"out of order", []Annotation{{Sample: 9, Symbol: "N"}, {Sample: 3, Symbol: "N"}}},
		{"negative", []Annotation{{Sample: -1, Symbol: "N"}}},
		{"num range", []Annotation{{Symbol: "N", Num: 200}}},
		{"chan range", []Annotation{{Symbol: "N", Chan: -1}}},
		{"aux too long", []Annotation{{Symbol: "N", Aux: string(make([]byte, 256))}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := WriteAnnotations(&buf, tc.in)
			if !errors.Is(err, vigil.ErrInvalid) || buf.Len() != 0 {
				t.Errorf("WriteAnnotations(%+v) = %v (%d bytes), want ErrInvalid and nothing written", tc.in, err, buf.Len())
			}
		})
	}
}

func TestAAMIClass(t *testing.T) {
	tests := []struct {
		sym   string
		class byte
		beat  bool
	}{
		{"N", 'N', true}, {"L", 'N', true}, {"R", 'N', true}, {"e", 'N', true}, {"j", 'N', true},
		{"A", 'S', true}, {"a", 'S', true}, {"J", 'S', true}, {"S", 'S', true},
		{"V", 'V', true}, {"E", 'V', true}, {"F", 'F', true},
		{"/", 'Q', true}, {"f", 'Q', true}, {"Q", 'Q', true},
		{"+", 0, false}, {"~", 0, false}, {"|", 0, false}, {"x", 0, false}, {"", 0, false},
	}
	for _, tc := range tests {
		c, b := AAMIClass(tc.sym)
		if c != tc.class || b != tc.beat {
			t.Errorf("AAMIClass(%q) = %q, %v, want %q, %v", tc.sym, c, b, tc.class, tc.beat)
		}
	}
}
