package postgres

import (
	"context"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// pipe is a connection that holds back transaction-control statements
// (BEGIN, SAVEPOINT, RELEASE) and sends them in one batch with the next
// real statement, saving a round trip each. An error in a held-back
// statement is reported by that next statement.
type pipe struct {
	conn    *pgx.Conn
	pending []string
	sent    bool // a statement has been sent since the last take
}

var _ querier = (*pipe)(nil)

// hold queues a transaction-control statement.
func (p *pipe) hold(sql string) { p.pending = append(p.pending, sql) }

// drop forgets the held-back statements.
func (p *pipe) drop() { p.pending = p.pending[:0] }

// batch returns a batch that starts with the held-back statements, and
// how many there are.
func (p *pipe) batch() (*pgx.Batch, int) {
	b := &pgx.Batch{}
	for _, s := range p.pending {
		b.Queue(s)
	}
	n := len(p.pending)
	p.pending = p.pending[:0]
	p.sent = true
	return b, n
}

// flushFor sends the held-back statements on their own when args select a
// query execution mode, which batches do not support.
func (p *pipe) flushFor(ctx context.Context, args []any) error {
	if len(p.pending) == 0 || len(args) == 0 {
		return nil
	}
	if _, ok := args[0].(pgx.QueryExecMode); !ok {
		return nil
	}
	sql := strings.Join(p.pending, "; ")
	p.pending = p.pending[:0]
	p.sent = true
	_, err := p.conn.Exec(ctx, sql)
	return err
}

// skip reads the results of the n held-back statements.
func skip(br pgx.BatchResults, n int) error {
	for range n {
		if _, err := br.Exec(); err != nil {
			return err
		}
	}
	return nil
}

// Exec implements querier.
func (p *pipe) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if err := p.flushFor(ctx, args); err != nil {
		return pgconn.CommandTag{}, err
	}
	if len(p.pending) == 0 {
		p.sent = true
		return p.conn.Exec(ctx, sql, args...)
	}
	b, n := p.batch()
	b.Queue(sql, args...)
	br := p.conn.SendBatch(ctx, b)
	defer br.Close()
	if err := skip(br, n); err != nil {
		return pgconn.CommandTag{}, err
	}
	return br.Exec()
}

// QueryRow implements querier.
func (p *pipe) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if err := p.flushFor(ctx, args); err != nil {
		return errRow{err}
	}
	if len(p.pending) == 0 {
		p.sent = true
		return p.conn.QueryRow(ctx, sql, args...)
	}
	b, n := p.batch()
	b.Queue(sql, args...)
	br := p.conn.SendBatch(ctx, b)
	if err := skip(br, n); err != nil {
		_ = br.Close()
		return errRow{err}
	}
	return batchRow{br.QueryRow(), br}
}

// Query implements querier.
func (p *pipe) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if err := p.flushFor(ctx, args); err != nil {
		return nil, err
	}
	if len(p.pending) == 0 {
		p.sent = true
		return p.conn.Query(ctx, sql, args...)
	}
	b, n := p.batch()
	b.Queue(sql, args...)
	br := p.conn.SendBatch(ctx, b)
	if err := skip(br, n); err != nil {
		_ = br.Close()
		return nil, err
	}
	rows, err := br.Query()
	if err != nil {
		_ = br.Close()
		return nil, err
	}
	return &batchRows{Rows: rows, br: br}, nil
}

// SendBatch implements querier; the held-back statements go first.
func (p *pipe) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	if len(p.pending) == 0 {
		p.sent = true
		return p.conn.SendBatch(ctx, b)
	}
	nb, n := p.batch()
	nb.QueuedQueries = append(nb.QueuedQueries, b.QueuedQueries...)
	br := p.conn.SendBatch(ctx, nb)
	if err := skip(br, n); err != nil {
		_ = br.Close()
		return errBatch{err}
	}
	return br
}

// batchRow is a row read from a batch; Scan closes the batch.
type batchRow struct {
	row pgx.Row
	br  pgx.BatchResults
}

func (r batchRow) Scan(dest ...any) error {
	err := r.row.Scan(dest...)
	if cerr := r.br.Close(); err == nil {
		err = cerr
	}
	return err
}

// errRow is a row that fails with err.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// batchRows are rows read from a batch; Close closes the batch.
type batchRows struct {
	pgx.Rows
	br  pgx.BatchResults
	err error
}

func (r *batchRows) Close() {
	r.Rows.Close()
	if r.br != nil {
		r.err = r.br.Close()
		r.br = nil
	}
}

func (r *batchRows) Err() error {
	if err := r.Rows.Err(); err != nil {
		return err
	}
	return r.err
}

// errBatch is a batch whose every result fails with err.
type errBatch struct{ err error }

func (b errBatch) Exec() (pgconn.CommandTag, error) { return pgconn.CommandTag{}, b.err }
func (b errBatch) Query() (pgx.Rows, error)         { return nil, b.err }
func (b errBatch) QueryRow() pgx.Row                { return errRow(b) }
func (b errBatch) Close() error                     { return b.err }
func (b errBatch) Tx() pgx.Tx                       { return nil }
