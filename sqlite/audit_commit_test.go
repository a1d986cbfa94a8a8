package sqlite_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/audit"
	"github.com/vigilhealth/vigil/sqlite"
	"github.com/vigilhealth/vigil/storetest"
)

func TestCommitAudit(t *testing.T) {
	dir := t.TempDir()
	db, err := sqlite.Open(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	store, err := db.Audit()
	if err != nil {
		t.Fatal(err)
	}
	storetest.CommitAudit(t, db, store, dir)
}

// TestLegacyAuditFile checks that a data directory from before schema 2,
// with its trail in audit.db, has the trail moved into vigil.db unchanged
// (it still verifies) and the old file renamed.
func TestLegacyAuditFile(t *testing.T) {
	dir := t.TempDir()
	// Build an old-style audit.db: the trail tables in a file of their own.
	srcDir := t.TempDir()
	src, err := sqlite.OpenAudit(t.Context(), srcDir)
	if err != nil {
		t.Fatal(err)
	}
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := audit.Open(t.Context(), src, audit.Options{Key: key, CheckpointEvery: 4})
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if err := tr.Append(t.Context(), &vigil.AuditRecord{ActorID: "u", Action: vigil.AuditRead, Outcome: vigil.AuditSuccess, Patients: []string{"Patient/p"}}); err != nil {
			t.Fatal(err)
		}
	}
	tr.Close()
	src.Close()
	// The old file held only the trail's tables; a copy of a whole
	// vigil.db holds the same tables, which is all the move reads.
	b, err := os.ReadFile(filepath.Join(srcDir, sqlite.FileName))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "audit.db"), b, 0o600); err != nil {
		t.Fatal(err)
	}

	db, err := sqlite.Open(t.Context(), dir)
	if err != nil {
		t.Fatalf("Open with a legacy audit.db: %v", err)
	}
	defer db.Close()
	if _, err := os.Stat(filepath.Join(dir, "audit.db.moved")); err != nil {
		t.Errorf("audit.db not renamed: %v", err)
	}
	store, err := db.Audit()
	if err != nil {
		t.Fatal(err)
	}
	rep, err := audit.Verify(t.Context(), store, audit.VerifyKey{Public: pub, Private: key}, audit.VerifyOptions{})
	if err != nil || rep.Problem != nil || rep.Records != 10 {
		t.Fatalf("Verify after the move = %+v, %v; want 10 records that verify", rep, err)
	}
}
