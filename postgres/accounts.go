package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/vigilhealth/vigil/internal/accountsql"
)

// OpenAccounts opens the account store (accounts, token and session
// hashes, break-the-glass grants) in the database at url, creating its
// tables when missing.
func OpenAccounts(ctx context.Context, url string) (*accountsql.Store, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: accounts: parse url: %w", err)
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(8)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("postgres: accounts: connect: %w", err)
	}
	s, err := accountsql.Open(ctx, db, accountsql.Postgres)
	if err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}
