package records_test

import (
	"context"
	"testing"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/fhir"
	"github.com/vigilhealth/vigil/internal/teststore"
	"github.com/vigilhealth/vigil/records"
)

// TestAdoptIndexRevisionNewerStoreReview opens, with this program, a store
// whose entries a newer Vigil made (a rollback, or an older server beside
// a newer one on PostgreSQL). What this program writes is indexed its way,
// so the store must no longer claim the newer revision: else the newer
// program, back, would never reindex those resources.
func TestAdoptIndexRevisionNewerStoreReview(t *testing.T) {
	eachStore(t, func(t *testing.T, model *fhir.Model, st teststore.Store, store vigil.ResourceStore) {
		ctx := context.Background()
		putIndexedAs(t, store, "new1", nil, fhir.IndexRevision+1)
		svc := records.New(store, model)
		if err := svc.AdoptIndexRevision(ctx); err != nil {
			t.Fatal(err)
		}
		if got := revisionOf(t, store); got != fhir.IndexRevision {
			t.Errorf("AdoptIndexRevision on a newer program's store: revision %d, want %d (this program's)", got, fhir.IndexRevision)
		}
		if _, ran, err := svc.ReindexIfStale(ctx, nil); err != nil || ran {
			t.Errorf("ReindexIfStale after it = %v (%v), want nothing to do", ran, err)
		}
	})
}
