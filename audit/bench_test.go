package audit_test

import (
	"context"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/audit"
	"github.com/vigilhealth/vigil/sqlite"
)

func BenchmarkEncode(b *testing.B) {
	r := testRecord(3)
	r.Seq = 123456
	data, _ := audit.Encode(r)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := audit.Encode(r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	r := testRecord(3)
	r.Seq = 123456
	data, err := audit.Encode(r)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := audit.Decode(data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppend measures Append from 16 concurrent callers per core
// (group commit) on each real store, durable commits (SQLite
// synchronous=FULL). It reports records/s.
func BenchmarkAppend(b *testing.B) {
	for _, be := range backends() {
		b.Run(be.name, func(b *testing.B) {
			f := be.open(b)
			tr, err := audit.Open(context.Background(), f.store, audit.Options{Key: newKey(b), WitnessFile: filepath.Join(f.dir, audit.WitnessFileName)})
			if err != nil {
				b.Fatal(err)
			}
			defer tr.Close()
			var n atomic.Int64
			b.ReportAllocs()
			b.SetParallelism(16)
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(1)
					if err := tr.Append(context.Background(), testRecord(int(i))); err != nil {
						b.Errorf("Append: %v", err)
						return
					}
				}
			})
			b.ReportMetric(float64(n.Load())/time.Since(start).Seconds(), "records/s")
		})
	}
}

// BenchmarkVerify measures Verify with MACs over a SQLite trail of
// VIGIL_AUDIT_BENCH_RECORDS records (default 100,000). With
// VIGIL_AUDIT_BENCH_DIR set, the trail is built in (or reused from) that
// directory, so that "vigil audit verify --data DIR" can be timed on it.
// It reports records/s.
func BenchmarkVerify(b *testing.B) {
	n := benchRecords(b)
	dir := os.Getenv("VIGIL_AUDIT_BENCH_DIR")
	if dir == "" {
		dir = b.TempDir()
	}
	ctx := context.Background()
	store, err := sqlite.OpenAudit(ctx, dir)
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	key, err := audit.LoadOrCreateKey(filepath.Join(dir, audit.KeyFileName))
	if err != nil {
		b.Fatal(err)
	}
	witness := filepath.Join(dir, audit.WitnessFileName)
	buildTrail(b, store, key, witness, n)
	benchVerify(b, store, key, witness, n)
}

// BenchmarkVerifyPostgres is BenchmarkVerify on PostgreSQL, on a trail
// built afresh for each run.
func BenchmarkVerifyPostgres(b *testing.B) {
	n := benchRecords(b)
	f := openPostgres(b)
	key := newKey(b)
	witness := filepath.Join(f.dir, audit.WitnessFileName)
	buildTrail(b, f.store, key, witness, n)
	benchVerify(b, f.store, key, witness, n)
}

func benchRecords(b *testing.B) int {
	if s := os.Getenv("VIGIL_AUDIT_BENCH_RECORDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			b.Fatalf("VIGIL_AUDIT_BENCH_RECORDS: %v", err)
		}
		return n
	}
	return 100_000
}

func benchVerify(b *testing.B, store vigil.AuditStore, key ed25519.PrivateKey, witness string, n int) {
	vk := audit.VerifyKey{Public: key.Public().(ed25519.PublicKey), Private: key}
	var records int64
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		rep, err := audit.Verify(context.Background(), store, vk, audit.VerifyOptions{WitnessFile: witness})
		if err != nil {
			b.Fatal(err)
		}
		if !rep.OK() || rep.Records < int64(n) {
			b.Fatalf("Verify: %d records, problem %v", rep.Records, rep.Problem)
		}
		records += rep.Records
	}
	b.ReportMetric(float64(records)/time.Since(start).Seconds(), "records/s")
}

// buildTrail appends records until the trail holds n, from 1024
// concurrent callers so that commits are large.
func buildTrail(b *testing.B, store vigil.AuditStore, key ed25519.PrivateKey, witness string, n int) {
	b.Helper()
	ctx := context.Background()
	tr, err := audit.Open(ctx, store, audit.Options{Key: key, WitnessFile: witness, MaxBatch: 4096})
	if err != nil {
		b.Fatal(err)
	}
	have := tr.Head().Seq
	if have >= int64(n) {
		tr.Close()
		return
	}
	start := time.Now()
	var next atomic.Int64
	next.Store(have)
	var wg sync.WaitGroup
	for range 1024 {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				if err := tr.Append(ctx, testRecord(int(i))); err != nil {
					b.Errorf("Append: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := tr.Close(); err != nil {
		b.Fatal(err)
	}
	b.Logf("built a trail of %d records in %v", n, time.Since(start).Round(time.Millisecond))
}
