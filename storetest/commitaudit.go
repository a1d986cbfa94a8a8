package storetest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/audit"
)

// failingChain is an AuditChain that refuses to build entries.
type failingChain struct{}

func (failingChain) ChainAudit(vigil.AuditHead, []vigil.AuditRecord) ([]vigil.AuditEntry, []vigil.AuditCheckpoint, error) {
	return nil, nil, errors.New("chain refused")
}
func (failingChain) AuditCommitted(vigil.AuditHead, []vigil.AuditCheckpoint) {}

// CommitAudit checks that a Write of db under a vigil.CommitAudit commits
// its audit record (to store, the audit tables of the same database) with
// the change, in the same transaction: concurrent audited and failing
// Writes and ordinary trail appends all land in one chain that verifies;
// a failed Write appends nothing; and a record that cannot be written
// rolls the change back. dir receives the witness file.
func CommitAudit(t *testing.T, db vigil.ResourceStore, store vigil.AuditStore, dir string) {
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	witness := filepath.Join(dir, audit.WitnessFileName)
	tr, err := audit.Open(t.Context(), store, audit.Options{Key: key, WitnessFile: witness, CheckpointEvery: 7})
	if err != nil {
		t.Fatal(err)
	}
	put := func(id string, fail bool) func(ctx context.Context, tx vigil.ResourceTx) error {
		return func(ctx context.Context, tx vigil.ResourceTx) error {
			r := &vigil.Resource{Type: "Observation", ID: id, Version: 1, LastUpdated: time.Now(), Method: "POST",
				JSON: []byte(`{"resourceType":"Observation","id":"` + id + `"}`)}
			if err := tx.Put(ctx, r, nil); err != nil {
				return err
			}
			if fail {
				return errors.New("fn failed after its put")
			}
			return nil
		}
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		appended = map[string]bool{} // id → record committed with the write
	)
	for i := range 60 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("o%d", i)
			switch i % 3 {
			case 0, 1: // audited write; every fifth one fails
				fail := i%5 == 0
				ca := &vigil.CommitAudit{Chain: tr, Record: func(written []string) vigil.AuditRecord {
					return vigil.AuditRecord{ActorID: "u1", Action: vigil.AuditCreate, Outcome: vigil.AuditSuccess, Resources: written}
				}}
				err := db.Write(vigil.WithCommitAudit(t.Context(), ca), put(id, fail))
				if (err != nil) != fail {
					t.Errorf("write %s: err %v, want failure %v", id, err, fail)
				}
				if ca.Appended() == fail {
					t.Errorf("write %s (fails: %v): Appended() = %v", id, fail, ca.Appended())
				}
				mu.Lock()
				appended[id] = ca.Appended()
				mu.Unlock()
			default: // a record of the trail's own (say, a read)
				if err := tr.Append(t.Context(), &vigil.AuditRecord{ActorID: "u2", Action: vigil.AuditRead, Outcome: vigil.AuditSuccess}); err != nil {
					t.Errorf("Append: %v", err)
				}
			}
		}()
	}
	wg.Wait()

	// A record that cannot be written: the change is rolled back too.
	ca := &vigil.CommitAudit{Chain: failingChain{}, Record: func(w []string) vigil.AuditRecord { return vigil.AuditRecord{} }}
	if err := db.Write(vigil.WithCommitAudit(t.Context(), ca), put("lost", false)); err == nil || ca.Appended() {
		t.Errorf("write with a failing chain: err %v, appended %v; want an error and no record", err, ca.Appended())
	}
	if _, err := db.Read(t.Context(), "Observation", "lost"); !errors.Is(err, vigil.ErrNotFound) {
		t.Errorf("resource of a write whose record failed: Read err = %v, want not found", err)
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}

	rep, err := audit.Verify(t.Context(), store, audit.VerifyKey{Public: pub, Private: key}, audit.VerifyOptions{WitnessFile: witness})
	if err != nil || rep.Problem != nil {
		t.Fatalf("Verify = %+v, %v", rep, err)
	}
	// Every stored resource has exactly one create record, and every
	// create record names a stored resource.
	creates := map[string]int{}
	err = store.ScanAudit(t.Context(), 1, rep.Head.Seq, func(e *vigil.AuditEntry) error {
		r, err := audit.Decode(e.Data)
		if err != nil {
			return err
		}
		if r.Action == vigil.AuditCreate {
			for _, ref := range r.Resources {
				creates[ref]++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for id, ok := range appended {
		_, rerr := db.Read(t.Context(), "Observation", id)
		stored := rerr == nil
		if stored != ok || creates["Observation/"+id] != map[bool]int{true: 1}[ok] {
			t.Errorf("%s: stored %v, record appended %v, create records %d", id, stored, ok, creates["Observation/"+id])
		}
	}
	if rep.Records != int64(len(creates)+20) {
		t.Errorf("trail holds %d records, want %d creates + 20 reads", rep.Records, len(creates))
	}
}
