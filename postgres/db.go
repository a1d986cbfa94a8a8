package postgres

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/vigilhealth/vigil"
)

// DB is a vigil.ResourceStore on PostgreSQL. It is safe for concurrent use.
type DB struct {
	pool       *pgxpool.Pool
	log        *slog.Logger
	maxRetries int

	reqs    chan *writeReq // queued Writes
	writers sync.WaitGroup
	mu      sync.RWMutex // guards closed against sends on reqs
	closed  bool

	written     atomic.Int64 // versions written since Open
	nextAnalyze atomic.Int64 // written count that triggers an ANALYZE
	analyzing   atomic.Bool
	background  sync.WaitGroup
	bgCtx       context.Context // canceled by Close
	bgCancel    context.CancelFunc
}

var _ vigil.ResourceStore = (*DB)(nil)

// Option configures Open.
type Option func(*options)

type options struct {
	maxConns   int32
	log        *slog.Logger
	maxRetries int
	writers    int
}

// WithWriters sets how many transactions commit writes concurrently (each
// grouping the Writes queued meanwhile). The default is 2×GOMAXPROCS, at
// most half the pool.
func WithWriters(n int) Option { return func(o *options) { o.writers = n } }

// WithMaxConns sets the size of the connection pool. The default is
// 4×GOMAXPROCS, at least 8, unless the URL sets pool_max_conns.
func WithMaxConns(n int32) Option { return func(o *options) { o.maxConns = n } }

// WithLogger sets the logger for retries and migrations. The default
// discards log output.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithMaxRetries sets how many times Write re-runs its function after a
// serialization failure or deadlock (SQLSTATE 40001, 40P01). Default 5.
func WithMaxRetries(n int) Option { return func(o *options) { o.maxRetries = n } }

// Open connects to the PostgreSQL database at url (a pgx connection string,
// URL or key=value form), applies pending migrations and returns the store.
// Close it when done.
func Open(ctx context.Context, url string, opts ...Option) (*DB, error) {
	o := options{maxRetries: 5}
	for _, opt := range opts {
		opt(&o)
	}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	pool, err := openPool(ctx, url, &o)
	if err != nil {
		return nil, err
	}
	if o.writers <= 0 {
		o.writers = max(1, min(2*runtime.GOMAXPROCS(0), int(pool.Config().MaxConns)/2))
	}
	db := &DB{pool: pool, log: o.log, maxRetries: o.maxRetries, reqs: make(chan *writeReq, 4*maxGroup)}
	db.nextAnalyze.Store(firstAnalyze)
	db.bgCtx, db.bgCancel = context.WithCancel(context.Background())
	for range o.writers {
		db.writers.Add(1)
		go db.writer()
	}
	return db, nil
}

// Close waits for queued writes to finish, then closes the connection
// pool. Writes after Close fail with ErrClosed.
func (db *DB) Close() error {
	db.mu.Lock()
	if db.closed {
		db.mu.Unlock()
		return nil
	}
	db.closed = true
	close(db.reqs)
	db.mu.Unlock()
	db.writers.Wait()
	db.bgCancel()
	db.background.Wait()
	db.pool.Close()
	return nil
}

// Read implements vigil.ResourceReader.
func (db *DB) Read(ctx context.Context, typ, id string) (*vigil.Resource, error) {
	return read(ctx, db.pool, typ, id)
}

// ReadVersion implements vigil.ResourceReader.
func (db *DB) ReadVersion(ctx context.Context, typ, id string, version int64) (*vigil.Resource, error) {
	return readVersion(ctx, db.pool, typ, id, version)
}

// History implements vigil.ResourceReader.
func (db *DB) History(ctx context.Context, q *vigil.HistoryQuery) (*vigil.HistoryResult, error) {
	return history(ctx, db.pool, q)
}

// Search implements vigil.ResourceReader.
func (db *DB) Search(ctx context.Context, q *vigil.SearchQuery) (*vigil.SearchResult, error) {
	return search(ctx, db.pool, q)
}

// querier is what both the pool and a transaction offer.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// openPool connects a pool to url (WithMaxConns or pool_max_conns in url,
// else max(8, 4×GOMAXPROCS) connections), checks that the server answers
// and applies pending migrations. o.log must be set.
func openPool(ctx context.Context, url string, o *options) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse connection string: %w", err)
	}
	switch {
	case o.maxConns > 0:
		cfg.MaxConns = o.maxConns
	case !strings.Contains(url, "pool_max_conns"):
		cfg.MaxConns = int32(max(8, 4*runtime.GOMAXPROCS(0)))
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: open pool: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	if err := migrate(ctx, pool, o.log); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}
