package beatpack

import (
	"errors"
	"slices"
	"testing"

	"github.com/vigilhealth/vigil"
)

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name  string
		start int64
		items []Item
	}{
		{"empty", 1000, nil},
		{"one", 1000, []Item{{T: 1000, Class: 'N'}}},
		{"run", 1_790_000_000_000, []Item{{T: 1_790_000_000_100, Class: 'N', RR: 800}, {T: 1_790_000_000_512, Class: 'V', RR: 412},
			{T: 1_790_000_001_700, Class: 'Q', RR: 1188}, {T: 1_790_000_001_700, Class: 'F', RR: 0}, {T: 1_790_003_601_700, Class: 'S', RR: 3_600_000}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Append(nil, tc.start, tc.items)
			if err != nil {
				t.Fatalf("Append: %v", err)
			}
			got, err := Decode(b, tc.start, nil)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !slices.Equal(got, tc.items) && !(len(got) == 0 && len(tc.items) == 0) {
				t.Errorf("Decode(Append(%v)) = %v", tc.items, got)
			}
			if len(tc.items) > 2 && len(b) > 5*len(tc.items) {
				t.Errorf("%d bytes for %d beats", len(b), len(tc.items))
			}
		})
	}
}

func TestAppendRejects(t *testing.T) {
	tests := []struct {
		name  string
		items []Item
	}{
		{"before start", []Item{{T: 999, Class: 'N'}}},
		{"out of order", []Item{{T: 2000, Class: 'N'}, {T: 1500, Class: 'N'}}},
		{"class", []Item{{T: 2000, Class: 'X'}}},
		{"negative RR", []Item{{T: 2000, Class: 'N', RR: -1}}},
		{"long RR", []Item{{T: 2000, Class: 'N', RR: maxRR + 1}}},
	}
	for _, tc := range tests {
		if _, err := Append(nil, 1000, tc.items); !errors.Is(err, vigil.ErrInvalid) {
			t.Errorf("Append(%s) = %v, want ErrInvalid", tc.name, err)
		}
	}
}

// FuzzDecode checks that Decode never panics and that what it accepts
// encodes back to the same bytes.
func FuzzDecode(f *testing.F) {
	b, _ := Append(nil, 5, []Item{{T: 10, Class: 'V', RR: 400}, {T: 900, Class: 'N', RR: 890}})
	f.Add(b, int64(5))
	f.Add([]byte{1, 0x80}, int64(0))
	f.Add([]byte{2}, int64(0))
	f.Fuzz(func(t *testing.T, data []byte, start int64) {
		if start < 0 || start > 1<<50 {
			return
		}
		items, err := Decode(data, start, nil)
		if err != nil {
			return
		}
		again, err := Append(nil, start, items)
		if err != nil {
			t.Fatalf("Append(Decode(%x)) = %v", data, err)
		}
		back, err := Decode(again, start, nil)
		if err != nil || !slices.Equal(back, items) {
			t.Fatalf("round trip of %x: %v %v", data, back, err)
		}
	})
}
