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
	model, err := fhir.LoadR4()
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range teststore.All() {
		t.Run(st.Name, func(t *testing.T) {
			store := st.Open(t)
			t.Cleanup(func() { store.Close() })
			ctx := context.Background()
			body := []byte(`{"resourceType":"Patient","id":"new1","meta":{"versionId":"1","lastUpdated":"2026-01-01T00:00:00.000Z"},"gender":"male"}`)
			err := store.Write(ctx, func(ctx context.Context, tx vigil.ResourceTx) error {
				if err := tx.Put(ctx, &vigil.Resource{Type: "Patient", ID: "new1", Version: 1, Method: "PUT", JSON: body}, nil); err != nil {
					return err
				}
				return tx.(vigil.IndexRevisioner).SetIndexRevision(ctx, fhir.IndexRevision+1)
			})
			if err != nil {
				t.Fatal(err)
			}
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
}
