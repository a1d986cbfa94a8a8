package storetest

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigilhealth/vigil"
)

// BenchRowsEnv names the environment variable that sets how many
// Observations BenchSearch preloads (default DefaultBenchRows), e.g.
// VIGIL_BENCH_ROWS=1000000 for the one-million-row check.
const BenchRowsEnv = "VIGIL_BENCH_ROWS"

// DefaultBenchRows is the preload of BenchSearch when BenchRowsEnv is unset.
const DefaultBenchRows = 100_000

// Bench runs the shared store benchmarks as sub-benchmarks: Create,
// Read and Search. open returns a new, empty store for each.
func Bench(b *testing.B, open func(b *testing.B) vigil.ResourceStore) {
	b.Run("Create", func(b *testing.B) { BenchCreate(b, open(b)) })
	b.Run("Read", func(b *testing.B) { BenchRead(b, open(b)) })
	b.Run("Search", func(b *testing.B) { BenchSearch(b, open(b), benchRows(b)) })
}

func benchRows(b *testing.B) int {
	s := os.Getenv(BenchRowsEnv)
	if s == "" {
		return DefaultBenchRows
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		b.Fatalf("%s=%q is not a positive number", BenchRowsEnv, s)
	}
	return n
}

// BenchCreate measures creates from parallel clients (b.RunParallel, one
// Write per create): with group commit the throughput grows with
// -cpu/SetParallelism. It reports creates/s.
func BenchCreate(b *testing.B, s vigil.ResourceStore) {
	ctx := b.Context()
	var seq atomic.Int64
	at := base()
	b.ReportAllocs()
	b.SetParallelism(8)
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := seq.Add(1)
			r, idx := observation(n, at)
			err := s.Write(ctx, func(ctx context.Context, tx vigil.ResourceTx) error {
				return tx.Put(ctx, r, idx)
			})
			if err != nil {
				b.Errorf("Write = %v", err)
				return
			}
		}
	})
	b.ReportMetric(float64(seq.Load())/time.Since(start).Seconds(), "creates/s")
}

// BenchRead measures Read of the current version among 10,000 resources.
func BenchRead(b *testing.B, s vigil.ResourceStore) {
	const n = 10_000
	preload(b, s, n)
	ctx := b.Context()
	b.ReportAllocs()
	i := int64(0)
	for b.Loop() {
		i = (i*7919 + 1) % n
		if _, err := s.Read(ctx, "Observation", obsID(i)); err != nil {
			b.Fatalf("Read = %v", err)
		}
	}
}

// BenchSearch measures the typical chart query
// Observation?subject=Patient/x&code=http://loinc.org|c&date=ge… over
// rows preloaded Observations (1,000 patients, 20 codes, dates over two
// years), returning the first page of matches.
func BenchSearch(b *testing.B, s vigil.ResourceStore, rows int) {
	preload(b, s, rows)
	ctx := b.Context()
	b.ReportAllocs()
	i := 0
	matched := 0
	for b.Loop() {
		i++
		from, to := day(2024, time.Month(1+i%12), 1)
		q := query("Observation",
			param("subject", vigil.ParamReference, vRef("Patient", fmt.Sprintf("pat%d", i%benchPatients))),
			param("code", vigil.ParamToken, vSysCode("http://loinc.org", fmt.Sprintf("code-%d", (i/7)%benchCodes))),
			param("date", vigil.ParamDate, vDate(vigil.PrefixGe, from, to)))
		q.Count = 50
		res, err := s.Search(ctx, q)
		if err != nil {
			b.Fatalf("Search = %v", err)
		}
		matched += len(res.Matches)
	}
	b.ReportMetric(float64(matched)/float64(b.N), "matches/op")
}

const (
	benchPatients = 1000
	benchCodes    = 20
)

func obsID(n int64) string { return fmt.Sprintf("obs%d", n) }

// observation is benchmark resource n: an Observation with subject, code,
// date, value and status entries.
func observation(n int64, at time.Time) (*vigil.Resource, []vigil.IndexEntry) {
	id := obsID(n)
	when := base().Add(time.Duration(n%(2*365*24)) * time.Hour)
	r := &vigil.Resource{Type: "Observation", ID: id, Version: 1, LastUpdated: at, Method: "POST",
		JSON: fmt.Appendf(nil, `{"resourceType":"Observation","id":%q,"status":"final","code":{"coding":[{"system":"http://loinc.org","code":"code-%d"}]},"subject":{"reference":"Patient/pat%d"},"effectiveDateTime":%q,"valueQuantity":{"value":%d,"unit":"/min","system":"http://unitsofmeasure.org","code":"/min"}}`,
			id, (n/benchPatients)%benchCodes, n%benchPatients, when.Format(time.RFC3339), 60+n%40)}
	v := float64(60 + n%40)
	idx := []vigil.IndexEntry{
		ref("subject", "Patient", fmt.Sprintf("pat%d", n%benchPatients)),
		ref("patient", "Patient", fmt.Sprintf("pat%d", n%benchPatients)),
		tok("code", "http://loinc.org", fmt.Sprintf("code-%d", (n/benchPatients)%benchCodes)),
		tok("status", "", "final"),
		date("date", when, when.Add(time.Second)),
		qty("value-quantity", v, "http://unitsofmeasure.org", "/min", "/min", v),
	}
	return r, idx
}

// preload writes Observations obs0…obs(n-1) in batches of 1,000 per Write.
func preload(b *testing.B, s vigil.ResourceStore, n int) {
	b.Helper()
	ctx := b.Context()
	at := base()
	start := time.Now()
	for lo := 0; lo < n; lo += 1000 {
		err := s.Write(ctx, func(ctx context.Context, tx vigil.ResourceTx) error {
			for i := lo; i < min(lo+1000, n); i++ {
				r, idx := observation(int64(i), at)
				if err := tx.Put(ctx, r, idx); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatalf("preload: Write = %v", err)
		}
	}
	b.Logf("preloaded %d Observations in %v", n, time.Since(start).Round(time.Millisecond))
}
