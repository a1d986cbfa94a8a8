package ingest

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/vitals"
)

// FromObservation extracts the vital-sign samples of a FHIR R4
// Observation (https://hl7.org/fhir/R4/observation-vitalsigns.html), so
// that Observations posted to the FHIR API join the monitoring stream: a
// LOINC code Vigil monitors, a subject Patient/id, an effectiveDateTime or
// effectiveInstant, and a valueQuantity in a UCUM unit — or, for the
// blood-pressure panel, its systolic and diastolic components. Anything
// else (other codes, no time, entered-in-error or cancelled status) gives
// no sample; a value that does not normalise is skipped, never guessed.
func FromObservation(data []byte, received time.Time) []vigil.Sample {
	var o struct {
		Status  string    `json:"status"`
		Code    concept   `json:"code"`
		Subject reference `json:"subject"`
		Device  reference `json:"device"`
		EffDT   string    `json:"effectiveDateTime"`
		EffInst string    `json:"effectiveInstant"`
		Value   *quantity `json:"valueQuantity"`
		Comps   []obsComp `json:"component"`
	}
	if json.Unmarshal(data, &o) != nil {
		return nil
	}
	switch o.Status {
	case "final", "amended", "corrected", "preliminary":
	default:
		return nil
	}
	patient, ok := strings.CutPrefix(o.Subject.Reference, "Patient/")
	if !ok || patient == "" || strings.Contains(patient, "/") {
		return nil
	}
	device, isDevice := strings.CutPrefix(o.Device.Reference, "Device/")
	if !isDevice {
		device = "" // a DeviceMetric or another kind of reference
	}
	eff := o.EffDT
	if eff == "" {
		eff = o.EffInst
	}
	t, err := time.Parse(time.RFC3339Nano, eff)
	if err != nil {
		return nil // a date without a time is not a monitoring reading
	}
	t = t.UTC().Truncate(time.Millisecond)
	var out []vigil.Sample
	add := func(code string, q *quantity) {
		if q == nil || q.Value == nil || (q.System != "" && q.System != "http://unitsofmeasure.org") {
			return
		}
		r, err := vitals.Normalize(code, *q.Value, q.Code)
		if err != nil {
			return
		}
		out = append(out, vigil.Sample{Patient: patient, Device: device, Code: r.Code, Time: t, Value: r.Value, Unit: r.Unit,
			Received: received, Source: "fhir"})
	}
	code := o.Code.loinc()
	if code == vitals.CodeBPPanel || code == "55284-4" { // vital-signs BP panel, or Synthea's
		for _, c := range o.Comps {
			add(c.Code.loinc(), c.Value)
		}
		return out
	}
	if code != "" {
		add(code, o.Value)
	}
	return out
}

type concept struct {
	Coding []struct {
		System string `json:"system"`
		Code   string `json:"code"`
	} `json:"coding"`
}

// loinc returns the first LOINC code Vigil monitors, or "".
func (c concept) loinc() string {
	for _, cd := range c.Coding {
		if cd.System != "http://loinc.org" {
			continue
		}
		if p, _ := vitals.ParamOf(cd.Code); p != vitals.ParamUnknown || cd.Code == vitals.CodeBPPanel || cd.Code == "55284-4" {
			return cd.Code
		}
	}
	return ""
}

type reference struct {
	Reference string `json:"reference"`
}

type quantity struct {
	Value  *float64 `json:"value"`
	System string   `json:"system"`
	Code   string   `json:"code"`
}

type obsComp struct {
	Code  concept   `json:"code"`
	Value *quantity `json:"valueQuantity"`
}
