package alertsql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// maxBatch bounds the writes committed in one transaction.
const maxBatch = 256

// errClosed is returned by writes after Close.
var errClosed = errors.New("alerts: store closed")

// execer is a *sql.DB or a *sql.Tx.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// write is one statement for the writer goroutine.
type write struct {
	ctx  context.Context
	exec func(ctx context.Context, x execer) error
	done chan error
}

// writer commits writes in batches (group commit): it takes every write
// waiting, runs them in one transaction, each in its own savepoint so that
// one failing statement (a unique violation) leaves the others, and
// commits once. Under load many writes share one fsync; alone, a write
// commits at once. It runs until quit is closed.
func (s *Store) writer(conn *sql.Conn) {
	defer close(s.stopped)
	defer conn.Close()
	for {
		var first write
		select {
		case first = <-s.writes:
		case <-s.quit:
			return
		}
		batch := []write{first}
	drain:
		for len(batch) < maxBatch {
			select {
			case w := <-s.writes:
				batch = append(batch, w)
			default:
				break drain
			}
		}
		s.commit(conn, batch)
	}
}

func (s *Store) commit(conn *sql.Conn, batch []write) {
	errs := make([]error, len(batch))
	fail := func(err error) {
		for _, w := range batch {
			w.done <- err
		}
	}
	ctx := context.Background()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		fail(fmt.Errorf("alerts: begin: %w", err))
		return
	}
	for i, w := range batch {
		if err := w.ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		if _, err := tx.ExecContext(ctx, "SAVEPOINT w"); err != nil {
			tx.Rollback()
			fail(fmt.Errorf("alerts: savepoint: %w", err))
			return
		}
		errs[i] = w.exec(ctx, tx)
		end := []string{"RELEASE SAVEPOINT w"}
		if errs[i] != nil {
			end = []string{"ROLLBACK TO SAVEPOINT w", "RELEASE SAVEPOINT w"}
		}
		for _, q := range end {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				tx.Rollback()
				fail(fmt.Errorf("alerts: savepoint: %w", err))
				return
			}
		}
	}
	if err := tx.Commit(); err != nil {
		fail(fmt.Errorf("alerts: commit: %w", err))
		return
	}
	for i, w := range batch {
		w.done <- errs[i]
	}
}

// submit runs exec and returns its error, or the commit's. On SQLite it
// runs in the writer's next transaction (a write whose ctx ends before its
// turn is skipped); on PostgreSQL, which commits concurrent transactions
// together by itself, directly on the pool.
func (s *Store) submit(ctx context.Context, exec func(ctx context.Context, x execer) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.writes == nil {
		return exec(ctx, s.db)
	}
	w := write{ctx: ctx, exec: exec, done: make(chan error, 1)}
	select {
	case s.writes <- w:
	case <-s.quit:
		return errClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	// Once taken, a write is waited for: it may commit.
	return <-w.done
}
