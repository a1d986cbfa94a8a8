package sqlite

import (
	"context"
	"database/sql"
	"sync"
)

// maxCached bounds the prepared statements a cache keeps; queries beyond
// it are prepared per use. Search SQL depends only on the shape of a query
// (its parameters, modifiers, value counts), so real workloads reuse a
// small set.
const maxCached = 512

// stmtCache keeps prepared statements by SQL text. Preparing a search
// statement costs about as much as running it, so reuse halves the cost
// of a typical search.
//
// The cache never holds its lock while preparing: preparing on the read
// pool needs a free connection, and the callers that wait for the lock may
// be the very read transactions holding every connection (a deadlock seen
// under 32 concurrent searches of a new shape). Callers inside a read
// transaction use cached, which never waits for a connection.
type stmtCache struct {
	prep    func(ctx context.Context, query string) (*sql.Stmt, error)
	mu      sync.Mutex
	m       map[string]*sql.Stmt
	pending map[string]bool // being prepared in the background
	closed  bool
}

func newStmtCache(prep func(ctx context.Context, query string) (*sql.Stmt, error)) *stmtCache {
	return &stmtCache{prep: prep, m: make(map[string]*sql.Stmt), pending: make(map[string]bool)}
}

// get returns the cached statement for query, preparing it if needed; nil
// when the cache is full. It may wait for a connection to prepare on, so it
// must not be called while holding one of the same pool.
func (c *stmtCache) get(ctx context.Context, query string) (*sql.Stmt, error) {
	c.mu.Lock()
	st, ok := c.m[query]
	full := len(c.m) >= maxCached
	c.mu.Unlock()
	if ok || full {
		return st, nil
	}
	st, err := c.prep(ctx, query)
	if err != nil {
		return nil, err
	}
	return c.keep(query, st), nil
}

// cached returns the cached statement for query, or nil after starting to
// prepare it in the background; the caller then runs the query unprepared.
func (c *stmtCache) cached(query string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.m[query]; ok {
		return st
	}
	if c.closed || c.pending[query] || len(c.m)+len(c.pending) >= maxCached {
		return nil
	}
	c.pending[query] = true
	go func() {
		st, err := c.prep(context.Background(), query)
		c.mu.Lock()
		delete(c.pending, query)
		c.mu.Unlock()
		if err == nil {
			c.keep(query, st)
		}
	}()
	return nil
}

// keep stores st for query and returns the statement to use: st, or the
// one another caller stored first (st is closed then). Once the cache is
// closed or full, st is closed and nil returned.
func (c *stmtCache) keep(query string, st *sql.Stmt) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	if have, ok := c.m[query]; ok {
		st.Close()
		return have
	}
	if c.closed || len(c.m) >= maxCached {
		st.Close()
		return nil
	}
	c.m[query] = st
	return st
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for q, st := range c.m {
		st.Close()
		delete(c.m, q)
	}
}

// cachedTx runs queries inside a read transaction with cached statements.
type cachedTx struct {
	tx *sql.Tx
	c  *stmtCache
}

func (q cachedTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := q.c.cached(query); st != nil {
		return q.tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	return q.tx.QueryContext(ctx, query, args...)
}

func (q cachedTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := q.c.cached(query); st != nil {
		return q.tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return q.tx.QueryRowContext(ctx, query, args...)
}

// cachedDB runs queries on a pool or connection with cached statements.
type cachedDB struct {
	q querier
	c *stmtCache
}

func (q cachedDB) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := q.c.get(ctx, query)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return q.q.QueryContext(ctx, query, args...)
	}
	return st.QueryContext(ctx, args...)
}

func (q cachedDB) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := q.c.get(ctx, query)
	if err != nil || st == nil {
		return q.q.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}
