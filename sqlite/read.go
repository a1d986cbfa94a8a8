package sqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/vigilhealth/vigil"
)

// resourceCols are the columns scanResource reads, from resources r and
// versions v.
const resourceCols = "r.type, r.id, v.version, v.last_updated, v.deleted, v.method, v.json"

type scanner interface{ Scan(dest ...any) error }

func scanResource(s scanner, extra ...any) (*vigil.Resource, error) {
	var r vigil.Resource
	var lu int64
	dest := append([]any{&r.Type, &r.ID, &r.Version, &lu, &r.Deleted, &r.Method, &r.JSON}, extra...)
	if err := s.Scan(dest...); err != nil {
		return nil, err
	}
	r.LastUpdated = time.UnixMicro(lu).UTC()
	if r.Deleted {
		r.JSON = nil
	}
	return &r, nil
}

func read(ctx context.Context, q querier, typ, id string) (*vigil.Resource, error) {
	r, err := scanResource(q.QueryRowContext(ctx,
		"SELECT "+resourceCols+" FROM resources r JOIN versions v ON v.seq = r.seq WHERE r.type = ? AND r.id = ?", typ, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, vigil.Errorf(vigil.ErrNotFound, "%s/%s not found", typ, id)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: read: %w", err)
	}
	if r.Deleted {
		return r, vigil.Errorf(vigil.ErrGone, "%s/%s is deleted", typ, id)
	}
	return r, nil
}

func readVersion(ctx context.Context, q querier, typ, id string, version int64) (*vigil.Resource, error) {
	r, err := scanResource(q.QueryRowContext(ctx,
		"SELECT "+resourceCols+" FROM resources r JOIN versions v ON v.key = r.key WHERE r.type = ? AND r.id = ? AND v.version = ?", typ, id, version))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, vigil.Errorf(vigil.ErrNotFound, "%s/%s version %d not found", typ, id, version)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: read version: %w", err)
	}
	return r, nil
}

// Page sizes (search contract: Count <= 0 means 50, capped at 1000).
const (
	defaultCount = 50
	maxCount     = 1000
)

func pageSize(n int) int {
	switch {
	case n <= 0:
		return defaultCount
	case n > maxCount:
		return maxCount
	}
	return n
}

// historyCursor continues a history listing after commit sequence Seq.
type historyCursor struct {
	Seq  int64  `json:"s"`
	Hash string `json:"h"`
}

func history(ctx context.Context, q querier, hq *vigil.HistoryQuery) (*vigil.HistoryResult, error) {
	hash, err := queryHash(struct {
		Type, ID  string
		Since, At time.Time
	}{hq.Type, hq.ID, hq.Since, hq.At})
	if err != nil {
		return nil, err
	}
	var where []string
	var args []any
	switch {
	case hq.ID != "":
		// Driven by UNIQUE(type, id), then versions by (key, version).
		where, args = append(where, "r.type = ? AND r.id = ?"), append(args, hq.Type, hq.ID)
	case hq.Type != "":
		where, args = append(where, "v.type = ?"), append(args, hq.Type)
	}
	if !hq.Since.IsZero() {
		where, args = append(where, "v.last_updated >= ?"), append(args, hq.Since.UnixMicro())
	}
	if !hq.At.IsZero() {
		at := hq.At.UnixMicro()
		where = append(where, "v.last_updated <= ? AND NOT EXISTS (SELECT 1 FROM versions w WHERE w.key = v.key AND w.version > v.version AND w.last_updated <= ?)")
		args = append(args, at, at)
	}
	from := " FROM versions v JOIN resources r ON r.key = v.key"
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	res := &vigil.HistoryResult{}
	countFrom := " FROM versions v"
	if hq.ID != "" {
		countFrom = from
	}
	if err := q.QueryRowContext(ctx, "SELECT COUNT(*)"+countFrom+cond, args...).Scan(&res.Total); err != nil {
		return nil, fmt.Errorf("sqlite: count history: %w", err)
	}
	if hq.Cursor != "" {
		var c historyCursor
		if err := decodeCursor(hq.Cursor, &c); err != nil || c.Hash != hash {
			return nil, vigil.Errorf(vigil.ErrInvalid, "the paging cursor does not belong to this history")
		}
		where, args = append(where, "v.seq < ?"), append(args, c.Seq)
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	n := pageSize(hq.Count)
	rows, err := q.QueryContext(ctx, "SELECT "+resourceCols+", v.seq"+from+cond+" ORDER BY v.seq DESC "+limit(n+1), args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: history: %w", err)
	}
	defer rows.Close()
	var last int64
	for rows.Next() {
		if len(res.Versions) == n {
			res.Next, err = encodeCursor(historyCursor{Seq: last, Hash: hash})
			if err != nil {
				return nil, err
			}
			break
		}
		r, err := scanResource(rows, &last)
		if err != nil {
			return nil, fmt.Errorf("sqlite: history: %w", err)
		}
		res.Versions = append(res.Versions, *r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: history: %w", err)
	}
	return res, nil
}

// queryHash identifies a query (without its cursor) inside a cursor.
func queryHash(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("sqlite: hash query: %w", err)
	}
	sum := sha256.Sum256(b)
	return base64.RawURLEncoding.EncodeToString(sum[:9]), nil
}

func encodeCursor(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("sqlite: encode cursor: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func decodeCursor(s string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}
