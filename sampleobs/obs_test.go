package sampleobs_test

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/fhir"
	"github.com/vigilhealth/vigil/sampleobs"
	"github.com/vigilhealth/vigil/vitals"
)

const patient = "0193a3c0-7f6e-7c1a-9b2d-3e4f5a6b7c8d" // a UUIDv7, as records.NewID makes

var t0 = time.Date(2026, 11, 25, 10, 0, 0, 123e6, time.UTC)

func model(t *testing.T) *fhir.Model {
	t.Helper()
	m, err := fhir.LoadR4()
	if err != nil {
		t.Fatalf("fhir.LoadR4() = %v", err)
	}
	return m
}

// decode validates body with the project's FHIR validator and returns it.
func decode(t *testing.T, m *fhir.Model, body []byte) map[string]any {
	t.Helper()
	obj, err := m.Decode(body)
	if err != nil {
		var ve *vigil.Error
		if errors.As(err, &ve) {
			t.Fatalf("Decode(%s) = %v, issues %+v", body, err, ve.Issues)
		}
		t.Fatalf("Decode(%s) = %v", body, err)
	}
	return obj
}

// get follows a path of object keys and array indexes in a decoded resource.
func get(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			a, _ := v.([]any)
			if k >= len(a) {
				return nil
			}
			v = a[k]
		}
	}
	if n, ok := v.(json.Number); ok {
		return n.String()
	}
	return v
}

func TestObservationValidates(t *testing.T) {
	m := model(t)
	tests := []struct {
		name string
		s    vigil.Sample
		want map[string]string // path → value; paths as "a.b.0.c"
	}{
		{"heart rate from a device", vigil.Sample{Patient: patient, Device: "dev-1", Code: vitals.CodeHeartRate, Time: t0, Value: 72, Unit: "/min", Received: t0.Add(time.Second)},
			map[string]string{
				"resourceType": "Observation", "status": "final",
				"category.0.coding.0.code": "vital-signs", "category.0.coding.0.system": "http://terminology.hl7.org/CodeSystem/observation-category",
				"code.coding.0.system": "http://loinc.org", "code.coding.0.code": "8867-4",
				"subject.reference": "Patient/" + patient, "device.reference": "Device/dev-1",
				"effectiveDateTime": "2026-11-25T10:00:00.123Z", "issued": "2026-11-25T10:00:01.123Z",
				"valueQuantity.value": "72", "valueQuantity.system": "http://unitsofmeasure.org", "valueQuantity.code": "/min", "valueQuantity.unit": "/min",
			}},
		{"temperature entered by hand", vigil.Sample{Patient: "p1", Code: vitals.CodeBodyTemp, Time: t0, Value: 37.25, Unit: "Cel"},
			map[string]string{"valueQuantity.value": "37.25", "valueQuantity.code": "Cel", "device": "<nil>", "issued": "<nil>"}},
		{"tiny value without exponent", vigil.Sample{Patient: "p1", Code: vitals.CodeInspiredO2Flow, Time: t0, Value: 1e-7, Unit: "L/min"},
			map[string]string{"valueQuantity.value": "0.0000001"}},
		{"ACVPU ordinal", vigil.Sample{Patient: "p1", Code: vitals.CodeConsciousness, Time: t0, Value: 1, Unit: "{ACVPU}"},
			map[string]string{"valueQuantity.code": "{ACVPU}"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, err := sampleobs.Observation(&tt.s)
			if err != nil {
				t.Fatalf("Observation(%+v) = %v", tt.s, err)
			}
			obj := decode(t, m, body)
			for path, want := range tt.want {
				var p []any
				for _, part := range strings.Split(path, ".") {
					if len(part) == 1 && part[0] >= '0' && part[0] <= '9' {
						p = append(p, int(part[0]-'0'))
					} else {
						p = append(p, part)
					}
				}
				if got := get(obj, p...); (got == nil && want != "<nil>") || (got != nil && got != want) {
					t.Errorf("Observation(%s).%s = %v, want %s", tt.name, path, got, want)
				}
			}
			id, _ := obj["id"].(string)
			pid, err := sampleobs.ParseID(id)
			if err != nil {
				t.Fatalf("ParseID(%q) = %v", id, err)
			}
			if pid.Kind != sampleobs.KindSample || pid.Patient != tt.s.Patient || pid.Code != tt.s.Code || !pid.Time.Equal(tt.s.Time) || !pid.Device(tt.s.Device) {
				t.Errorf("ParseID(%q) = %+v, want the key of %+v", id, pid, tt.s)
			}
		})
	}
}

// TestObservationEveryVitalCode renders every code vitals accepts, so that
// a code with a bad check digit (or a change there) is noticed.
func TestObservationEveryVitalCode(t *testing.T) {
	m := model(t)
	for _, code := range vitals.Codes() {
		if !sampleobs.IsLOINC(code) {
			t.Errorf("IsLOINC(%q) = false, want true", code)
			continue
		}
		body, err := sampleobs.Observation(&vigil.Sample{Patient: patient, Device: "d", Code: code, Time: t0, Value: 1, Unit: "1"})
		if err != nil {
			t.Errorf("Observation(code %s) = %v", code, err)
			continue
		}
		decode(t, m, body)
	}
}

func TestObservationRejects(t *testing.T) {
	ok := vigil.Sample{Patient: "p1", Code: vitals.CodeHeartRate, Time: t0, Value: 60, Unit: "/min"}
	tests := []struct {
		name   string
		change func(s *vigil.Sample)
	}{
		{"no patient", func(s *vigil.Sample) { s.Patient = "" }},
		{"bad check digit", func(s *vigil.Sample) { s.Code = "8867-5" }},
		{"not LOINC", func(s *vigil.Sample) { s.Code = "HR" }},
		{"no unit", func(s *vigil.Sample) { s.Unit = "" }},
		{"NaN", func(s *vigil.Sample) { s.Value = math.NaN() }},
		{"infinite", func(s *vigil.Sample) { s.Value = math.Inf(1) }},
		{"patient id with a slash", func(s *vigil.Sample) { s.Patient = "a/b" }},
		{"device id with a space", func(s *vigil.Sample) { s.Device = "a b" }},
		{"id too long", func(s *vigil.Sample) { s.Patient = strings.Repeat("p", 50) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ok
			tt.change(&s)
			if got, err := sampleobs.Observation(&s); !errors.Is(err, vigil.ErrInvalid) {
				t.Errorf("Observation(%+v) = %s, %v; want ErrInvalid", s, got, err)
			}
		})
	}
}

func TestWaveformObservationValidates(t *testing.T) {
	m := model(t)
	w := &vigil.Waveform{Patient: patient, Device: "ecg-7", Code: "131329", Start: t0, RateHz: 250, Gain: 0.005, Unit: "mV",
		Samples: []int32{0, 12, -3, 400, 2}, Received: t0.Add(2 * time.Second)}
	body, err := sampleobs.WaveformObservation(w)
	if err != nil {
		t.Fatalf("WaveformObservation = %v", err)
	}
	obj := decode(t, m, body)
	want := []struct {
		path []any
		want any
	}{
		{[]any{"code", "coding", 0, "system"}, sampleobs.SystemMDC},
		{[]any{"category", 0, "coding", 0, "code"}, "procedure"},
		{[]any{"valueSampledData", "period"}, "4"},
		{[]any{"valueSampledData", "factor"}, "0.005"},
		{[]any{"valueSampledData", "dimensions"}, "1"},
		{[]any{"valueSampledData", "origin", "value"}, "0"},
		{[]any{"valueSampledData", "origin", "code"}, "mV"},
		{[]any{"valueSampledData", "data"}, "0 12 -3 400 2"},
		{[]any{"effectivePeriod", "start"}, "2026-11-25T10:00:00.123Z"},
		{[]any{"effectivePeriod", "end"}, "2026-11-25T10:00:00.143Z"},
		{[]any{"device", "reference"}, "Device/ecg-7"},
	}
	for _, tt := range want {
		if got := get(obj, tt.path...); got != tt.want {
			t.Errorf("WaveformObservation.%v = %v, want %v", tt.path, got, tt.want)
		}
	}
	id, _ := obj["id"].(string)
	pid, err := sampleobs.ParseID(id)
	if err != nil || pid.Kind != sampleobs.KindWaveform || !pid.Time.Equal(t0) || pid.Code != "131329" || !pid.Device("ecg-7") {
		t.Errorf("ParseID(%q) = %+v, %v; want the chunk's key", id, pid, err)
	}

	// A LOINC-coded waveform at a rate whose period is not a whole number of ms.
	w2 := &vigil.Waveform{Patient: "p", Code: "8867-4", Start: t0, RateHz: 360, Gain: 1, Unit: "/min", Samples: []int32{60}}
	body, err = sampleobs.WaveformObservation(w2)
	if err != nil {
		t.Fatalf("WaveformObservation(360 Hz) = %v", err)
	}
	decode(t, m, body)

	for _, bad := range []vigil.Waveform{
		{Patient: "p", Code: "ECG-I", Start: t0, RateHz: 250, Unit: "mV"},
		{Patient: "p", Code: "131329", Start: t0, RateHz: 0, Unit: "mV"},
		{Patient: "p", Code: "131329", Start: t0, RateHz: 250},
	} {
		if _, err := sampleobs.WaveformObservation(&bad); !errors.Is(err, vigil.ErrInvalid) {
			t.Errorf("WaveformObservation(%+v) = %v, want ErrInvalid", bad, err)
		}
	}
}

func TestParseIDRejects(t *testing.T) {
	good, err := sampleobs.SampleID(vigil.SampleKey{Patient: "p.1", Code: "8867-4", Device: "d", Time: t0})
	if err != nil {
		t.Fatal(err)
	}
	if id, err := sampleobs.ParseID(good); err != nil || id.Patient != "p.1" || id.Code != "8867-4" {
		t.Fatalf("ParseID(%q) = %+v, %v; want patient p.1 (dots allowed), code 8867-4", good, id, err)
	}
	for _, id := range []string{
		"", "abc", "p.8867-4.X.v", "p.8867-4.-.v", "p.8867-4.mi1.q", "p.8867-4.mi1.vabc", "p.8867-4.mi1.vABCDEF",
		".8867-4.mi1.v", "p..mi1.v", "p.8867-4.0mi1.v", "p/1.8867-4.mi1.v", strings.Repeat("p", 60) + ".1-7.1.v",
	} {
		if got, err := sampleobs.ParseID(id); !errors.Is(err, vigil.ErrNotFound) {
			t.Errorf("ParseID(%q) = %+v, %v; want ErrNotFound", id, got, err)
		}
	}
}

func FuzzParseID(f *testing.F) {
	f.Add("p.8867-4.mi1.v")
	f.Add(patient + ".8867-4.mhxyz012.w1a2b3c")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := sampleobs.ParseID(s)
		if err != nil {
			return
		}
		// A parsed id made again must be the same id, for any device with
		// its tag; check the no-device case, the one we can rebuild.
		if id.Device("") {
			var again string
			var err error
			if id.Kind == sampleobs.KindSample {
				again, err = sampleobs.SampleID(vigil.SampleKey{Patient: id.Patient, Code: id.Code, Time: id.Time})
			} else {
				again, err = sampleobs.WaveformID(&vigil.Waveform{Patient: id.Patient, Code: id.Code, Start: id.Time})
			}
			if err != nil || again != s {
				t.Fatalf("ID of ParseID(%q) = %q, %v", s, again, err)
			}
		}
	})
}

func BenchmarkObservation(b *testing.B) {
	s := vigil.Sample{Patient: patient, Device: "dev-1", Code: vitals.CodeHeartRate, Time: t0, Value: 72, Unit: "/min", Received: t0}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := sampleobs.Observation(&s); err != nil {
			b.Fatal(err)
		}
	}
}
