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

func ExampleOpenSamples() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "vigil-samples")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	store, err := sqlite.OpenSamples(ctx, dir)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	at := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	batch := []vigil.Sample{
		{Patient: "p1", Device: "watch-1", Code: "8867-4", Time: at.Add(time.Minute), Value: 74, Unit: "/min"},
		{Patient: "p1", Device: "watch-1", Code: "8867-4", Time: at, Value: 72, Unit: "/min"}, // late: stored all the same
	}
	stored, err := store.AppendSamples(ctx, batch)
	fmt.Println(stored, err)
	stored, err = store.AppendSamples(ctx, batch[:1]) // a device retry
	fmt.Println(stored, err)

	got, err := store.QuerySamples(ctx, &vigil.SampleQuery{Patient: "p1", Codes: []string{"8867-4"}, From: at})
	if err != nil {
		log.Fatal(err)
	}
	for _, s := range got {
		fmt.Println(s.Time.Format(time.TimeOnly), s.Value, s.Unit)
	}
	// Output:
	// [true true] <nil>
	// [false] <nil>
	// 10:00:00 72 /min
	// 10:01:00 74 /min
}
