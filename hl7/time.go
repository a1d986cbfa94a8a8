package hl7

import (
	"strconv"
	"strings"
	"time"
)

// Precision is how much of a timestamp was given. The zero value means no
// timestamp.
type Precision uint8

// Timestamp precisions, from HL7 v2.5 DTM: YYYY[MM[DD[HH[MM[SS[.S…]]]]]].
const (
	PrecisionNone Precision = iota
	PrecisionYear
	PrecisionMonth
	PrecisionDay
	PrecisionHour
	PrecisionMinute
	PrecisionSecond
	PrecisionFraction // seconds with 1–4 fractional digits
)

// Time is an HL7 v2 timestamp (TS component 1, data type DTM; HL7 v2.5
// chapter 2A.22 and 2A.74).
type Time struct {
	// Time is the instant in UTC when HasOffset; otherwise the wall-clock
	// reading placed in UTC, which In resolves against the sender's zone.
	Time      time.Time
	Precision Precision
	// HasOffset is true when the value carried a +/-ZZZZ offset.
	HasOffset bool
}

// IsZero reports whether t holds no timestamp.
func (t Time) IsZero() bool { return t.Precision == PrecisionNone }

// In returns the instant t denotes. Without an offset HL7 says the time is
// the sender's local time, so the wall clock is interpreted in loc (which
// must not be nil in that case); with one, loc is ignored.
func (t Time) In(loc *time.Location) time.Time {
	if t.HasOffset {
		return t.Time
	}
	w := t.Time
	return time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), w.Nanosecond(), loc).UTC()
}

// ParseTime parses an HL7 v2 timestamp "YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ]".
// Any deprecated degree-of-precision component after "^" is ignored.
func ParseTime(s string) (Time, error) {
	var t Time
	secs := 0
	bad := func() (Time, error) { return Time{}, &Error{Reason: "invalid timestamp", Code: CodeDataType} }
	if i := strings.IndexAny(s, "+-"); i >= 0 {
		off := s[i:]
		s = s[:i]
		if len(off) != 5 || !digits(off[1:]) {
			return bad()
		}
		h, _ := strconv.Atoi(off[1:3])
		m, _ := strconv.Atoi(off[3:5])
		if h > 14 || m > 59 {
			return bad()
		}
		secs = (h*60 + m) * 60
		if off[0] == '-' {
			secs = -secs
		}
		t.HasOffset = true
	}
	frac := ""
	if i := strings.IndexByte(s, '.'); i >= 0 {
		s, frac = s[:i], s[i+1:]
		if len(s) != 14 || len(frac) < 1 || len(frac) > 4 || !digits(frac) {
			return bad()
		}
	}
	if !digits(s) {
		return bad()
	}
	switch len(s) {
	case 4:
		t.Precision = PrecisionYear
	case 6:
		t.Precision = PrecisionMonth
	case 8:
		t.Precision = PrecisionDay
	case 10:
		t.Precision = PrecisionHour
	case 12:
		t.Precision = PrecisionMinute
	case 14:
		t.Precision = PrecisionSecond
	default:
		return bad()
	}
	num := func(from, to, def int) int {
		if len(s) < to {
			return def
		}
		n, _ := strconv.Atoi(s[from:to])
		return n
	}
	y, mo, d, h, mi, sec := num(0, 4, 0), num(4, 6, 1), num(6, 8, 1), num(8, 10, 0), num(10, 12, 0), num(12, 14, 0)
	ns := 0
	if frac != "" {
		t.Precision = PrecisionFraction
		n, _ := strconv.Atoi(frac)
		for i := len(frac); i < 9; i++ {
			n *= 10
		}
		ns = n
	}
	v := time.Date(y, time.Month(mo), d, h, mi, sec, ns, time.UTC)
	if v.Year() != y || int(v.Month()) != mo || v.Day() != d || v.Hour() != h || v.Minute() != mi || v.Second() != sec {
		return bad()
	}
	t.Time = v.Add(-time.Duration(secs) * time.Second)
	return t, nil
}

// FormatTime formats an instant as an HL7 v2 timestamp in UTC with an
// explicit +0000 offset, to the second, or to 1/10000 s when it has a
// fractional part: "20260301120000+0000".
func FormatTime(t time.Time) string {
	t = t.UTC()
	if t.Nanosecond()/100000 != 0 {
		return t.Format("20060102150405.0000") + "+0000"
	}
	return t.Format("20060102150405") + "+0000"
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return len(s) > 0
}
