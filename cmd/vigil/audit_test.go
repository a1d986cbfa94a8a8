package main

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/audit"
	"github.com/vigilhealth/vigil/internal/testenv"
	"github.com/vigilhealth/vigil/postgres"
	"github.com/vigilhealth/vigil/sqlite"
)

// TestAuditVerify writes a trail in a data directory, runs "vigil audit
// verify" on it, removes a record with SQL and runs it again.
func TestAuditVerify(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store, err := sqlite.OpenAudit(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	key, err := audit.LoadOrCreateKey(filepath.Join(dir, audit.KeyFileName))
	if err != nil {
		t.Fatal(err)
	}
	tr, err := audit.Open(ctx, store, audit.Options{Key: key, WitnessFile: filepath.Join(dir, audit.WitnessFileName), CheckpointEvery: 10})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		r := &vigil.AuditRecord{ActorID: "u1", ActorName: "alice", Role: "clinician", Action: vigil.AuditRead,
			Outcome: vigil.AuditSuccess, Patients: []string{"Patient/p" + string(rune('a'+i%3))}}
		if err := tr.Append(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	store.Close()

	env, out, errb := testEnv()
	if err := Run(ctx, env, []string{"audit", "verify", "--data", dir}); err != nil {
		t.Fatalf("vigil audit verify: %v\n%s%s", err, out, errb)
	}
	if !strings.Contains(out.String(), "audit trail OK: 30 records, 3 checkpoints") || !strings.Contains(out.String(), "witness: checkpoint at record 30") {
		t.Errorf("verify output:\n%s", out)
	}

	// An auditor's copy of the public key checks the checkpoints.
	env, out, _ = testEnv()
	if err := Run(ctx, env, []string{"audit", "pubkey", "--data", dir}); err != nil {
		t.Fatalf("vigil audit pubkey: %v", err)
	}
	pub := filepath.Join(t.TempDir(), "audit.pub")
	if err := os.WriteFile(pub, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	env, out, _ = testEnv()
	if err := Run(ctx, env, []string{"audit", "verify", "--data", dir, "--key", pub}); err != nil || !strings.Contains(out.String(), "MACs not checked") {
		t.Errorf("verify with the public key: %v\n%s", err, out)
	}

	raw, err := sql.Open("sqlite", "file:"+filepath.Join(dir, sqlite.FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	for _, q := range []string{"DROP TRIGGER audit_log_no_delete", "DELETE FROM audit_log WHERE seq = 17"} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	env, out, _ = testEnv()
	err = Run(ctx, env, []string{"audit", "verify", "--data", dir})
	if err == nil || exitCode(err) == 0 {
		t.Fatalf("verify after deleting a record: err %v, want an error with a non-zero exit code", err)
	}
	if !strings.Contains(out.String(), "audit trail BROKEN at record 17: missing") {
		t.Errorf("verify output after deleting record 17:\n%s", out)
	}

	env, _, _ = testEnv()
	if err := Run(ctx, env, []string{"audit", "verify", "--data", t.TempDir()}); err == nil {
		t.Error("verify of a directory without a trail: no error")
	}
	env, _, _ = testEnv()
	if err := Run(ctx, env, []string{"audit", "verify", "--db", "postgres://x"}); err == nil || !strings.Contains(err.Error(), "--key") {
		t.Errorf("verify --db without a key = %v, want an error naming --key", err)
	}
}

// TestAuditVerifyPostgres runs "vigil audit verify --db URL --key FILE" on
// a trail in PostgreSQL whose key and witness live in a directory.
func TestAuditVerifyPostgres(t *testing.T) {
	ctx := context.Background()
	url := testenv.Postgres(t)
	db, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	keyPath := filepath.Join(t.TempDir(), "vigil-audit.key")
	key, err := audit.LoadOrCreateKey(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := audit.Open(ctx, db, audit.Options{Key: key, WitnessFile: audit.WitnessPath(keyPath)})
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if err := tr.Append(ctx, &vigil.AuditRecord{ActorID: "svc", Action: vigil.AuditImport, Outcome: vigil.AuditSuccess}); err != nil {
			t.Fatal(err)
		}
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	env, out, errb := testEnv()
	if err := Run(ctx, env, []string{"audit", "verify", "--db", url, "--key", keyPath}); err != nil {
		t.Fatalf("vigil audit verify --db: %v\n%s%s", err, out, errb)
	}
	if !strings.Contains(out.String(), "audit trail OK: 5 records, 1 checkpoints") || !strings.Contains(out.String(), "witness: checkpoint at record 5") {
		t.Errorf("verify output:\n%s", out)
	}
}
