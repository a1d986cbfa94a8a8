package fhir

import (
	"testing"
	"time"
)

func TestNormalizeString(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Peter", "peter"},
		{"peter", "peter"},
		{"  Renée   DUBOIS ", "renee dubois"},
		{"Zoë\tMüller\n", "zoe muller"},
		{"ÅNGSTRÖM", "angstrom"},
		{"São Paulo", "sao paulo"},
		{"", ""},
		{"a b", "a b"},
		{"İstanbul", "istanbul"},
	} {
		if got := normalizeString(tc.in); got != tc.want {
			t.Errorf("normalizeString(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestParseDateRange(t *testing.T) {
	utc := func(y int, m time.Month, d, h, mi, s, ns int) time.Time {
		return time.Date(y, m, d, h, mi, s, ns, time.UTC)
	}
	for _, tc := range []struct {
		in         string
		start, end time.Time
	}{
		{"2020", utc(2020, 1, 1, 0, 0, 0, 0), utc(2021, 1, 1, 0, 0, 0, 0)},
		{"2020-02", utc(2020, 2, 1, 0, 0, 0, 0), utc(2020, 3, 1, 0, 0, 0, 0)},
		{"2020-02-29", utc(2020, 2, 29, 0, 0, 0, 0), utc(2020, 3, 1, 0, 0, 0, 0)},
		{"2020-12-31T23:59", utc(2020, 12, 31, 23, 59, 0, 0), utc(2021, 1, 1, 0, 0, 0, 0)},
		{"2020-03-04T10:00:05Z", utc(2020, 3, 4, 10, 0, 5, 0), utc(2020, 3, 4, 10, 0, 6, 0)},
		{"2020-03-04T10:00:05+02:00", utc(2020, 3, 4, 8, 0, 5, 0), utc(2020, 3, 4, 8, 0, 6, 0)},
		{"2020-03-04T10:00:05-05:30", utc(2020, 3, 4, 15, 30, 5, 0), utc(2020, 3, 4, 15, 30, 6, 0)},
		{"2020-03-04T10:00:05.25Z", utc(2020, 3, 4, 10, 0, 5, 250e6), utc(2020, 3, 4, 10, 0, 5, 260e6)},
		{"2020-03-04T10:00:05.123Z", utc(2020, 3, 4, 10, 0, 5, 123e6), utc(2020, 3, 4, 10, 0, 5, 124e6)},
		{"2020-03-04T10:00:05", utc(2020, 3, 4, 10, 0, 5, 0), utc(2020, 3, 4, 10, 0, 6, 0)},
	} {
		s, e, err := parseDateRange(tc.in)
		if err != nil || !s.Equal(tc.start) || !e.Equal(tc.end) || s.Location() != time.UTC {
			t.Errorf("parseDateRange(%q) = %v, %v, %v; want %v, %v", tc.in, s, e, err, tc.start, tc.end)
		}
	}
	for _, bad := range []string{"", "20", "2020-13", "2020-02-30", "2020-1-1", "2020-01-01T25:00",
		"2020-01-01T10", "2020-01-01 10:00", "2020-01-01T10:00:00+2", "2020-01-01T10:00:00.Z",
		"January 2012", "2020-01-01T10:00:00ZZ", "2020/01/01"} {
		if _, _, err := parseDateRange(bad); err == nil {
			t.Errorf("parseDateRange(%q) = nil error, want an error", bad)
		}
	}
}

func TestParseDecimal(t *testing.T) {
	for _, tc := range []struct {
		in           string
		v, low, high float64
	}{
		{"100", 100, 99.5, 100.5},
		{"1.5", 1.5, 1.45, 1.55},
		{"0.25", 0.25, 0.245, 0.255},
		{"-3", -3, -3.5, -2.5},
		{"1e2", 100, 50, 150},
		{"1.0e2", 100, 95, 105},
	} {
		v, lo, hi, err := parseDecimal(tc.in)
		if err != nil || v != tc.v || !near(lo, tc.low) || !near(hi, tc.high) {
			t.Errorf("parseDecimal(%q) = %v [%v, %v) %v; want %v [%v, %v)", tc.in, v, lo, hi, err, tc.v, tc.low, tc.high)
		}
	}
	for _, bad := range []string{"", "abc", "NaN", "Inf", "1,5", "0x10", "1_000", "1e", " 1"} {
		if _, _, _, err := parseDecimal(bad); err == nil {
			t.Errorf("parseDecimal(%q) = nil error, want an error", bad)
		}
	}
}

func near(a, b float64) bool {
	d := a - b
	return d < 1e-9 && d > -1e-9
}

// FuzzParseDateRange checks that date parsing never panics and that a
// parsed range is non-empty and in UTC.
func FuzzParseDateRange(f *testing.F) {
	for _, s := range []string{"2020", "2020-02", "2020-02-29", "2020-03-04T10:00:05.123+02:00", "2020-03-04T10:00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		st, en, err := parseDateRange(s)
		if err != nil {
			return
		}
		if !st.Before(en) || st.Location() != time.UTC {
			t.Fatalf("parseDateRange(%q) = [%v, %v)", s, st, en)
		}
	})
}
