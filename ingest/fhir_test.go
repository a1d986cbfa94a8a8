package ingest_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigilhealth/vigil/ingest"
)

// The official R4 vital-signs examples (shipped with the demo) become
// samples; the panel gives its components.
func TestFromObservationExamples(t *testing.T) {
	cases := []struct {
		file  string
		codes []string
	}{
		// Day-precision effective times are not monitoring readings.
		{"Observation-heart-rate.json", nil},
		{"Observation-blood-pressure.json", nil},
		{"Observation-body-temperature.json", nil},
		{"Observation-vitals-panel.json", nil},
		{"Observation-satO2.json", []string{"2708-6"}}, // the first monitored LOINC coding
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("..", "demo", "data", c.file))
			if err != nil {
				t.Fatal(err)
			}
			got := ingest.FromObservation(b, time.Now())
			if len(got) != len(c.codes) {
				t.Fatalf("FromObservation(%s) = %d samples %+v, want codes %v", c.file, len(got), got, c.codes)
			}
			for i, s := range got {
				if s.Code != c.codes[i] || s.Patient == "" || s.Time.IsZero() || s.Source != "fhir" {
					t.Errorf("sample %d = %+v, want code %s", i, s, c.codes[i])
				}
			}
		})
	}
	bp := `{"status":"final","code":{"coding":[{"system":"http://loinc.org","code":"85354-9"}]},"subject":{"reference":"Patient/p"},"device":{"reference":"Device/d"},` +
		`"effectiveDateTime":"2026-11-25T10:00:00+01:00","component":[` +
		`{"code":{"coding":[{"system":"http://loinc.org","code":"8480-6"}]},"valueQuantity":{"value":150,"system":"http://unitsofmeasure.org","code":"mm[Hg]"}},` +
		`{"code":{"coding":[{"system":"http://loinc.org","code":"8462-4"}]},"valueQuantity":{"value":95,"system":"http://unitsofmeasure.org","code":"mm[Hg]"}}]}`
	got := ingest.FromObservation([]byte(bp), time.Now())
	if len(got) != 2 || got[0].Code != "8480-6" || got[1].Value != 95 || got[0].Device != "d" || got[0].Time.Hour() != 9 {
		t.Errorf("BP panel: %+v", got)
	}
	for _, bad := range []string{`{}`, `not json`, `{"status":"entered-in-error","code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},"subject":{"reference":"Patient/x"},"effectiveDateTime":"2026-01-01T00:00:00Z","valueQuantity":{"value":70,"system":"http://unitsofmeasure.org","code":"/min"}}`,
		`{"status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},"subject":{"reference":"Patient/x"},"effectiveDateTime":"2026-01-01","valueQuantity":{"value":70,"system":"http://unitsofmeasure.org","code":"/min"}}`,
		`{"status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},"subject":{"reference":"Patient/x"},"effectiveDateTime":"2026-01-01T00:00:00Z","valueQuantity":{"value":700,"system":"http://unitsofmeasure.org","code":"/min"}}`} {
		if got := ingest.FromObservation([]byte(bad), time.Now()); len(got) != 0 {
			t.Errorf("FromObservation(%s) = %+v, want none", bad, got)
		}
	}
}
