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
type stmtCache struct {
	prep func(ctx context.Context, query string) (*sql.Stmt, error)
	mu   sync.Mutex
	m    map[string]*sql.Stmt
}

func newStmtCache(prep func(ctx context.Context, query string) (*sql.Stmt, error)) *stmtCache {
	return &stmtCache{prep: prep, m: make(map[string]*sql.Stmt)}
}

// get returns the cached statement for query, preparing it if needed; nil
// when the cache is full.
func (c *stmtCache) get(ctx context.Context, query string) (*sql.Stmt, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.m[query]; ok {
		return st, nil
	}
	if len(c.m) >= maxCached {
		return nil, nil
	}
	st, err := c.prep(ctx, query)
	if err != nil {
		return nil, err
	}
	c.m[query] = st
	return st, nil
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
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
	st, err := q.c.get(ctx, query)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return q.tx.QueryContext(ctx, query, args...)
	}
	return q.tx.StmtContext(ctx, st).QueryContext(ctx, args...)
}

func (q cachedTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := q.c.get(ctx, query)
	if err != nil || st == nil {
		return q.tx.QueryRowContext(ctx, query, args...)
	}
	return q.tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
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
