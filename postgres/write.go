package postgres

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/vigilhealth/vigil"
)

// Writes are group-committed. Write queues its fn; a fixed set of writer
// goroutines each take whatever is queued (up to maxGroup fns), run the fns
// one after the other in one READ COMMITTED transaction, each inside its
// own savepoint, and commit once. A failing fn is rolled back to its
// savepoint and does not disturb the others. Transaction control (BEGIN,
// SAVEPOINT, RELEASE) travels with the next statement (see pipe), so a
// group of n creates costs n+1 round trips and one commit instead of 3n
// round trips and n commits.

// maxGroup bounds the fns per transaction; it stays below PostgreSQL's
// cache of 64 subtransactions per transaction.
const maxGroup = 32

// writeReq is one queued Write.
type writeReq struct {
	ctx      context.Context
	fn       func(ctx context.Context, tx vigil.ResourceTx) error
	done     chan error   // receives the outcome; buffered
	state    atomic.Int32 // reqQueued, reqRunning or reqAbandoned
	attempts int          // retries after serialization failures and deadlocks
	busy     bool         // rolled back because a grouped fn met a locked row
	// audit is the record to commit with the write (vigil.CommitAudit),
	// and written what the fn's last run stored.
	audit   *vigil.CommitAudit
	written []string
}

// The states of a writeReq: a queued request is claimed either by a writer
// (running) or by its canceled caller (abandoned), never both.
const (
	reqQueued int32 = iota
	reqRunning
	reqAbandoned
)

// claim marks r as running; false when its caller has given up on it.
func (r *writeReq) claim() bool {
	return r.state.CompareAndSwap(reqQueued, reqRunning) || r.state.Load() == reqRunning
}

// acquireTimeout bounds the wait of a writer for a connection.
const acquireTimeout = 30 * time.Second

// ErrClosed is returned by Write after Close.
var ErrClosed = errors.New("postgres: store closed")

// Write runs fn in a write transaction (see vigil.ResourceStore). Reads of
// a resource inside fn lock it (SELECT … FOR UPDATE, or an advisory lock on
// its name when it does not exist yet), so concurrent read-modify-write
// cycles on one resource serialise. fn may share a database transaction
// with the fns of concurrent callers (group commit) but runs alone in its
// savepoint; Write returns after the commit. On a serialization failure or
// deadlock fn runs again, up to the configured number of retries, so fn
// must be safe to re-run (it may also rerun alone when, inside a group, it
// meets a row another transaction has locked). Canceling ctx while the
// Write waits in the queue returns ctx.Err() at once and fn never runs;
// once fn runs, cancellation fails its next statement (one already running
// completes) and Write waits for the outcome.
func (db *DB) Write(ctx context.Context, fn func(ctx context.Context, tx vigil.ResourceTx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	req := &writeReq{ctx: ctx, fn: fn, done: make(chan error, 1), audit: vigil.CommitAuditFrom(ctx)}
	db.mu.RLock()
	if db.closed {
		db.mu.RUnlock()
		return ErrClosed
	}
	db.reqs <- req
	db.mu.RUnlock()
	var err error
	select {
	case err = <-req.done:
	case <-ctx.Done():
		if req.state.CompareAndSwap(reqQueued, reqAbandoned) {
			return ctx.Err() // fn never ran
		}
		err = <-req.done // fn runs or ran: wait for the outcome
	}
	if p, ok := err.(*fnPanic); ok {
		panic(p.value)
	}
	return err
}

// writer runs groups of queued writes until the queue is closed.
func (db *DB) writer() {
	defer db.writers.Done()
	group := make([]*writeReq, 0, maxGroup)
	for first := range db.reqs {
		group = append(group[:0], first)
	fill:
		for len(group) < maxGroup {
			select {
			case r, ok := <-db.reqs:
				if !ok {
					break fill
				}
				group = append(group, r)
			default:
				break fill
			}
		}
		retry := db.runGroup(group)
		for len(retry) > 0 {
			r := retry[0]
			retry = retry[1:]
			if r.busy {
				r.busy = false
			} else {
				r.attempts++
				db.log.Debug("retrying write after serialization failure or deadlock", "attempt", r.attempts)
				time.Sleep(time.Duration(1+rand.IntN(2<<r.attempts)) * time.Millisecond)
			}
			retry = append(retry, db.runGroup([]*writeReq{r})...)
		}
	}
}

// runGroup runs the fns of group in one transaction and reports each
// outcome on its done channel, except for those that hit a serialization
// failure or deadlock and may run again: it returns those.
func (db *DB) runGroup(group []*writeReq) (retry []*writeReq) {
	ctx := context.Background()
	actx, cancel := context.WithTimeout(ctx, acquireTimeout)
	pc, err := db.pool.Acquire(actx)
	cancel()
	if err != nil {
		for _, r := range group {
			r.done <- fmt.Errorf("postgres: acquire connection: %w", err)
		}
		return nil
	}
	defer pc.Release() // a connection left inside a transaction is closed by the pool
	p := &pipe{conn: pc.Conn()}
	p.hold("BEGIN ISOLATION LEVEL READ COMMITTED")
	savepoints := len(group) > 1
	var ok []*writeReq
	puts := 0 // versions written by the fns in ok
	broken := func(cur *writeReq, err error) []*writeReq {
		// The transaction is lost: nothing of the group is committed.
		pc.Conn().PgConn().Close(ctx)
		for _, r := range append(append(append(ok, cur), group...), retry...) {
			r.done <- err
		}
		return nil
	}
	for len(group) > 0 {
		r := group[0]
		group = group[1:]
		if !r.claim() {
			continue
		}
		if err := r.ctx.Err(); err != nil {
			r.done <- err
			continue
		}
		began := p.sent
		if savepoints {
			p.hold("SAVEPOINT w")
		}
		p.sent = false
		t := &tx{p: p, ctx: r.ctx, nowait: savepoints, track: r.audit != nil}
		fnErr := call(r, t)
		t.done = true
		r.written = t.written
		wrote := p.sent
		p.sent = began || wrote
		if t.failed == nil && fnErr == nil {
			puts += t.puts
			if savepoints {
				p.hold("RELEASE SAVEPOINT w")
			}
			ok = append(ok, r)
			continue
		}
		// Undo fn: back to its savepoint, or the whole transaction.
		switch {
		case !wrote && savepoints:
			// Nothing reached the server, not even the savepoint.
			p.pending = p.pending[:len(p.pending)-1]
		case savepoints:
			if _, err := p.conn.Exec(ctx, "ROLLBACK TO SAVEPOINT w; RELEASE SAVEPOINT w"); err != nil {
				return broken(r, fmt.Errorf("postgres: roll back write: %w", err))
			}
		default:
			p.drop()
			if wrote {
				if _, err := p.conn.Exec(ctx, "ROLLBACK"); err != nil {
					pc.Conn().PgConn().Close(ctx)
				}
			}
			p.sent = false
		}
		switch {
		case errors.Is(t.failed, errLockBusy):
			r.busy = true // runs alone next, without NOWAIT
			retry = append(retry, r)
		case t.failed != nil && retryable(t.failed) && r.attempts < db.maxRetries:
			retry = append(retry, r)
		case fnErr != nil:
			r.done <- fnErr
		default:
			r.done <- fmt.Errorf("postgres: write: %w", t.failed)
		}
	}
	// The audit records of the group's audited writes, appended in the
	// same transaction: if that fails, no write of the group commits.
	var audits *vigil.CommitAuditBatch
	if p.sent {
		var err error
		if audits, err = db.appendInline(ctx, p, ok); err != nil {
			p.drop()
			if _, rerr := p.conn.Exec(ctx, "ROLLBACK"); rerr != nil {
				pc.Conn().PgConn().Close(ctx)
			}
			for _, r := range ok {
				r.done <- err
			}
			return retry
		}
		p.drop()
		if _, err := p.conn.Exec(ctx, "COMMIT"); err != nil {
			err = fmt.Errorf("postgres: commit: %w", err)
			for _, r := range ok {
				r.done <- err
			}
			return retry
		}
	}
	if audits != nil {
		audits.Committed()
	}
	for _, r := range ok {
		r.done <- nil
	}
	db.wrote(puts)
	return retry
}

// call runs r's fn. A panic in fn is caught (it must not take the writer
// goroutine down) and returned as a *fnPanic, which Write re-raises in the
// caller's goroutine.
func call(r *writeReq, t *tx) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &fnPanic{value: v, stack: debug.Stack()}
		}
	}()
	return r.fn(r.ctx, t)
}

// fnPanic carries a panic out of a Write fn.
type fnPanic struct {
	value any
	stack []byte
}

func (p *fnPanic) Error() string {
	return fmt.Sprintf("postgres: write fn panicked: %v\n%s", p.value, p.stack)
}

// retryable reports whether err is a serialization failure, a deadlock, or
// a lock that a grouped fn would have had to wait for.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.Is(err, errLockBusy) || errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

// errLockBusy means a fn running in a group needed a lock held by another
// transaction. Waiting for it while holding the group's locks invites
// deadlocks (each costing PostgreSQL's deadlock_timeout), so the fn is
// rolled back to its savepoint and runs again on its own after the group
// commits, where it waits normally.
var errLockBusy = errors.New("postgres: resource locked by another transaction")

// isLockBusy reports whether err is PostgreSQL's lock_not_available
// (SQLSTATE 55P03), the answer to FOR UPDATE NOWAIT on a locked row.
func isLockBusy(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "55P03"
}

// tx is the vigil.ResourceTx handed to a Write fn.
type tx struct {
	p      *pipe
	ctx    context.Context
	done   bool
	failed error // first database error: the fn's work is then aborted
	nowait bool  // fail with errLockBusy rather than wait for a row lock
	puts   int   // versions written
	// track makes Put note what it stored in written ("Type/id"), for
	// the Write's inline audit record (vigil.CommitAudit).
	track   bool
	written []string
}

var _ vigil.ResourceTx = (*tx)(nil)

var errTxDone = errors.New("postgres: transaction used after its Write function returned")

// begin checks that the transaction may be used and returns the context
// for its statements. A statement is never canceled midway, since the
// connection carries the transaction of other fns too; ctx is checked
// before each one instead.
func (t *tx) begin(ctx context.Context) (context.Context, error) {
	if t.done {
		return nil, errTxDone
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := t.ctx.Err(); err != nil {
		return nil, err
	}
	if t.failed != nil {
		return nil, fmt.Errorf("postgres: transaction aborted by an earlier error: %w", t.failed)
	}
	return context.WithoutCancel(ctx), nil
}

// note records err when it comes from the database, which aborts the
// transaction; the store's own errors (*vigil.Error) do not.
func (t *tx) note(err error) error {
	var ve *vigil.Error
	if err != nil && t.failed == nil && !errors.As(err, &ve) {
		t.failed = err
	}
	return err
}

// Read returns the current version of typ/id and locks the resource until
// the transaction ends.
func (t *tx) Read(ctx context.Context, typ, id string) (*vigil.Resource, error) {
	ctx, err := t.begin(ctx)
	if err != nil {
		return nil, err
	}
	r, err := readForUpdate(ctx, t.p, typ, id, t.nowait)
	return r, t.note(err)
}

var _ vigil.Locker = (*tx)(nil)

// Lock implements vigil.Locker with a transaction-scoped advisory lock on
// name (in a namespace of its own, apart from the resource-name locks).
// Inside a group it does not wait: a busy lock reruns the fn on its own,
// as for row locks.
func (t *tx) Lock(ctx context.Context, name string) error {
	ctx, err := t.begin(ctx)
	if err != nil {
		return err
	}
	q := `SELECT pg_advisory_xact_lock(hashtextextended($1, 1))::text`
	if t.nowait {
		q = `SELECT pg_try_advisory_xact_lock(hashtextextended($1, 1))::text`
	}
	var got string
	if err := t.p.QueryRow(ctx, q, name).Scan(&got); err != nil {
		return t.note(fmt.Errorf("postgres: lock: %w", err))
	}
	if got == "false" {
		return t.note(errLockBusy)
	}
	return nil
}

// ReadVersion implements vigil.ResourceReader inside the transaction.
func (t *tx) ReadVersion(ctx context.Context, typ, id string, version int64) (*vigil.Resource, error) {
	ctx, err := t.begin(ctx)
	if err != nil {
		return nil, err
	}
	r, err := readVersion(ctx, t.p, typ, id, version)
	return r, t.note(err)
}

// History implements vigil.ResourceReader inside the transaction.
func (t *tx) History(ctx context.Context, q *vigil.HistoryQuery) (*vigil.HistoryResult, error) {
	ctx, err := t.begin(ctx)
	if err != nil {
		return nil, err
	}
	r, err := history(ctx, t.p, q)
	return r, t.note(err)
}

// Search implements vigil.ResourceReader inside the transaction; it sees
// the transaction's own writes.
func (t *tx) Search(ctx context.Context, q *vigil.SearchQuery) (*vigil.SearchResult, error) {
	ctx, err := t.begin(ctx)
	if err != nil {
		return nil, err
	}
	r, err := search(ctx, t.p, q)
	return r, t.note(err)
}

// Reindex implements vigil.Reindexer.
func (t *tx) Reindex(ctx context.Context, typ, id string, version int64, index []vigil.IndexEntry) error {
	ctx, err := t.begin(ctx)
	if err != nil {
		return err
	}
	return t.note(reindex(ctx, t.p, typ, id, version, index))
}

// IndexRevision implements vigil.IndexRevisioner.
func (t *tx) IndexRevision(ctx context.Context) (int, error) {
	ctx, err := t.begin(ctx)
	if err != nil {
		return 0, err
	}
	var rev int
	if err := t.p.QueryRow(ctx, "SELECT revision FROM index_state WHERE id = 1").Scan(&rev); err != nil {
		return 0, t.note(fmt.Errorf("postgres: read index revision: %w", err))
	}
	return rev, nil
}

// SetIndexRevision implements vigil.IndexRevisioner.
func (t *tx) SetIndexRevision(ctx context.Context, rev int) error {
	ctx, err := t.begin(ctx)
	if err != nil {
		return err
	}
	if _, err := t.p.Exec(ctx, "UPDATE index_state SET revision = $1 WHERE id = 1", rev); err != nil {
		return t.note(fmt.Errorf("postgres: record index revision: %w", err))
	}
	return nil
}

// PutBatch implements vigil.BatchPutter.
func (t *tx) PutBatch(ctx context.Context, rs []*vigil.Resource, index [][]vigil.IndexEntry) error {
	ctx, err := t.begin(ctx)
	if err != nil {
		return err
	}
	if len(rs) != len(index) {
		return vigil.Errorf(vigil.ErrInvalid, "PutBatch: %d resources but %d index lists", len(rs), len(index))
	}
	if err := putBatch(ctx, t.p, rs, index); err != nil {
		// The statements after the failed one ran: the fn must fail.
		if t.failed == nil {
			t.failed = err
		}
		return err
	}
	t.puts += len(rs)
	if t.track {
		for _, r := range rs {
			t.written = append(t.written, r.Type+"/"+r.ID)
		}
	}
	return nil
}

// Put implements vigil.ResourceTx.
func (t *tx) Put(ctx context.Context, r *vigil.Resource, index []vigil.IndexEntry) error {
	ctx, err := t.begin(ctx)
	if err != nil {
		return err
	}
	if err := t.note(put(ctx, t.p, r, index)); err != nil {
		return err
	}
	t.puts++
	if t.track {
		t.written = append(t.written, r.Type+"/"+r.ID)
	}
	return nil
}
