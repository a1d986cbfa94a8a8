package postgres

import (
	"context"
	"fmt"

	"github.com/vigilhealth/vigil/internal/accountsql"
	"github.com/vigilhealth/vigil/internal/sqldb"
)

// OpenAccounts opens the account store (accounts, token and session
// hashes, break-the-glass grants) in the database at url, creating its
// tables when missing.
func OpenAccounts(ctx context.Context, url string) (*accountsql.Store, error) {
	db, err := sqldb.OpenPostgres(ctx, url, 8)
	if err != nil {
		return nil, fmt.Errorf("postgres: accounts: %w", err)
	}
	s, err := accountsql.Open(ctx, db, accountsql.Postgres)
	if err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}
