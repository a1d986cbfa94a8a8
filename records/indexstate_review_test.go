package records_test

import (
	"context"
	"testing"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/fhir"
	"github.com/vigilhealth/vigil/internal/teststore"
	"github.com/vigilhealth/vigil/records"
)

// TestIndexStateOtherProcessReindexReview marks a store with an older
// program's index stale (AdoptIndexRevision), then lets another process
// (vigil reindex: a Service of its own) rebuild it before this one's
// ReindexIfStale runs. That finds the store current and has nothing to do:
// the process must then search the rebuilt index by system and code only
// (a Coding without a system is not a release code), not the older way
// until it restarts.
func TestIndexStateOtherProcessReindexReview(t *testing.T) {
	eachStore(t, func(t *testing.T, model *fhir.Model, st teststore.Store, store vigil.ResourceStore) {
		ctx := context.Background()
		putIndexedAs(t, store, "old1", olderGender, 2)
		state := &records.IndexState{}
		svc := records.New(store, model, records.WithIndexState(state))
		if err := svc.AdoptIndexRevision(ctx); err != nil {
			t.Fatal(err)
		}
		if !state.Stale() {
			t.Fatal("AdoptIndexRevision on an older store with resources: Stale = false, want true")
		}
		if _, err := records.New(store, model).Reindex(ctx, nil); err != nil {
			t.Fatal(err)
		}
		if _, ran, err := svc.ReindexIfStale(ctx, nil); err != nil || ran {
			t.Fatalf("ReindexIfStale after another process rebuilt the index: ran = %v (%v), want nothing to do", ran, err)
		}
		if state.Stale() {
			t.Error("after another process rebuilt the index: Stale = true, want false")
		}
		res, err := svc.Create(ctx, "Observation", []byte(`{"resourceType":"Observation","status":"final","category":[{"coding":[{"code":"vital-signs"}]}],"code":{"text":"x"}}`), "")
		if err != nil {
			t.Fatal(err)
		}
		const in = "category:in=http://hl7.org/fhir/ValueSet/observation-category"
		if got := searchIDs(t, svc, "Observation", in); len(got) != 0 {
			t.Errorf("%s = %v, want nothing (%s's category has no system)", in, got, res.Resource.ID)
		}
	})
}

// TestIndexStateNilReview passes WithIndexState a nil state (IndexState's
// Stale allows one): rebuilding must not panic.
func TestIndexStateNilReview(t *testing.T) {
	model, err := fhir.LoadR4()
	if err != nil {
		t.Fatal(err)
	}
	st := teststore.All()[0]
	store := st.Open(t)
	t.Cleanup(func() { store.Close() })
	svc := records.New(store, model, records.WithIndexState(nil))
	if _, err := svc.Reindex(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
}
