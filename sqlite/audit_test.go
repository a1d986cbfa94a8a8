package sqlite_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/audit"
	"github.com/vigilhealth/vigil/sqlite"
	"github.com/vigilhealth/vigil/storetest"
)

// benchRecord is the audit record of one benchmark create.
func benchRecord(written []string) vigil.AuditRecord {
	return vigil.AuditRecord{ActorID: "acct-1", ActorName: "device-1", Role: "device",
		Action: vigil.AuditCreate, Outcome: vigil.AuditSuccess, Resources: written,
		Patients: []string{"Patient/p1"}, Source: "192.0.2.1:1234", RequestID: "req"}
}

// audited is a resource store that audits every successful Write: after
// it (two commits, as the HTTP layer does on PostgreSQL), or inside its
// transaction (vigil.CommitAudit, as on SQLite).
type audited struct {
	vigil.ResourceStore
	trail    *audit.Trail
	inCommit bool
}

func (a audited) Write(ctx context.Context, fn func(ctx context.Context, tx vigil.ResourceTx) error) error {
	if a.inCommit {
		ca := &vigil.CommitAudit{Chain: a.trail, Record: benchRecord}
		if err := a.ResourceStore.Write(vigil.WithCommitAudit(ctx, ca), fn); err != nil {
			return err
		}
		if !ca.Appended() {
			return errors.New("the store did not append the record")
		}
		return nil
	}
	if err := a.ResourceStore.Write(ctx, fn); err != nil {
		return err
	}
	rec := benchRecord([]string{"Observation/x"})
	return a.trail.Append(ctx, &rec)
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
// (storetest.BenchCreate) without audit, with an audit record appended
// after each create (a second group commit), and with the record written
// in the create's own transaction (vigil.CommitAudit).
func BenchmarkCreateAudited(b *testing.B) {
	b.Run("none", func(b *testing.B) { storetest.BenchCreate(b, open(b)) })
	for _, mode := range []string{"after", "in-commit"} {
		b.Run(mode, func(b *testing.B) {
			db := open(b)
			a, err := db.Audit()
			if err != nil {
				b.Fatal(err)
			}
			storetest.BenchCreate(b, audited{db, openTrail(b, a), mode == "in-commit"})
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

// BenchmarkCreateAuditedClients is BenchmarkCreateAudited with 8, 32
// and 128 concurrent clients: a record appended after the create adds a
// commit's latency to each, which costs throughput while the clients are
// too few to keep the writer's batches full.
func BenchmarkCreateAuditedClients(b *testing.B) {
	for _, clients := range []int{8, 32, 128} {
		for _, mode := range []string{"none", "after", "in-commit"} {
			b.Run(fmt.Sprintf("clients=%d/audit=%s", clients, mode), func(b *testing.B) {
				db := open(b)
				var s vigil.ResourceStore = db
				if mode != "none" {
					a, err := db.Audit()
					if err != nil {
						b.Fatal(err)
					}
					s = audited{db, openTrail(b, a), mode == "in-commit"}
				}
				benchCreate(b, s, clients)
			})
		}
	}
}

// benchCreate creates Observations from clients goroutines, one Write
// each, and reports creates/s.
func benchCreate(b *testing.B, s vigil.ResourceStore, clients int) {
	var n atomic.Int64
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	b.SetParallelism(max(1, clients/runtime.GOMAXPROCS(0)))
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			id := fmt.Sprintf("obs%d", i)
			r := &vigil.Resource{Type: "Observation", ID: id, Version: 1, LastUpdated: at, Method: "POST",
				JSON: fmt.Appendf(nil, `{"resourceType":"Observation","id":%q,"status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},"subject":{"reference":"Patient/p%d"},"valueQuantity":{"value":%d,"unit":"/min"}}`, id, i%100, 60+i%40)}
			idx := []vigil.IndexEntry{
				{Param: "subject", Type: vigil.ParamReference, RefType: "Patient", RefID: fmt.Sprintf("p%d", i%100)},
				{Param: "code", Type: vigil.ParamToken, System: "http://loinc.org", Code: "8867-4"},
			}
			if err := s.Write(b.Context(), func(ctx context.Context, tx vigil.ResourceTx) error { return tx.Put(ctx, r, idx) }); err != nil {
				b.Errorf("Write = %v", err)
				return
			}
		}
	})
	b.ReportMetric(float64(n.Load())/time.Since(start).Seconds(), "creates/s")
}
