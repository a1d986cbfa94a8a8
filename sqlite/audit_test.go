package sqlite_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
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

// BenchmarkCreateAuditedClients is BenchmarkCreateAudited's separate-file
// layout against no audit, with more concurrent clients (8, 32 and 128):
// the audit commit adds latency to each create, which costs throughput
// only while the clients are too few to keep both writers' batches full.
func BenchmarkCreateAuditedClients(b *testing.B) {
	for _, clients := range []int{8, 32, 128} {
		for _, withAudit := range []bool{false, true} {
			name := fmt.Sprintf("clients=%d/audit=%v", clients, withAudit)
			b.Run(name, func(b *testing.B) {
				dir := b.TempDir()
				db, err := sqlite.Open(b.Context(), dir)
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { db.Close() })
				var s vigil.ResourceStore = db
				if withAudit {
					a, err := sqlite.OpenAudit(b.Context(), dir)
					if err != nil {
						b.Fatal(err)
					}
					b.Cleanup(func() { a.Close() })
					s = audited{db, openTrail(b, a)}
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
