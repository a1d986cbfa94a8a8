package alert_test

import (
	"testing"
	"time"

	"github.com/vigilhealth/vigil/alert"
	"github.com/vigilhealth/vigil/ews"
	"github.com/vigilhealth/vigil/rules"
)

func TestNEWS2Severity(t *testing.T) {
	tests := []struct {
		band   ews.Band
		want   string
		wantOK bool
	}{
		{ews.BandNone, "", false},
		{ews.BandLow, "", false},
		{ews.BandLowMedium, "medium", true},
		{ews.BandMedium, "high", true},
		{ews.BandHigh, "critical", true},
	}
	for _, tt := range tests {
		got, ok := alert.NEWS2Severity(tt.band)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("NEWS2Severity(%s) = %q, %v; want %q, %v", tt.band, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestFromRules(t *testing.T) {
	at := time.Date(2026, 11, 25, 10, 5, 0, 0, time.UTC)
	finding := rules.Event{Kind: rules.Finding, Rule: "spo2-low-5min", Severity: rules.High, Time: at, Observed: 88,
		Readings: []rules.Sample{{Code: "59408-5", Time: at, Value: 88, Unit: "%"}}}
	f, ok := alert.FromRules("p1", "SpO2 < 90 % for 5 min", &finding)
	if !ok || f.Patient != "p1" || f.Rule != "spo2-low-5min" || f.Severity != "high" || !f.Time.Equal(at) ||
		len(f.Readings) != 1 || f.Readings[0].Patient != "p1" || f.Readings[0].Value != 88 || f.Readings[0].Unit != "%" {
		t.Errorf("FromRules(finding) = %+v, %v", f, ok)
	}
	if f, _ := alert.FromRules("p1", "", &finding); f.Title != "spo2-low-5min" {
		t.Errorf("FromRules without title: Title = %q, want the rule id", f.Title)
	}
	cleared := finding
	cleared.Kind = rules.Cleared
	if _, ok := alert.FromRules("p1", "x", &cleared); ok {
		t.Error("FromRules(cleared) ok, want false")
	}
}
