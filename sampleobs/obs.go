package sampleobs

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/vigilhealth/vigil"
)

// Code systems (https://hl7.org/fhir/R4/terminologies-systems.html).
const (
	SystemLOINC    = "http://loinc.org"
	SystemUCUM     = "http://unitsofmeasure.org"
	SystemMDC      = "urn:oid:2.16.840.1.113883.6.24" // ISO/IEEE 11073-10101 nomenclature
	systemCategory = "http://terminology.hl7.org/CodeSystem/observation-category"
)

// instant is the FHIR dateTime/instant layout Vigil writes: UTC, milliseconds.
const instant = "2006-01-02T15:04:05.000Z"

type coding struct {
	System  string `json:"system"`
	Code    string `json:"code"`
	Display string `json:"display,omitempty"`
}

type concept struct {
	Coding []coding `json:"coding"`
	Text   string   `json:"text,omitempty"`
}

type reference struct {
	Reference string `json:"reference"`
}

type quantity struct {
	Value  json.Number `json:"value"`
	Unit   string      `json:"unit"`
	System string      `json:"system"`
	Code   string      `json:"code"`
}

type period struct {
	Start string `json:"start"`
	End   string `json:"end"`
}

type sampledData struct {
	Origin     quantity    `json:"origin"`
	Period     json.Number `json:"period"`
	Factor     json.Number `json:"factor,omitempty"`
	Dimensions int         `json:"dimensions"`
	Data       string      `json:"data,omitempty"`
}

type observation struct {
	ResourceType      string       `json:"resourceType"`
	ID                string       `json:"id"`
	Status            string       `json:"status"`
	Category          []concept    `json:"category"`
	Code              concept      `json:"code"`
	Subject           reference    `json:"subject"`
	EffectiveDateTime string       `json:"effectiveDateTime,omitempty"`
	EffectivePeriod   *period      `json:"effectivePeriod,omitempty"`
	Issued            string       `json:"issued,omitempty"`
	ValueQuantity     *quantity    `json:"valueQuantity,omitempty"`
	ValueSampledData  *sampledData `json:"valueSampledData,omitempty"`
	Device            *reference   `json:"device,omitempty"`
}

var (
	vitalSigns = concept{Coding: []coding{{System: systemCategory, Code: "vital-signs", Display: "Vital Signs"}}}
	procedure  = concept{Coding: []coding{{System: systemCategory, Code: "procedure", Display: "Procedure"}}}
)

// Observation renders s as a FHIR R4 vital-signs Observation (JSON, status
// final, id from SampleID, issued = s.Received when set). s.Code must be a
// LOINC code (with a valid check digit) and s.Unit a UCUM code, as ingest
// normalises them; otherwise, or when the id cannot be made (see
// SampleID), or the value is not finite, the error is of kind
// vigil.ErrInvalid.
func Observation(s *vigil.Sample) ([]byte, error) {
	if !IsLOINC(s.Code) {
		return nil, vigil.Errorf(vigil.ErrInvalid, "observation: code is not a LOINC code")
	}
	if s.Unit == "" {
		return nil, vigil.Errorf(vigil.ErrInvalid, "observation: unit is required")
	}
	if math.IsNaN(s.Value) || math.IsInf(s.Value, 0) {
		return nil, vigil.Errorf(vigil.ErrInvalid, "observation: value is not a finite number")
	}
	id, err := SampleID(s.Key())
	if err != nil {
		return nil, err
	}
	o := observation{
		ResourceType:      "Observation",
		ID:                id,
		Status:            "final",
		Category:          []concept{vitalSigns},
		Code:              concept{Coding: []coding{{System: SystemLOINC, Code: s.Code}}},
		Subject:           reference{"Patient/" + s.Patient},
		EffectiveDateTime: s.Time.UTC().Format(instant),
		ValueQuantity:     &quantity{Value: number(s.Value), Unit: s.Unit, System: SystemUCUM, Code: s.Unit},
	}
	if err := o.finish(s.Device, s.Received); err != nil {
		return nil, err
	}
	return json.Marshal(&o)
}

// WaveformObservation renders w as a FHIR R4 Observation with
// valueSampledData (category procedure, as the FHIR R4 ECG example
// "ekg"): effectivePeriod [Start, End()), period = 1000/RateHz ms, factor
// = Gain, origin 0 in w.Unit. w.Code is written as LOINC when it has the
// LOINC form, as an ISO/IEEE 11073 MDC code when it is all digits (e.g.
// 131329, MDC_ECG_ELEC_POTL_I), and is rejected otherwise; errors are of
// kind vigil.ErrInvalid.
func WaveformObservation(w *vigil.Waveform) ([]byte, error) {
	var system string
	switch {
	case IsLOINC(w.Code):
		system = SystemLOINC
	case w.Code != "" && strings.Trim(w.Code, "0123456789") == "":
		system = SystemMDC
	default:
		return nil, vigil.Errorf(vigil.ErrInvalid, "waveform observation: code is neither LOINC nor MDC")
	}
	if !(w.RateHz > 0) || math.IsInf(w.RateHz, 0) || math.IsNaN(w.Gain) || math.IsInf(w.Gain, 0) || w.Unit == "" {
		return nil, vigil.Errorf(vigil.ErrInvalid, "waveform observation: rate, gain and unit are required")
	}
	id, err := WaveformID(w)
	if err != nil {
		return nil, err
	}
	var data strings.Builder
	data.Grow(len(w.Samples) * 4)
	for i, v := range w.Samples {
		if i > 0 {
			data.WriteByte(' ')
		}
		data.WriteString(strconv.FormatInt(int64(v), 10))
	}
	sd := &sampledData{
		Origin:     quantity{Value: "0", Unit: w.Unit, System: SystemUCUM, Code: w.Unit},
		Period:     number(1000 / w.RateHz),
		Dimensions: 1,
		Data:       data.String(),
	}
	if w.Gain != 0 && w.Gain != 1 {
		sd.Factor = number(w.Gain)
	}
	o := observation{
		ResourceType:     "Observation",
		ID:               id,
		Status:           "final",
		Category:         []concept{procedure},
		Code:             concept{Coding: []coding{{System: system, Code: w.Code}}},
		Subject:          reference{"Patient/" + w.Patient},
		EffectivePeriod:  &period{Start: w.Start.UTC().Format(instant), End: w.End().UTC().Format(instant)},
		ValueSampledData: sd,
	}
	if err := o.finish(w.Device, w.Received); err != nil {
		return nil, err
	}
	return json.Marshal(&o)
}

// finish sets the device reference and issued.
func (o *observation) finish(device string, received time.Time) error {
	if device != "" {
		if !idChars(device) || len(device) > maxID {
			return vigil.Errorf(vigil.ErrInvalid, "observation: device id is not a FHIR id")
		}
		o.Device = &reference{"Device/" + device}
	}
	if !received.IsZero() {
		o.Issued = received.UTC().Format(instant)
	}
	return nil
}

// number formats v as a FHIR decimal: the shortest form that reads back
// as v, never with an exponent (FHIR decimals do not allow one).
func number(v float64) json.Number {
	return json.Number(strconv.FormatFloat(v, 'f', -1, 64))
}

// IsLOINC reports whether code has the form of a LOINC code: 1 to 7 digits,
// a hyphen and the Mod 10 check digit the LOINC User's Guide (appendix C)
// prescribes.
func IsLOINC(code string) bool {
	num, check, ok := strings.Cut(code, "-")
	if !ok || len(num) < 1 || len(num) > 7 || len(check) != 1 || check[0] < '0' || check[0] > '9' {
		return false
	}
	sum := 0
	for i := range len(num) {
		c := num[len(num)-1-i]
		if c < '0' || c > '9' {
			return false
		}
		d := int(c - '0')
		if i%2 == 0 { // odd positions from the right are doubled
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return int(check[0]-'0') == (10-sum%10)%10
}
