// Package alertsql implements vigil.AlertStore over database/sql, for both
// SQLite and PostgreSQL, in the manner of internal/accountsql: one table,
// TEXT and BIGINT columns only, times as Unix milliseconds, ? placeholders
// rewritten to $n for PostgreSQL. The sqlite and postgres packages open the
// database and hand it here.
//
// The columns used for filtering (patient, rule, status, created,
// next_escalation) are real columns; the rest of the record (readings,
// lifecycle, history) is one JSON document. "One active alert per patient
// and rule" is a partial unique index on (patient, rule) over the
// unresolved rows, so it holds across connections and nodes.
package alertsql

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/internal/sqldb"
)

// Dialect names the SQL flavour (sqldb.SQLite or sqldb.Postgres).
type Dialect = sqldb.Dialect

// The dialects.
const (
	SQLite   = sqldb.SQLite
	Postgres = sqldb.Postgres
)

// schema is applied with CREATE … IF NOT EXISTS on open; later versions
// add statements to the end.
var schema = []string{
	`CREATE TABLE IF NOT EXISTS alerts (
		id TEXT PRIMARY KEY,
		patient TEXT NOT NULL,
		rule TEXT NOT NULL,
		severity TEXT NOT NULL,
		status TEXT NOT NULL,
		created BIGINT NOT NULL,
		updated BIGINT NOT NULL,
		next_escalation BIGINT NOT NULL DEFAULT 0,
		version BIGINT NOT NULL,
		body TEXT NOT NULL
	)`,
	`CREATE UNIQUE INDEX IF NOT EXISTS alerts_active ON alerts (patient, rule) WHERE status <> 'resolved'`,
	`CREATE INDEX IF NOT EXISTS alerts_patient ON alerts (patient, created)`,
	`CREATE INDEX IF NOT EXISTS alerts_created ON alerts (created, id)`,
	`CREATE INDEX IF NOT EXISTS alerts_due ON alerts (next_escalation) WHERE next_escalation > 0`,
}

// Limits of a ListAlerts page.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// Store is a vigil.AlertStore on a *sql.DB. Reads use the pool. On SQLite,
// writes go through one writer goroutine that commits concurrent writes
// together (see writer), so give the pool at least two connections; on
// PostgreSQL each write is its own transaction on the pool.
type Store struct {
	db      *sql.DB
	dialect Dialect
	writes  chan write
	quit    chan struct{}
	stopped chan struct{}
	close   sync.Once
}

var _ vigil.AlertStore = (*Store)(nil)

// Open creates the table when missing and returns the store. The Store
// owns db and closes it in Close.
func Open(ctx context.Context, db *sql.DB, d Dialect) (*Store, error) {
	if d != SQLite && d != Postgres {
		return nil, fmt.Errorf("alerts: unknown dialect %d", d)
	}
	for _, q := range schema {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return nil, fmt.Errorf("alerts: schema: %w", err)
		}
	}
	s := &Store{db: db, dialect: d, quit: make(chan struct{}), stopped: make(chan struct{})}
	if d == SQLite {
		if db.Stats().MaxOpenConnections == 1 {
			return nil, fmt.Errorf("alerts: the SQLite pool needs at least two connections (a writer and readers)")
		}
		// The writer keeps a connection of its own, so that it never
		// queues behind readers for one.
		conn, err := db.Conn(ctx)
		if err != nil {
			return nil, fmt.Errorf("alerts: writer connection: %w", err)
		}
		s.writes = make(chan write)
		go s.writer(conn)
	} else {
		close(s.stopped)
	}
	return s, nil
}

// Close stops the writer and closes the database. Writes waiting fail.
func (s *Store) Close() error {
	s.close.Do(func() {
		close(s.quit)
		<-s.stopped
	})
	return s.db.Close()
}

// q rewrites ? placeholders to $n for PostgreSQL.
func (s *Store) q(query string) string { return sqldb.Rebind(s.dialect, query) }

// normalise rounds the record's times to milliseconds in UTC, as stored, so
// that the caller's copy equals what a later read returns.
func normalise(a *vigil.AlertRecord) {
	r := func(t *time.Time) {
		if !t.IsZero() {
			*t = time.UnixMilli(t.UnixMilli()).UTC()
		}
	}
	for _, t := range []*time.Time{&a.Created, &a.Updated, &a.AckAt, &a.ResolvedAt, &a.SnoozedUntil, &a.ClearedAt, &a.NextEscalation} {
		r(t)
	}
	for i := range a.Readings {
		r(&a.Readings[i].Time)
		r(&a.Readings[i].Received)
	}
	for i := range a.History {
		r(&a.History[i].At)
	}
}

func validate(a *vigil.AlertRecord) error {
	switch {
	case a.ID == "":
		return vigil.Errorf(vigil.ErrInvalid, "alert without id")
	case a.Patient == "" || a.Rule == "":
		return vigil.Errorf(vigil.ErrInvalid, "alert without patient or rule")
	case a.Created.IsZero():
		return vigil.Errorf(vigil.ErrInvalid, "alert without creation time")
	}
	switch a.Status {
	case vigil.AlertOpen, vigil.AlertAcknowledged, vigil.AlertResolved:
	default:
		return vigil.Errorf(vigil.ErrInvalid, "unknown alert status")
	}
	return nil
}

// CreateAlert implements vigil.AlertStore.
func (s *Store) CreateAlert(ctx context.Context, a *vigil.AlertRecord) error {
	if err := validate(a); err != nil {
		return err
	}
	normalise(a)
	rec := *a
	rec.Version = 1
	body, err := json.Marshal(&rec)
	if err != nil {
		return fmt.Errorf("alerts: encode: %w", err)
	}
	err = s.submit(ctx, func(ctx context.Context, tx execer) error {
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO alerts (id, patient, rule, severity, status, created, updated, next_escalation, version, body)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
			a.ID, a.Patient, a.Rule, a.Severity, string(a.Status), sqldb.Millis(a.Created), sqldb.Millis(a.Updated), sqldb.Millis(a.NextEscalation), rec.Version, string(body))
		return err
	})
	if err != nil {
		if sqldb.IsUnique(err) {
			return vigil.Errorf(vigil.ErrConflict, "an active alert of this patient and rule exists")
		}
		return fmt.Errorf("alerts: create: %w", err)
	}
	a.Version = rec.Version
	return nil
}

// errStale is returned inside the writer when an update matched no row.
var errStale = errors.New("alerts: no row of that version")

// UpdateAlert implements vigil.AlertStore.
func (s *Store) UpdateAlert(ctx context.Context, a *vigil.AlertRecord) error {
	if err := validate(a); err != nil {
		return err
	}
	normalise(a)
	rec := *a
	rec.Version++
	body, err := json.Marshal(&rec)
	if err != nil {
		return fmt.Errorf("alerts: encode: %w", err)
	}
	err = s.submit(ctx, func(ctx context.Context, tx execer) error {
		res, err := tx.ExecContext(ctx, s.q(`UPDATE alerts SET severity = ?, status = ?, updated = ?, next_escalation = ?, version = ?, body = ?
			WHERE id = ? AND version = ? AND patient = ? AND rule = ? AND created = ?`),
			a.Severity, string(a.Status), sqldb.Millis(a.Updated), sqldb.Millis(a.NextEscalation), rec.Version, string(body),
			a.ID, a.Version, a.Patient, a.Rule, sqldb.Millis(a.Created))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n != 1 {
			return errStale
		}
		return nil
	})
	switch {
	case err == nil:
		a.Version = rec.Version
		return nil
	case sqldb.IsUnique(err):
		return vigil.Errorf(vigil.ErrConflict, "an active alert of this patient and rule exists")
	case !errors.Is(err, errStale):
		return fmt.Errorf("alerts: update: %w", err)
	}
	cur, err := s.Alert(ctx, a.ID)
	if err != nil {
		return err
	}
	if cur.Patient != a.Patient || cur.Rule != a.Rule || !cur.Created.Equal(a.Created) {
		return vigil.Errorf(vigil.ErrInvalid, "an alert's patient, rule and creation time cannot change")
	}
	return vigil.Errorf(vigil.ErrConflict, "the alert was changed by someone else")
}

func scan(r interface{ Scan(...any) error }) (*vigil.AlertRecord, error) {
	var body string
	var version int64
	if err := r.Scan(&body, &version); err != nil {
		return nil, err
	}
	var a vigil.AlertRecord
	if err := json.Unmarshal([]byte(body), &a); err != nil {
		return nil, fmt.Errorf("alerts: stored record: %w", err)
	}
	a.Version = version
	return &a, nil
}

func (s *Store) one(ctx context.Context, where string, args ...any) (*vigil.AlertRecord, error) {
	a, err := scan(s.db.QueryRowContext(ctx, s.q("SELECT body, version FROM alerts WHERE "+where), args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, vigil.Errorf(vigil.ErrNotFound, "no such alert")
	}
	if err != nil {
		return nil, fmt.Errorf("alerts: read: %w", err)
	}
	return a, nil
}

// Alert implements vigil.AlertStore.
func (s *Store) Alert(ctx context.Context, id string) (*vigil.AlertRecord, error) {
	return s.one(ctx, "id = ?", id)
}

// ActiveAlert implements vigil.AlertStore.
func (s *Store) ActiveAlert(ctx context.Context, patient, rule string) (*vigil.AlertRecord, error) {
	return s.one(ctx, "patient = ? AND rule = ? AND status <> 'resolved'", patient, rule)
}

// cursor is the position after the last row of a page.
type cursor struct {
	created int64
	id      string
}

func (c cursor) encode() string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(c.created, 10) + "/" + c.id))
}

func decodeCursor(s string) (cursor, error) {
	bad := vigil.Errorf(vigil.ErrInvalid, "malformed alert cursor")
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return cursor{}, bad
	}
	ts, id, ok := strings.Cut(string(b), "/")
	if !ok || id == "" {
		return cursor{}, bad
	}
	n, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return cursor{}, bad
	}
	return cursor{n, id}, nil
}

// ListAlerts implements vigil.AlertStore.
func (s *Store) ListAlerts(ctx context.Context, q *vigil.AlertQuery) ([]vigil.AlertRecord, string, error) {
	var where []string
	var args []any
	add := func(cond string, a ...any) {
		where = append(where, cond)
		args = append(args, a...)
	}
	if q.Patient != "" {
		add("patient = ?", q.Patient)
	}
	if q.Rule != "" {
		add("rule = ?", q.Rule)
	}
	if len(q.Status) > 0 {
		ph := make([]string, len(q.Status))
		for i, st := range q.Status {
			switch st {
			case vigil.AlertOpen, vigil.AlertAcknowledged, vigil.AlertResolved:
			default:
				return nil, "", vigil.Errorf(vigil.ErrInvalid, "unknown alert status")
			}
			ph[i] = "?"
			args = append(args, string(st))
		}
		where = append(where, "status IN ("+strings.Join(ph, ", ")+")")
	}
	if !q.Since.IsZero() {
		add("created >= ?", sqldb.Millis(q.Since))
	}
	if !q.DueBefore.IsZero() {
		add("next_escalation > 0 AND next_escalation <= ?", sqldb.Millis(q.DueBefore))
	}
	if q.Cursor != "" {
		c, err := decodeCursor(q.Cursor)
		if err != nil {
			return nil, "", err
		}
		add("(created < ? OR (created = ? AND id < ?))", c.created, c.created, c.id)
	}
	limit := q.Limit
	switch {
	case limit <= 0:
		limit = DefaultLimit
	case limit > MaxLimit:
		limit = MaxLimit
	}
	query := "SELECT body, version FROM alerts"
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY created DESC, id DESC LIMIT " + strconv.Itoa(limit+1)
	rows, err := s.db.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, "", fmt.Errorf("alerts: list: %w", err)
	}
	defer rows.Close()
	var out []vigil.AlertRecord
	for rows.Next() {
		a, err := scan(rows)
		if err != nil {
			return nil, "", fmt.Errorf("alerts: list: %w", err)
		}
		out = append(out, *a)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("alerts: list: %w", err)
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		last := out[limit-1]
		next = cursor{sqldb.Millis(last.Created), last.ID}.encode()
	}
	return out, next, nil
}
