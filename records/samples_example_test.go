package records_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/fhir"
	"github.com/vigilhealth/vigil/records"
	"github.com/vigilhealth/vigil/sampleobs"
	"github.com/vigilhealth/vigil/sqlite"
)

// ExampleWithSamples shows a device reading, stored compactly, to FHIR
// clients as an Observation: read by its derived id, and found by a search
// for the patient's heart rate.
func ExampleWithSamples() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "vigil-example")
	defer os.RemoveAll(dir)
	model, _ := fhir.LoadR4()
	db, _ := sqlite.Open(ctx, dir)
	defer db.Close()
	samples, _ := sqlite.OpenSamples(ctx, dir)
	defer samples.Close()
	// No access control here; a server passes access.Policy.SeesPatient.
	svc := records.New(db, model, records.WithSamples(samples, nil))

	at := time.Date(2026, 1, 1, 8, 0, 0, 0, time.UTC)
	s := vigil.Sample{Patient: "p1", Device: "watch1", Code: "8867-4", Time: at, Value: 72, Unit: "/min", Received: at.Add(2 * time.Second)}
	if _, err := samples.AppendSamples(ctx, []vigil.Sample{s}); err != nil {
		fmt.Println(err)
		return
	}
	id, _ := sampleobs.SampleID(s.Key())
	r, err := svc.Read(ctx, "Observation", id)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(r.ID, r.Version, r.LastUpdated.Format(time.RFC3339))

	page, err := svc.Search(ctx, &records.SearchRequest{Type: "Observation", Base: "http://localhost/fhir",
		Query: url.Values{"subject": {"Patient/p1"}, "code": {"http://loinc.org|8867-4"}, "date": {"ge2026-01-01"}}})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(page.Matches), page.Matches[0].ID == id)
	// Output:
	// p1.8867-4.mjv5n280.v663425 1 2026-01-01T08:00:02Z
	// 1 true
}
