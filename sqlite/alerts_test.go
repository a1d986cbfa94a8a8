package sqlite_test

import (
	"context"
	"testing"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/internal/alertsql/alerttest"
	"github.com/vigilhealth/vigil/sqlite"
)

func TestAlertStore(t *testing.T) {
	alerttest.Run(t, func(t *testing.T) vigil.AlertStore {
		s, err := sqlite.OpenAlerts(context.Background(), t.TempDir())
		if err != nil {
			t.Fatalf("OpenAlerts: %v", err)
		}
		return s
	})
}
