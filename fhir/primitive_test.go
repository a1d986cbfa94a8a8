package fhir

import (
	"encoding/json"
	"regexp"
	"testing"
)

// specRegex are the regular expressions of the R4 primitive types
// (https://hl7.org/fhir/R4/datatypes.html#primitive), as published in
// profiles-types.json. The hand-written checkers must agree with them,
// except that dates must also be real calendar dates.
var specRegex = map[primKind]*regexp.Regexp{
	primBase64Binary: regexp.MustCompile(`^(?:(\s*([0-9a-zA-Z\+/=]){4}\s*)+)$`),
	primCode:         regexp.MustCompile(`^(?:[^\s]+(\s[^\s]+)*)$`),
	primDate:         regexp.MustCompile(`^(?:([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1]))?)?)$`),
	primDateTime:     regexp.MustCompile(`^(?:([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1])(T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00)))?)?)?)$`),
	primID:           regexp.MustCompile(`^(?:[A-Za-z0-9\-\.]{1,64})$`),
	primInstant:      regexp.MustCompile(`^(?:([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)-(0[1-9]|1[0-2])-(0[1-9]|[1-2][0-9]|3[0-1])T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00)))$`),
	primOID:          regexp.MustCompile(`^(?:urn:oid:[0-2](\.(0|[1-9][0-9]*))+)$`),
	primTime:         regexp.MustCompile(`^(?:([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?)$`),
	primURI:          regexp.MustCompile(`^(?:\S+)$`), // \S*, and FHIR strings are never empty
	primUUID:         regexp.MustCompile(`^(?:urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$`),
}

var (
	calendarDay = regexp.MustCompile(`^(\d{4})-(\d{2})-(\d{2})`)
)

// agreesWithSpec reports whether check(k, s) is what the spec regex says,
// allowing the documented strictness: calendar dates, base64 padding.
func agreesWithSpec(k primKind, s string) bool {
	got := k.check(s)
	want := s != "" && specRegex[k].MatchString(s)
	if got == want {
		return true
	}
	if got {
		return false // accepted what the spec rejects
	}
	switch k {
	case primDate, primDateTime, primInstant:
		if m := calendarDay.FindStringSubmatch(s); m != nil {
			var y, mo, d int
			for _, c := range m[1] {
				y = y*10 + int(c-'0')
			}
			mo = int(m[2][0]-'0')*10 + int(m[2][1]-'0')
			d = int(m[3][0]-'0')*10 + int(m[3][1]-'0')
			return d > monthDays(y, mo)
		}
	case primBase64Binary:
		return true // stricter about '=' placement, checked in TestPrimitive
	}
	return false
}

func TestPrimitive(t *testing.T) {
	tests := []struct {
		kind primKind
		good []any
		bad  []any
	}{
		{primBoolean, []any{true, false}, []any{"true", json.Number("1"), nil}},
		{primInteger, []any{json.Number("0"), json.Number("-5"), json.Number("2147483647"), json.Number("-2147483648"), float64(3)},
			[]any{json.Number("1.0"), json.Number("1e2"), json.Number("2147483648"), "1", float64(1.5)}},
		{primPositiveInt, []any{json.Number("1")}, []any{json.Number("0"), json.Number("-1")}},
		{primUnsignedInt, []any{json.Number("0"), json.Number("7")}, []any{json.Number("-1")}},
		{primDecimal, []any{json.Number("0"), json.Number("-1.50"), json.Number("1e-3"), float64(2.5)},
			[]any{"1.5", json.Number("01"), json.Number("1."), json.Number("+1")}},
		{primString, []any{"a", " x ", "multi\nline"}, []any{"", 1, nil}},
		{primCode, []any{"final", "a b"}, []any{"", " a", "a ", "a  b", "a\tb\t"}},
		{primID, []any{"a", "A-1.b", "0123456789012345678901234567890123456789012345678901234567890123"},
			[]any{"a_b", "a b", "01234567890123456789012345678901234567890123456789012345678901234"}},
		{primURI, []any{"http://x.org/a", "urn:uuid:x"}, []any{"http://x y", ""}},
		{primOID, []any{"urn:oid:1.2.840.10008", "urn:oid:2.0"}, []any{"urn:oid:3.1", "urn:oid:1", "urn:oid:1.02", "1.2.3"}},
		{primUUID, []any{"urn:uuid:187e0c12-8dd2-67e2-99b2-bf273c878281"},
			[]any{"urn:uuid:187E0C12-8dd2-67e2-99b2-bf273c878281", "187e0c12-8dd2-67e2-99b2-bf273c878281"}},
		{primDate, []any{"2024", "2024-02", "2024-02-29", "0001-01-01"},
			[]any{"0000", "2023-02-29", "2024-13", "2024-1-01", "2024-01-01T00:00:00Z", "24"}},
		{primDateTime, []any{"2024", "2024-05-01", "2024-05-01T10:00:00Z", "2024-05-01T10:00:00.123+14:00", "2016-12-31T23:59:60Z"},
			[]any{"2024-05-01T10:00:00", "2024-05-01T10:00Z", "2024-05T10:00:00Z", "2024-05-01T24:00:00Z", "2024-05-01T10:00:00+14:30"}},
		{primInstant, []any{"2024-05-01T10:00:00Z", "2024-05-01T10:00:00.5-05:00"}, []any{"2024-05-01", "2024-05-01T10:00:00"}},
		{primTime, []any{"00:00:00", "23:59:59.999"}, []any{"24:00:00", "10:00", "10:00:00Z"}},
		{primBase64Binary, []any{"AAAA", "YQ==", "YWI=", "YWJj ZGVm\nZw==", "+/+/"},
			[]any{"YQ=", "Y===", "=AAA", "YQ==AAAA", "A A A A", "****"}},
		{primXHTML, []any{`<div xmlns="http://www.w3.org/1999/xhtml">x</div>`}, []any{""}},
	}
	for _, tc := range tests {
		for _, v := range tc.good {
			if !tc.kind.check(v) {
				t.Errorf("check(kind %d, %#v) = false, want true", tc.kind, v)
			}
		}
		for _, v := range tc.bad {
			if tc.kind.check(v) {
				t.Errorf("check(kind %d, %#v) = true, want false", tc.kind, v)
			}
		}
		for _, list := range [][]any{tc.good, tc.bad} {
			for _, v := range list {
				if s, ok := v.(string); ok && specRegex[tc.kind] != nil && !agreesWithSpec(tc.kind, s) {
					t.Errorf("check(kind %d, %q) disagrees with the spec regex", tc.kind, s)
				}
			}
		}
	}
}

// FuzzPrimitiveFormats checks the hand-written format checkers against the
// spec's regular expressions.
func FuzzPrimitiveFormats(f *testing.F) {
	for _, s := range []string{"2024-02-29T10:00:00.5+01:00", "urn:oid:1.2.3", "YWI=", "a b", "23:59:60",
		"urn:uuid:187e0c12-8dd2-67e2-99b2-bf273c878281", "1999-12"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for k := range specRegex {
			if !agreesWithSpec(k, s) {
				t.Errorf("check(kind %d, %q) = %v, disagrees with the spec regex", k, s, k.check(s))
			}
		}
	})
}
