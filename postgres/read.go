package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/vigilhealth/vigil"
)

// readSQL reads the current version of a resource.
const readSQL = `SELECT r.version, r.last_updated, r.deleted, v.method, v.json
FROM resources r JOIN versions v ON v.key = r.key AND v.version = r.version
WHERE r.type = $1 AND r.id = $2`

func read(ctx context.Context, q querier, typ, id string) (*vigil.Resource, error) {
	r := &vigil.Resource{Type: typ, ID: id}
	err := q.QueryRow(ctx, readSQL, typ, id).Scan(&r.Version, &r.LastUpdated, &r.Deleted, &r.Method, &r.JSON)
	return finishRead(r, err)
}

func finishRead(r *vigil.Resource, err error) (*vigil.Resource, error) {
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, vigil.Errorf(vigil.ErrNotFound, "%s/%s not found", r.Type, r.ID)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: read: %w", err)
	}
	r.LastUpdated = r.LastUpdated.UTC()
	if r.Deleted {
		r.JSON = nil
		return r, vigil.Errorf(vigil.ErrGone, "%s/%s is deleted", r.Type, r.ID)
	}
	return r, nil
}

// readForUpdate reads the current version inside a write transaction and
// locks the resource until the transaction ends. An existing resource is
// locked with SELECT … FOR UPDATE; a missing one with an advisory lock on
// its name, so that two transactions creating the same id also serialise.
// With nowait it does not wait for a lock another transaction holds but
// fails with errLockBusy.
//
// The version row is read by a second statement of the same batch: under
// READ COMMITTED it takes a fresh snapshot after the row lock is held, and
// so sees the version a concurrent writer committed while we waited.
func readForUpdate(ctx context.Context, q querier, typ, id string, nowait bool) (*vigil.Resource, error) {
	lockRow := `SELECT key FROM resources WHERE type = $1 AND id = $2 FOR UPDATE`
	lockName := `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))::text`
	if nowait {
		lockRow += " NOWAIT"
		lockName = `SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0))::text`
	}
	for locked := false; ; locked = true {
		b := &pgx.Batch{}
		if locked {
			b.Queue(lockName, typ+"/"+id)
		}
		b.Queue(lockRow, typ, id)
		b.Queue(readSQL, typ, id)
		br := q.SendBatch(ctx, b)
		if locked {
			var got string
			if err := br.QueryRow().Scan(&got); err != nil {
				_ = br.Close()
				return nil, fmt.Errorf("postgres: lock resource: %w", err)
			}
			if got == "false" {
				_ = br.Close()
				return nil, errLockBusy
			}
		}
		var key int64
		if err := br.QueryRow().Scan(&key); err != nil && !errors.Is(err, pgx.ErrNoRows) {
			_ = br.Close()
			if isLockBusy(err) {
				return nil, errLockBusy
			}
			return nil, fmt.Errorf("postgres: lock resource: %w", err)
		}
		r := &vigil.Resource{Type: typ, ID: id}
		err := br.QueryRow().Scan(&r.Version, &r.LastUpdated, &r.Deleted, &r.Method, &r.JSON)
		if cerr := br.Close(); err == nil && cerr != nil {
			err = cerr
		}
		if errors.Is(err, pgx.ErrNoRows) && !locked {
			continue
		}
		return finishRead(r, err)
	}
}

func readVersion(ctx context.Context, q querier, typ, id string, version int64) (*vigil.Resource, error) {
	r := &vigil.Resource{Type: typ, ID: id, Version: version}
	err := q.QueryRow(ctx, `SELECT v.last_updated, v.deleted, v.method, v.json
FROM resources r JOIN versions v ON v.key = r.key
WHERE r.type = $1 AND r.id = $2 AND v.version = $3`, typ, id, version).Scan(&r.LastUpdated, &r.Deleted, &r.Method, &r.JSON)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, vigil.Errorf(vigil.ErrNotFound, "%s/%s version %d not found", typ, id, version)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: read version: %w", err)
	}
	r.LastUpdated = r.LastUpdated.UTC()
	if r.Deleted {
		r.JSON = nil
	}
	return r, nil
}

// historyCursor is the decoded form of HistoryResult.Next.
type historyCursor struct {
	Hash string `json:"h"`
	Seq  int64  `json:"s"`
}

// history lists versions newest first by commit sequence.
func history(ctx context.Context, q querier, hq *vigil.HistoryQuery) (*vigil.HistoryResult, error) {
	count := pageSize(hq.Count)
	hash := hashOf(struct {
		Type, ID  string
		Since, At time.Time
	}{hq.Type, hq.ID, hq.Since.UTC(), hq.At.UTC()})
	var b sqlBuilder
	b.WriteString(" FROM versions v WHERE TRUE")
	if hq.Type != "" {
		b.WriteString(" AND v.type = " + b.arg(hq.Type))
	}
	if hq.ID != "" {
		b.WriteString(" AND v.key = (SELECT key FROM resources WHERE type = " + b.arg(hq.Type) + " AND id = " + b.arg(hq.ID) + ")")
	}
	if !hq.Since.IsZero() {
		b.WriteString(" AND v.last_updated >= " + b.arg(hq.Since))
	}
	if !hq.At.IsZero() {
		at := b.arg(hq.At)
		b.WriteString(" AND v.last_updated <= " + at +
			" AND NOT EXISTS (SELECT 1 FROM versions w WHERE w.key = v.key AND w.version > v.version AND w.last_updated <= " + at + ")")
	}
	where := b.String()
	res := &vigil.HistoryResult{}
	if err := q.QueryRow(ctx, "SELECT count(*)"+where, adHoc(b.args)...).Scan(&res.Total); err != nil {
		return nil, fmt.Errorf("postgres: count history: %w", err)
	}
	if hq.Cursor != "" {
		var c historyCursor
		if err := decodeCursor(hq.Cursor, &c); err != nil || c.Hash != hash {
			return nil, vigil.Errorf(vigil.ErrInvalid, "invalid history cursor")
		}
		b.WriteString(" AND v.seq < " + b.arg(c.Seq))
	}
	b.WriteString(" ORDER BY v.seq DESC LIMIT " + b.arg(count+1))
	rows, err := q.Query(ctx, "SELECT v.seq, v.type, v.id, v.version, v.last_updated, v.deleted, v.method, v.json"+b.String(), adHoc(b.args)...)
	if err != nil {
		return nil, fmt.Errorf("postgres: history: %w", err)
	}
	defer rows.Close()
	var last int64
	for rows.Next() {
		var r vigil.Resource
		var seq int64
		if err := rows.Scan(&seq, &r.Type, &r.ID, &r.Version, &r.LastUpdated, &r.Deleted, &r.Method, &r.JSON); err != nil {
			return nil, fmt.Errorf("postgres: history: %w", err)
		}
		if len(res.Versions) == count {
			res.Next = encodeCursor(historyCursor{Hash: hash, Seq: last})
			break
		}
		r.LastUpdated = r.LastUpdated.UTC()
		res.Versions = append(res.Versions, r)
		last = seq
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: history: %w", err)
	}
	return res, nil
}
