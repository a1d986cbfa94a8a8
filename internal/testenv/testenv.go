// Package testenv finds the real services and data that Vigil's
// integration tests use, and decides whether a test may skip when one is
// missing.
//
// A test that needs PostgreSQL (or later Mosquitto, NATS, Chromium) calls
// the matching function here. When the service is not reachable the test is
// skipped with a message saying how to provide it — unless the environment
// variable VIGIL_REQUIRE_SERVICES is "1" (as .ci/run sets it), in which case
// the test fails instead.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultPostgres is the PostgreSQL URL used when VIGIL_TEST_POSTGRES is unset.
const DefaultPostgres = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// Required reports whether missing services must fail tests rather than
// skip them (VIGIL_REQUIRE_SERVICES=1).
func Required() bool { return os.Getenv("VIGIL_REQUIRE_SERVICES") == "1" }

// Missing skips t (or fails it when services are required) because a
// service or data set is not available.
func Missing(t testing.TB, what, how string) {
	t.Helper()
	if Required() {
		t.Fatalf("%s is not available and VIGIL_REQUIRE_SERVICES=1: %s", what, how)
	}
	t.Skipf("skipping: %s is not available (%s)", what, how)
}

// Postgres returns the URL of a fresh, empty schema in the test PostgreSQL
// database (VIGIL_TEST_POSTGRES, default DefaultPostgres): a schema named
// vigil_test_<random> is created, the returned URL selects it with
// search_path, and it is dropped when the test ends. It skips or fails the
// test when PostgreSQL is not reachable.
func Postgres(t testing.TB) string {
	t.Helper()
	base := os.Getenv("VIGIL_TEST_POSTGRES")
	if base == "" {
		base = DefaultPostgres
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		Missing(t, "PostgreSQL", "start it or set VIGIL_TEST_POSTGRES; connect: "+err.Error())
		return ""
	}
	defer conn.Close(context.Background())
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "vigil_test_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create test schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Logf("drop test schema: %v", err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Logf("drop test schema: %v", err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("VIGIL_TEST_POSTGRES is not a URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// SharedData returns the path of the shared data directory (../shared/data
// above the module, or VIGIL_SHARED_DATA), skipping the test when it is
// absent. The data is never needed at run time, only by tests.
func SharedData(t testing.TB) string {
	t.Helper()
	if d := os.Getenv("VIGIL_SHARED_DATA"); d != "" {
		return d
	}
	wd, err := os.Getwd()
	if err == nil {
		for d := wd; d != filepath.Dir(d); d = filepath.Dir(d) {
			p := filepath.Join(d, "..", "shared", "data")
			if st, err := os.Stat(p); err == nil && st.IsDir() {
				return p
			}
		}
	}
	t.Skip("skipping: shared data (../shared/data) not found; set VIGIL_SHARED_DATA")
	return ""
}
