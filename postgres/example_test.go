package postgres_test

import (
	"context"
	"fmt"
	"log"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/postgres"
)

// Open a store, write a resource and search for it. (Not run by go test:
// it needs a PostgreSQL server; TestSmoke runs the same steps.)
func ExampleOpen() {
	ctx := context.Background()
	db, err := postgres.Open(ctx, "postgres://vigil@localhost/vigil?sslmode=disable")
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	err = db.Write(ctx, func(ctx context.Context, tx vigil.ResourceTx) error {
		return tx.Put(ctx, &vigil.Resource{Type: "Patient", ID: "p1", Version: 1, Method: "POST",
			JSON: []byte(`{"resourceType":"Patient","id":"p1"}`)},
			[]vigil.IndexEntry{{Param: "family", Type: vigil.ParamString, Text: "chalmers", Exact: "Chalmers"}})
	})
	if err != nil {
		log.Fatal(err)
	}
	res, err := db.Search(ctx, &vigil.SearchQuery{Type: "Patient", Params: []vigil.SearchParam{
		{Name: "family", Type: vigil.ParamString, Values: []vigil.SearchValue{{Text: "chal"}}},
	}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(res.Matches))
}
