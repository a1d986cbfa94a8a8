package sqldb

import (
	"testing"
	"time"
)

func TestRebind(t *testing.T) {
	cases := []struct {
		d    Dialect
		in   string
		want string
	}{
		{SQLite, "SELECT a FROM t WHERE b = ? AND c = ?", "SELECT a FROM t WHERE b = ? AND c = ?"},
		{Postgres, "SELECT a FROM t WHERE b = ? AND c = ?", "SELECT a FROM t WHERE b = $1 AND c = $2"},
		{Postgres, "INSERT INTO t (a) VALUES (?)", "INSERT INTO t (a) VALUES ($1)"},
		{Postgres, "SELECT 1", "SELECT 1"},
	}
	for _, c := range cases {
		if got := Rebind(c.d, c.in); got != c.want {
			t.Errorf("Rebind(%d, %q) = %q, want %q", c.d, c.in, got, c.want)
		}
	}
}

func TestMillis(t *testing.T) {
	at := time.Date(2026, 11, 25, 12, 0, 0, 123_000_000, time.UTC)
	if got := FromMillis(Millis(at)); !got.Equal(at) || got.Location() != time.UTC {
		t.Errorf("FromMillis(Millis(%v)) = %v", at, got)
	}
	if Millis(time.Time{}) != 0 || !FromMillis(0).IsZero() {
		t.Error("the zero time must map to 0 and back")
	}
}
