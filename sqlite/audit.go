package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vigilhealth/vigil"
)

var _ vigil.AuditStore = (*AuditDB)(nil)

// legacyAuditFile is where the audit trail lived before schema version 2
// (its own file beside vigil.db); Open moves it into vigil.db.
const legacyAuditFile = "audit.db"

// AuditDB is a vigil.AuditStore whose tables live in the resource store's
// vigil.db, so that the writer can commit a change and its audit record in
// one transaction (vigil.CommitAudit). It comes in two forms: DB.Audit,
// for the server, appends through the resource store's writer goroutine,
// in the same group commits as resource writes; OpenAudit, for tools such
// as vigil audit verify, has a write connection of its own. Both are safe
// for concurrent use; other processes appending to the same file wait for
// the write lock (BEGIN IMMEDIATE with a busy timeout). Commits are
// durable (synchronous=FULL): the trail writes its witness file after a
// commit, and a commit lost to a power cut after that would look like
// truncation.
type AuditDB struct {
	db   *DB     // DB.Audit: appends are writer jobs of db
	read *sql.DB // db.read, or a pool of its own

	// OpenAudit only:
	write *sql.DB
	conn  *sql.Conn
	mu    sync.Mutex // serializes AppendAudit on conn
	ins   *auditIns  // guarded by mu

	closed sync.Once
	cerr   error
}

// Audit returns the audit trail store of db, in the same file: appends run
// on db's writer goroutine, grouped with resource writes. Closing it does
// nothing; Close db instead. db must use SyncFull.
func (db *DB) Audit() (*AuditDB, error) {
	if db.sync != SyncFull {
		return nil, vigil.Errorf(vigil.ErrInvalid, "the audit trail needs synchronous=FULL")
	}
	return &AuditDB{db: db, read: db.read}, nil
}

// OpenAudit opens (creating if needed) the audit trail store in
// dir/vigil.db with a write connection of its own, for tools that work on
// the trail without a running server. Of the options only WithReaders
// applies.
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
	path := filepath.Join(dir, FileName)
	dsn := func(extra ...string) string {
		q := url.Values{}
		for _, p := range append([]string{fmt.Sprintf("busy_timeout(%d)", cfg.busy), "journal_mode(WAL)",
			"synchronous(" + string(cfg.sync) + ")", "cache_size(-16384)"}, extra...) {
			q.Add("_pragma", p)
		}
		return "file:" + path + "?" + q.Encode()
	}
	a := &AuditDB{}
	var err error
	if a.write, err = sql.Open("sqlite", dsn()); err != nil {
		return nil, fmt.Errorf("sqlite: open audit: %w", err)
	}
	a.write.SetMaxOpenConns(1)
	a.write.SetConnMaxIdleTime(0)
	a.write.SetConnMaxLifetime(0)
	fail := func(err error) (*AuditDB, error) {
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
	if err := migrate(ctx, a.conn); err != nil {
		return fail(err)
	}
	if err := moveLegacyAudit(ctx, a.conn, dir); err != nil {
		return fail(err)
	}
	if err := catchUpAuditIndex(ctx, a.conn); err != nil {
		return fail(err)
	}
	a.ins = &auditIns{conn: a.conn}
	if a.read, err = sql.Open("sqlite", dsn("query_only(1)", "mmap_size(268435456)")); err != nil {
		return fail(fmt.Errorf("sqlite: open audit readers: %w", err))
	}
	a.read.SetMaxOpenConns(cfg.readers)
	a.read.SetMaxIdleConns(cfg.readers)
	return a, nil
}

// moveLegacyAudit moves the trail of a data directory written before
// schema version 2 (dir/audit.db) into vigil.db, rows unchanged (so the
// chain, MACs and checkpoints still verify), and renames the old file to
// audit.db.moved. It refuses when both files hold records.
func moveLegacyAudit(ctx context.Context, conn *sql.Conn, dir string) (err error) {
	old := filepath.Join(dir, legacyAuditFile)
	if _, err := os.Stat(old); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	var n int64
	if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM audit_log").Scan(&n); err != nil {
		return fmt.Errorf("sqlite: move audit.db: %w", err)
	}
	if n > 0 {
		return fmt.Errorf("sqlite: both %s and %s hold an audit trail; move one away", FileName, legacyAuditFile)
	}
	if _, err := conn.ExecContext(ctx, "ATTACH DATABASE ? AS legacy", "file:"+old); err != nil {
		return fmt.Errorf("sqlite: move audit.db: %w", err)
	}
	defer func() {
		if _, derr := conn.ExecContext(context.WithoutCancel(ctx), "DETACH DATABASE legacy"); derr != nil && err == nil {
			err = fmt.Errorf("sqlite: move audit.db: %w", derr)
		}
		if err == nil {
			err = os.Rename(old, old+".moved")
		}
	}()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return fmt.Errorf("sqlite: move audit.db: %w", err)
	}
	for _, q := range []string{
		"INSERT INTO main.audit_log SELECT seq, time, agent, action, data, hash, mac FROM legacy.audit_log ORDER BY seq",
		"INSERT INTO main.audit_patient SELECT seq, patient FROM legacy.audit_patient",
		"INSERT INTO main.audit_checkpoint SELECT seq, time, hash, key_id, sig FROM legacy.audit_checkpoint ORDER BY seq",
		"COMMIT",
	} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
			return fmt.Errorf("sqlite: move audit.db: %w", err)
		}
	}
	return nil
}

// Close closes a store from OpenAudit; for one from DB.Audit it does
// nothing. Calling it more than once returns the first result.
func (a *AuditDB) Close() error {
	if a.db != nil {
		return nil
	}
	a.closed.Do(func() {
		a.mu.Lock()
		defer a.mu.Unlock()
		// PASSIVE: a running server may share the file; a TRUNCATE
		// checkpoint would hold up its writer.
		_, cerr := a.conn.ExecContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)")
		a.cerr = errors.Join(cerr, a.ins.close(), a.conn.Close(), a.write.Close(), a.read.Close())
		if a.cerr != nil {
			a.cerr = fmt.Errorf("sqlite: close audit: %w", a.cerr)
		}
	})
	return a.cerr
}

// AppendAudit implements vigil.AuditStore. The write lock of BEGIN
// IMMEDIATE keeps other processes out while fn builds on the head; from
// DB.Audit, fn runs on the resource writer inside its group commit.
func (a *AuditDB) AppendAudit(ctx context.Context, fn func(head vigil.AuditHead) ([]vigil.AuditEntry, []vigil.AuditCheckpoint, error)) (err error) {
	if a.db != nil {
		return a.db.submit(ctx, &job{ctx: ctx, audit: fn, done: make(chan struct{})})
	}
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
	if err := a.ins.append(ctx, fn); err != nil {
		return err
	}
	if a.ins.unindexed {
		// Tools append a record now and then: index it at once.
		if err := a.ins.indexPatients(ctx, time.Now()); err != nil {
			return err
		}
	}
	if _, err := a.conn.ExecContext(ctx, "COMMIT"); err != nil {
		return fmt.Errorf("sqlite: audit commit: %w", err)
	}
	return nil
}

// auditIns writes audit entries and checkpoints on one write connection,
// inside a transaction its owner opened. It is not safe for concurrent use.
type auditIns struct {
	conn    *sql.Conn
	head    *sql.Stmt // headQuery, prepared on first use
	insCkp  *sql.Stmt
	inserts map[string]*sql.Stmt // multi-row INSERTs by table and row count
	// index and advance fill audit_patient_index (indexPatients).
	index, advance *sql.Stmt
	// unindexed is set when patient rows were inserted since the last
	// indexPatients; indexedAt is when that ran.
	unindexed bool
	indexedAt time.Time
}

// auditIndexEvery is how often the writer moves the trail's new patient
// rows into audit_patient_index (migration 0005): often enough that a
// patient query reads few rows of the unindexed tail, seldom enough that
// each page of the index is written about once per batch.
const auditIndexEvery = time.Second

// indexDue reports whether indexPatients should run in the transaction
// about to commit, every being the store's interval (auditIndexEvery).
func (w *auditIns) indexDue(now time.Time, every time.Duration) bool {
	return w.unindexed && now.Sub(w.indexedAt) >= every
}

// indexPatients copies the patient rows after audit_index_state.indexed
// into audit_patient_index, sorted by patient, and moves indexed to the
// last record, in the transaction its owner opened.
func (w *auditIns) indexPatients(ctx context.Context, now time.Time) error {
	if w.index == nil {
		var err error
		if w.index, err = w.conn.PrepareContext(ctx, `INSERT OR IGNORE INTO audit_patient_index (patient, seq)
			SELECT patient, seq FROM audit_patient WHERE seq > (SELECT indexed FROM audit_index_state WHERE id = 1)
			ORDER BY patient, seq`); err != nil {
			return fmt.Errorf("sqlite: prepare audit index: %w", err)
		}
		if w.advance, err = w.conn.PrepareContext(ctx, `UPDATE audit_index_state
			SET indexed = MAX(indexed, (SELECT IFNULL(MAX(seq), 0) FROM audit_log)) WHERE id = 1`); err != nil {
			return fmt.Errorf("sqlite: prepare audit index: %w", err)
		}
	}
	if _, err := w.index.ExecContext(ctx); err != nil {
		return fmt.Errorf("sqlite: index audit patients: %w", err)
	}
	if _, err := w.advance.ExecContext(ctx); err != nil {
		return fmt.Errorf("sqlite: index audit patients: %w", err)
	}
	w.unindexed, w.indexedAt = false, now
	return nil
}

// append reads the head, calls fn with it and inserts what fn returns.
func (w *auditIns) append(ctx context.Context, fn func(head vigil.AuditHead) ([]vigil.AuditEntry, []vigil.AuditCheckpoint, error)) error {
	_, err := w.appendOnce(ctx, fn)
	return err
}

// appendOnce is append that also reports whether it wrote anything before
// an error (a failed insert), which only rolling back can undo.
func (w *auditIns) appendOnce(ctx context.Context, fn func(head vigil.AuditHead) ([]vigil.AuditEntry, []vigil.AuditCheckpoint, error)) (wrote bool, err error) {
	head, err := w.readHead(ctx)
	if err != nil {
		return false, err
	}
	entries, ckps, err := fn(head)
	if err != nil {
		return false, err
	}
	if len(entries) == 0 && len(ckps) == 0 {
		return false, nil
	}
	return true, w.insert(ctx, entries, ckps)
}

// insert writes entries and checkpoints.
func (w *auditIns) insert(ctx context.Context, entries []vigil.AuditEntry, ckps []vigil.AuditCheckpoint) error {
	if err := w.insertEntries(ctx, entries); err != nil {
		return err
	}
	for i := range ckps {
		if w.insCkp == nil {
			st, err := w.conn.PrepareContext(ctx, "INSERT INTO audit_checkpoint (seq, time, hash, key_id, sig) VALUES (?, ?, ?, ?, ?)")
			if err != nil {
				return fmt.Errorf("sqlite: prepare audit checkpoint insert: %w", err)
			}
			w.insCkp = st
		}
		c := &ckps[i]
		if _, err := w.insCkp.ExecContext(ctx, c.Seq, c.Time.UnixMicro(), c.Hash, c.KeyID, c.Signature); err != nil {
			return fmt.Errorf("sqlite: insert audit checkpoint: %w", err)
		}
	}
	return nil
}

// readHead reads the stored head with a statement prepared once (a
// group commit of the trail reads it every time: parsing the SQL anew
// cost a sixth of a one-record commit's CPU).
func (w *auditIns) readHead(ctx context.Context) (vigil.AuditHead, error) {
	if w.head == nil {
		st, err := w.conn.PrepareContext(ctx, headQuery)
		if err != nil {
			return vigil.AuditHead{}, fmt.Errorf("sqlite: prepare audit head: %w", err)
		}
		w.head = st
	}
	return scanHead(w.head.QueryRowContext(ctx))
}

func (w *auditIns) close() error {
	var errs []error
	for _, st := range []*sql.Stmt{w.head, w.insCkp, w.index, w.advance} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	for _, st := range w.inserts {
		errs = append(errs, st.Close())
	}
	return errors.Join(errs...)
}

// insertChunk is how many rows one multi-row INSERT writes at most.
const insertChunk = 64

// insertEntries writes the entries and their patient rows with multi-row
// INSERTs of up to insertChunk rows (one statement per chunk instead of
// one per row).
func (w *auditIns) insertEntries(ctx context.Context, entries []vigil.AuditEntry) error {
	args := make([]any, 0, 7*min(insertChunk, len(entries)))
	for lo := 0; lo < len(entries); lo += insertChunk {
		chunk := entries[lo:min(lo+insertChunk, len(entries))]
		args = args[:0]
		for i := range chunk {
			e := &chunk[i]
			args = append(args, e.Seq, e.Time.UnixMicro(), e.Agent, string(e.Action), e.Data, e.Hash, e.MAC)
		}
		st, err := w.multiInsert(ctx, "INSERT INTO audit_log (seq, time, agent, action, data, hash, mac)", 7, len(chunk))
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
		// OR IGNORE: a multi-row INSERT that may abort midway makes SQLite
		// copy every page it touches (here random pages of the patient
		// index) to a statement journal first; one that cannot abort
		// does not. A conflict could only be a record listing a patient
		// twice, whose second row adds nothing.
		st, err := w.multiInsert(ctx, "INSERT OR IGNORE INTO audit_patient (seq, patient)", 2, len(args)/2)
		if err != nil {
			return err
		}
		if _, err := st.ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("sqlite: insert audit patients: %w", err)
		}
		args = args[:0]
		w.unindexed = true
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

// multiInsert returns the prepared statement insert (INSERT … INTO table
// (columns)) with rows rows of cols columns, preparing it on first use.
func (w *auditIns) multiInsert(ctx context.Context, insert string, cols, rows int) (*sql.Stmt, error) {
	key := fmt.Sprintf("%s/%d", insert, rows)
	if st, ok := w.inserts[key]; ok {
		return st, nil
	}
	row := "(?" + strings.Repeat(", ?", cols-1) + ")"
	q := insert + " VALUES " + row + strings.Repeat(", "+row, rows-1)
	st, err := w.conn.PrepareContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("sqlite: prepare audit insert: %w", err)
	}
	if w.inserts == nil {
		w.inserts = make(map[string]*sql.Stmt)
	}
	w.inserts[key] = st
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

// headQuery reads the head in one statement: the last record's seq and
// hash (0 and NULL when the trail is empty) and the last checkpoint's seq.
const headQuery = `SELECT IFNULL(l.seq, 0), l.hash, (SELECT IFNULL(MAX(seq), 0) FROM audit_checkpoint)
	FROM (SELECT 1) LEFT JOIN (SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1) l`

func auditHead(ctx context.Context, q querier) (vigil.AuditHead, error) {
	return scanHead(q.QueryRowContext(ctx, headQuery))
}

func scanHead(row *sql.Row) (vigil.AuditHead, error) {
	var h vigil.AuditHead
	if err := row.Scan(&h.Seq, &h.Hash, &h.CheckpointSeq); err != nil {
		return h, fmt.Errorf("sqlite: read audit head: %w", err)
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

// CheckAuditIndex implements vigil.AuditIndexChecker: audit_patient_index
// must hold exactly the patient rows of audit_patient up to the indexed
// mark (those after it are found by scanning audit_patient itself).
func (a *AuditDB) CheckAuditIndex(ctx context.Context, upTo int64) (int64, string, error) {
	tx, err := a.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return 0, "", fmt.Errorf("sqlite: begin read: %w", err)
	}
	defer tx.Rollback()
	var missing, extra sql.NullInt64
	err = tx.QueryRowContext(ctx, `SELECT
		(SELECT MIN(p.seq) FROM audit_patient p WHERE p.seq <= MIN(?1, (SELECT indexed FROM audit_index_state WHERE id = 1))
			AND NOT EXISTS (SELECT 1 FROM audit_patient_index i WHERE i.patient = p.patient AND i.seq = p.seq)),
		(SELECT MIN(i.seq) FROM audit_patient_index i WHERE i.seq <= ?1
			AND NOT EXISTS (SELECT 1 FROM audit_patient p WHERE p.seq = i.seq AND p.patient = i.patient))`, upTo).Scan(&missing, &extra)
	if err != nil {
		return 0, "", fmt.Errorf("sqlite: check audit index: %w", err)
	}
	switch {
	case missing.Valid && (!extra.Valid || missing.Int64 <= extra.Int64):
		return missing.Int64, "a patient of the record is missing from the patient index", nil
	case extra.Valid:
		return extra.Int64, "the patient index lists a patient the record does not name", nil
	}
	return 0, "", nil
}

// catchUpAuditIndex indexes the trail's patient rows left after the index's
// mark (a crash between batches, or a trail moved in from audit.db) when a
// store opens, in a transaction of its own on the write connection, so
// that patient queries do not scan a long tail until the next append.
func catchUpAuditIndex(ctx context.Context, conn *sql.Conn) (err error) {
	// Nothing to do (the usual case) costs a read, not a write
	// transaction that would wait for a running server's writer.
	var pending bool
	if err := conn.QueryRowContext(ctx, `SELECT (SELECT IFNULL(MAX(seq), 0) FROM audit_log) >
		(SELECT indexed FROM audit_index_state WHERE id = 1)`).Scan(&pending); err != nil {
		return fmt.Errorf("sqlite: audit index: %w", err)
	}
	if !pending {
		return nil
	}
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return fmt.Errorf("sqlite: audit index: %w", err)
	}
	defer func() {
		if err != nil {
			conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		}
	}()
	w := &auditIns{conn: conn}
	defer w.close()
	if err := w.indexPatients(ctx, time.Now()); err != nil {
		return err
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		return fmt.Errorf("sqlite: audit index: %w", err)
	}
	return nil
}

// QueryAudit implements vigil.AuditStore. A patient query reads, in one
// read transaction, the rows of audit_patient after the index's mark
// (audit_index_state: newer than everything indexed) and then walks
// audit_patient_index newest first for the rest; an agent query walks the
// (agent, seq) index, anything else audit_log backwards; the other filters
// are checked on the way.
func (a *AuditDB) QueryAudit(ctx context.Context, q *vigil.AuditQuery) ([]vigil.AuditEntry, error) {
	tx, err := a.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("sqlite: begin read: %w", err)
	}
	defer tx.Rollback()
	if q.Patient == "" {
		return queryAudit(ctx, tx, "audit_log l", "l.seq", nil, nil, q, q.Count)
	}
	var indexed int64
	if err := tx.QueryRowContext(ctx, "SELECT indexed FROM audit_index_state WHERE id = 1").Scan(&indexed); err != nil {
		return nil, fmt.Errorf("sqlite: query audit: %w", err)
	}
	out, err := queryAudit(ctx, tx, "audit_patient p JOIN audit_log l ON l.seq = p.seq", "p.seq",
		[]string{"p.seq > ?", "p.patient = ?"}, []any{indexed, q.Patient}, q, q.Count)
	if err != nil || len(out) >= q.Count {
		return out, err
	}
	older, err := queryAudit(ctx, tx, "audit_patient_index p JOIN audit_log l ON l.seq = p.seq", "p.seq",
		[]string{"p.patient = ?", "p.seq <= ?"}, []any{q.Patient, indexed}, q, q.Count-len(out))
	return append(out, older...), err
}

// queryAudit runs one audit query over from (which names audit_log l),
// newest first by order, with the conditions where (args) and those of q
// other than the patient, returning at most limit entries.
func queryAudit(ctx context.Context, tx *sql.Tx, from, order string, where []string, args []any, q *vigil.AuditQuery, limit int) ([]vigil.AuditEntry, error) {
	where, args = slices.Clone(where), slices.Clone(args)
	if q.Before > 0 {
		where = append(where, order+" < ?")
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
	query := "SELECT l.seq, l.time, l.agent, l.action, l.data, l.hash, l.mac FROM " + from
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY " + order + " DESC LIMIT ?"
	args = append(args, limit)
	rows, err := tx.QueryContext(ctx, query, args...)
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
