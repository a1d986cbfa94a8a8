package fhir_test

import (
	"fmt"
	"net/url"

	"github.com/vigilhealth/vigil/fhir"
)

func ExampleModel_ParseSearch() {
	m, err := fhir.LoadR4()
	if err != nil {
		fmt.Println(err)
		return
	}
	q, _ := url.ParseQuery("subject=Patient/123&code=http://loinc.org|8867-4&date=ge2024-01&_sort=-date&_count=20")
	sq, _, warnings, err := m.ParseSearch("Observation", q, true)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, p := range sq.Params {
		v := p.Values[0]
		switch p.Type.String() {
		case "reference":
			fmt.Printf("%s: %s/%s\n", p.Name, v.RefType, v.RefID)
		case "token":
			fmt.Printf("%s: %s|%s\n", p.Name, v.System, v.Code)
		case "date":
			fmt.Printf("%s: %s [%s, %s)\n", p.Name, v.Prefix, v.Start.Format("2006-01-02"), v.End.Format("2006-01-02"))
		}
	}
	fmt.Println("sort:", sq.Sort[0].Param, "desc:", sq.Sort[0].Desc, "count:", sq.Count, "warnings:", len(warnings))
	// Output:
	// code: http://loinc.org|8867-4
	// date: ge [2024-01-01, 2024-02-01)
	// subject: Patient/123
	// sort: date desc: true count: 20 warnings: 0
}

func ExampleModel_Index() {
	m, err := fhir.LoadR4()
	if err != nil {
		fmt.Println(err)
		return
	}
	obs := map[string]any{
		"resourceType": "Observation",
		"status":       "final",
		"code":         map[string]any{"coding": []any{map[string]any{"system": "http://loinc.org", "code": "29463-7"}}},
		"valueQuantity": map[string]any{"value": 72.5, "unit": "kg",
			"system": "http://unitsofmeasure.org", "code": "kg"},
	}
	entries, err := m.Index(obs)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, e := range entries {
		if e.Param == "value-quantity" {
			fmt.Printf("%s: %g %s = %g %s\n", e.Param, e.Value, e.Code, e.CanonValue, e.CanonCode)
		}
	}
	// Output:
	// value-quantity: 72.5 kg = 72500 g
}
