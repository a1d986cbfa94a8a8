package fhir

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// normalizeString folds a string for string search
// (https://hl7.org/fhir/R4/search.html#string): lower case, accents and
// other combining marks removed (Unicode canonical decomposition, NFD),
// runs of white space folded to one space, trimmed. Index and ParseSearch
// both use it, so "Renée  Dubois" matches "renee dubois".
func normalizeString(s string) string {
	ascii, clean := true, true
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= utf8.RuneSelf:
			ascii, clean = false, false
		case c >= 'A' && c <= 'Z', c < ' ', c == ' ' && (i == 0 || i == len(s)-1 || s[i-1] == ' '):
			clean = false
		}
	}
	if clean {
		return s // already lower case ASCII with single inner spaces
	}
	var b strings.Builder
	b.Grow(len(s))
	space := false
	if ascii {
		for i := 0; i < len(s); i++ {
			c := s[i]
			switch {
			case c == ' ' || c >= '\t' && c <= '\r':
				space = b.Len() > 0
				continue
			case c >= 'A' && c <= 'Z':
				c += 'a' - 'A'
			}
			if space {
				b.WriteByte(' ')
				space = false
			}
			b.WriteByte(c)
		}
		return b.String()
	}
	write := func(r rune) {
		if unicode.IsSpace(r) {
			space = b.Len() > 0
			return
		}
		if unicode.Is(unicode.Mn, r) {
			return
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(unicode.ToLower(r))
	}
	var it norm.Iter
	it.InitString(norm.NFD, s)
	for !it.Done() {
		seg := it.Next()
		for len(seg) > 0 {
			r, n := utf8.DecodeRune(seg)
			write(r)
			seg = seg[n:]
		}
	}
	return b.String()
}

// DateRange returns the range [start, end) a FHIR date, dateTime or
// instant covers at its precision, in UTC (see parseDateRange).
func DateRange(s string) (start, end time.Time, err error) { return parseDateRange(s) }

// errDate is returned for values that are not FHIR dates.
var errDate = errors.New("not a FHIR date")

// parseDateRange parses a FHIR date, dateTime or instant
// (https://hl7.org/fhir/R4/datatypes.html#dateTime) and returns the range
// [start, end) it covers at its precision, in UTC: "2020" covers the year,
// "2020-03" the month, "2020-03-04" the day, "…T10:00" the minute,
// "…T10:00:05" the second, "…T10:00:05.25" the 10 ms. A value without a
// time zone is taken as UTC. Search values may use any of these
// precisions; resources too (dateTime with minutes is tolerated).
func parseDateRange(s string) (start, end time.Time, err error) {
	n := len(s)
	if n < 4 {
		return start, end, errDate
	}
	year, ok := digits(s, 0, 4)
	if !ok {
		return start, end, errDate
	}
	if n == 4 {
		t := time.Date(year, 1, 1, 0, 0, 0, 0, time.UTC)
		return t, t.AddDate(1, 0, 0), nil
	}
	if s[4] != '-' || n < 7 {
		return start, end, errDate
	}
	month, ok := digits(s, 5, 2)
	if !ok || month < 1 || month > 12 {
		return start, end, errDate
	}
	if n == 7 {
		t := time.Date(year, time.Month(month), 1, 0, 0, 0, 0, time.UTC)
		return t, t.AddDate(0, 1, 0), nil
	}
	if s[7] != '-' || n < 10 {
		return start, end, errDate
	}
	day, ok := digits(s, 8, 2)
	if !ok || day < 1 || day > daysIn(year, month) {
		return start, end, errDate
	}
	if n == 10 {
		t := time.Date(year, time.Month(month), day, 0, 0, 0, 0, time.UTC)
		return t, t.AddDate(0, 0, 1), nil
	}
	if s[10] != 'T' || n < 16 || s[13] != ':' {
		return start, end, errDate
	}
	hour, ok1 := digits(s, 11, 2)
	minute, ok2 := digits(s, 14, 2)
	if !ok1 || !ok2 || hour > 23 || minute > 59 {
		return start, end, errDate
	}
	i := 16
	sec, nsec := 0, 0
	step := time.Minute
	if i < n && s[i] == ':' {
		v, ok := digits(s, i+1, 2)
		if !ok || v > 60 {
			return start, end, errDate
		}
		if v == 60 { // leap second: clamp
			v = 59
		}
		sec, i, step = v, i+3, time.Second
		if i < n && s[i] == '.' {
			j := i + 1
			for j < n && s[j] >= '0' && s[j] <= '9' {
				j++
			}
			frac := s[i+1 : j]
			if frac == "" || len(frac) > 9 {
				return start, end, errDate
			}
			f, _ := strconv.Atoi(frac)
			step = time.Second
			for range frac {
				step /= 10
			}
			nsec = f * int(step)
			i = j
		}
	}
	loc := time.UTC
	switch {
	case i == n:
	case s[i] == 'Z' && i+1 == n:
	case (s[i] == '+' || s[i] == '-') && n-i == 6 && s[i+3] == ':':
		h, ok1 := digits(s, i+1, 2)
		m, ok2 := digits(s, i+4, 2)
		if !ok1 || !ok2 || h > 14 || m > 59 {
			return start, end, errDate
		}
		off := h*3600 + m*60
		if s[i] == '-' {
			off = -off
		}
		loc = time.FixedZone("", off)
	default:
		return start, end, errDate
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, loc).UTC()
	return t, t.Add(step), nil
}

func digits(s string, at, n int) (int, bool) {
	if at+n > len(s) {
		return 0, false
	}
	v := 0
	for i := at; i < at+n; i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, true
}

func daysIn(year, month int) int {
	return time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// parseDecimal parses a FHIR decimal and returns its value and the range
// [low, high) its precision implies (https://hl7.org/fhir/R4/search.html#number):
// "1.5" → 1.5, [1.45, 1.55); "100" → [99.5, 100.5); "1e2" → [50, 150).
func parseDecimal(s string) (v, low, high float64, err error) {
	if s == "" || strings.ContainsAny(s, " _") || strings.EqualFold(s, "nan") ||
		strings.Contains(strings.ToLower(s), "inf") || strings.HasPrefix(s, "0x") {
		return 0, 0, 0, strconv.ErrSyntax
	}
	v, err = strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, 0, 0, err
	}
	mant, exp := s, 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		mant = s[:i]
		e, err := strconv.Atoi(s[i+1:])
		if err != nil {
			return 0, 0, 0, strconv.ErrSyntax
		}
		exp = e
		// 1e2: one significant digit.
		digitsAfter := 0
		if j := strings.IndexByte(mant, '.'); j >= 0 {
			digitsAfter = len(mant) - j - 1
		}
		half := 0.5 * math.Pow(10, float64(exp-digitsAfter))
		return v, v - half, v + half, nil
	}
	decimals := 0
	if j := strings.IndexByte(mant, '.'); j >= 0 {
		decimals = len(mant) - j - 1
	}
	half := 0.5 * math.Pow(10, float64(-decimals))
	return v, v - half, v + half, nil
}

// numberString returns the decimal text of a JSON number value.
func numberString(v any) (string, bool) {
	switch x := v.(type) {
	case interface{ String() string }: // json.Number
		return x.String(), true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case int:
		return strconv.Itoa(x), true
	case string:
		return x, true
	}
	return "", false
}
