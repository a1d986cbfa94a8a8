package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/postgres"
	"github.com/vigilhealth/vigil/storetest"
)

const defaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// testURL returns a connection string for a fresh schema that is dropped
// when the test ends. It skips the test when PostgreSQL is not reachable,
// unless VIGIL_REQUIRE_SERVICES=1.
func testURL(tb testing.TB) string {
	tb.Helper()
	base := os.Getenv("VIGIL_TEST_POSTGRES")
	if base == "" {
		base = defaultURL
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		if os.Getenv("VIGIL_REQUIRE_SERVICES") == "1" {
			tb.Fatalf("PostgreSQL not reachable (VIGIL_TEST_POSTGRES): %v", err)
		}
		tb.Skipf("PostgreSQL not reachable (set VIGIL_TEST_POSTGRES; VIGIL_REQUIRE_SERVICES=1 makes this fatal): %v", err)
	}
	defer conn.Close(ctx)
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "vigil_test_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		tb.Fatalf("create schema: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil || u.Scheme == "" {
		// key=value form
		return base + " search_path=" + schema
	}
	v := u.Query()
	v.Set("search_path", schema)
	u.RawQuery = v.Encode()
	return u.String()
}

// openTest opens a store on a fresh schema, closed when the test ends.
func openTest(tb testing.TB, opts ...postgres.Option) *postgres.DB {
	tb.Helper()
	u := testURL(tb)
	db, err := postgres.Open(context.Background(), u, opts...)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) vigil.ResourceStore {
		return openTest(t, postgres.WithMaxConns(4))
	})
}

func TestCommitAudit(t *testing.T) {
	db := openTest(t)
	storetest.CommitAudit(t, db, db, t.TempDir())
}
