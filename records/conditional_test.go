package records_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/vigilhealth/vigil/fhir"
	"github.com/vigilhealth/vigil/internal/teststore"
	"github.com/vigilhealth/vigil/records"
)

// TestConcurrentConditionalCreate sends the same conditional create from
// many clients at once (a device retrying, several gateways): exactly one
// resource must come into existence, on both stores.
func TestConcurrentConditionalCreate(t *testing.T) {
	model, err := fhir.LoadR4()
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range teststore.All() {
		t.Run(st.Name, func(t *testing.T) {
			store := st.Open(t)
			t.Cleanup(func() { store.Close() })
			svc := records.New(store, model)
			ctx := context.Background()
			for round := range 3 {
				ident := fmt.Sprintf("urn:test|cc-%d", round)
				body := []byte(fmt.Sprintf(`{"resourceType":"Patient","identifier":[{"system":"urn:test","value":"cc-%d"}]}`, round))
				var wg sync.WaitGroup
				created := make(chan string, 16)
				for range 16 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						res, err := svc.Create(ctx, "Patient", body, "identifier="+ident)
						if err != nil {
							t.Errorf("conditional create: %v", err)
							return
						}
						if res.Created {
							created <- res.Resource.ID
						}
					}()
				}
				wg.Wait()
				close(created)
				n := 0
				for range created {
					n++
				}
				if n != 1 {
					t.Errorf("round %d: %d conditional creates created a resource, want exactly 1", round, n)
				}
			}
		})
	}
}
