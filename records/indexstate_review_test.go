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
	model, err := fhir.LoadR4()
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range teststore.All() {
		t.Run(st.Name, func(t *testing.T) {
			store := st.Open(t)
			t.Cleanup(func() { store.Close() })
			ctx := context.Background()
			body := []byte(`{"resourceType":"Patient","id":"old1","meta":{"versionId":"1","lastUpdated":"2026-01-01T00:00:00.000Z"},"gender":"male"}`)
			old := []vigil.IndexEntry{{Param: "gender", Type: vigil.ParamToken, Code: "male"}}
			err := store.Write(ctx, func(ctx context.Context, tx vigil.ResourceTx) error {
				if err := tx.Put(ctx, &vigil.Resource{Type: "Patient", ID: "old1", Version: 1, Method: "PUT", JSON: body}, old); err != nil {
					return err
				}
				return tx.(vigil.IndexRevisioner).SetIndexRevision(ctx, 2)
			})
			if err != nil {
				t.Fatal(err)
			}
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
