package httpapi_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/vigilhealth/vigil/sqlite"
)

const benchObservation = `{"resourceType":"Observation","status":"final","category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"vital-signs"}]}],"code":{"coding":[{"system":"http://loinc.org","code":"8867-4","display":"Heart rate"}]},"subject":{"reference":"Patient/p-%d"},"effectiveDateTime":"2024-03-01T10:%02d:00Z","valueQuantity":{"value":72,"unit":"/min","system":"http://unitsofmeasure.org","code":"/min"}}`

// BenchmarkHTTPCreateObservation measures Observation creates through the
// real HTTP server on SQLite, from parallel clients (group commit).
func BenchmarkHTTPCreateObservation(b *testing.B) {
	db, err := sqlite.Open(context.Background(), b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	srv := newServer(b, db)
	url := srv.URL + "/fhir/Observation"
	var n atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			body := fmt.Appendf(nil, benchObservation, i%1000, i%60)
			resp, err := http.Post(url, fj, bytes.NewReader(body))
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}

// BenchmarkHTTPReadObservation measures reads by id through the real HTTP
// server on SQLite.
func BenchmarkHTTPReadObservation(b *testing.B) {
	db, err := sqlite.Open(context.Background(), b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	srv := newServer(b, db)
	resp, err := http.Post(srv.URL+"/fhir/Observation", fj, bytes.NewReader(fmt.Appendf(nil, benchObservation, 1, 1)))
	if err != nil {
		b.Fatal(err)
	}
	loc := resp.Header.Get("Location")
	resp.Body.Close()
	url := loc[:bytes.LastIndex([]byte(loc), []byte("/_history/"))]
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := http.Get(url)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}
