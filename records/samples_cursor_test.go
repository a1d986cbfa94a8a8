package records

import (
	"testing"
)

// FuzzSampleCursor checks that decoding a merged cursor never panics, that
// it accepts only cursors of the same search, and that what it accepts
// encodes back to a cursor that decodes the same.
func FuzzSampleCursor(f *testing.F) {
	const hash = "0123456789abcdef"
	f.Add((&mergedCursor{Hash: hash}).encode())
	f.Add((&mergedCursor{Hash: hash, Store: "abc", StoreN: 3, StoreLast: "x1", Pos: &sampleKey{T: 1767225600000, Code: "8867-4", Device: "d", Kind: 'v'}}).encode())
	f.Add((&mergedCursor{Hash: "other", Done: true}).encode())
	f.Add("m1.")
	f.Add("m1.e30")
	f.Add("opaque-store-cursor")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := decodeCursor(s, hash)
		if err != nil {
			return
		}
		if c.Hash != hash || c.StoreN < 0 {
			t.Fatalf("decodeCursor(%q) accepted %+v", s, c)
		}
		again, err := decodeCursor(c.encode(), hash)
		if err != nil {
			t.Fatalf("decode(encode(%+v)): %v", c, err)
		}
		if again.encode() != c.encode() {
			t.Fatalf("round trip: %+v != %+v", again, c)
		}
	})
}

// TestDecodeCursorRejects checks cursors of other searches and garbage.
func TestDecodeCursorRejects(t *testing.T) {
	good := (&mergedCursor{Hash: "h1", Store: "s"}).encode()
	tests := []struct {
		name, cursor, hash string
		ok                 bool
	}{
		{"same search", good, "h1", true},
		{"other search", good, "h2", false},
		{"store cursor", "abc", "h1", false},
		{"bad base64", "m1.!!", "h1", false},
		{"not json", "m1.YWJj", "h1", false},
		{"negative skip", (&mergedCursor{Hash: "h1", StoreN: -1}).encode(), "h1", false},
	}
	for _, tc := range tests {
		_, err := decodeCursor(tc.cursor, tc.hash)
		if (err == nil) != tc.ok {
			t.Errorf("%s: decodeCursor(%q) error = %v, want ok %v", tc.name, tc.cursor, err, tc.ok)
		}
	}
}
