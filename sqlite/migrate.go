package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"
)

// migrations holds the schema, one file per version: NNNN_name.sql.
//
//go:embed migrations/*.sql
var migrations embed.FS

// migrate applies the embedded migrations newer than the database's
// PRAGMA user_version, each in its own transaction together with the
// version bump. A tiny runner rather than goose: the store needs only
// forward, in-order SQL files, and goose's package-level state (SetBaseFS,
// SetDialect) would be global mutable state; user_version needs no
// bookkeeping table.
func migrate(ctx context.Context, conn *sql.Conn) error {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return fmt.Errorf("sqlite: list migrations: %w", err)
	}
	slices.Sort(names)
	var current int
	if err := conn.QueryRowContext(ctx, "PRAGMA user_version").Scan(&current); err != nil {
		return fmt.Errorf("sqlite: read schema version: %w", err)
	}
	for _, name := range names {
		base := strings.TrimPrefix(name, "migrations/")
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return fmt.Errorf("sqlite: migration %s: name must start with a number and _", base)
		}
		if v <= current {
			continue
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			return fmt.Errorf("sqlite: migration %s: %w", base, err)
		}
		if err := apply(ctx, conn, string(body), v); err != nil {
			return fmt.Errorf("sqlite: migration %s: %w", base, err)
		}
		current = v
	}
	return nil
}

func apply(ctx context.Context, conn *sql.Conn, body string, version int) (err error) {
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		}
	}()
	if _, err := conn.ExecContext(ctx, body); err != nil {
		return err
	}
	if _, err := conn.ExecContext(ctx, "PRAGMA user_version = "+strconv.Itoa(version)); err != nil {
		return err
	}
	_, err = conn.ExecContext(ctx, "COMMIT")
	return err
}
