// Package sqldb holds what Vigil's small database/sql stores (accounts,
// alerts) share across SQLite and PostgreSQL: the dialect, ? placeholders
// rewritten to $n, times as Unix milliseconds, unique-violation detection,
// and opening the database for each.
package sqldb

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// Dialect names the SQL flavour.
type Dialect int

// The dialects.
const (
	SQLite Dialect = iota + 1
	Postgres
)

// Rebind rewrites ? placeholders to $1, $2, … for PostgreSQL; SQLite
// queries are returned as they are.
func Rebind(d Dialect, query string) string {
	if d != Postgres {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Millis is t in Unix milliseconds; the zero time is 0.
func Millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// FromMillis is the inverse of Millis, in UTC.
func FromMillis(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

// IsUnique reports a unique-constraint violation on either database.
func IsUnique(err error) bool {
	m := err.Error()
	return strings.Contains(m, "UNIQUE constraint") || strings.Contains(m, "SQLSTATE 23505") || strings.Contains(m, "duplicate key")
}

// OpenSQLite opens (creating if needed) dir/file with WAL and full fsync,
// readable by the owner only, with at most maxConns connections. The
// sqlite driver (modernc.org/sqlite) must be registered by the caller's
// package.
func OpenSQLite(dir, file string, maxConns int, pragmas ...string) (*sql.DB, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("create directory: %w", err)
	}
	q := url.Values{}
	for _, p := range append([]string{"busy_timeout(5000)", "journal_mode(WAL)", "synchronous(FULL)"}, pragmas...) {
		q.Add("_pragma", p)
	}
	path := filepath.Join(dir, file)
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", file, err)
	}
	db.SetMaxOpenConns(maxConns)
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", file, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		db.Close()
		return nil, fmt.Errorf("%s permissions: %w", file, err)
	}
	return db, nil
}

// OpenPostgres opens the database at url through pgx's database/sql
// driver, with at most maxConns connections.
func OpenPostgres(ctx context.Context, url string, maxConns int) (*sql.DB, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse url: %w", err)
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(maxConns)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect: %w", err)
	}
	return db, nil
}
