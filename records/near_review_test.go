package records_test

import (
	"context"
	"slices"
	"testing"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/fhir"
	"github.com/vigilhealth/vigil/internal/teststore"
	"github.com/vigilhealth/vigil/records"
)

// TestNearSamePointReview checks that near at distance 0 finds a position
// that is the searched point written another way: the North Pole at any
// longitude, and a point of the antimeridian at -180 or 180. Haversine in
// floating point puts such pairs 1e-12 km apart, not 0.
func TestNearSamePointReview(t *testing.T) {
	eachStore(t, func(t *testing.T, model *fhir.Model, st teststore.Store, store vigil.ResourceStore) {
		svc := records.New(store, model)
		create := func(body string) string {
			t.Helper()
			res, err := svc.Create(context.Background(), resourceType(body), []byte(body), "")
			if err != nil {
				t.Fatalf("create: %v", err)
			}
			return res.Resource.ID
		}
		pole := create(`{"resourceType":"Location","position":{"latitude":90,"longitude":180}}`)
		fiji := create(`{"resourceType":"Location","position":{"latitude":-17,"longitude":180}}`)
		for _, tc := range []struct {
			query string
			want  []string
		}{
			{"near=90|180|0", []string{pole}},
			{"near=90|0|0", []string{pole}},
			{"near=90|-77.5|0", []string{pole}},
			{"near=-17|-180|0", []string{fiji}},
			{"near=-17|180|0", []string{fiji}},
			{"near=-17|179.99|0", []string{}},
			{"near=89.99|0|0", []string{}},
		} {
			if got := searchIDs(t, svc, "Location", tc.query); !slices.Equal(got, tc.want) {
				t.Errorf("Location?%s = %v, want %v", tc.query, got, tc.want)
			}
		}
	})
}
