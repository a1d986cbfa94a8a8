package sqlite_test

import (
	"context"
	"errors"
	"testing"
	"time"

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

func put(ctx context.Context, db *sqlite.DB, id string, v int64) error {
	return db.Write(ctx, func(ctx context.Context, tx vigil.ResourceTx) error {
		return tx.Put(ctx, &vigil.Resource{Type: "Patient", ID: id, Version: v, Method: "PUT",
			LastUpdated: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), JSON: []byte(`{}`)}, nil)
	})
}

func TestReopen(t *testing.T) {
	dir := t.TempDir()
	db, err := sqlite.Open(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := put(t.Context(), db, "p1", 1); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	if err := db.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if err := put(t.Context(), db, "p2", 1); err == nil {
		t.Error("Write after Close = nil, want an error")
	}
	db, err = sqlite.Open(t.Context(), dir)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer db.Close()
	if r, err := db.Read(t.Context(), "Patient", "p1"); err != nil || r.Version != 1 {
		t.Errorf("Read after reopen = %v, %v", r, err)
	}
}

func TestWritePanic(t *testing.T) {
	db := open(t)
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Errorf("recovered %v, want boom", r)
			}
		}()
		db.Write(t.Context(), func(ctx context.Context, tx vigil.ResourceTx) error {
			if err := tx.Put(ctx, &vigil.Resource{Type: "Patient", ID: "p1", Version: 1, JSON: []byte(`{}`)}, nil); err != nil {
				return err
			}
			panic("boom")
		})
	}()
	if _, err := db.Read(t.Context(), "Patient", "p1"); !errors.Is(err, vigil.ErrNotFound) {
		t.Errorf("Read after panicking Write = %v, want ErrNotFound", err)
	}
	if err := put(t.Context(), db, "p2", 1); err != nil {
		t.Errorf("Write after a panic = %v", err)
	}
}

func TestTxAfterWrite(t *testing.T) {
	db := open(t)
	var kept vigil.ResourceTx
	if err := db.Write(t.Context(), func(ctx context.Context, tx vigil.ResourceTx) error {
		kept = tx
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := kept.Read(t.Context(), "Patient", "p1"); err == nil || errors.Is(err, vigil.ErrNotFound) {
		t.Errorf("Read on a finished tx = %v, want a use-after-Write error", err)
	}
}
