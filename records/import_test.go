package records_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/vigilhealth/vigil/fhir"
	"github.com/vigilhealth/vigil/internal/teststore"
	"github.com/vigilhealth/vigil/records"
)

// importLines builds an NDJSON file: patients with ids (one of them twice,
// so that it gets a second version), and Observations without ids, spread
// over the patients, codes, values and dates.
func importLines(patients, observations int) [][]byte {
	codes := []struct{ code, unit string }{{"8867-4", "/min"}, {"9279-1", "/min"}, {"8310-5", "Cel"}, {"29463-7", "kg"}}
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	var lines [][]byte
	for i := range patients {
		lines = append(lines, fmt.Appendf(nil, `{"resourceType":"Patient","id":"imp-%d","name":[{"family":"Family%d","given":["Given"]}],"gender":"female","birthDate":"1950-01-%02d"}`, i, i, 1+i%28))
	}
	// Patient imp-0 again, changed: version 2.
	lines = append(lines, []byte(`{"resourceType":"Patient","id":"imp-0","name":[{"family":"Renamed"}],"gender":"female"}`))
	for i := range observations {
		c := codes[i%len(codes)]
		at := start.Add(time.Duration(i*37) * time.Minute).Format(time.RFC3339)
		lines = append(lines, fmt.Appendf(nil, `{"resourceType":"Observation","status":"final","category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"vital-signs"}]}],"code":{"coding":[{"system":"http://loinc.org","code":"%s"}]},"subject":{"reference":"Patient/imp-%d"},"effectiveDateTime":"%s","valueQuantity":{"value":%d.5,"unit":"%s","system":"http://unitsofmeasure.org","code":"%s"}}`,
			c.code, (i*7)%patients, at, 30+i%90, c.unit, c.unit))
	}
	return lines
}

// TestImportMatchesCreate imports an NDJSON file, in several batches with
// the parsing ahead of the commits (on SQLite as a bulk load, indexes
// built afterwards), and loads the same resources one by one through
// create and update (the path of the REST API), on each store; every
// search then finds the same resources on both (ids made by the store and
// meta aside).
func TestImportMatchesCreate(t *testing.T) {
	model, err := fhir.LoadR4()
	if err != nil {
		t.Fatal(err)
	}
	lines := importLines(20, 600)
	for _, st := range teststore.All() {
		t.Run(st.Name, func(t *testing.T) {
			ctx := context.Background()
			imported, created := st.Open(t), st.Open(t)
			t.Cleanup(func() { imported.Close(); created.Close() })
			imp, one := records.New(imported, model), records.New(created, model)

			// SQLite loads an empty store with its value indexes built
			// afterwards (vigil import does the same).
			finish := func(context.Context) error { return nil }
			if bl, ok := imported.(interface {
				BulkLoad(context.Context) (func(context.Context) error, error)
			}); ok {
				if finish, err = bl.BulkLoad(ctx); err != nil {
					t.Fatal(err)
				}
			}
			var batches int
			res, err := imp.Import(ctx, bytes.NewReader(bytes.Join(lines, []byte("\n"))), records.ImportOptions{BatchSize: 64,
				Progress: func(records.ImportStats) { batches++ }})
			if err != nil {
				t.Fatalf("Import: %v", err)
			}
			if err := finish(ctx); err != nil {
				t.Fatalf("finish bulk load: %v", err)
			}
			if res.Resources != len(lines) || batches != (len(lines)+63)/64 {
				t.Errorf("Import wrote %d resources in %d batches, want %d in %d", res.Resources, batches, len(lines), (len(lines)+63)/64)
			}
			for i, l := range lines {
				var head struct{ ResourceType, ID string }
				if err := json.Unmarshal(l, &head); err != nil {
					t.Fatal(err)
				}
				if head.ID != "" {
					_, err = one.Update(ctx, head.ResourceType, head.ID, l, "")
				} else {
					_, err = one.Create(ctx, head.ResourceType, l, "")
				}
				if err != nil {
					t.Fatalf("line %d: %v", i+1, err)
				}
			}

			searches := []struct{ typ, query string }{
				{"Patient", ""},
				{"Patient", "family=Renamed"},
				{"Patient", "family=Family0"},
				{"Patient", "birthdate=1950-01-05"},
				{"Observation", "subject=Patient/imp-3"},
				{"Observation", "code=http://loinc.org|8867-4"},
				{"Observation", "subject=Patient/imp-5&code=http://loinc.org|29463-7&date=ge2026-11-05"},
				{"Observation", "date=lt2026-11-03T12:00:00Z"},
				{"Observation", "value-quantity=gt100"},
				{"Observation", "value-quantity=le35|http://unitsofmeasure.org|/min"},
				{"Observation", "combo-code-value-quantity=http://loinc.org|29463-7$gt80"},
				{"Observation", "category=vital-signs&patient=imp-11"},
				{"Observation", "subject:Patient.family=Family7"},
			}
			for _, s := range searches {
				a, b := searchContents(t, imp, s.typ, s.query), searchContents(t, one, s.typ, s.query)
				if len(a) == 0 && s.query != "family=Family0" {
					t.Errorf("%s?%s found nothing: the search does not test anything", s.typ, s.query)
				}
				if !slices.Equal(a, b) {
					t.Errorf("%s?%s: import found %d resources, create %d; they differ:\nimport %.300q\ncreate %.300q", s.typ, s.query, len(a), len(b), a, b)
				}
			}
			for _, id := range []string{"imp-0", "imp-1"} {
				a, err := imp.Read(ctx, "Patient", id)
				if err != nil {
					t.Fatal(err)
				}
				b, err := one.Read(ctx, "Patient", id)
				if err != nil {
					t.Fatal(err)
				}
				if a.Version != b.Version {
					t.Errorf("Patient/%s: version %d after import, %d after updates", id, a.Version, b.Version)
				}
			}
		})
	}
}

// searchContents runs a search (one page of up to 1000) and returns each match's JSON
// without id and meta, sorted: what the store made aside, the content.
func searchContents(t *testing.T, svc *records.Service, typ, query string) []string {
	t.Helper()
	q, err := url.ParseQuery(query)
	if err != nil {
		t.Fatal(err)
	}
	q.Set("_count", "1000")
	page, err := svc.Search(context.Background(), &records.SearchRequest{Type: typ, Query: q, Strict: true, Base: "http://x/fhir"})
	if err != nil {
		t.Fatalf("%s?%s: %v", typ, query, err)
	}
	var out []string
	for _, r := range page.Matches {
		var m map[string]any
		if err := json.Unmarshal(r.JSON, &m); err != nil {
			t.Fatal(err)
		}
		if typ != "Patient" { // patients keep their ids
			delete(m, "id")
		}
		delete(m, "meta")
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	slices.Sort(out)
	return out
}
