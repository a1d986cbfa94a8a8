// Package teststore opens the real stores that Vigil's integration tests
// run against: SQLite in a temporary directory and PostgreSQL in a fresh
// schema (see internal/testenv for when the latter skips or fails).
package teststore

import (
	"context"
	"testing"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/internal/testenv"
	"github.com/vigilhealth/vigil/postgres"
	"github.com/vigilhealth/vigil/sqlite"
)

// Store names one store and opens a fresh, empty instance of it. The test
// closes what Open returns.
type Store struct {
	Name string
	Open func(t testing.TB) vigil.ResourceStore
}

// All returns every store, SQLite first.
func All() []Store {
	return []Store{
		{"sqlite", func(t testing.TB) vigil.ResourceStore {
			t.Helper()
			db, err := sqlite.Open(context.Background(), t.TempDir())
			if err != nil {
				t.Fatalf("sqlite.Open: %v", err)
			}
			return db
		}},
		{"postgres", func(t testing.TB) vigil.ResourceStore {
			t.Helper()
			db, err := postgres.Open(context.Background(), testenv.Postgres(t))
			if err != nil {
				t.Fatalf("postgres.Open: %v", err)
			}
			return db
		}},
	}
}
