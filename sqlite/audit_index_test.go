package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/vigilhealth/vigil"
)

// TestAuditPatientIndex checks patient queries of the trail across the
// boundary between audit_patient_index and the unindexed tail (migration
// 0005): records appended while the writer indexes at every commit, then
// while it indexes hourly, then after it catches up. Every query must return
// what a scan of all records gives, newest first, page by page.
func TestAuditPatientIndex(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	type rec struct {
		seq      int64
		agent    string
		action   vigil.AuditAction
		patients []string
	}
	var all []rec
	appendN := func(every time.Duration, n int) {
		t.Helper()
		db, err := Open(ctx, dir, withAuditIndexEvery(every))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		a, err := db.Audit()
		if err != nil {
			t.Fatal(err)
		}
		for range n {
			err := a.AppendAudit(ctx, func(head vigil.AuditHead) ([]vigil.AuditEntry, []vigil.AuditCheckpoint, error) {
				seq := head.Seq + 1
				r := rec{seq: seq, agent: fmt.Sprint("a", seq%2), action: vigil.AuditRead, patients: []string{fmt.Sprint("p", seq%3)}}
				if seq%5 == 0 {
					r.patients = append(r.patients, "p9")
					r.action = vigil.AuditSearch
				}
				all = append(all, r)
				return []vigil.AuditEntry{{Seq: seq, Data: []byte("{}"), Hash: []byte{byte(seq)}, MAC: []byte{1},
					Time: t0.Add(time.Duration(seq) * time.Second), Agent: r.agent, Action: r.action, Patients: r.patients}}, nil, nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	indexed := func() int64 {
		t.Helper()
		db, err := Open(ctx, dir, withAuditIndexEvery(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var n int64
		if err := db.read.QueryRowContext(ctx, "SELECT indexed FROM audit_index_state").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	check := func(stage string) {
		t.Helper()
		db, err := Open(ctx, dir, withAuditIndexEvery(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		a, err := db.Audit()
		if err != nil {
			t.Fatal(err)
		}
		queries := []vigil.AuditQuery{
			{Patient: "p1"}, {Patient: "p9"}, {Patient: "p0", Agent: "a1"},
			{Patient: "p2", Actions: []vigil.AuditAction{vigil.AuditSearch}},
			{Patient: "p9", Since: t0.Add(20 * time.Second), Until: t0.Add(50 * time.Second)},
			{Patient: "nobody"},
		}
		for _, q := range queries {
			var want []int64
			for i := len(all) - 1; i >= 0; i-- {
				r := all[i]
				tm := t0.Add(time.Duration(r.seq) * time.Second)
				if slices.Contains(r.patients, q.Patient) && (q.Agent == "" || r.agent == q.Agent) &&
					(len(q.Actions) == 0 || slices.Contains(q.Actions, r.action)) &&
					(q.Since.IsZero() || !tm.Before(q.Since)) && (q.Until.IsZero() || tm.Before(q.Until)) {
					want = append(want, r.seq)
				}
			}
			for _, count := range []int{1000, 4} {
				var got []int64
				pq := q
				pq.Count = count
				for {
					es, err := a.QueryAudit(ctx, &pq)
					if err != nil {
						t.Fatal(err)
					}
					for _, e := range es {
						got = append(got, e.Seq)
					}
					if len(es) < count {
						break
					}
					pq.Before = es[len(es)-1].Seq
				}
				if !slices.Equal(got, want) {
					t.Errorf("%s: %+v in pages of %d = %v, want %v", stage, q, count, got, want)
				}
			}
		}
	}
	appendN(0, 30)
	if got := indexed(); got != 30 {
		t.Fatalf("indexing at every commit: indexed = %d, want 30", got)
	}
	check("all indexed")
	appendN(time.Hour, 31)
	// The first commit after opening indexes (catching up after a
	// restart); the next 30 wait an hour.
	if got := indexed(); got != 31 {
		t.Fatalf("indexing hourly: indexed = %d, want 31", got)
	}
	check("61 records, the last 30 unindexed")
	// A store opened normally indexes the tail at once.
	db, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if got := indexed(); got != 61 {
		t.Fatalf("after a normal open: indexed = %d, want 61", got)
	}
	appendN(0, 1)
	if got := indexed(); got != 62 {
		t.Fatalf("after catching up: indexed = %d, want 62", got)
	}
	check("caught up")
}

// TestCheckAuditIndex checks that CheckAuditIndex (run by audit.Verify)
// finds a patient removed from the index and one added to it, but not
// the unindexed tail.
func TestCheckAuditIndex(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := Open(ctx, dir, withAuditIndexEvery(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	a, err := db.Audit()
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		err := a.AppendAudit(ctx, func(head vigil.AuditHead) ([]vigil.AuditEntry, []vigil.AuditCheckpoint, error) {
			seq := head.Seq + 1
			return []vigil.AuditEntry{{Seq: seq, Data: []byte("{}"), Hash: []byte{1}, MAC: []byte{1}, Time: time.Unix(int64(i), 0),
				Agent: "a", Action: vigil.AuditRead, Patients: []string{fmt.Sprint("p", seq%3)}}}, nil, nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// The first commit indexed record 1; 2-20 are the tail.
	if seq, detail, err := a.CheckAuditIndex(ctx, 20); err != nil || seq != 0 {
		t.Fatalf("untouched: CheckAuditIndex = %d %q %v, want 0", seq, detail, err)
	}
	// Tamper as someone with the file would, on a connection of their own.
	raw, err := sql.Open("sqlite", "file:"+db.path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	exec := func(q string) {
		t.Helper()
		if _, err := raw.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	// Index everything first.
	exec("INSERT OR IGNORE INTO audit_patient_index (patient, seq) SELECT patient, seq FROM audit_patient")
	exec("UPDATE audit_index_state SET indexed = 20")
	if seq, _, err := a.CheckAuditIndex(ctx, 20); err != nil || seq != 0 {
		t.Fatalf("all indexed: CheckAuditIndex = %d %v, want 0", seq, err)
	}
	exec("DROP TRIGGER audit_patient_index_no_delete")
	exec("DELETE FROM audit_patient_index WHERE seq = 12")
	if seq, detail, err := a.CheckAuditIndex(ctx, 20); err != nil || seq != 12 {
		t.Errorf("a patient hidden from the index: CheckAuditIndex = %d %q %v, want 12", seq, detail, err)
	}
	exec("INSERT INTO audit_patient_index (patient, seq) VALUES ('someone-else', 7)")
	if seq, detail, err := a.CheckAuditIndex(ctx, 20); err != nil || seq != 7 {
		t.Errorf("a patient added to the index: CheckAuditIndex = %d %q %v, want 7", seq, detail, err)
	}
}
