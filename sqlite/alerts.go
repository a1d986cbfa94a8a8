package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	"github.com/vigilhealth/vigil/internal/alertsql"
)

// AlertsFileName is the alert database inside a data directory. It is a
// file of its own so that raising an alert never waits for the resource
// store's or the sample store's writer.
const AlertsFileName = "alerts.db"

// OpenAlerts opens (creating if needed) the alert store of a data
// directory. Every write is committed with a full fsync before it returns.
func OpenAlerts(ctx context.Context, dir string) (*alertsql.Store, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("sqlite: create directory: %w", err)
	}
	q := url.Values{}
	for _, p := range []string{"busy_timeout(5000)", "journal_mode(WAL)", "synchronous(FULL)"} {
		q.Add("_pragma", p)
	}
	path := filepath.Join(dir, AlertsFileName)
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("sqlite: open alerts: %w", err)
	}
	// Readers share the pool (WAL lets them run beside the writer); all
	// writes go through the store's one writer goroutine, which commits
	// concurrent writes in one transaction, so SQLITE_BUSY cannot arise
	// between them.
	db.SetMaxOpenConns(4)
	s, err := alertsql.Open(ctx, db, alertsql.SQLite)
	if err != nil {
		db.Close()
		return nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlite: alerts permissions: %w", err)
	}
	return s, nil
}
