package sqlite

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/vigilhealth/vigil/internal/alertsql"
	"github.com/vigilhealth/vigil/internal/sqldb"
)

// AlertsFileName is the alert database inside a data directory. It is a
// file of its own so that raising an alert never waits for the resource
// store's or the sample store's writer.
const AlertsFileName = "alerts.db"

// OpenAlerts opens (creating if needed) the alert store of a data
// directory. Every write is committed with a full fsync before it returns.
func OpenAlerts(ctx context.Context, dir string) (*alertsql.Store, error) {
	// Readers share the pool (WAL lets them run beside the writer); all
	// writes go through the store's one writer goroutine, which commits
	// concurrent writes in one transaction, so SQLITE_BUSY cannot arise
	// between them.
	db, err := sqldb.OpenSQLite(filepath.Clean(dir), AlertsFileName, 4)
	if err != nil {
		return nil, fmt.Errorf("sqlite: alerts: %w", err)
	}
	s, err := alertsql.Open(ctx, db, alertsql.SQLite)
	if err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}
