package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/vigilhealth/vigil"
)

// deferredIndexes are the value indexes of the index tables, which a bulk
// load builds after the rows are in: CREATE INDEX sorts the entries once
// and writes each page once, where a row-by-row insert lands on a random
// page of each of them for every entry.
var deferredIndexes = [...]string{
	"idx_string_value", "idx_token_value", "idx_ref_target", "idx_ref_uri", "idx_date_start", "idx_date_wide",
	"idx_number_value", "idx_quantity_canon", "idx_quantity_code", "idx_uri_value",
}

// BulkLoad readies an empty store for a large load (vigil import): it
// drops the value indexes of the index tables, which makes each resource
// written markedly cheaper; finish builds them again, in one sorted pass
// each (seconds for 100,000 Observations). Searches stay correct
// meanwhile, only slower: the index tables themselves, and idx_ref_token
// (a table searches read, not only an index), are written as always.
// On a store that holds resources BulkLoad changes nothing and finish does
// nothing. What was deferred is recorded in the same transaction, so a
// load cut short (a crash, a kill) is finished by the next Open. Call
// finish once, after the last Write of the load.
func (db *DB) BulkLoad(ctx context.Context) (finish func(context.Context) error, err error) {
	deferred := false
	err = db.Write(ctx, func(ctx context.Context, _ vigil.ResourceTx) error {
		var has int
		if err := db.conn.QueryRowContext(ctx, "SELECT count(*) FROM (SELECT 1 FROM resources LIMIT 1)").Scan(&has); err != nil {
			return err
		}
		if has > 0 {
			return nil
		}
		// The load's large transactions touch many pages that live in the
		// WAL: the writer gets the readers' cache size until finish.
		if _, err := db.conn.ExecContext(ctx, fmt.Sprintf("PRAGMA cache_size = -%d", db.cacheKiB)); err != nil {
			return err
		}
		for _, name := range deferredIndexes {
			var def string
			err := db.conn.QueryRowContext(ctx, "SELECT sql FROM sqlite_schema WHERE type = 'index' AND name = ?", name).Scan(&def)
			if errors.Is(err, sql.ErrNoRows) {
				continue // deferred by a load not yet finished
			}
			if err != nil {
				return err
			}
			if _, err := db.conn.ExecContext(ctx, "INSERT INTO bulk_load (name, sql) VALUES (?, ?)", name, def); err != nil {
				return err
			}
			if _, err := db.conn.ExecContext(ctx, "DROP INDEX "+name); err != nil {
				return err
			}
		}
		deferred = true
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: begin bulk load: %w", err)
	}
	if !deferred {
		return func(context.Context) error { return nil }, nil
	}
	return func(ctx context.Context) error {
		err := db.Write(ctx, func(ctx context.Context, _ vigil.ResourceTx) error {
			if err := finishBulkLoad(ctx, db.conn); err != nil {
				return err
			}
			_, err := db.conn.ExecContext(ctx, fmt.Sprintf("PRAGMA cache_size = -%d", db.writerCacheKiB))
			return err
		})
		if err != nil {
			return fmt.Errorf("sqlite: finish bulk load: %w", err)
		}
		return nil
	}, nil
}

// execer is a connection or transaction that runs statements.
type execer interface {
	querier
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// finishBulkLoad runs what a bulk load deferred (the bulk_load rows) and
// clears the record, in the caller's transaction.
func finishBulkLoad(ctx context.Context, q execer) error {
	rows, err := q.QueryContext(ctx, "SELECT name, sql FROM bulk_load ORDER BY name")
	if err != nil {
		return err
	}
	var stmts []string
	for rows.Next() {
		var name, s string
		if err := rows.Scan(&name, &s); err != nil {
			rows.Close()
			return err
		}
		stmts = append(stmts, s)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return err
	}
	for _, s := range stmts {
		if _, err := q.ExecContext(ctx, s); err != nil {
			return err
		}
	}
	_, err = q.ExecContext(ctx, "DELETE FROM bulk_load")
	return err
}

// finishInterruptedLoad finishes, at Open, a bulk load that did not (see
// BulkLoad), in a transaction of its own.
func finishInterruptedLoad(ctx context.Context, conn *sql.Conn) (err error) {
	var n int
	if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM bulk_load").Scan(&n); err != nil || n == 0 {
		return err
	}
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		}
	}()
	if err := finishBulkLoad(ctx, conn); err != nil {
		return err
	}
	_, err = conn.ExecContext(ctx, "COMMIT")
	return err
}
