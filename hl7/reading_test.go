package hl7

import (
	"errors"
	"testing"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/vitals"
)

func TestReading(t *testing.T) {
	m := mustParse(t, string(readORU(t)))
	obs, err := m.Observations()
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 1, 11, 0, 0, 0, time.UTC)
	for i, want := range []vitals.Reading{
		{Code: "8867-4", Param: vitals.HeartRate, Value: 72, Unit: "/min"},
		{Code: "8310-5", Param: vitals.BodyTemp, Value: 37.2, Unit: "Cel"},
		{Code: "59408-5", Param: vitals.SpO2, Value: 96, Unit: "%"},
	} {
		r, ts, err := m.Reading(&obs[i], nil)
		if err != nil || r != want || !ts.Equal(at) {
			t.Errorf("Reading(OBX %d) = %+v %v %v, want %+v %v", i+1, r, ts, err, want, at)
		}
	}

	const head = "MSH|^~\\&|||||||ORU^R01|1|P|2.5\rOBR|1|||x|||20260301120000\r"
	tests := []struct {
		name, obx string
		loc       *time.Location
		field     int
		code      int
		ok        bool
	}{
		{"OBR time in loc", "OBX|1|NM|8867-4^^LN||60|/min|||||F", time.FixedZone("", 3600), 0, 0, true},
		{"OBR time without loc", "OBX|1|NM|8867-4^^LN||60|/min|||||F", nil, 14, CodeDataType, false},
		{"local code", "OBX|1|NM|HR^^L||60|/min|||||F|||20260301120000+0000", nil, 3, CodeTableValue, false},
		{"unknown LOINC", "OBX|1|NM|1234-5^^LN||60|/min|||||F|||20260301120000+0000", nil, 3, CodeTableValue, false},
		{"bad unit", "OBX|1|NM|8867-4^^LN||60|Hz|||||F|||20260301120000+0000", nil, 6, CodeTableValue, false},
		{"ISO+ unit", "OBX|1|NM|8480-6^^LN||120|mm(hg)^^ISO+|||||F|||20260301110000+0000", nil, 0, 0, true},
		{"implausible", "OBX|1|NM|8867-4^^LN||600|/min|||||F|||20260301120000+0000", nil, 5, CodeDataType, false},
		{"text value", "OBX|1|ST|8867-4^^LN||sixty|/min|||||F|||20260301120000+0000", nil, 5, CodeDataType, false},
	}
	for _, tt := range tests {
		m := mustParse(t, head+tt.obx)
		obs, err := m.Observations()
		if err != nil {
			t.Fatal(err)
		}
		_, ts, err := m.Reading(&obs[0], tt.loc)
		if tt.ok {
			if err != nil || !ts.Equal(at) {
				t.Errorf("%s: %v %v, want %v", tt.name, ts, err, at)
			}
			continue
		}
		var e *Error
		if !errors.As(err, &e) || !errors.Is(err, vigil.ErrInvalid) || e.Field != tt.field || e.Code != tt.code {
			t.Errorf("%s: error %v, want field %d code %d", tt.name, err, tt.field, tt.code)
		}
	}
}
