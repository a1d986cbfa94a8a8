package alert_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/alert"
	"github.com/vigilhealth/vigil/fhir"
)

func TestDetectedIssueValidates(t *testing.T) {
	model, err := fhir.LoadR4()
	if err != nil {
		t.Fatalf("LoadR4: %v", err)
	}
	ctx := context.Background()
	f := newFixture(t, openSQLite(t), alert.Config{Escalation: map[string]time.Duration{"high": time.Minute}})
	raise := func(patient string) *vigil.AlertRecord {
		withDevice := sample(patient, 0, 85)
		withDevice.Device = "d1"
		a, err := f.eng.Raise(ctx, finding(patient, "spo2", "high", withDevice, sample(patient, 1, 84)))
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	open := raise("p1")
	acked := raise("p2")
	if acked, err = f.eng.Acknowledge(ctx, acked.ID, "Practitioner/n1", "calling the patient"); err != nil {
		t.Fatal(err)
	}
	resolved := raise("p3")
	f.clock.Add(2 * time.Minute)
	if _, err := f.eng.Tick(ctx, f.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := f.eng.Acknowledge(ctx, resolved.ID, "nurse-7", "seen"); err != nil {
		t.Fatal(err)
	}
	if resolved, err = f.eng.Resolve(ctx, resolved.ID, "Practitioner/n2", "oxygen started"); err != nil {
		t.Fatal(err)
	}
	bare, err := f.eng.Raise(ctx, alert.Finding{Patient: "p4", Rule: "missing-spo2", Severity: "medium", Title: "No SpO2 for 4 h"})
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name           string
		a              *vigil.AlertRecord
		author         string
		wantStatus     string
		wantSeverity   string
		wantMitigation int
		wantContained  int
	}{
		{"open", open, "Device/vigil", "preliminary", "high", 0, 2},
		{"acknowledged", acked, "", "preliminary", "high", 1, 2},
		{"escalated, acknowledged and resolved", resolved, "", "final", "high", 2, 2},
		{"no readings", bare, "", "preliminary", "moderate", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, err := json.Marshal(alert.DetectedIssue(tt.a, tt.author))
			if err != nil {
				t.Fatal(err)
			}
			got, err := model.Decode(body)
			if err != nil {
				var ve *vigil.Error
				if errors.As(err, &ve) {
					t.Fatalf("Decode: %v; issues %+v\n%s", err, ve.Issues, body)
				}
				t.Fatalf("Decode: %v\n%s", err, body)
			}
			if got["status"] != tt.wantStatus || got["severity"] != tt.wantSeverity || got["id"] != tt.a.ID {
				t.Errorf("status %v severity %v id %v, want %s %s %s", got["status"], got["severity"], got["id"], tt.wantStatus, tt.wantSeverity, tt.a.ID)
			}
			mit, _ := got["mitigation"].([]any)
			cont, _ := got["contained"].([]any)
			if len(mit) != tt.wantMitigation || len(cont) != tt.wantContained {
				t.Errorf("%d mitigations, %d contained; want %d, %d\n%s", len(mit), len(cont), tt.wantMitigation, tt.wantContained, body)
			}
		})
	}

	// The validator is really checking: a severity outside the required
	// value set is refused.
	bad := alert.DetectedIssue(open, "")
	bad["severity"] = "critical"
	body, err := json.Marshal(bad)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := model.Decode(body); !errors.Is(err, vigil.ErrUnprocessable) {
		t.Errorf("Decode(severity critical) = %v, want ErrUnprocessable", err)
	}
}
