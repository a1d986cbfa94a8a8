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
	current, insertRes, insertVer, updateRes *sql.Stmt
	deleteIdx                                []*sql.Stmt
	all                                      []*sql.Stmt
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
	s.insertRes = p("INSERT INTO resources (type, id, version, seq, last_updated, deleted) VALUES (?, ?, 0, 0, 0, 0)")
	s.insertVer = p("INSERT INTO versions (key, type, version, last_updated, deleted, method, json) VALUES (?, ?, ?, ?, ?, ?, ?)")
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

// job is one Write call waiting for the writer.
type job struct {
	ctx   context.Context
	fn    func(ctx context.Context, tx vigil.ResourceTx) error
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
func (db *DB) Write(ctx context.Context, fn func(ctx context.Context, tx vigil.ResourceTx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	j := &job{ctx: ctx, fn: fn, done: make(chan struct{})}
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

// commit runs batch in one transaction. Each job's err is set.
func (db *DB) commit(batch []*job) {
	ctx := context.Background()
	exec := func(q string) error {
		_, err := db.conn.ExecContext(ctx, q)
		return err
	}
	if err := exec("BEGIN IMMEDIATE"); err != nil {
		for _, j := range batch {
			j.err = fmt.Errorf("sqlite: begin: %w", err)
		}
		return
	}
	if len(batch) == 1 {
		// Alone in the transaction: no savepoint needed, a failure rolls
		// the whole transaction back.
		j := batch[0]
		if j.err = j.ctx.Err(); j.err == nil {
			j.err, j.panic = db.run(j)
		}
		if j.err != nil || j.panic != nil {
			exec("ROLLBACK")
			return
		}
		if err := exec("COMMIT"); err != nil {
			exec("ROLLBACK")
			j.err = fmt.Errorf("sqlite: commit: %w", err)
		}
		return
	}
	ok := 0
	for _, j := range batch {
		if err := j.ctx.Err(); err != nil {
			j.err = err
			continue
		}
		if err := exec("SAVEPOINT w"); err != nil {
			j.err = fmt.Errorf("sqlite: savepoint: %w", err)
			continue
		}
		j.err, j.panic = db.run(j)
		if j.err == nil && j.panic == nil {
			if err := exec("RELEASE w"); err != nil {
				j.err = fmt.Errorf("sqlite: release savepoint: %w", err)
			} else {
				ok++
				continue
			}
		}
		if err := errors.Join(exec("ROLLBACK TO w"), exec("RELEASE w")); err != nil {
			// The transaction is unusable: abort the whole batch.
			exec("ROLLBACK")
			for _, k := range batch {
				if k.err == nil && k.panic == nil {
					k.err = fmt.Errorf("sqlite: batch aborted: %w", err)
				}
			}
			return
		}
	}
	if ok == 0 {
		exec("ROLLBACK")
		return
	}
	if err := exec("COMMIT"); err != nil {
		exec("ROLLBACK")
		for _, j := range batch {
			if j.err == nil && j.panic == nil {
				j.err = fmt.Errorf("sqlite: commit: %w", err)
			}
		}
	}
}

// run calls j.fn, turning a panic into a value to re-raise in the caller.
func (db *DB) run(j *job) (err error, p any) {
	t := &tx{db: db}
	defer func() {
		t.done = true
		if r := recover(); r != nil {
			p = r
		}
	}()
	return j.fn(j.ctx, t), nil
}

// tx is the vigil.ResourceTx given to a Write's fn. It reads through the
// writer connection, so it sees its own writes.
type tx struct {
	db   *DB
	done bool
}

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
	return search(ctx, t.db.w(), q)
}

// Put implements vigil.ResourceTx. It checks the version before it
// writes anything, so a conflicting Put leaves no trace; any later failure
// leaves the fn's savepoint to roll back when fn returns the error.
func (t *tx) Put(ctx context.Context, r *vigil.Resource, index []vigil.IndexEntry) error {
	if err := t.check(); err != nil {
		return err
	}
	return t.put(ctx, r, index)
}

func (t *tx) put(ctx context.Context, r *vigil.Resource, index []vigil.IndexEntry) error {
	s := t.db.stmts
	for i := range index {
		if _, ok := tableIndex(index[i].Type); !ok {
			return vigil.Errorf(vigil.ErrInvalid, "index entry %q has unsupported type %q", index[i].Param, index[i].Type)
		}
	}
	var key, cur int64
	err := s.current.QueryRowContext(ctx, r.Type, r.ID).Scan(&key, &cur)
	created := false
	switch {
	case errors.Is(err, sql.ErrNoRows):
		created = true
	case err != nil:
		return fmt.Errorf("sqlite: put: %w", err)
	}
	if r.Version != cur+1 {
		return vigil.Errorf(vigil.ErrConflict, "%s/%s: version %d does not follow %d", r.Type, r.ID, r.Version, cur)
	}
	if created {
		res, err := s.insertRes.ExecContext(ctx, r.Type, r.ID)
		if err != nil {
			if isConstraint(err) {
				return vigil.Errorf(vigil.ErrConflict, "%s/%s exists", r.Type, r.ID)
			}
			return fmt.Errorf("sqlite: insert resource: %w", err)
		}
		if key, err = res.LastInsertId(); err != nil {
			return fmt.Errorf("sqlite: insert resource: %w", err)
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
	if !created {
		for _, d := range s.deleteIdx {
			if _, err := d.ExecContext(ctx, key); err != nil {
				return fmt.Errorf("sqlite: clear index: %w", err)
			}
		}
	}
	if r.Deleted {
		return nil
	}
	return t.insertEntries(ctx, key, index)
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
// that each table needs at most six statement shapes.
const maxRows = 32

// insertEntries writes the index entries of resource key with one
// multi-row INSERT per table and chunk.
func (t *tx) insertEntries(ctx context.Context, key int64, index []vigil.IndexEntry) error {
	var byTable [len(indexTables)][]*vigil.IndexEntry
	for i := range index {
		e := &index[i]
		ti, ok := tableIndex(e.Type)
		if !ok {
			return vigil.Errorf(vigil.ErrInvalid, "index entry %q has unsupported type %q", e.Param, e.Type)
		}
		byTable[ti] = append(byTable[ti], e)
	}
	for ti, es := range byTable {
		for len(es) > 0 {
			n := maxRows
			for n > len(es) {
				n /= 2
			}
			spec := entryTables[ti]
			width := 4 + strings.Count(spec.cols, ",") + 1
			row := "(" + placeholders(width) + ")"
			q := "INSERT INTO " + indexTables[ti] + " (key, param, grp, part, " + spec.cols + ") VALUES " +
				strings.TrimSuffix(strings.Repeat(row+", ", n), ", ")
			args := make([]any, 0, n*width)
			for _, e := range es[:n] {
				args = append(append(args, key, e.Param, e.Group, e.Part), spec.vals(e)...)
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
			es = es[n:]
		}
	}
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
