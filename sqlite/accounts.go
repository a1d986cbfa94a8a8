package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	"github.com/vigilhealth/vigil/internal/accountsql"
)

// AccountsFileName is the accounts database inside a data directory. It is
// a file of its own so that logins and token checks never wait for the
// resource store's writer.
const AccountsFileName = "accounts.db"

// OpenAccounts opens (creating if needed) the account store of a data
// directory: accounts, token and session hashes, break-the-glass grants.
func OpenAccounts(ctx context.Context, dir string) (*accountsql.Store, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("sqlite: create directory: %w", err)
	}
	q := url.Values{}
	for _, p := range []string{"busy_timeout(5000)", "journal_mode(WAL)", "synchronous(FULL)", "foreign_keys(1)"} {
		q.Add("_pragma", p)
	}
	path := filepath.Join(dir, AccountsFileName)
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("sqlite: open accounts: %w", err)
	}
	// One connection: writes are rare (logins, tokens) and a single
	// connection never sees SQLITE_BUSY from itself.
	db.SetMaxOpenConns(1)
	s, err := accountsql.Open(ctx, db, accountsql.SQLite)
	if err != nil {
		db.Close()
		return nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlite: accounts permissions: %w", err)
	}
	return s, nil
}
