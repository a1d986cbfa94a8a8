package postgres_test

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/postgres"
)

func TestOpenTwiceMigratesOnce(t *testing.T) {
	u := testURL(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			db, err := postgres.Open(t.Context(), u, postgres.WithMaxConns(2))
			if err == nil {
				db.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Open #%d = %v", i, err)
		}
	}
}

func TestSmoke(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()
	at := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	body := []byte(`{"resourceType":"Observation",  "id":"o1"}`)
	r := &vigil.Resource{Type: "Observation", ID: "o1", Version: 1, LastUpdated: at, Method: "POST", JSON: body}
	idx := []vigil.IndexEntry{
		{Param: "subject", Type: vigil.ParamReference, RefType: "Patient", RefID: "p1"},
		{Param: "code", Type: vigil.ParamToken, System: "http://loinc.org", Code: "8867-4"},
		{Param: "date", Type: vigil.ParamDate, Start: at, End: at.Add(time.Second)},
	}
	put := func(r *vigil.Resource) error {
		return db.Write(ctx, func(ctx context.Context, tx vigil.ResourceTx) error { return tx.Put(ctx, r, idx) })
	}
	if err := put(r); err != nil {
		t.Fatalf("Put = %v", err)
	}
	if err := put(r); !errors.Is(err, vigil.ErrConflict) {
		t.Fatalf("Put again = %v, want ErrConflict", err)
	}
	got, err := db.Read(ctx, "Observation", "o1")
	if err != nil {
		t.Fatalf("Read = %v", err)
	}
	if !bytes.Equal(got.JSON, body) || !got.LastUpdated.Equal(at) || got.Version != 1 {
		t.Errorf("Read = %+v, want the bytes and instant written", got)
	}
	res, err := db.Search(ctx, &vigil.SearchQuery{Type: "Observation", Params: []vigil.SearchParam{
		{Name: "subject", Type: vigil.ParamReference, Values: []vigil.SearchValue{{RefType: "Patient", RefID: "p1"}}},
		{Name: "code", Type: vigil.ParamToken, Values: []vigil.SearchValue{{System: "http://loinc.org", Code: "8867-4"}}},
		{Name: "date", Type: vigil.ParamDate, Values: []vigil.SearchValue{{Prefix: vigil.PrefixGe, Start: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)}}},
	}, Total: true})
	if err != nil {
		t.Fatalf("Search = %v", err)
	}
	if len(res.Matches) != 1 || res.Total != 1 {
		t.Errorf("Search = %d matches, total %d; want 1, 1", len(res.Matches), res.Total)
	}
}
