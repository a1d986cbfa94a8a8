package sqlite_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"path/filepath"
	"testing"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/audit"
	"github.com/vigilhealth/vigil/sqlite"
	"github.com/vigilhealth/vigil/storetest"
)

// audited is a resource store that appends an audit record after every
// successful Write, as the HTTP layer does after a create.
type audited struct {
	vigil.ResourceStore
	trail *audit.Trail
}

func (a audited) Write(ctx context.Context, fn func(ctx context.Context, tx vigil.ResourceTx) error) error {
	if err := a.ResourceStore.Write(ctx, fn); err != nil {
		return err
	}
	return a.trail.Append(ctx, &vigil.AuditRecord{ActorID: "acct-1", ActorName: "device-1", Role: "device",
		Action: vigil.AuditCreate, Outcome: vigil.AuditSuccess, Resources: []string{"Observation/x"},
		Patients: []string{"Patient/p1"}, Source: "192.0.2.1:1234", RequestID: "req"})
}

func openTrail(tb testing.TB, store vigil.AuditStore) *audit.Trail {
	tb.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tr, err := audit.Open(tb.Context(), store, audit.Options{Key: key})
	if err != nil {
		tb.Fatalf("audit.Open = %v", err)
	}
	tb.Cleanup(func() {
		if err := tr.Close(); err != nil {
			tb.Errorf("Close = %v", err)
		}
	})
	return tr
}

// BenchmarkCreateAudited measures resource creates from parallel clients
// (storetest.BenchCreate) without audit, with an audit record per create
// in audit.db (the layout OpenAudit uses), and with the audit tables in
// vigil.db itself, where both writers take turns at one file's write lock.
func BenchmarkCreateAudited(b *testing.B) {
	b.Run("none", func(b *testing.B) { storetest.BenchCreate(b, open(b)) })
	for _, layout := range []string{"separate-file", "same-file"} {
		b.Run(layout, func(b *testing.B) {
			dir := b.TempDir()
			db, err := sqlite.Open(b.Context(), dir)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { db.Close() })
			var a *sqlite.AuditDB
			switch layout {
			case "same-file":
				a, err = sqlite.OpenAuditInResourceFile(b.Context(), dir)
			default:
				a, err = sqlite.OpenAudit(b.Context(), dir)
			}
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { a.Close() })
			storetest.BenchCreate(b, audited{db, openTrail(b, a)})
		})
	}
}

func TestAuditStoreReopen(t *testing.T) {
	dir := t.TempDir()
	a, err := sqlite.OpenAudit(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	tr := openTrailKey(t, a, dir)
	r := &vigil.AuditRecord{Action: vigil.AuditLogin, Outcome: vigil.AuditSuccess, ActorID: "a"}
	if err := tr.Append(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	a, err = sqlite.OpenAudit(t.Context(), dir)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer a.Close()
	h, err := a.AuditHead(t.Context())
	if err != nil || h.Seq != 1 || h.CheckpointSeq != 1 {
		t.Errorf("AuditHead after reopen = %+v, %v; want seq 1 with a checkpoint", h, err)
	}
}

func openTrailKey(t *testing.T, a *sqlite.AuditDB, dir string) *audit.Trail {
	t.Helper()
	key, err := audit.LoadOrCreateKey(filepath.Join(dir, audit.KeyFileName))
	if err != nil {
		t.Fatal(err)
	}
	tr, err := audit.Open(t.Context(), a, audit.Options{Key: key, WitnessFile: filepath.Join(dir, audit.WitnessFileName)})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}
