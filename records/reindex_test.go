package records_test

import (
	"context"
	"testing"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/fhir"
	"github.com/vigilhealth/vigil/internal/teststore"
	"github.com/vigilhealth/vigil/records"
)

// TestReindexIfStale stores a Patient indexed as an older Vigil did (its
// gender without the system its binding implies) in a store that records
// an older index revision: ReindexIfStale rebuilds it once, after which
// system|code finds it; AdoptIndexRevision leaves a store with resources
// alone and marks an empty one current.
func TestReindexIfStale(t *testing.T) {
	eachStore(t, func(t *testing.T, model *fhir.Model, st teststore.Store, store vigil.ResourceStore) {
		svc := records.New(store, model)
		ctx := context.Background()
		revision := func() int { return revisionOf(t, store) }
		if got := revision(); got != 0 {
			t.Fatalf("a new store records revision %d, want 0 until told", got)
		}
		putIndexedAs(t, store, "old1", olderGender, 2)
		const query = "gender=http://hl7.org/fhir/administrative-gender|male"
		if got := searchIDs(t, svc, "Patient", query); len(got) != 0 {
			t.Fatalf("before: %s = %v, want nothing (the old index)", query, got)
		}
		if err := svc.AdoptIndexRevision(ctx); err != nil {
			t.Fatal(err)
		}
		if got := revision(); got != 2 {
			t.Fatalf("AdoptIndexRevision on a store with resources: revision %d, want 2 left alone", got)
		}
		// While the older index stands, terminology searches match its
		// system-less codes as the older program did.
		const in, notIn = "gender:in=http://hl7.org/fhir/ValueSet/administrative-gender", "gender:not-in=http://hl7.org/fhir/ValueSet/administrative-gender"
		if got := searchIDs(t, svc, "Patient", in); len(got) != 1 {
			t.Errorf("stale index: %s = %v, want old1", in, got)
		}
		if got := searchIDs(t, svc, "Patient", notIn); len(got) != 0 {
			t.Errorf("stale index: %s = %v, want nothing", notIn, got)
		}
		stats, ran, err := svc.ReindexIfStale(ctx, nil)
		if err != nil || !ran || stats.Resources != 1 {
			t.Fatalf("ReindexIfStale = %+v, %v, %v; want 1 resource reindexed", stats, ran, err)
		}
		if got := searchIDs(t, svc, "Patient", query); len(got) != 1 {
			t.Fatalf("after: %s = %v, want old1", query, got)
		}
		if got := revision(); got != fhir.IndexRevision {
			t.Fatalf("after: revision %d, want %d", got, fhir.IndexRevision)
		}
		if got := searchIDs(t, svc, "Patient", in); len(got) != 1 {
			t.Errorf("after: %s = %v, want old1 (by its system now)", in, got)
		}
		if _, ran, err := svc.ReindexIfStale(ctx, nil); err != nil || ran {
			t.Fatalf("second ReindexIfStale ran = %v (%v), want nothing to do", ran, err)
		}

		empty := st.Open(t)
		t.Cleanup(func() { empty.Close() })
		if err := records.New(empty, model).AdoptIndexRevision(ctx); err != nil {
			t.Fatal(err)
		}
		if rev := revisionOf(t, empty); rev != fhir.IndexRevision {
			t.Fatalf("an empty store after AdoptIndexRevision: revision %d, want %d", rev, fhir.IndexRevision)
		}
	})
}

// revisionOf reads the index revision store records.
func revisionOf(t *testing.T, store vigil.ResourceStore) int {
	t.Helper()
	var rev int
	err := store.Write(context.Background(), func(ctx context.Context, tx vigil.ResourceTx) error {
		var err error
		rev, err = tx.(vigil.IndexRevisioner).IndexRevision(ctx)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return rev
}

// eachStore runs fn on a new store of each kind st (closed when the test
// ends), with the R4 model.
func eachStore(t *testing.T, fn func(t *testing.T, model *fhir.Model, st teststore.Store, store vigil.ResourceStore)) {
	t.Helper()
	model, err := fhir.LoadR4()
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range teststore.All() {
		t.Run(st.Name, func(t *testing.T) {
			store := st.Open(t)
			t.Cleanup(func() { store.Close() })
			fn(t, model, st, store)
		})
	}
}

// olderGender is the index an older Vigil made of a male Patient: the
// gender without the system its binding implies.
var olderGender = []vigil.IndexEntry{{Param: "gender", Type: vigil.ParamToken, Code: "male"}}

// putIndexedAs stores Patient id (male) with index and records rev as the
// store's index revision, as another version of Vigil would have left it.
func putIndexedAs(t *testing.T, store vigil.ResourceStore, id string, index []vigil.IndexEntry, rev int) {
	t.Helper()
	body := []byte(`{"resourceType":"Patient","id":"` + id + `","meta":{"versionId":"1","lastUpdated":"2026-01-01T00:00:00.000Z"},"gender":"male"}`)
	err := store.Write(context.Background(), func(ctx context.Context, tx vigil.ResourceTx) error {
		if err := tx.Put(ctx, &vigil.Resource{Type: "Patient", ID: id, Version: 1, Method: "PUT", JSON: body}, index); err != nil {
			return err
		}
		return tx.(vigil.IndexRevisioner).SetIndexRevision(ctx, rev)
	})
	if err != nil {
		t.Fatal(err)
	}
}
