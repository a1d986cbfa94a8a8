package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/vigilhealth/vigil"
)

// stmts are the writer connection's prepared statements.
type stmts struct {
	current, insertRes, insertVer, insertVerSeq, updateRes *sql.Stmt
	deleteIdx                                              []*sql.Stmt
	all                                                    []*sql.Stmt
}

// indexTables lists the index tables, one per stored parameter type.
var indexTables = [...]string{"idx_string", "idx_token", "idx_ref", "idx_date", "idx_number", "idx_quantity", "idx_uri"}

func prepare(ctx context.Context, conn *sql.Conn) (*stmts, error) {
	s := &stmts{}
	var err error
	p := func(q string) *sql.Stmt {
		if err != nil {
			return nil
		}
		var st *sql.Stmt
		st, err = conn.PrepareContext(ctx, q)
		if err == nil {
			s.all = append(s.all, st)
		}
		return st
	}
	s.current = p("SELECT key, version FROM resources WHERE type = ? AND id = ?")
	s.insertRes = p("INSERT INTO resources (type, id, version, seq, last_updated, deleted) VALUES (?, ?, ?, (SELECT IFNULL(MAX(seq), 0) + 1 FROM versions), ?, ?) RETURNING key, seq")
	s.insertVer = p("INSERT INTO versions (key, type, version, last_updated, deleted, method, json) VALUES (?, ?, ?, ?, ?, ?, ?)")
	s.insertVerSeq = p("INSERT INTO versions (seq, key, type, version, last_updated, deleted, method, json) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
	s.updateRes = p("UPDATE resources SET version = ?, seq = ?, last_updated = ?, deleted = ? WHERE key = ?")
	for _, t := range indexTables {
		s.deleteIdx = append(s.deleteIdx, p("DELETE FROM "+t+" WHERE key = ?"))
	}
	if err != nil {
		s.close()
		return nil, fmt.Errorf("sqlite: prepare: %w", err)
	}
	return s, nil
}

func (s *stmts) close() {
	for _, st := range s.all {
		st.Close()
	}
}

// job is one Write call, or one audit append (DB.Audit), waiting for the
// writer.
type job struct {
	ctx   context.Context
	fn    func(ctx context.Context, tx vigil.ResourceTx) error
	audit func(head vigil.AuditHead) ([]vigil.AuditEntry, []vigil.AuditCheckpoint, error)
	err   error
	panic any
	done  chan struct{}
}

// errClosed is returned by Write after Close.
var errClosed = errors.New("sqlite: store closed")

// Write implements vigil.ResourceStore. The fn runs on the writer
// goroutine, possibly in the same database transaction as the fns of other
// concurrent callers, but inside its own savepoint: its writes are rolled
// back alone when it fails. Write returns after the commit (durable as
// configured by WithSynchronous). A panic in fn is re-raised in the caller.
//
// When ctx carries a vigil.CommitAudit and fn stored at least one
// resource, the audit record is appended to the trail (DB.Audit) inside
// the same savepoint: the change and its record commit together or not
// at all.
func (db *DB) Write(ctx context.Context, fn func(ctx context.Context, tx vigil.ResourceTx) error) error {
	return db.submit(ctx, &job{ctx: ctx, fn: fn, done: make(chan struct{})})
}

// submit queues j for the writer and waits for its outcome.
func (db *DB) submit(ctx context.Context, j *job) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case db.jobs <- j:
	case <-db.stop:
		return errClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	<-j.done // once queued, the outcome is reported even if ctx ends
	if j.panic != nil {
		panic(j.panic)
	}
	return j.err
}

// writer is the single writer goroutine: it takes the waiting jobs (up to
// db.batch), runs them in one transaction and commits once.
func (db *DB) writer() {
	defer close(db.done)
	batch := make([]*job, 0, db.batch)
	for {
		select {
		case j := <-db.jobs:
			batch = append(batch[:0], j)
		case <-db.stop:
			return
		}
	fill:
		for len(batch) < db.batch {
			select {
			case j := <-db.jobs:
				batch = append(batch, j)
			default:
				break fill
			}
		}
		db.commit(batch)
		for _, j := range batch {
			close(j.done)
		}
		clear(batch)
	}
}

// inlineAudit is the audit record of a Write (vigil.CommitAudit), appended
// at the end of its batch's transaction.
type inlineAudit struct {
	ca      *vigil.CommitAudit
	written []string
}

// commit runs batch in one transaction. Each job's err is set.
func (db *DB) commit(batch []*job) {
	ctx := context.Background()
	exec := func(q string) error {
		_, err := db.conn.ExecContext(ctx, q)
		return err
	}
	fail := func(err error) {
		exec("ROLLBACK")
		for _, j := range batch {
			if j.err == nil && j.panic == nil {
				j.err = err
			}
		}
	}
	if err := exec("BEGIN IMMEDIATE"); err != nil {
		for _, j := range batch {
			j.err = fmt.Errorf("sqlite: begin: %w", err)
		}
		return
	}
	var audits vigil.CommitAuditBatch
	if len(batch) == 1 {
		// Alone in the transaction: no savepoint needed, a failure rolls
		// the whole transaction back.
		j := batch[0]
		var ia *inlineAudit
		if j.err = j.ctx.Err(); j.err == nil {
			ia, j.err, j.panic = db.run(j)
		}
		if j.err != nil || j.panic != nil {
			exec("ROLLBACK")
			return
		}
		if ia != nil {
			audits.Add(ia.ca, ia.written)
		}
	} else {
		ok := 0
		for _, j := range batch {
			if err := j.ctx.Err(); err != nil {
				j.err = err
				continue
			}
			if j.audit != nil {
				// A trail append needs no savepoint (whose page copies cost
				// a tenth of an ingest's CPU): its fn fails before anything
				// is written, and a failed insert aborts the batch.
				wrote, err := db.auditWriter().appendOnce(j.ctx, j.audit)
				if err != nil && wrote {
					fail(fmt.Errorf("sqlite: batch aborted: %w", err))
					return
				}
				if j.err = err; err == nil {
					ok++
				}
				continue
			}
			if err := exec("SAVEPOINT w"); err != nil {
				j.err = fmt.Errorf("sqlite: savepoint: %w", err)
				continue
			}
			var ia *inlineAudit
			ia, j.err, j.panic = db.run(j)
			if j.err == nil && j.panic == nil {
				if err := exec("RELEASE w"); err != nil {
					j.err = fmt.Errorf("sqlite: release savepoint: %w", err)
				} else {
					ok++
					if ia != nil {
						audits.Add(ia.ca, ia.written)
					}
					continue
				}
			}
			if err := errors.Join(exec("ROLLBACK TO w"), exec("RELEASE w")); err != nil {
				// The transaction is unusable: abort the whole batch.
				fail(fmt.Errorf("sqlite: batch aborted: %w", err))
				return
			}
		}
		if ok == 0 {
			exec("ROLLBACK")
			return
		}
	}
	// The records of the batch's audited Writes, chained and inserted
	// together: if that fails, no Write of the batch commits (no change
	// without its record).
	if audits.Len() > 0 {
		head := func() (vigil.AuditHead, error) { return auditHead(ctx, db.w()) }
		insert := func(e []vigil.AuditEntry, c []vigil.AuditCheckpoint) error { return db.auditWriter().insert(ctx, e, c) }
		if err := audits.Append(head, insert); err != nil {
			fail(fmt.Errorf("sqlite: %w", err))
			return
		}
	}
	// About once a second, the trail's new patient rows go into its
	// (patient, seq) index in one sorted batch (migration 0005).
	if w := db.auditIns; w != nil {
		if now := time.Now(); w.indexDue(now, db.auditIndexEvery) {
			if err := w.indexPatients(ctx, now); err != nil {
				fail(err)
				return
			}
		}
	}
	if err := exec("COMMIT"); err != nil {
		fail(fmt.Errorf("sqlite: commit: %w", err))
		return
	}
	audits.Committed()
}

// run calls j.fn (then flushes its index rows), or appends j.audit's
// entries, turning a panic into a value to re-raise in the caller. For a
// Write with a vigil.CommitAudit that stored something it returns the
// record to append.
func (db *DB) run(j *job) (ia *inlineAudit, err error, p any) {
	defer func() {
		if r := recover(); r != nil {
			p = r
		}
	}()
	if j.audit != nil {
		return nil, db.auditWriter().append(j.ctx, j.audit), nil
	}
	ca := vigil.CommitAuditFrom(j.ctx)
	t := &tx{db: db, track: ca != nil}
	defer func() { t.done = true }()
	if err := j.fn(j.ctx, t); err != nil {
		return nil, err, nil
	}
	if err := t.flush(j.ctx); err != nil {
		return nil, err, nil
	}
	if ca == nil || len(t.written) == 0 {
		return nil, nil, nil
	}
	return &inlineAudit{ca: ca, written: t.written}, nil, nil
}

// auditWriter returns the writer connection's audit inserter. Only the
// writer goroutine calls it.
func (db *DB) auditWriter() *auditIns {
	if db.auditIns == nil {
		db.auditIns = &auditIns{conn: db.conn}
	}
	return db.auditIns
}

// tx is the vigil.ResourceTx given to a Write's fn. It reads through the
// writer connection, so it sees its own writes.
type tx struct {
	db   *DB
	done bool
	// track makes put note what it stored in written ("Type/id"), for
	// the Write's inline audit record.
	track   bool
	written []string
	// pending holds index rows not yet inserted, per table: Put queues
	// them so that a Write of many resources inserts them with a few large
	// multi-row INSERTs. flush writes them before anything reads the index
	// tables (Search, the clearing of an updated resource's rows) and
	// before the fn's savepoint is released.
	pending [len(indexTables)][]pendingRow
	pairs   []pairRow // queued idx_ref_token rows (pairs.go)
	npend   int
}

// pendingRow is one queued index row: entry e of resource key at position
// n of its index.
type pendingRow struct {
	key int64
	n   int
	e   vigil.IndexEntry
}

// maxPending bounds the rows a tx queues before it flushes.
const maxPending = 8192

var _ vigil.ResourceTx = (*tx)(nil)

// w is the querier of reads inside a Write.
func (db *DB) w() querier { return cachedDB{db.conn, db.wcache} }

var errTxDone = errors.New("sqlite: transaction used after its Write returned")

func (t *tx) check() error {
	if t.done {
		return errTxDone
	}
	return nil
}

// Read implements vigil.ResourceReader inside the transaction.
func (t *tx) Read(ctx context.Context, typ, id string) (*vigil.Resource, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	return read(ctx, t.db.w(), typ, id)
}

// ReadVersion implements vigil.ResourceReader inside the transaction.
func (t *tx) ReadVersion(ctx context.Context, typ, id string, version int64) (*vigil.Resource, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	return readVersion(ctx, t.db.w(), typ, id, version)
}

// History implements vigil.ResourceReader inside the transaction.
func (t *tx) History(ctx context.Context, q *vigil.HistoryQuery) (*vigil.HistoryResult, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	return history(ctx, t.db.w(), q)
}

// Search implements vigil.ResourceReader inside the transaction.
func (t *tx) Search(ctx context.Context, q *vigil.SearchQuery) (*vigil.SearchResult, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	if err := t.flush(ctx); err != nil {
		return nil, err
	}
	return search(ctx, t.db.w(), q)
}

// Put implements vigil.ResourceTx. It checks the version before it
// writes anything, so a conflicting Put leaves no trace; any later failure
// leaves the fn's savepoint to roll back when fn returns the error.
func (t *tx) Put(ctx context.Context, r *vigil.Resource, index []vigil.IndexEntry) error {
	if err := t.check(); err != nil {
		return err
	}
	if err := t.put(ctx, r, index); err != nil {
		return err
	}
	if t.track {
		t.written = append(t.written, r.Type+"/"+r.ID)
	}
	return nil
}

// checkIndex refuses index entries of a type no index table holds.
func checkIndex(index []vigil.IndexEntry) error {
	for i := range index {
		if _, ok := tableIndex(index[i].Type); !ok {
			return vigil.Errorf(vigil.ErrInvalid, "index entry %q has unsupported type %q", index[i].Param, index[i].Type)
		}
	}
	return nil
}

func (t *tx) put(ctx context.Context, r *vigil.Resource, index []vigil.IndexEntry) error {
	s := t.db.stmts
	if err := checkIndex(index); err != nil {
		return err
	}
	var key, cur int64
	// Version 1 creates the resource: the UNIQUE (type, id) constraint of
	// the insert below refuses one that exists, which spares a lookup per
	// new resource (most writes: creates and imports).
	created := r.Version == 1
	if !created {
		err := s.current.QueryRowContext(ctx, r.Type, r.ID).Scan(&key, &cur)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			created = true
		case err != nil:
			return fmt.Errorf("sqlite: put: %w", err)
		}
		if r.Version != cur+1 {
			return vigil.Errorf(vigil.ErrConflict, "%s/%s: version %d does not follow %d", r.Type, r.ID, r.Version, cur)
		}
	}
	lu := r.LastUpdated.UnixMicro()
	var data []byte
	if !r.Deleted {
		data = r.JSON
		if data == nil {
			data = []byte{}
		}
	}
	if created {
		// The resources row is written once, with the seq its version will
		// get (versions.seq is the next rowid), rather than inserted and then
		// updated: an UPDATE would rewrite two of its indexes.
		var seq int64
		if err := s.insertRes.QueryRowContext(ctx, r.Type, r.ID, r.Version, lu, r.Deleted).Scan(&key, &seq); err != nil {
			if isConstraint(err) {
				return vigil.Errorf(vigil.ErrConflict, "%s/%s exists", r.Type, r.ID)
			}
			return fmt.Errorf("sqlite: insert resource: %w", err)
		}
		if _, err := s.insertVerSeq.ExecContext(ctx, seq, key, r.Type, r.Version, lu, r.Deleted, r.Method, data); err != nil {
			return fmt.Errorf("sqlite: insert version: %w", err)
		}
	} else {
		res, err := s.insertVer.ExecContext(ctx, key, r.Type, r.Version, lu, r.Deleted, r.Method, data)
		if err != nil {
			if isConstraint(err) {
				return vigil.Errorf(vigil.ErrConflict, "%s/%s: version %d exists", r.Type, r.ID, r.Version)
			}
			return fmt.Errorf("sqlite: insert version: %w", err)
		}
		seq, err := res.LastInsertId()
		if err != nil {
			return fmt.Errorf("sqlite: insert version: %w", err)
		}
		if _, err := s.updateRes.ExecContext(ctx, r.Version, seq, lu, r.Deleted, key); err != nil {
			return fmt.Errorf("sqlite: update resource: %w", err)
		}
	}
	if !created {
		if err := t.clearIndex(ctx, key); err != nil {
			return err
		}
	}
	if r.Deleted {
		return nil
	}
	return t.queueIndex(ctx, key, index)
}

// clearIndex removes the index rows of resource key (after writing those
// queued, which may be among them).
func (t *tx) clearIndex(ctx context.Context, key int64) error {
	if err := t.flush(ctx); err != nil {
		return err
	}
	if err := t.clearPairs(ctx, key); err != nil {
		return err
	}
	for _, d := range t.db.stmts.deleteIdx {
		if _, err := d.ExecContext(ctx, key); err != nil {
			return fmt.Errorf("sqlite: clear index: %w", err)
		}
	}
	return nil
}

// Reindex implements vigil.Reindexer.
func (t *tx) Reindex(ctx context.Context, typ, id string, version int64, index []vigil.IndexEntry) error {
	if err := t.check(); err != nil {
		return err
	}
	if err := checkIndex(index); err != nil {
		return err
	}
	var key, cur int64
	var deleted bool
	err := t.db.w().QueryRowContext(ctx, "SELECT key, version, deleted FROM resources WHERE type = ? AND id = ?", typ, id).Scan(&key, &cur, &deleted)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return vigil.Errorf(vigil.ErrNotFound, "%s/%s not found", typ, id)
	case err != nil:
		return fmt.Errorf("sqlite: reindex: %w", err)
	case cur != version || deleted:
		return vigil.Errorf(vigil.ErrConflict, "%s/%s: version %d is not the current one", typ, id, version)
	}
	if err := t.clearIndex(ctx, key); err != nil {
		return err
	}
	return t.queueIndex(ctx, key, index)
}

// IndexRevision implements vigil.IndexRevisioner.
func (t *tx) IndexRevision(ctx context.Context) (int, error) {
	if err := t.check(); err != nil {
		return 0, err
	}
	var rev int
	if err := t.db.w().QueryRowContext(ctx, "SELECT revision FROM index_state WHERE id = 1").Scan(&rev); err != nil {
		return 0, fmt.Errorf("sqlite: read index revision: %w", err)
	}
	return rev, nil
}

// SetIndexRevision implements vigil.IndexRevisioner.
func (t *tx) SetIndexRevision(ctx context.Context, rev int) error {
	if err := t.check(); err != nil {
		return err
	}
	if _, err := t.db.conn.ExecContext(ctx, "UPDATE index_state SET revision = ? WHERE id = 1", rev); err != nil {
		return fmt.Errorf("sqlite: record index revision: %w", err)
	}
	return nil
}

// queueIndex queues the index rows of resource key (flush writes them).
func (t *tx) queueIndex(ctx context.Context, key int64, index []vigil.IndexEntry) error {
	for i := range index {
		ti, _ := tableIndex(index[i].Type) // checked above
		t.pending[ti] = append(t.pending[ti], pendingRow{key: key, n: i, e: index[i]})
	}
	np := len(t.pairs)
	t.pairs = pairRows(t.pairs, key, index)
	if t.npend += len(index) + len(t.pairs) - np; t.npend >= maxPending {
		return t.flush(ctx)
	}
	return nil
}

// entryTables describes the index tables: columns after (key, param, grp,
// part) and the values an entry puts there. Indexes match indexTables.
var entryTables = [...]struct {
	cols string
	vals func(e *vigil.IndexEntry) []any
}{
	{"text, exact", func(e *vigil.IndexEntry) []any { return []any{e.Text, e.Exact} }},
	{"system, code, text", func(e *vigil.IndexEntry) []any { return []any{e.System, e.Code, e.Text} }},
	{"ref_type, ref_id, uri, ref_version", func(e *vigil.IndexEntry) []any { return []any{e.RefType, e.RefID, e.URI, e.RefVersion} }},
	{"dstart, dend", func(e *vigil.IndexEntry) []any { return []any{startMicros(e.Start), endMicros(e.End)} }},
	{"value", func(e *vigil.IndexEntry) []any { return []any{e.Value} }},
	{"value, system, code, canon_code, canon_value", func(e *vigil.IndexEntry) []any {
		return []any{e.Value, e.System, e.Code, e.CanonCode, e.CanonValue}
	}},
	{"uri", func(e *vigil.IndexEntry) []any { return []any{e.URI} }},
}

// tableIndex returns the position of t's table in indexTables.
func tableIndex(t vigil.ParamType) (int, bool) {
	switch t {
	case vigil.ParamString:
		return 0, true
	case vigil.ParamToken:
		return 1, true
	case vigil.ParamReference:
		return 2, true
	case vigil.ParamDate:
		return 3, true
	case vigil.ParamNumber:
		return 4, true
	case vigil.ParamQuantity:
		return 5, true
	case vigil.ParamURI:
		return 6, true
	}
	return 0, false
}

// maxRows is the largest multi-row INSERT; chunks are powers of two so
// that each table needs at most eight statement shapes.
const maxRows = 128

// flush inserts the queued index rows with one multi-row INSERT per table
// and chunk. An entry's n is its position in its resource's index, which
// makes the primary key (key, param, n) unique, so OR IGNORE never drops a
// row; it is there because a multi-row INSERT that may abort midway makes
// SQLite copy every page it touches to a statement journal first, one that
// cannot (conflicts resolved by IGNORE) does not.
func (t *tx) flush(ctx context.Context) error {
	if t.npend == 0 {
		return nil
	}
	for ti := range t.pending {
		rows := t.pending[ti]
		spec := entryTables[ti]
		width := 5 + strings.Count(spec.cols, ",") + 1
		for len(rows) > 0 {
			n := maxRows
			for n > len(rows) {
				n /= 2
			}
			row := "(" + placeholders(width) + ")"
			q := "INSERT OR IGNORE INTO " + indexTables[ti] + " (key, param, n, grp, part, " + spec.cols + ") VALUES " +
				strings.TrimSuffix(strings.Repeat(row+", ", n), ", ")
			args := make([]any, 0, n*width)
			for i := range rows[:n] {
				r := &rows[i]
				args = append(append(args, r.key, r.e.Param, r.n, r.e.Group, r.e.Part), spec.vals(&r.e)...)
			}
			st, err := t.db.wcache.get(ctx, q)
			if err == nil && st != nil {
				_, err = st.ExecContext(ctx, args...)
			} else if err == nil {
				_, err = t.db.conn.ExecContext(ctx, q, args...)
			}
			if err != nil {
				return fmt.Errorf("sqlite: insert index entries: %w", err)
			}
			rows = rows[n:]
		}
		clear(t.pending[ti])
		t.pending[ti] = t.pending[ti][:0]
	}
	if err := t.insertPairs(ctx, t.pairs); err != nil {
		return err
	}
	clear(t.pairs)
	t.pairs = t.pairs[:0]
	t.npend = 0
	return nil
}

// startMicros maps a range start to unix microseconds, zero to −∞.
func startMicros(t time.Time) int64 {
	if t.IsZero() {
		return math.MinInt64
	}
	return t.UnixMicro()
}

// endMicros maps a range end to unix microseconds, zero to +∞.
func endMicros(t time.Time) int64 {
	if t.IsZero() {
		return math.MaxInt64
	}
	return t.UnixMicro()
}

// isConstraint reports whether err is an SQLite constraint violation.
func isConstraint(err error) bool {
	var e interface{ Code() int }
	// SQLITE_CONSTRAINT is 19; extended codes keep it in the low byte.
	return errors.As(err, &e) && e.Code()&0xff == 19
}
