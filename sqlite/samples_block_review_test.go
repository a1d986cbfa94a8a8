package sqlite_test

import (
	"database/sql"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/sqlite"
)

// TestBlockOtherProcessSavepoint sends another process (which does not own
// the log) a reading of one device that the owner has merged into a block
// since that process last wrote the series: it is a duplicate, and must not
// go into the sample table beside the block's copy.
func TestBlockOtherProcessSavepoint(t *testing.T) {
	dir, owner, other := twoProcesses(t, sqlite.WithSampleMerge(1))
	const n = 30
	// The other process learns p5's latest time (second 10).
	if got, err := other.AppendSamples(t.Context(), spread(n, 10, "http")[5:6]); err != nil || !got[0] {
		t.Fatalf("other: AppendSamples = %v, %v; want stored", got, err)
	}
	// The owner logs second 20 and merges it into blocks after the call
	// returns: its next call (a duplicate) waits for the merge.
	for range 2 {
		if _, err := owner.AppendSamples(t.Context(), spread(n, 20, "http")); err != nil {
			t.Fatal(err)
		}
	}
	if table, log := logRows(t, dir); table != n+1 || log != 0 {
		t.Fatalf("%d samples stored, %d logged; want %d and 0 (merged)", table, log, n+1)
	}
	for _, tc := range []struct {
		name  string
		batch []vigil.Sample
	}{
		{"one device", spread(n, 20, "http")[5:6]},
		{"FHIR copy", spread(n, 20, "fhir")[5:6]},
	} {
		got, err := other.AppendSamples(t.Context(), tc.batch)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got[0] {
			t.Errorf("%s: other's copy of a sample in a block stored = true, want false", tc.name)
		}
	}
	for name, s := range map[string]*sqlite.Samples{"owner": owner, "other": other} {
		got, err := s.QuerySamples(t.Context(), &vigil.SampleQuery{Patient: "p5"})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[1].Source != "fhir" {
			t.Errorf("%s reads p5 = %+v, want 2 samples, the second the FHIR copy's", name, got)
		}
	}
}

// TestBlockMergeKeepsOtherProcessClaims sends the FHIR copy of a logged
// reading through another process (which marks it in the log table only),
// then the owner merges the log without writing in between (at Close):
// the block must carry the claim.
func TestBlockMergeKeepsOtherProcessClaims(t *testing.T) {
	dir, owner, other := twoProcesses(t)
	const n = 30
	if _, err := owner.AppendSamples(t.Context(), spread(n, 10, "http")); err != nil {
		t.Fatal(err)
	}
	if got, err := other.AppendSamples(t.Context(), spread(n, 10, "fhir")[4:5]); err != nil || got[0] {
		t.Fatalf("other: AppendSamples(FHIR copy) = %v, %v; want a duplicate", got, err)
	}
	if err := owner.Close(); err != nil {
		t.Fatal(err)
	}
	if table, log := logRows(t, dir); table != n || log != 0 {
		t.Fatalf("%d samples stored, %d logged; want %d and 0 (merged)", table, log, n)
	}
	got, err := other.QuerySamples(t.Context(), &vigil.SampleQuery{Patient: "p4"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Source != "fhir" {
		t.Errorf("p4 after the merge = %+v, want the FHIR copy's sample", got)
	}
}

// plantBlocks opens a store in a new directory whose patient p0 has one
// heart rate in the sample table (series 1, attr 1) and blocks blocks of
// per samples each after it, a second apart (value 99), planted by SQL.
func plantBlocks(b *testing.B, blocks, per int, opts ...sqlite.Option) (string, *sqlite.Samples) {
	b.Helper()
	dir := b.TempDir()
	s, err := sqlite.OpenSamples(b.Context(), dir, opts...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	if _, err := s.AppendSamples(b.Context(), spread(1, 0, "http")); err != nil {
		b.Fatal(err)
	}
	// uvarint n, then per sample: uvarint Δt, flags 0, zigzag 99, attr 1.
	data := binary.AppendUvarint(nil, uint64(per))
	for i := range per {
		data = binary.AppendUvarint(data, uint64(min(i, 1)*1000))
		data = append(data, 0, 0xc6, 0x01, 1)
	}
	db, err := sql.Open("sqlite", filepath.Join(dir, sqlite.SamplesFileName))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	t0 := time.Date(2026, 1, 1, 0, 0, 1, 0, time.UTC).UnixMilli()
	if _, err := db.Exec(`WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i < ?1 - 1)
		INSERT INTO sample_block (series, t0, t1, n, data) SELECT 1, ?2 + i * ?3 * 1000, ?2 + (i * ?3 + ?3 - 1) * 1000, ?3, ?4 FROM c`,
		blocks, t0, per, data); err != nil {
		b.Fatal(err)
	}
	return dir, s
}

// BenchmarkBlockTopAfterOtherProcess appends a reading of a series with
// 100,000 blocks after another process has committed (so that the owner
// reads the series' latest time again).
func BenchmarkBlockTopAfterOtherProcess(b *testing.B) {
	dir, owner := plantBlocks(b, 100_000, 1, sqlite.WithSynchronous(sqlite.SyncNormal))
	other, err := sqlite.OpenSamples(b.Context(), dir, sqlite.WithSynchronous(sqlite.SyncNormal))
	if err != nil {
		b.Fatal(err)
	}
	defer other.Close()
	at := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	i := 0
	for b.Loop() {
		i++
		x := spread(2, 0, "http")
		x[1].Time = at.Add(time.Duration(i) * time.Second)
		if _, err := other.AppendSamples(b.Context(), x[1:]); err != nil {
			b.Fatal(err)
		}
		x[0].Time = at.Add(time.Duration(i) * time.Second)
		if got, err := owner.AppendSamples(b.Context(), x[:1]); err != nil || !got[0] {
			b.Fatalf("AppendSamples = %v, %v", got, err)
		}
	}
}

// BenchmarkBlockQuery reads a full page (SampleLimit) of one series
// stored in blocks of 30 samples, in both orders.
func BenchmarkBlockQuery(b *testing.B) {
	_, s := plantBlocks(b, sqlite.SampleLimit/30+1, 30)
	for _, desc := range []bool{false, true} {
		b.Run(fmt.Sprintf("desc=%v", desc), func(b *testing.B) {
			for b.Loop() {
				got, err := s.QuerySamples(b.Context(), &vigil.SampleQuery{Patient: "p0", Desc: desc})
				if err != nil || len(got) != sqlite.SampleLimit {
					b.Fatalf("QuerySamples: %d samples, %v", len(got), err)
				}
			}
		})
	}
}

// TestBlockLookupFarApart sends batches whose readings of one series are
// hours apart, some stored in blocks and some new, through both duplicate
// checks (one device: the savepoint; every batch logged: runSamples).
func TestBlockLookupFarApart(t *testing.T) {
	for name, opts := range map[string][]sqlite.Option{
		"savepoint":  {sqlite.WithSampleMerge(1)},
		"runSamples": {sqlite.WithSampleMerge(1), sqlite.WithLogAll()},
	} {
		t.Run(name, func(t *testing.T) {
			s, err := sqlite.OpenSamples(t.Context(), t.TempDir(), opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			at := func(sec int, source string) vigil.Sample { return spread(1, sec, source)[0] }
			// Blocks at 0 h, 2 h and 4 h, merged one batch at a time.
			for _, sec := range []int{0, 7200, 14400} {
				if _, err := s.AppendSamples(t.Context(), append(spread(30, sec, "http"), at(sec+1, "http"))); err != nil {
					t.Fatal(err)
				}
			}
			batch := []vigil.Sample{at(14401, "fhir"), at(3600, "http"), at(0, "http"), at(7201, "fhir"), at(10800, "http")}
			got, err := s.AppendSamples(t.Context(), batch)
			if err != nil {
				t.Fatal(err)
			}
			if want := []bool{false, true, false, false, true}; !slices.Equal(got, want) {
				t.Errorf("AppendSamples = %v, want %v", got, want)
			}
			all, err := s.QuerySamples(t.Context(), &vigil.SampleQuery{Patient: "p0"})
			if err != nil {
				t.Fatal(err)
			}
			var fhir int
			for _, x := range all {
				if x.Source == "fhir" {
					fhir++
				}
			}
			if len(all) != 8 || fhir != 2 {
				t.Errorf("p0 has %d samples (%d FHIR copies), want 8 (2)", len(all), fhir)
			}
		})
	}
}

// BenchmarkBlockLookupFarApart appends the FHIR copies of two readings a
// week apart of a series with a week of blocks (30 samples each).
func BenchmarkBlockLookupFarApart(b *testing.B) {
	_, s := plantBlocks(b, 7*24*120, 30)
	t0 := time.Date(2026, 1, 1, 0, 0, 1, 0, time.UTC)
	for b.Loop() {
		x := spread(1, 0, "fhir")
		x = append(x, x[0])
		x[0].Time = t0.Add(5 * time.Second)
		x[1].Time = t0.Add(7*24*time.Hour - 10*time.Second)
		if got, err := s.AppendSamples(b.Context(), x); err != nil || got[0] || got[1] {
			b.Fatalf("AppendSamples = %v, %v; want duplicates", got, err)
		}
	}
}
