package sqlite_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/sqlite"
)

func ExampleOpen() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "vigil")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	db, err := sqlite.Open(ctx, dir)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	// Store a Patient with one index entry for the "name" parameter.
	p := &vigil.Resource{Type: "Patient", ID: "p1", Version: 1, Method: "POST",
		LastUpdated: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC),
		JSON:        []byte(`{"resourceType":"Patient","id":"p1","name":[{"family":"Smith"}]}`)}
	err = db.Write(ctx, func(ctx context.Context, tx vigil.ResourceTx) error {
		return tx.Put(ctx, p, []vigil.IndexEntry{{Param: "name", Type: vigil.ParamString, Text: "smith", Exact: "Smith"}})
	})
	if err != nil {
		log.Fatal(err)
	}

	// Patient?name=smi
	res, err := db.Search(ctx, &vigil.SearchQuery{Type: "Patient", Total: true, Params: []vigil.SearchParam{
		{Name: "name", Type: vigil.ParamString, Values: []vigil.SearchValue{{Text: "smi"}}},
	}})
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range res.Matches {
		fmt.Println(r.Ref(), r.Version, r.LastUpdated.Format(time.RFC3339))
	}
	fmt.Println("total", res.Total)
	// Output:
	// Patient/p1 1 2024-05-01T12:00:00Z
	// total 1
}
