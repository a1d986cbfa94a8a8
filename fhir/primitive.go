package fhir

import (
	"encoding/json"
	"math"
	"strconv"
)

// primKind identifies a FHIR primitive type
// (https://hl7.org/fhir/R4/datatypes.html#primitive). The zero value means
// "not a primitive": a complex type.
type primKind uint8

const (
	primNone primKind = iota
	primBoolean
	primInteger
	primPositiveInt
	primUnsignedInt
	primDecimal
	primString
	primMarkdown
	primCode
	primID
	primURI
	primURL
	primCanonical
	primOID
	primUUID
	primDate
	primDateTime
	primInstant
	primTime
	primBase64Binary
	primXHTML
)

// primKindOf returns the primitive kind of a FHIR type code, or primNone
// for complex types.
func primKindOf(code string) primKind {
	switch code {
	case "boolean":
		return primBoolean
	case "integer":
		return primInteger
	case "positiveInt":
		return primPositiveInt
	case "unsignedInt":
		return primUnsignedInt
	case "decimal":
		return primDecimal
	case "string":
		return primString
	case "markdown":
		return primMarkdown
	case "code":
		return primCode
	case "id":
		return primID
	case "uri":
		return primURI
	case "url":
		return primURL
	case "canonical":
		return primCanonical
	case "oid":
		return primOID
	case "uuid":
		return primUUID
	case "date":
		return primDate
	case "dateTime":
		return primDateTime
	case "instant":
		return primInstant
	case "time":
		return primTime
	case "base64Binary":
		return primBase64Binary
	case "xhtml":
		return primXHTML
	}
	return primNone
}

// maxStringBytes is the largest string FHIR allows: "strings SHALL NOT
// exceed 1MB in size" (https://hl7.org/fhir/R4/datatypes.html#string).
const maxStringBytes = 1 << 20

// check reports whether v is a valid JSON representation of the primitive
// (https://hl7.org/fhir/R4/json.html#primitive): a JSON boolean, a JSON
// number for integer and decimal types, a JSON string otherwise, matching
// the type's regular expression. Numbers may be json.Number (as produced by
// Decode) or float64 (as produced by encoding/json without UseNumber).
func (k primKind) check(v any) bool {
	switch k {
	case primBoolean:
		_, ok := v.(bool)
		return ok
	case primInteger:
		return checkInteger(v, math.MinInt32)
	case primPositiveInt:
		return checkInteger(v, 1)
	case primUnsignedInt:
		return checkInteger(v, 0)
	case primDecimal:
		switch n := v.(type) {
		case json.Number:
			return isJSONNumber(string(n))
		case float64:
			return !math.IsNaN(n) && !math.IsInf(n, 0)
		}
		return false
	}
	s, ok := v.(string)
	if !ok || s == "" {
		return false
	}
	switch k {
	case primString, primMarkdown:
		return len(s) <= maxStringBytes
	case primXHTML:
		return true
	case primCode:
		return isCode(s)
	case primID:
		return isID(s)
	case primURI, primURL, primCanonical:
		return !hasRegexSpace(s)
	case primOID:
		return isOID(s)
	case primUUID:
		return isUUID(s)
	case primDate:
		return isDate(s)
	case primDateTime:
		return isDateTime(s)
	case primInstant:
		return isInstant(s)
	case primTime:
		n, ok := timeOfDay(s)
		return ok && n == len(s)
	case primBase64Binary:
		return isBase64(s)
	}
	return false
}

// checkInteger reports whether v is an integer JSON number in
// [lo, 2147483647]; FHIR integers are 32-bit signed.
func checkInteger(v any, lo int64) bool {
	var n int64
	switch x := v.(type) {
	case json.Number:
		// Regex [0]|[-+]?[1-9][0-9]*; JSON does not allow "+".
		var err error
		if n, err = strconv.ParseInt(string(x), 10, 64); err != nil || !isJSONNumber(string(x)) {
			return false
		}
	case float64:
		if x != math.Trunc(x) || math.Abs(x) > math.MaxInt32+1 {
			return false
		}
		n = int64(x)
	case int:
		n = int64(x)
	case int64:
		n = x
	default:
		return false
	}
	return n >= lo && n <= math.MaxInt32
}

// isJSONNumber reports whether s matches the JSON number grammar
// (RFC 8259 section 6), which is also FHIR's decimal regex
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?.
func isJSONNumber(s string) bool {
	return scanNumber(s) == len(s) && len(s) > 0
}

// scanNumber returns the length of the JSON number at the start of s, or 0.
func scanNumber[T string | []byte](s T) int {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		for i < len(s) && isASCIIDigit(s[i]) {
			i++
		}
	default:
		return 0
	}
	if i < len(s) && s[i] == '.' {
		i++
		j := i
		for i < len(s) && isASCIIDigit(s[i]) {
			i++
		}
		if i == j {
			return 0
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		j := i
		for i < len(s) && isASCIIDigit(s[i]) {
			i++
		}
		if i == j {
			return 0
		}
	}
	return i
}

func isASCIIDigit(c byte) bool { return c >= '0' && c <= '9' }

// isRegexSpace matches the regular expression class \s: [\t\n\f\r ].
func isRegexSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'
}

func hasRegexSpace(s string) bool {
	for i := 0; i < len(s); i++ {
		if isRegexSpace(s[i]) {
			return true
		}
	}
	return false
}

// isCode matches [^\s]+(\s[^\s]+)*: no leading, trailing or repeated
// whitespace.
func isCode(s string) bool {
	if isRegexSpace(s[0]) || isRegexSpace(s[len(s)-1]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if isRegexSpace(s[i]) && isRegexSpace(s[i-1]) {
			return false
		}
	}
	return true
}

// isID matches [A-Za-z0-9\-\.]{1,64}.
func isID(s string) bool {
	if len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(isASCIIDigit(c) || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// isOID matches urn:oid:[0-2](\.(0|[1-9][0-9]*))+.
func isOID(s string) bool {
	const prefix = "urn:oid:"
	if len(s) < len(prefix)+3 || s[:len(prefix)] != prefix {
		return false
	}
	s = s[len(prefix):]
	if s[0] < '0' || s[0] > '2' {
		return false
	}
	s = s[1:]
	if s == "" {
		return false
	}
	for s != "" {
		if s[0] != '.' || len(s) < 2 {
			return false
		}
		s = s[1:]
		n := 0
		for n < len(s) && isASCIIDigit(s[n]) {
			n++
		}
		if n == 0 || (n > 1 && s[0] == '0') {
			return false
		}
		s = s[n:]
	}
	return true
}

// isUUID matches urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}.
func isUUID(s string) bool {
	const prefix = "urn:uuid:"
	if len(s) != len(prefix)+36 || s[:len(prefix)] != prefix {
		return false
	}
	s = s[len(prefix):]
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !isASCIIDigit(c) && !(c >= 'a' && c <= 'f') {
				return false
			}
		}
	}
	return true
}

// isBase64 matches the base64Binary regex (\s*([0-9a-zA-Z\+/=]){4}\s*)+
// and, beyond it, requires padding ("=") only at the end of the last group
// (RFC 4648 section 4).
func isBase64(s string) bool {
	groups, padded := 0, false
	for i := 0; i < len(s); {
		if isRegexSpace(s[i]) {
			i++
			continue
		}
		if padded || i+4 > len(s) {
			return false
		}
		for j := i; j < i+4; j++ {
			c := s[j]
			switch {
			case c == '=':
				padded = true
			case padded:
				return false
			case isASCIIDigit(c) || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '+' || c == '/':
			default:
				return false
			}
		}
		// At most two padding characters: "xx==" or "xxx=".
		if s[i] == '=' || s[i+1] == '=' {
			return false
		}
		i += 4
		groups++
	}
	return groups > 0
}

// nDigits parses exactly n decimal digits at s[i:].
func nDigits(s string, i, n int) (int, bool) {
	if i+n > len(s) {
		return 0, false
	}
	v := 0
	for _, c := range []byte(s[i : i+n]) {
		if !isASCIIDigit(c) {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, true
}

// datePart parses YYYY, YYYY-MM or YYYY-MM-DD at the start of s (year
// 0001-9999, a real calendar day) and returns its length and how many
// components it has (1 to 3); n is 0 when s does not start with a year.
func datePart(s string) (n, parts int) {
	y, ok := nDigits(s, 0, 4)
	if !ok || y == 0 {
		return 0, 0
	}
	if len(s) < 5 || s[4] != '-' {
		return 4, 1
	}
	m, ok := nDigits(s, 5, 2)
	if !ok || m < 1 || m > 12 {
		return 0, 0
	}
	if len(s) < 8 || s[7] != '-' {
		return 7, 2
	}
	d, ok := nDigits(s, 8, 2)
	if !ok || d < 1 || d > monthDays(y, m) {
		return 0, 0
	}
	return 10, 3
}

func monthDays(y, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// timeOfDay parses hh:mm:ss(.f+)? at the start of s (seconds up to 60 for
// leap seconds) and returns its length, or false.
func timeOfDay(s string) (int, bool) {
	h, ok1 := nDigits(s, 0, 2)
	m, ok2 := nDigits(s, 3, 2)
	sec, ok3 := nDigits(s, 6, 2)
	if !ok1 || !ok2 || !ok3 || s[2] != ':' || s[5] != ':' || h > 23 || m > 59 || sec > 60 {
		return 0, false
	}
	i := 8
	if i < len(s) && s[i] == '.' {
		i++
		j := i
		for i < len(s) && isASCIIDigit(s[i]) {
			i++
		}
		if i == j {
			return 0, false
		}
	}
	return i, true
}

// isZone matches Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00).
func isZone(s string) bool {
	if s == "Z" {
		return true
	}
	if len(s) != 6 || (s[0] != '+' && s[0] != '-') || s[3] != ':' {
		return false
	}
	h, ok1 := nDigits(s, 1, 2)
	m, ok2 := nDigits(s, 4, 2)
	return ok1 && ok2 && (h <= 13 && m <= 59 || h == 14 && m == 0)
}

// isDate matches the date type: YYYY, YYYY-MM or YYYY-MM-DD.
func isDate(s string) bool {
	n, _ := datePart(s)
	return n > 0 && n == len(s)
}

// isDateTime matches the dateTime type: a date, or a full date with a time
// and a zone.
func isDateTime(s string) bool {
	n, parts := datePart(s)
	if n == 0 {
		return false
	}
	if n == len(s) {
		return true
	}
	return parts == 3 && isTimeAndZone(s[n:])
}

// isInstant matches the instant type: a full date, time and zone.
func isInstant(s string) bool {
	n, parts := datePart(s)
	return parts == 3 && isTimeAndZone(s[n:])
}

// isTimeAndZone matches Thh:mm:ss(.f+)?zone.
func isTimeAndZone(s string) bool {
	if len(s) < 2 || s[0] != 'T' {
		return false
	}
	n, ok := timeOfDay(s[1:])
	return ok && isZone(s[1+n:])
}
