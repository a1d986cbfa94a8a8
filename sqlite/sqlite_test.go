package sqlite_test

import (
	"testing"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/sqlite"
	"github.com/vigilhealth/vigil/storetest"
)

func open(tb testing.TB, opts ...sqlite.Option) *sqlite.DB {
	tb.Helper()
	db, err := sqlite.Open(tb.Context(), tb.TempDir(), opts...)
	if err != nil {
		tb.Fatalf("Open = %v", err)
	}
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Errorf("Close = %v", err)
		}
	})
	return db
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) vigil.ResourceStore { return open(t) })
}

func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, func(b *testing.B) vigil.ResourceStore { return open(b) })
}

// BenchmarkCreateNoGroupCommit is BenchmarkStore/Create with one Write per
// transaction, to show what group commit buys.
func BenchmarkCreateNoGroupCommit(b *testing.B) {
	storetest.BenchCreate(b, open(b, sqlite.WithBatch(1)))
}

// BenchmarkCreateSyncNormal is BenchmarkStore/Create with
// synchronous=NORMAL (no fsync per commit).
func BenchmarkCreateSyncNormal(b *testing.B) {
	storetest.BenchCreate(b, open(b, sqlite.WithSynchronous(sqlite.SyncNormal)))
}
