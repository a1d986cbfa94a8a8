package postgres_test

import (
	"context"
	"testing"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/internal/alertsql/alerttest"
	"github.com/vigilhealth/vigil/internal/testenv"
	"github.com/vigilhealth/vigil/postgres"
)

func TestAlertStore(t *testing.T) {
	alerttest.Run(t, func(t *testing.T) vigil.AlertStore {
		s, err := postgres.OpenAlerts(context.Background(), testenv.Postgres(t))
		if err != nil {
			t.Fatalf("OpenAlerts: %v", err)
		}
		return s
	})
}
