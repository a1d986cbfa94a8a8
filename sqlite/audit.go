package sqlite

import (
	"context"
	"database/sql"
	_ "embed"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/vigilhealth/vigil"
)

var _ vigil.AuditStore = (*AuditDB)(nil)

// AuditFileName is the name of the audit trail's database file in the data
// directory.
const AuditFileName = "audit.db"

//go:embed audit.sql
var auditSchema string

// auditSchemaVersion is the PRAGMA user_version of an audit.db with the
// current schema.
const auditSchemaVersion = 1

// AuditDB is a vigil.AuditStore in its own SQLite file (dir/audit.db),
// apart from the resource store's vigil.db: SQLite allows one writer per
// database file, so a separate file lets audit appends commit beside
// resource writes instead of queueing behind the resource store's writer
// (and the other way round). It is safe for concurrent use; appends are
// serialized on one connection, and other processes appending to the same
// file wait for the write lock (BEGIN IMMEDIATE with a busy timeout).
type AuditDB struct {
	path  string
	write *sql.DB
	conn  *sql.Conn
	read  *sql.DB
	mu    sync.Mutex // serializes AppendAudit on conn

	insCkp  *sql.Stmt
	inserts map[string]*sql.Stmt // multi-row INSERTs by table and row count; guarded by mu

	closed sync.Once
	cerr   error
}

// OpenAudit opens (creating if needed) the audit trail store dir/audit.db.
// Of the options only WithReaders applies. Commits are always durable
// (synchronous=FULL): the trail writes its witness file after a commit,
// and a commit lost to a power cut after that would look like truncation.
func OpenAudit(ctx context.Context, dir string, opts ...Option) (*AuditDB, error) {
	cfg := config{sync: SyncFull, readers: max(2, runtime.GOMAXPROCS(0)), busy: 10000}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.sync != SyncFull {
		return nil, vigil.Errorf(vigil.ErrInvalid, "the audit store needs synchronous=FULL")
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("sqlite: create directory: %w", err)
	}
	return openAuditFile(ctx, filepath.Join(dir, AuditFileName), cfg)
}

// openAuditFile opens the audit store in the database file path.
func openAuditFile(ctx context.Context, path string, cfg config) (*AuditDB, error) {
	dsn := func(extra ...string) string {
		q := url.Values{}
		for _, p := range append([]string{fmt.Sprintf("busy_timeout(%d)", cfg.busy), "journal_mode(WAL)",
			"synchronous(" + string(cfg.sync) + ")", "cache_size(-16384)"}, extra...) {
			q.Add("_pragma", p)
		}
		return "file:" + path + "?" + q.Encode()
	}
	a := &AuditDB{path: path}
	var err error
	if a.write, err = sql.Open("sqlite", dsn()); err != nil {
		return nil, fmt.Errorf("sqlite: open audit: %w", err)
	}
	a.write.SetMaxOpenConns(1)
	a.write.SetConnMaxIdleTime(0)
	a.write.SetConnMaxLifetime(0)
	fail := func(err error) (*AuditDB, error) {
		if a.insCkp != nil {
			a.insCkp.Close()
		}
		if a.conn != nil {
			a.conn.Close()
		}
		a.write.Close()
		if a.read != nil {
			a.read.Close()
		}
		return nil, err
	}
	if a.conn, err = a.write.Conn(ctx); err != nil {
		return fail(fmt.Errorf("sqlite: connect audit: %w", err))
	}
	if err := migrateAudit(ctx, a.conn); err != nil {
		return fail(err)
	}
	prep := func(q string) *sql.Stmt {
		if err != nil {
			return nil
		}
		var st *sql.Stmt
		st, err = a.conn.PrepareContext(ctx, q)
		return st
	}
	a.insCkp = prep("INSERT INTO audit_checkpoint (seq, time, hash, key_id, sig) VALUES (?, ?, ?, ?, ?)")
	if err != nil {
		return fail(fmt.Errorf("sqlite: prepare audit: %w", err))
	}
	if a.read, err = sql.Open("sqlite", dsn("query_only(1)", "mmap_size(268435456)")); err != nil {
		return fail(fmt.Errorf("sqlite: open audit readers: %w", err))
	}
	a.read.SetMaxOpenConns(cfg.readers)
	a.read.SetMaxIdleConns(cfg.readers)
	return a, nil
}

// migrateAudit creates the schema in a new audit.db and refuses one with
// a newer schema than this binary knows.
func migrateAudit(ctx context.Context, conn *sql.Conn) error {
	var v int
	if err := conn.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return fmt.Errorf("sqlite: read audit schema version: %w", err)
	}
	switch {
	case v == auditSchemaVersion:
		return nil
	case v > auditSchemaVersion:
		return fmt.Errorf("sqlite: audit.db has schema version %d, newer than this binary's %d", v, auditSchemaVersion)
	}
	if err := apply(ctx, conn, auditSchema, auditSchemaVersion); err != nil {
		return fmt.Errorf("sqlite: create audit schema: %w", err)
	}
	return nil
}

// Close closes the database. Calling it more than once returns the first
// result.
func (a *AuditDB) Close() error {
	a.closed.Do(func() {
		a.mu.Lock()
		defer a.mu.Unlock()
		_, cerr := a.conn.ExecContext(context.Background(), "PRAGMA wal_checkpoint(TRUNCATE)")
		errs := []error{cerr, a.insCkp.Close()}
		for _, st := range a.inserts {
			errs = append(errs, st.Close())
		}
		a.cerr = errors.Join(append(errs, a.conn.Close(), a.write.Close(), a.read.Close())...)
		if a.cerr != nil {
			a.cerr = fmt.Errorf("sqlite: close audit: %w", a.cerr)
		}
	})
	return a.cerr
}

// AppendAudit implements vigil.AuditStore. The write lock of BEGIN
// IMMEDIATE keeps other processes out while fn builds on the head.
func (a *AuditDB) AppendAudit(ctx context.Context, fn func(head vigil.AuditHead) ([]vigil.AuditEntry, []vigil.AuditCheckpoint, error)) (err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, err := a.conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return fmt.Errorf("sqlite: audit begin: %w", err)
	}
	defer func() {
		if err != nil {
			a.conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		}
	}()
	head, err := auditHead(ctx, a.conn)
	if err != nil {
		return err
	}
	entries, ckps, err := fn(head)
	if err != nil {
		return err
	}
	if err := a.insertEntries(ctx, entries); err != nil {
		return err
	}
	for i := range ckps {
		c := &ckps[i]
		if _, err := a.insCkp.ExecContext(ctx, c.Seq, c.Time.UnixMicro(), c.Hash, c.KeyID, c.Signature); err != nil {
			return fmt.Errorf("sqlite: insert audit checkpoint: %w", err)
		}
	}
	if _, err := a.conn.ExecContext(ctx, "COMMIT"); err != nil {
		return fmt.Errorf("sqlite: audit commit: %w", err)
	}
	return nil
}

// insertChunk is how many rows one multi-row INSERT writes at most.
const insertChunk = 64

// insertEntries writes the entries and their patient rows with multi-row
// INSERTs of up to insertChunk rows (one statement per chunk instead of
// one per row).
func (a *AuditDB) insertEntries(ctx context.Context, entries []vigil.AuditEntry) error {
	args := make([]any, 0, 7*insertChunk)
	for lo := 0; lo < len(entries); lo += insertChunk {
		chunk := entries[lo:min(lo+insertChunk, len(entries))]
		args = args[:0]
		for i := range chunk {
			e := &chunk[i]
			args = append(args, e.Seq, e.Time.UnixMicro(), e.Agent, string(e.Action), e.Data, e.Hash, e.MAC)
		}
		st, err := a.multiInsert(ctx, "audit_log (seq, time, agent, action, data, hash, mac)", 7, len(chunk))
		if err != nil {
			return err
		}
		if _, err := st.ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("sqlite: insert audit records: %w", err)
		}
	}
	args = args[:0]
	flush := func() error {
		if len(args) == 0 {
			return nil
		}
		st, err := a.multiInsert(ctx, "audit_patient (seq, patient)", 2, len(args)/2)
		if err != nil {
			return err
		}
		if _, err := st.ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("sqlite: insert audit patients: %w", err)
		}
		args = args[:0]
		return nil
	}
	for i := range entries {
		for _, p := range entries[i].Patients {
			args = append(args, entries[i].Seq, p)
			if len(args) == 2*insertChunk {
				if err := flush(); err != nil {
					return err
				}
			}
		}
	}
	return flush()
}

// multiInsert returns the prepared INSERT of rows rows of cols columns
// into table, preparing it on first use. Callers hold a.mu.
func (a *AuditDB) multiInsert(ctx context.Context, table string, cols, rows int) (*sql.Stmt, error) {
	key := fmt.Sprintf("%s/%d", table, rows)
	if st, ok := a.inserts[key]; ok {
		return st, nil
	}
	row := "(?" + strings.Repeat(", ?", cols-1) + ")"
	q := "INSERT INTO " + table + " VALUES " + row + strings.Repeat(", "+row, rows-1)
	st, err := a.conn.PrepareContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("sqlite: prepare audit insert: %w", err)
	}
	if a.inserts == nil {
		a.inserts = make(map[string]*sql.Stmt)
	}
	a.inserts[key] = st
	return st, nil
}

// AuditHead implements vigil.AuditStore.
func (a *AuditDB) AuditHead(ctx context.Context) (vigil.AuditHead, error) {
	tx, err := a.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return vigil.AuditHead{}, fmt.Errorf("sqlite: begin read: %w", err)
	}
	defer tx.Rollback()
	return auditHead(ctx, tx)
}

func auditHead(ctx context.Context, q querier) (vigil.AuditHead, error) {
	var h vigil.AuditHead
	err := q.QueryRowContext(ctx, "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").Scan(&h.Seq, &h.Hash)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return h, fmt.Errorf("sqlite: read audit head: %w", err)
	}
	if err := q.QueryRowContext(ctx, "SELECT IFNULL(MAX(seq), 0) FROM audit_checkpoint").Scan(&h.CheckpointSeq); err != nil {
		return h, fmt.Errorf("sqlite: read audit checkpoint head: %w", err)
	}
	return h, nil
}

// ScanAudit implements vigil.AuditStore. One read transaction streams the
// records, each with its patients from audit_patient.
func (a *AuditDB) ScanAudit(ctx context.Context, from, to int64, fn func(e *vigil.AuditEntry) error) error {
	rows, err := a.read.QueryContext(ctx, `SELECT seq, time, agent, action, data, hash, mac,
		(SELECT group_concat(patient, ' ') FROM audit_patient p WHERE p.seq = l.seq)
		FROM audit_log l WHERE seq BETWEEN ? AND ? ORDER BY seq`, from, to)
	if err != nil {
		return fmt.Errorf("sqlite: scan audit: %w", err)
	}
	defer rows.Close()
	var (
		e                    vigil.AuditEntry
		us                   int64
		action               string
		patients             sql.NullString
		data, hash, mac, agt sql.RawBytes
	)
	for rows.Next() {
		if err := rows.Scan(&e.Seq, &us, &agt, &action, &data, &hash, &mac, &patients); err != nil {
			return fmt.Errorf("sqlite: scan audit: %w", err)
		}
		e.Time = time.UnixMicro(us).UTC()
		e.Agent, e.Action = string(agt), vigil.AuditAction(action)
		e.Data, e.Hash, e.MAC = data, hash, mac
		e.Patients = e.Patients[:0]
		if patients.Valid {
			e.Patients = append(e.Patients, strings.Split(patients.String, " ")...)
		}
		if err := fn(&e); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlite: scan audit: %w", err)
	}
	return nil
}

// ScanAuditCheckpoints implements vigil.AuditStore.
func (a *AuditDB) ScanAuditCheckpoints(ctx context.Context, from int64, fn func(c *vigil.AuditCheckpoint) error) error {
	rows, err := a.read.QueryContext(ctx, "SELECT seq, time, hash, key_id, sig FROM audit_checkpoint WHERE seq >= ? ORDER BY seq", from)
	if err != nil {
		return fmt.Errorf("sqlite: scan audit checkpoints: %w", err)
	}
	defer rows.Close()
	var c vigil.AuditCheckpoint
	var us int64
	for rows.Next() {
		if err := rows.Scan(&c.Seq, &us, &c.Hash, &c.KeyID, &c.Signature); err != nil {
			return fmt.Errorf("sqlite: scan audit checkpoints: %w", err)
		}
		c.Time = time.UnixMicro(us).UTC()
		if err := fn(&c); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlite: scan audit checkpoints: %w", err)
	}
	return nil
}

// QueryAudit implements vigil.AuditStore. A patient query walks the
// (patient, seq) index newest first, an agent query the (agent, seq)
// index, anything else audit_log backwards; the other filters are
// checked on the way.
func (a *AuditDB) QueryAudit(ctx context.Context, q *vigil.AuditQuery) ([]vigil.AuditEntry, error) {
	var (
		where []string
		args  []any
	)
	from := "audit_log l"
	if q.Patient != "" {
		from = "audit_patient p JOIN audit_log l ON l.seq = p.seq"
		where = append(where, "p.patient = ?")
		args = append(args, q.Patient)
		if q.Before > 0 {
			where = append(where, "p.seq < ?")
			args = append(args, q.Before)
		}
	} else if q.Before > 0 {
		where = append(where, "l.seq < ?")
		args = append(args, q.Before)
	}
	if q.Agent != "" {
		where = append(where, "l.agent = ?")
		args = append(args, q.Agent)
	}
	if !q.Since.IsZero() {
		where = append(where, "l.time >= ?")
		args = append(args, q.Since.UnixMicro())
	}
	if !q.Until.IsZero() {
		where = append(where, "l.time < ?")
		args = append(args, q.Until.UnixMicro())
	}
	if len(q.Actions) > 0 {
		where = append(where, "l.action IN (?"+strings.Repeat(", ?", len(q.Actions)-1)+")")
		for _, act := range q.Actions {
			args = append(args, string(act))
		}
	}
	order := "l.seq"
	if q.Patient != "" {
		order = "p.seq"
	}
	query := "SELECT l.seq, l.time, l.agent, l.action, l.data, l.hash, l.mac FROM " + from
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY " + order + " DESC LIMIT ?"
	args = append(args, q.Count)
	rows, err := a.read.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: query audit: %w", err)
	}
	defer rows.Close()
	var out []vigil.AuditEntry
	for rows.Next() {
		var e vigil.AuditEntry
		var us int64
		var action string
		if err := rows.Scan(&e.Seq, &us, &e.Agent, &action, &e.Data, &e.Hash, &e.MAC); err != nil {
			return nil, fmt.Errorf("sqlite: query audit: %w", err)
		}
		e.Time, e.Action = time.UnixMicro(us).UTC(), vigil.AuditAction(action)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: query audit: %w", err)
	}
	return out, nil
}
