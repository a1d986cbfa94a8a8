package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/vigilhealth/vigil"
)

var _ vigil.AuditStore = (*DB)(nil)

// auditLockClass is the first key of the advisory lock that serializes
// audit appends ("AUDT"); the second is a hash of the schema name.
const auditLockClass = 0x41554454

// AppendAudit implements vigil.AuditStore. A transaction-scoped advisory
// lock serializes appends from every node sharing the database, so fn
// always builds on the true head.
func (db *DB) AppendAudit(ctx context.Context, fn func(head vigil.AuditHead) ([]vigil.AuditEntry, []vigil.AuditCheckpoint, error)) error {
	return pgx.BeginTxFunc(ctx, db.pool, pgx.TxOptions{}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1, hashtext(current_schema()))", int32(auditLockClass)); err != nil {
			return fmt.Errorf("postgres: lock audit trail: %w", err)
		}
		head, err := auditHead(ctx, tx)
		if err != nil {
			return err
		}
		entries, ckps, err := fn(head)
		if err != nil {
			return err
		}
		return insertAudit(ctx, tx.Conn(), entries, ckps)
	})
}

// insertAudit writes audit entries and checkpoints in conn's open
// transaction.
func insertAudit(ctx context.Context, conn *pgx.Conn, entries []vigil.AuditEntry, ckps []vigil.AuditCheckpoint) error {
	if len(entries) > 0 {
		_, err := conn.CopyFrom(ctx, pgx.Identifier{"audit_log"},
			[]string{"seq", "time", "agent", "action", "patients", "data", "hash", "mac"},
			pgx.CopyFromSlice(len(entries), func(i int) ([]any, error) {
				e := &entries[i]
				p := e.Patients
				if p == nil {
					p = []string{}
				}
				return []any{e.Seq, e.Time, e.Agent, string(e.Action), p, e.Data, e.Hash, e.MAC}, nil
			}))
		if err != nil {
			return fmt.Errorf("postgres: insert audit records: %w", err)
		}
	}
	for i := range ckps {
		c := &ckps[i]
		if _, err := conn.Exec(ctx, "INSERT INTO audit_checkpoint (seq, time, hash, key_id, sig) VALUES ($1, $2, $3, $4, $5)",
			c.Seq, c.Time, c.Hash, c.KeyID, c.Signature); err != nil {
			return fmt.Errorf("postgres: insert audit checkpoint: %w", err)
		}
	}
	return nil
}

// appendInline appends the audit records of the writes in ok that carry a
// vigil.CommitAudit and stored something, in the group's open transaction
// on p, under the trail's advisory lock (held until the commit).
func (db *DB) appendInline(ctx context.Context, p *pipe, ok []*writeReq) (*vigil.CommitAuditBatch, error) {
	var b vigil.CommitAuditBatch
	for _, r := range ok {
		if r.audit != nil && len(r.written) > 0 {
			b.Add(r.audit, r.written)
		}
	}
	if b.Len() == 0 {
		return &b, nil
	}
	if _, err := p.Exec(ctx, "SELECT pg_advisory_xact_lock($1, hashtext(current_schema()))", int32(auditLockClass)); err != nil {
		return nil, fmt.Errorf("postgres: lock audit trail: %w", err)
	}
	err := b.Append(func() (vigil.AuditHead, error) { return auditHead(ctx, p) },
		func(e []vigil.AuditEntry, c []vigil.AuditCheckpoint) error { return insertAudit(ctx, p.conn, e, c) })
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return &b, nil
}

// AuditHead implements vigil.AuditStore.
func (db *DB) AuditHead(ctx context.Context) (vigil.AuditHead, error) {
	var h vigil.AuditHead
	err := pgx.BeginTxFunc(ctx, db.pool, pgx.TxOptions{AccessMode: pgx.ReadOnly, IsoLevel: pgx.RepeatableRead}, func(tx pgx.Tx) error {
		var err error
		h, err = auditHead(ctx, tx)
		return err
	})
	return h, err
}

func auditHead(ctx context.Context, q querier) (vigil.AuditHead, error) {
	var h vigil.AuditHead
	err := q.QueryRow(ctx, "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").Scan(&h.Seq, &h.Hash)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return h, fmt.Errorf("postgres: read audit head: %w", err)
	}
	if err := q.QueryRow(ctx, "SELECT coalesce(max(seq), 0) FROM audit_checkpoint").Scan(&h.CheckpointSeq); err != nil {
		return h, fmt.Errorf("postgres: read audit checkpoint head: %w", err)
	}
	return h, nil
}

// ScanAudit implements vigil.AuditStore with one streaming query.
func (db *DB) ScanAudit(ctx context.Context, from, to int64, fn func(e *vigil.AuditEntry) error) error {
	rows, err := db.pool.Query(ctx, "SELECT seq, time, agent, action, patients, data, hash, mac FROM audit_log WHERE seq BETWEEN $1 AND $2 ORDER BY seq", from, to)
	if err != nil {
		return fmt.Errorf("postgres: scan audit: %w", err)
	}
	defer rows.Close()
	var e vigil.AuditEntry
	var action string
	for rows.Next() {
		if err := rows.Scan(&e.Seq, &e.Time, &e.Agent, &action, &e.Patients, &e.Data, &e.Hash, &e.MAC); err != nil {
			return fmt.Errorf("postgres: scan audit: %w", err)
		}
		e.Time, e.Action = e.Time.UTC(), vigil.AuditAction(action)
		if err := fn(&e); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("postgres: scan audit: %w", err)
	}
	return nil
}

// ScanAuditCheckpoints implements vigil.AuditStore.
func (db *DB) ScanAuditCheckpoints(ctx context.Context, from int64, fn func(c *vigil.AuditCheckpoint) error) error {
	rows, err := db.pool.Query(ctx, "SELECT seq, time, hash, key_id, sig FROM audit_checkpoint WHERE seq >= $1 ORDER BY seq", from)
	if err != nil {
		return fmt.Errorf("postgres: scan audit checkpoints: %w", err)
	}
	defer rows.Close()
	var c vigil.AuditCheckpoint
	for rows.Next() {
		if err := rows.Scan(&c.Seq, &c.Time, &c.Hash, &c.KeyID, &c.Signature); err != nil {
			return fmt.Errorf("postgres: scan audit checkpoints: %w", err)
		}
		c.Time = c.Time.UTC()
		if err := fn(&c); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("postgres: scan audit checkpoints: %w", err)
	}
	return nil
}

// QueryAudit implements vigil.AuditStore. A patient filter uses the GIN
// index on patients, an agent filter the (agent, seq) index.
func (db *DB) QueryAudit(ctx context.Context, q *vigil.AuditQuery) ([]vigil.AuditEntry, error) {
	var (
		where []string
		args  []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if q.Patient != "" {
		where = append(where, "patients @> ARRAY["+arg(q.Patient)+"]::text[]")
	}
	if q.Before > 0 {
		where = append(where, "seq < "+arg(q.Before))
	}
	if q.Agent != "" {
		where = append(where, "agent = "+arg(q.Agent))
	}
	if !q.Since.IsZero() {
		where = append(where, "time >= "+arg(q.Since))
	}
	if !q.Until.IsZero() {
		where = append(where, "time < "+arg(q.Until))
	}
	if len(q.Actions) > 0 {
		acts := make([]string, len(q.Actions))
		for i, a := range q.Actions {
			acts[i] = string(a)
		}
		where = append(where, "action = ANY("+arg(acts)+"::text[])")
	}
	query := "SELECT seq, time, agent, action, data, hash, mac FROM audit_log"
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY seq DESC LIMIT " + arg(q.Count)
	rows, err := db.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: query audit: %w", err)
	}
	defer rows.Close()
	var out []vigil.AuditEntry
	for rows.Next() {
		var e vigil.AuditEntry
		var action string
		if err := rows.Scan(&e.Seq, &e.Time, &e.Agent, &action, &e.Data, &e.Hash, &e.MAC); err != nil {
			return nil, fmt.Errorf("postgres: query audit: %w", err)
		}
		e.Time, e.Action = e.Time.UTC(), vigil.AuditAction(action)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: query audit: %w", err)
	}
	return out, nil
}
