package postgres

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"github.com/vigilhealth/vigil"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// sqlBuilder accumulates SQL text and its positional arguments; values are
// always passed as arguments, never written into the text.
type sqlBuilder struct {
	strings.Builder
	args  []any
	alias int
	// restrict is the search's access restriction; chained parameters
	// apply it to the resources they follow.
	restrict *vigil.Compartment
}

// arg adds v as an argument and returns its placeholder ($n).
func (b *sqlBuilder) arg(v any) string {
	b.args = append(b.args, v)
	return "$" + strconv.Itoa(len(b.args))
}

// newAlias returns a table alias unique within the statement.
func (b *sqlBuilder) newAlias(prefix string) string {
	b.alias++
	return prefix + strconv.Itoa(b.alias)
}

// adHoc prefixes args so that pgx runs the statement unprepared: PostgreSQL
// then plans it for the actual values. Searches need that; a cached
// generic plan ignores how selective each value is.
func adHoc(args []any) []any {
	return append([]any{pgx.QueryExecModeExec}, args...)
}

// pageSize applies the contract's default (50) and cap (1000).
func pageSize(n int) int {
	switch {
	case n <= 0:
		return 50
	case n > 1000:
		return 1000
	}
	return n
}

// hashOf returns a short digest of v's JSON form; cursors carry it to tie
// them to the query that made them.
func hashOf(v any) string {
	data, err := json.Marshal(v)
	if err != nil {
		// Queries are plain data; a value JSON cannot encode (NaN) still
		// yields a stable, if less specific, hash.
		data = []byte(err.Error())
	}
	sum := sha256.Sum256(data)
	return base64.RawURLEncoding.EncodeToString(sum[:12])
}

// encodeCursor returns the opaque, URL-safe form of a cursor.
func encodeCursor(v any) string {
	data, _ := json.Marshal(v) // cursor structs hold only strings, numbers and raw JSON
	return base64.RawURLEncoding.EncodeToString(data)
}

// decodeCursor parses a cursor made by encodeCursor into v.
func decodeCursor(s string, v any) error {
	data, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}
