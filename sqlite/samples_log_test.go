package sqlite_test

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/sqlite"
	"github.com/vigilhealth/vigil/storetest"
)

// logRows counts the samples stored in the sample table and its blocks,
// and the rows of the sample log.
func logRows(t *testing.T, dir string) (table, log int) {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(dir, sqlite.SamplesFileName))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.QueryRow("SELECT (SELECT count(*) FROM sample) + (SELECT coalesce(sum(n), 0) FROM sample_block), (SELECT count(*) FROM sample_log)").Scan(&table, &log); err != nil {
		t.Fatal(err)
	}
	return table, log
}

// twoProcesses opens a temporary directory's sample store twice, as a
// server and a command-line tool beside it would: the first owns the
// sample log (opened with opts), the second does not. Both close when the
// test ends (the second first).
func twoProcesses(t *testing.T, opts ...sqlite.Option) (dir string, owner, other *sqlite.Samples) {
	t.Helper()
	dir = t.TempDir()
	owner, err := sqlite.OpenSamples(t.Context(), dir, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { owner.Close() })
	if other, err = sqlite.OpenSamples(t.Context(), dir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	return dir, owner, other
}

// spread returns one heart rate of each of n patients at second sec: a
// batch of readings from many devices, which goes to the sample log.
func spread(n, sec int, source string) []vigil.Sample {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	out := make([]vigil.Sample, n)
	for p := range out {
		out[p] = vigil.Sample{Patient: fmt.Sprintf("p%d", p), Code: "8867-4", Device: "d", Time: t0.Add(time.Duration(sec) * time.Second),
			Received: t0.Add(time.Duration(sec+2) * time.Second), Value: float64(60 + sec), Unit: "/min", Source: source}
	}
	return out
}

// TestSamplesThroughLog runs the conformance suite with every batch sent
// to the sample log: read from the log (never merged while the test
// runs), and merged into blocks after every commit.
func TestSamplesThroughLog(t *testing.T) {
	for name, opts := range map[string][]sqlite.Option{
		"log":    {sqlite.WithLogAll()},
		"blocks": {sqlite.WithLogAll(), sqlite.WithSampleMerge(1)},
	} {
		t.Run(name, func(t *testing.T) {
			d := &sampleDirs{dirs: map[*testing.T]string{}, opts: opts}
			storetest.TestSamples(t, func(t *testing.T) vigil.SampleStore { return d.open(t) })
		})
	}
}

// TestSampleLog follows readings of many devices into the log: reads see
// them, every path tells their duplicates, a FHIR copy claims them, and
// closing merges them into the table.
func TestSampleLog(t *testing.T) {
	dir := t.TempDir()
	s, err := sqlite.OpenSamples(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	const n = 40
	append := func(name string, batch []vigil.Sample, want bool) {
		t.Helper()
		got, err := s.AppendSamples(t.Context(), batch)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for i, ok := range got {
			if ok != want {
				t.Fatalf("%s: sample %d stored = %v, want %v", name, i, ok, want)
			}
		}
	}
	append("first", spread(n, 10, "http"), true)
	if table, log := logRows(t, dir); table != 0 || log != n {
		t.Fatalf("after a batch of %d devices: %d rows in the table, %d in the log; want 0 and %d", n, table, log, n)
	}
	check := func(when, source string) {
		t.Helper()
		got, err := s.QuerySamples(t.Context(), &vigil.SampleQuery{Patient: "p7"})
		if err != nil {
			t.Fatal(err)
		}
		want := spread(n, 10, source)[7]
		if len(got) != 1 || !got[0].Time.Equal(want.Time) || got[0].Value != want.Value || !got[0].Received.Equal(want.Received) ||
			got[0].Unit != "/min" || got[0].Source != source || got[0].Device != "d" || got[0].Code != "8867-4" {
			t.Fatalf("%s: p7's samples = %+v, want [%+v]", when, got, want)
		}
		latest, err := s.LatestSamples(t.Context(), "p7")
		if err != nil {
			t.Fatal(err)
		}
		if len(latest) != 1 || !latest[0].Time.Equal(want.Time) || latest[0].Source != source {
			t.Fatalf("%s: p7's latest = %+v, want %+v", when, latest, want)
		}
		patients, err := s.SamplePatients(t.Context(), []string{"8867-4"})
		if err != nil {
			t.Fatal(err)
		}
		if len(patients) != n {
			t.Fatalf("%s: %d patients with heart rates, want %d", when, len(patients), n)
		}
	}
	check("logged", "http")
	append("again, many devices", spread(n, 10, "http"), false)
	append("again, one device", spread(n, 10, "http")[7:8], false)
	append("FHIR copy, one device", spread(n, 10, "fhir")[7:8], false)
	check("claimed by a FHIR copy", "fhir")
	append("FHIR copies, many devices", spread(n, 10, "fhir"), false)
	// A late reading of each (before the logged one) and a later one.
	append("late", spread(n, 5, "http"), true)
	append("later", spread(n, 20, "http"), true)
	got, err := s.QuerySamples(t.Context(), &vigil.SampleQuery{Patient: "p3", Desc: true, Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Value != 80 || got[1].Value != 70 {
		t.Fatalf("p3's two latest, newest first = %+v, want values 80, 70", got)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if table, log := logRows(t, dir); table != 3*n || log != 0 {
		t.Fatalf("after Close: %d rows in the table, %d in the log; want %d and 0", table, log, 3*n)
	}
	if s, err = sqlite.OpenSamples(t.Context(), dir); err != nil {
		t.Fatal(err)
	}
	append("again after the merge", spread(n, 10, "http"), false)
	append("again after the merge, one device", spread(n, 20, "http")[4:5], false)
	append("a FHIR copy after the merge, one device", spread(n, 20, "fhir")[4:5], false)
	if got, err := s.QuerySamples(t.Context(), &vigil.SampleQuery{Patient: "p4", Desc: true, Limit: 1}); err != nil || len(got) != 1 || got[0].Source != "fhir" {
		t.Fatalf("p4's latest after a FHIR copy of its merged reading = %+v (%v), want the copy's source", got, err)
	}
	got, err = s.QuerySamples(t.Context(), &vigil.SampleQuery{Patient: "p7"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[1].Source != "fhir" {
		t.Fatalf("p7 after the merge = %+v, want three samples, the second the FHIR copy's", got)
	}
}

// TestSampleLogMergeWhileReading merges the log after every commit while
// batches of many devices arrive and readers query: a reader never sees a
// sample twice or loses one it saw.
func TestSampleLogMergeWhileReading(t *testing.T) {
	dir := t.TempDir()
	s, err := sqlite.OpenSamples(t.Context(), dir, sqlite.WithSampleMerge(1))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const writers, batches, devices = 4, 40, 30
	stop := make(chan struct{})
	errs := make(chan error, writers+2)
	var readers sync.WaitGroup
	for range 2 {
		readers.Go(func() {
			seen := 0
			for {
				select {
				case <-stop:
					errs <- nil
					return
				default:
				}
				got, err := s.QuerySamples(t.Context(), &vigil.SampleQuery{Patient: "p0"})
				if err != nil {
					errs <- err
					return
				}
				if !slices.IsSortedFunc(got, func(a, b vigil.Sample) int { return a.Time.Compare(b.Time) }) ||
					len(slices.CompactFunc(slices.Clone(got), func(a, b vigil.Sample) bool { return a.Time.Equal(b.Time) })) != len(got) {
					errs <- fmt.Errorf("p0's samples out of order or repeated: %d samples", len(got))
					return
				}
				if len(got) < seen {
					errs <- fmt.Errorf("p0 had %d samples, now %d", seen, len(got))
					return
				}
				seen = len(got)
			}
		})
	}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for b := range batches {
				if _, err := s.AppendSamples(t.Context(), spread(devices, w*batches+b, "http")); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		})
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	for range writers + 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.QuerySamples(t.Context(), &vigil.SampleQuery{Patient: "p0"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != writers*batches {
		t.Errorf("p0 has %d samples, want %d", len(got), writers*batches)
	}
	if table, _ := logRows(t, dir); table == 0 {
		t.Error("nothing merged into the table")
	}
}

// TestSampleLogOtherProcess opens a directory twice, as a command-line tool
// beside a running server would: the second store does not own the log,
// reads what the first logged, tells its duplicates and stores its own
// samples in the table.
func TestSampleLogOtherProcess(t *testing.T) {
	dir, owner, other := twoProcesses(t)
	const n = 30
	if _, err := owner.AppendSamples(t.Context(), spread(n, 10, "http")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		batch []vigil.Sample
		want  bool
	}{
		{"the owner's logged samples, many devices", spread(n, 10, "http"), false},
		{"one of them, one device", spread(n, 10, "http")[3:4], false},
		{"new samples, many devices", spread(n, 20, "http"), true},
	} {
		got, err := other.AppendSamples(t.Context(), tc.batch)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		for i, ok := range got {
			if ok != tc.want {
				t.Fatalf("%s: sample %d stored = %v, want %v", tc.name, i, ok, tc.want)
			}
		}
	}
	if table, log := logRows(t, dir); table != n || log != n {
		t.Fatalf("%d rows in the table, %d in the log; want %d each", table, log, n)
	}
	for name, s := range map[string]*sqlite.Samples{"owner": owner, "other": other} {
		got, err := s.QuerySamples(t.Context(), &vigil.SampleQuery{Patient: "p4"})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].Value != 70 || got[1].Value != 80 {
			t.Errorf("%s reads p4 = %+v, want values 70 and 80", name, got)
		}
		latest, err := s.LatestSamples(t.Context(), "p4")
		if err != nil {
			t.Fatal(err)
		}
		if len(latest) != 1 || latest[0].Value != 80 {
			t.Errorf("%s: p4's latest = %+v, want value 80", name, latest)
		}
		patients, err := s.SamplePatients(t.Context(), []string{"8867-4"})
		if err != nil {
			t.Fatal(err)
		}
		if len(patients) != n {
			t.Errorf("%s: %d patients, want %d", name, len(patients), n)
		}
	}
	if err := owner.Close(); err != nil {
		t.Fatal(err)
	}
	if table, log := logRows(t, dir); table != 2*n || log != 0 {
		t.Fatalf("after the owner closed: %d rows in the table, %d in the log; want %d and 0", table, log, 2*n)
	}
}

// TestSampleLogMergeConflict stores, from outside, a reading the log holds
// (in the table, and in a block with the same first time, which makes
// the block insert fail): the merge keeps one copy of each (the stored
// one) and still empties the log.
func TestSampleLogMergeConflict(t *testing.T) {
	dir := t.TempDir()
	s, err := sqlite.OpenSamples(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	const n = 30
	if _, err := s.AppendSamples(t.Context(), spread(n, 10, "http")); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", filepath.Join(dir, sqlite.SamplesFileName))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("INSERT INTO sample (series, t, value, attr, lag) SELECT series, t, 99, attr, lag FROM sample_log ORDER BY series LIMIT 1"); err != nil {
		t.Fatal(err)
	}
	// One sample, value 99, at the time of the last series' logged reading.
	if _, err := db.Exec(`INSERT INTO sample_block (series, t0, t1, n, data) SELECT series, t, t, 1, x'010000c60101' FROM sample_log ORDER BY series DESC LIMIT 1`); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close (merging a log with a key in the table) = %v", err)
	}
	if table, log := logRows(t, dir); table != n || log != 0 {
		t.Fatalf("after the merge: %d rows in the table, %d in the log; want %d and 0", table, log, n)
	}
	var kept int
	if err := db.QueryRow("SELECT count(*) FROM sample WHERE value = 99").Scan(&kept); err != nil || kept != 1 {
		t.Fatalf("the table's own copy kept: %d (%v), want 1", kept, err)
	}
	s, err = sqlite.OpenSamples(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, p := range []string{"p0", "p29"} {
		got, err := s.QuerySamples(t.Context(), &vigil.SampleQuery{Patient: p})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].Value != 99 {
			t.Errorf("%s's samples = %+v, want the one stored before the merge (value 99), once", p, got)
		}
	}
}
