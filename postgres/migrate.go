package postgres

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// migrations holds the schema, one file per version: NNNN_name.sql.
//
//go:embed migrations/*.sql
var migrations embed.FS

// migrateLockClass is the first key of the advisory lock taken while
// migrating ("VIGL"); the second is a hash of the schema name, so that
// stores in different schemas migrate independently.
const migrateLockClass = 0x5649474c

// migrate applies the pending migrations in one transaction while holding a
// transaction-scoped advisory lock, so that several nodes starting at once
// apply each migration exactly once: the others wait, then find nothing to
// do. PostgreSQL DDL is transactional, so a failing migration leaves no
// trace.
//
// This is a small versioned runner rather than goose: it works on the pgx
// pool directly (goose needs database/sql), runs every pending migration
// and its bookkeeping in one transaction under one lock, and needs no
// down-migrations, which a clinical store would not run anyway.
func migrate(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) error {
	files, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return fmt.Errorf("postgres: list migrations: %w", err)
	}
	type migration struct {
		version int
		name    string
	}
	var ms []migration
	for _, f := range files {
		base := strings.TrimPrefix(f, "migrations/")
		n, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(n)
		if !ok || err != nil || v <= 0 {
			return fmt.Errorf("postgres: migration %s: name must start with a positive version", base)
		}
		ms = append(ms, migration{v, f})
	}
	slices.SortFunc(ms, func(a, b migration) int { return a.version - b.version })

	return pgx.BeginTxFunc(ctx, pool, pgx.TxOptions{}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext(current_schema()))`, int32(migrateLockClass)); err != nil {
			return fmt.Errorf("postgres: lock for migration: %w", err)
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version integer PRIMARY KEY,
			applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
			return fmt.Errorf("postgres: create schema_migrations: %w", err)
		}
		rows, err := tx.Query(ctx, `SELECT version FROM schema_migrations`)
		if err != nil {
			return fmt.Errorf("postgres: read schema_migrations: %w", err)
		}
		applied, err := pgx.CollectRows(rows, pgx.RowTo[int32])
		if err != nil {
			return fmt.Errorf("postgres: read schema_migrations: %w", err)
		}
		for _, m := range ms {
			if slices.Contains(applied, int32(m.version)) {
				continue
			}
			sql, err := migrations.ReadFile(m.name)
			if err != nil {
				return fmt.Errorf("postgres: read migration %s: %w", m.name, err)
			}
			// The simple protocol runs a file of several statements.
			if _, err := tx.Exec(ctx, string(sql), pgx.QueryExecModeSimpleProtocol); err != nil {
				return fmt.Errorf("postgres: migration %s: %w", m.name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version) VALUES ($1)`, m.version); err != nil {
				return fmt.Errorf("postgres: record migration %s: %w", m.name, err)
			}
			log.InfoContext(ctx, "applied migration", "version", m.version)
		}
		return nil
	})
}
