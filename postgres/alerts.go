package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/vigilhealth/vigil/internal/alertsql"
)

// OpenAlerts opens the alert store in the database at url, creating its
// table when missing.
func OpenAlerts(ctx context.Context, url string) (*alertsql.Store, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: alerts: parse url: %w", err)
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(8)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("postgres: alerts: connect: %w", err)
	}
	s, err := alertsql.Open(ctx, db, alertsql.Postgres)
	if err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}
