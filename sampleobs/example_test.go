package sampleobs_test

import (
	"fmt"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/sampleobs"
)

func ExampleObservation() {
	s := &vigil.Sample{Patient: "p1", Device: "oximeter-3", Code: "2708-6",
		Time: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC), Value: 97, Unit: "%"}
	body, err := sampleobs.Observation(s)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(body))
	// Output:
	// {"resourceType":"Observation","id":"p1.2708-6.mwvycsg0.vc02db0","status":"final","category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"vital-signs","display":"Vital Signs"}]}],"code":{"coding":[{"system":"http://loinc.org","code":"2708-6"}]},"subject":{"reference":"Patient/p1"},"effectiveDateTime":"2026-11-25T10:00:00.000Z","valueQuantity":{"value":97,"unit":"%","system":"http://unitsofmeasure.org","code":"%"},"device":{"reference":"Device/oximeter-3"}}
}

func ExampleParseID() {
	id, err := sampleobs.ParseID("p1.2708-6.mwvycsg0.vc02db0")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(id.Kind == sampleobs.KindSample, id.Patient, id.Code, id.Time.Format(time.RFC3339), id.Device("oximeter-3"))
	// Output:
	// true p1 2708-6 2026-11-25T10:00:00Z true
}

func ExamplePack() {
	packed := sampleobs.Pack([]int32{1000, 1002, 1001, 1003})
	samples, err := sampleobs.Unpack(packed)
	fmt.Println(len(packed), samples, err)
	// Output:
	// 7 [1000 1002 1001 1003] <nil>
}
