package records_test

import (
	"context"
	"fmt"
	"net/url"
	"os"

	"github.com/vigilhealth/vigil/fhir"
	"github.com/vigilhealth/vigil/records"
	"github.com/vigilhealth/vigil/sqlite"
)

// A Service performs FHIR interactions on a store: here a Patient is
// created, read back and found by name.
func ExampleService() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "vigil-example-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	store, err := sqlite.Open(ctx, dir)
	if err != nil {
		panic(err)
	}
	defer store.Close()
	model, err := fhir.LoadR4()
	if err != nil {
		panic(err)
	}
	svc := records.New(store, model)

	res, err := svc.Create(ctx, "Patient", []byte(`{"resourceType":"Patient","name":[{"family":"Chalmers","given":["Peter"]}]}`), "")
	if err != nil {
		panic(err)
	}
	got, err := svc.Read(ctx, "Patient", res.Resource.ID)
	if err != nil {
		panic(err)
	}
	fmt.Println("created version", got.Version)

	page, err := svc.Search(ctx, &records.SearchRequest{Type: "Patient", Query: url.Values{"family": {"chalm"}}, Base: "http://localhost/fhir"})
	if err != nil {
		panic(err)
	}
	fmt.Println("matches:", len(page.Matches))

	_, err = svc.Create(ctx, "Patient", []byte(`{"resourceType":"Patient","gender":"robot"}`), "")
	fmt.Println(err != nil)
	// Output:
	// created version 1
	// matches: 1
	// true
}
