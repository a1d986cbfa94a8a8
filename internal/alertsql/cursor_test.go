package alertsql

import (
	"errors"
	"testing"

	"github.com/vigilhealth/vigil"
)

func TestCursorRoundTrip(t *testing.T) {
	tests := []cursor{{0, "a"}, {1764064800123, "IXEDXPLVQKAH67KKXLNPEND7PH"}, {-5, "x/y"}}
	for _, c := range tests {
		got, err := decodeCursor(c.encode())
		if err != nil || got != c {
			t.Errorf("decodeCursor(encode(%v)) = %v, %v", c, got, err)
		}
	}
	for _, s := range []string{"", "!", "MTIz", "L2E", "YWJjL2Q"} { // "", "!", "123", "/a", "abc/d"
		if _, err := decodeCursor(s); !errors.Is(err, vigil.ErrInvalid) {
			t.Errorf("decodeCursor(%q) = %v, want ErrInvalid", s, err)
		}
	}
}

// FuzzDecodeCursor checks that any cursor decodes without panic, to an
// error of kind ErrInvalid or to a cursor that encodes back to the input.
func FuzzDecodeCursor(f *testing.F) {
	f.Add(cursor{1764064800123, "A1"}.encode())
	f.Add("")
	f.Add("LTEvLw")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := decodeCursor(s)
		if err != nil {
			if !errors.Is(err, vigil.ErrInvalid) {
				t.Fatalf("decodeCursor(%q) = %v, want ErrInvalid", s, err)
			}
			return
		}
		if again, err := decodeCursor(c.encode()); err != nil || again != c {
			t.Fatalf("decodeCursor(%q) = %v, which does not round-trip: %v, %v", s, c, again, err)
		}
	})
}
