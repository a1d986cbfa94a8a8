package audit_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/audit"
)

func TestQuery(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			f := b.open(t)
			tr, err := audit.Open(context.Background(), f.store, audit.Options{Key: newKey(t)})
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Close()
			for i := 1; i <= 60; i++ { // one at a time: record i gets sequence number i
				if err := tr.Append(context.Background(), testRecord(i)); err != nil {
					t.Fatal(err)
				}
			}
			base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			// want lists the sequence numbers testRecord(i) (appended as
			// record i) would match, newest first.
			want := func(keep func(r *vigil.AuditRecord) bool) []int64 {
				var out []int64
				for i := 60; i >= 1; i-- {
					if keep(testRecord(i)) {
						out = append(out, int64(i))
					}
				}
				return out
			}
			tests := []struct {
				name string
				q    vigil.AuditQuery
				keep func(r *vigil.AuditRecord) bool
			}{
				{"all", vigil.AuditQuery{}, func(*vigil.AuditRecord) bool { return true }},
				{"patient", vigil.AuditQuery{Patient: "Patient/p2"}, func(r *vigil.AuditRecord) bool { return slices.Contains(r.Patients, "Patient/p2") }},
				{"agent", vigil.AuditQuery{Agent: "acct-3"}, func(r *vigil.AuditRecord) bool { return r.ActorID == "acct-3" }},
				{"date range", vigil.AuditQuery{Since: base.Add(10 * time.Second), Until: base.Add(20 * time.Second)},
					func(r *vigil.AuditRecord) bool {
						return !r.Time.Before(base.Add(10*time.Second)) && r.Time.Before(base.Add(20*time.Second))
					}},
				{"actions", vigil.AuditQuery{Actions: []vigil.AuditAction{vigil.AuditLogin, vigil.AuditCreate}},
					func(r *vigil.AuditRecord) bool { return r.Action == vigil.AuditLogin || r.Action == vigil.AuditCreate }},
				{"patient, agent and action", vigil.AuditQuery{Patient: "Patient/p1", Agent: "acct-1", Actions: []vigil.AuditAction{vigil.AuditRead, vigil.AuditSearch}},
					func(r *vigil.AuditRecord) bool {
						return slices.Contains(r.Patients, "Patient/p1") && r.ActorID == "acct-1" && (r.Action == vigil.AuditRead || r.Action == vigil.AuditSearch)
					}},
				{"no match", vigil.AuditQuery{Patient: "Patient/nobody"}, func(*vigil.AuditRecord) bool { return false }},
			}
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					// Page through 7 at a time.
					var got []int64
					q := tc.q
					q.Count = 7
					for pages := 0; ; pages++ {
						if pages > 20 {
							t.Fatal("paging does not end")
						}
						page, err := tr.Query(context.Background(), &q)
						if err != nil {
							t.Fatalf("Query: %v", err)
						}
						for _, r := range page.Records {
							got = append(got, r.Seq)
						}
						if page.Next == 0 {
							break
						}
						q.Before = page.Next
					}
					if w := want(tc.keep); !slices.Equal(got, w) {
						t.Errorf("Query(%+v) = %v, want %v", tc.q, got, w)
					}
				})
			}
			if r, err := tr.Read(context.Background(), 17); err != nil || r.Seq != 17 || r.RequestID != testRecord(17).RequestID {
				t.Errorf("Read(17) = %+v, %v", r, err)
			}
			if _, err := tr.Read(context.Background(), 61); !errors.Is(err, vigil.ErrNotFound) {
				t.Errorf("Read(61) = %v, want ErrNotFound", err)
			}
			if _, err := tr.Query(context.Background(), &vigil.AuditQuery{Patient: "p1"}); !errors.Is(err, vigil.ErrInvalid) {
				t.Errorf("Query(patient without type) = %v, want ErrInvalid", err)
			}
		})
	}
}

// TestQueryRefusesForgedRows checks that a row planted in the database is
// never returned as a record.
func TestQueryRefusesForgedRows(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			f := b.open(t)
			key, _ := fill(t, f, 10, 5)
			f.unlock(t)
			// Make record 3 appear under another agent.
			f.exec(t, "UPDATE audit_log SET agent = 'acct-9' WHERE seq = 3")
			tr, err := audit.Open(context.Background(), f.store, audit.Options{Key: key})
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Close()
			if _, err := tr.Query(context.Background(), &vigil.AuditQuery{Agent: "acct-9"}); !errors.Is(err, audit.ErrTampered) {
				t.Errorf("Query over a misfiled row = %v, want ErrTampered", err)
			}
		})
	}
}

func TestAppendConcurrent(t *testing.T) {
	const workers, each = 16, 50
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			f := b.open(t)
			key := newKey(t)
			witness := filepath.Join(f.dir, audit.WitnessFileName)
			tr, err := audit.Open(context.Background(), f.store, audit.Options{Key: key, WitnessFile: witness, CheckpointEvery: 64})
			if err != nil {
				t.Fatal(err)
			}
			var (
				mu   sync.Mutex
				seqs []int64
				wg   sync.WaitGroup
			)
			for w := range workers {
				wg.Go(func() {
					for i := range each {
						r := testRecord(w*each + i)
						if err := tr.Append(context.Background(), r); err != nil {
							t.Errorf("Append: %v", err)
							return
						}
						mu.Lock()
						seqs = append(seqs, r.Seq)
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			if err := tr.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			slices.Sort(seqs)
			for i, s := range seqs {
				if s != int64(i+1) {
					t.Fatalf("sequence numbers returned by Append are not 1..%d: at %d got %d", workers*each, i, s)
				}
			}
			rep, err := audit.Verify(context.Background(), f.store, audit.VerifyKey{Public: key.Public().(ed25519.PublicKey), Private: key}, audit.VerifyOptions{WitnessFile: witness})
			if err != nil {
				t.Fatal(err)
			}
			if !rep.OK() || rep.Records != workers*each || rep.Unsigned != 0 {
				t.Errorf("Verify = %+v, problem %v; want %d records, none unsigned", rep, rep.Problem, workers*each)
			}
			if err := tr.Append(context.Background(), testRecord(1)); !errors.Is(err, audit.ErrClosed) {
				t.Errorf("Append after Close = %v, want ErrClosed", err)
			}
		})
	}
}

// TestTwoWriters runs two trails on one store, as two processes (serve and
// a CLI command on SQLite) or two nodes (PostgreSQL) would: each builds on
// the other's records after checking them.
func TestTwoWriters(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			f := b.open(t)
			key := newKey(t)
			var trails [2]*audit.Trail
			for i := range trails {
				tr, err := audit.Open(context.Background(), f.store, audit.Options{Key: key, CheckpointEvery: 10})
				if err != nil {
					t.Fatal(err)
				}
				trails[i] = tr
			}
			var wg sync.WaitGroup
			for w := range 8 {
				wg.Go(func() {
					for i := range 20 {
						if err := trails[w%2].Append(context.Background(), testRecord(w*20+i)); err != nil {
							t.Errorf("Append on trail %d: %v", w%2, err)
							return
						}
					}
				})
			}
			wg.Wait()
			for _, tr := range trails {
				if err := tr.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			}
			rep, err := audit.Verify(context.Background(), f.store, audit.VerifyKey{Public: key.Public().(ed25519.PublicKey), Private: key}, audit.VerifyOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if !rep.OK() || rep.Records != 160 {
				t.Errorf("Verify: %d records, problem %v; want 160, none", rep.Records, rep.Problem)
			}
		})
	}
}

// TestIntervalCheckpoint checks that an idle trail signs its tail after
// CheckpointInterval, and that a reopened trail continues the chain.
func TestIntervalCheckpoint(t *testing.T) {
	f := openSQLite(t)
	key := newKey(t)
	tr, err := audit.Open(context.Background(), f.store, audit.Options{Key: key, CheckpointEvery: 1000, CheckpointInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := tr.Append(context.Background(), testRecord(i)); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for tr.Head().CheckpointSeq != 3 {
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint at the head after the interval: head %+v", tr.Head())
		}
		time.Sleep(10 * time.Millisecond)
	}
	tr.Close()
	f.reopen(t)
	tr, err = audit.Open(context.Background(), f.store, audit.Options{Key: key})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	r := testRecord(9)
	if err := tr.Append(context.Background(), r); err != nil || r.Seq != 4 {
		t.Fatalf("Append after reopen: seq %d, %v; want 4", r.Seq, err)
	}
	tr.Close()
	// Another key cannot continue the trail.
	if _, err := audit.Open(context.Background(), f.store, audit.Options{Key: newKey(t)}); !errors.Is(err, audit.ErrTampered) {
		t.Errorf("Open with another key = %v, want ErrTampered", err)
	}
}

// TestTruncatedWhileRunning checks that the writer refuses to build on a
// head that moved back under it.
func TestTruncatedWhileRunning(t *testing.T) {
	f := openSQLite(t)
	tr, err := audit.Open(context.Background(), f.store, audit.Options{Key: newKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	for i := range 5 {
		if err := tr.Append(context.Background(), testRecord(i)); err != nil {
			t.Fatal(err)
		}
	}
	f.unlock(t)
	f.exec(t, "DELETE FROM audit_log WHERE seq = 5")
	if err := tr.Append(context.Background(), testRecord(6)); !errors.Is(err, audit.ErrTampered) {
		t.Errorf("Append after truncation = %v, want ErrTampered", err)
	}
}

func TestAppendRejects(t *testing.T) {
	f := openSQLite(t)
	tr, err := audit.Open(context.Background(), f.store, audit.Options{Key: newKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	r := testRecord(1)
	r.Resources = []string{"not a reference"}
	if err := tr.Append(context.Background(), r); !errors.Is(err, vigil.ErrInvalid) {
		t.Errorf("Append(bad reference) = %v, want ErrInvalid", err)
	}
	// The bad record did not poison the trail.
	if err := tr.Append(context.Background(), testRecord(2)); err != nil {
		t.Errorf("Append after a rejected record: %v", err)
	}
	if _, err := audit.Open(context.Background(), f.store, audit.Options{}); !errors.Is(err, vigil.ErrInvalid) {
		t.Errorf("Open without a key = %v, want ErrInvalid", err)
	}
}

func TestKeyFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, audit.KeyFileName)
	k1, err := audit.LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := audit.LoadOrCreateKey(path)
	if err != nil || !k1.Equal(k2) {
		t.Fatalf("LoadOrCreateKey twice: %v, same key %v", err, k1.Equal(k2))
	}
	pub, err := audit.MarshalPublicKey(k1.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	pubPath := filepath.Join(dir, "audit.pub")
	if err := writeFile(pubPath, pub, 0o644); err != nil {
		t.Fatal(err)
	}
	vk, err := audit.LoadVerifyKey(pubPath)
	if err != nil || vk.Private != nil || !vk.Public.Equal(k1.Public()) {
		t.Errorf("LoadVerifyKey(public) = %v, %v", vk, err)
	}
	vk, err = audit.LoadVerifyKey(path)
	if err != nil || !vk.Private.Equal(k1) {
		t.Errorf("LoadVerifyKey(private) = %v", err)
	}
	if err := chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := audit.LoadKey(path); !errors.Is(err, vigil.ErrInvalid) {
		t.Errorf("LoadKey(group-readable) = %v, want ErrInvalid", err)
	}
	if got, want := audit.WitnessPath("/etc/vigil/audit.key"), "/etc/vigil/audit.checkpoint"; got != want {
		t.Errorf("WitnessPath = %q, want %q", got, want)
	}
	if got, want := audit.WitnessPath("/k.pem"), "/k.pem.checkpoint"; got != want {
		t.Errorf("WitnessPath = %q, want %q", got, want)
	}
}
