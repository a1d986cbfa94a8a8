package fhir_test

import (
	"errors"
	"fmt"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/fhir"
)

func ExampleModel_Decode() {
	m, err := fhir.LoadR4()
	if err != nil {
		fmt.Println(err)
		return
	}
	obj, err := m.Decode([]byte(`{"resourceType":"Observation","status":"final",
		"code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},
		"valueQuantity":{"value":72,"unit":"/min","system":"http://unitsofmeasure.org","code":"/min"}}`))
	fmt.Println(obj["resourceType"], err)

	_, err = m.Decode([]byte(`{"resourceType":"Observation","status":"done",
		"code":{"text":"heart rate"},"valueQuantity":{"value":"72"}}`))
	var e *vigil.Error
	if errors.As(err, &e) && errors.Is(err, vigil.ErrUnprocessable) {
		for _, is := range e.Issues {
			fmt.Println(is.Code, is.Path)
		}
	}
	// Output:
	// Observation <nil>
	// code-invalid Observation.status
	// value Observation.valueQuantity.value
}

func ExampleModel_Validate() {
	m, err := fhir.LoadR4()
	if err != nil {
		fmt.Println(err)
		return
	}
	patient := map[string]any{
		"resourceType": "Patient",
		"birthDate":    "1970-02-30",
		"name":         map[string]any{"family": "Doe"},
		"nickname":     "JD",
	}
	for _, is := range m.Validate(patient) {
		fmt.Printf("%s %s: %s\n", is.Code, is.Path, is.Message)
	}
	// Output:
	// value Patient.birthDate: invalid date value
	// structure Patient.name: expected an array
	// structure Patient.nickname: unknown element
}

func ExampleModel_Summarize() {
	m, err := fhir.LoadR4()
	if err != nil {
		fmt.Println(err)
		return
	}
	patient, err := m.Decode([]byte(`{"resourceType":"Patient","id":"p1","gender":"female",
		"maritalStatus":{"text":"married"}}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	summary := m.Summarize(patient, "true")
	tag := summary["meta"].(map[string]any)["tag"].([]any)[0].(map[string]any)
	fmt.Println(summary["gender"], summary["maritalStatus"], tag["code"])
	// Output:
	// female <nil> SUBSETTED
}

func ExampleModel_Elements() {
	m, err := fhir.LoadR4()
	if err != nil {
		fmt.Println(err)
		return
	}
	obs, err := m.Decode([]byte(`{"resourceType":"Observation","id":"o1","status":"final",
		"code":{"text":"heart rate"},"valueQuantity":{"value":72},"note":[{"text":"after exercise"}]}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	out := m.Elements(obs, []string{"value"})
	_, hasNote := out["note"]
	fmt.Println(out["status"], out["valueQuantity"] != nil, hasNote)
	// Output:
	// final true false
}
