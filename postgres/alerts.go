package postgres

import (
	"context"
	"fmt"

	"github.com/vigilhealth/vigil/internal/alertsql"
	"github.com/vigilhealth/vigil/internal/sqldb"
)

// OpenAlerts opens the alert store in the database at url, creating its
// table when missing.
func OpenAlerts(ctx context.Context, url string) (*alertsql.Store, error) {
	db, err := sqldb.OpenPostgres(ctx, url, 8)
	if err != nil {
		return nil, fmt.Errorf("postgres: alerts: %w", err)
	}
	s, err := alertsql.Open(ctx, db, alertsql.Postgres)
	if err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}
