package sqlite

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/vigilhealth/vigil/internal/accountsql"
	"github.com/vigilhealth/vigil/internal/sqldb"
)

// AccountsFileName is the accounts database inside a data directory. It is
// a file of its own so that logins and token checks never wait for the
// resource store's writer.
const AccountsFileName = "accounts.db"

// OpenAccounts opens (creating if needed) the account store of a data
// directory: accounts, token and session hashes, break-the-glass grants.
func OpenAccounts(ctx context.Context, dir string) (*accountsql.Store, error) {
	// One connection: writes are rare (logins, tokens) and a single
	// connection never sees SQLITE_BUSY from itself.
	db, err := sqldb.OpenSQLite(filepath.Clean(dir), AccountsFileName, 1, "foreign_keys(1)")
	if err != nil {
		return nil, fmt.Errorf("sqlite: accounts: %w", err)
	}
	s, err := accountsql.Open(ctx, db, accountsql.SQLite)
	if err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}
