package audit_test

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/audit"
	"github.com/vigilhealth/vigil/fhir"
)

// TestToFHIRValidates renders a record of every action and outcome and
// validates the AuditEvent against the FHIR R4 structure definitions.
func TestToFHIRValidates(t *testing.T) {
	m, err := fhir.LoadR4()
	if err != nil {
		t.Fatal(err)
	}
	actions := []vigil.AuditAction{
		vigil.AuditRead, vigil.AuditVRead, vigil.AuditSearch, vigil.AuditHistory, vigil.AuditCreate, vigil.AuditUpdate,
		vigil.AuditPatch, vigil.AuditDelete, vigil.AuditImport, vigil.AuditExport, vigil.AuditEverything,
		vigil.AuditLogin, vigil.AuditLoginFailed, vigil.AuditLogout, vigil.Audit2FAEnrol, vigil.Audit2FADisable,
		vigil.AuditTokenIssue, vigil.AuditTokenRevoke, vigil.AuditPermissionDenied, vigil.AuditBreakGlass,
		vigil.AuditAccountCreate, vigil.AuditAccountUpdate, vigil.AuditAccountLock,
	}
	outcomes := []vigil.AuditOutcome{vigil.AuditSuccess, vigil.AuditDenied, vigil.AuditFailed}
	for i, a := range actions {
		r := &vigil.AuditRecord{
			Seq: int64(i + 1), Time: time.Date(2026, 5, 6, 7, 8, 9, 123456000, time.UTC),
			ActorID: "acct-1", ActorName: "nurse.ratched", Role: "clinician", Action: a, Outcome: outcomes[i%3],
			Resources: []string{"Observation/o1", "Patient/p1"}, Patients: []string{"Patient/p1", "Patient/p2"},
			Source: "192.0.2.7:51000", RequestID: "req-1", Detail: "reason given",
		}
		if i%4 == 3 { // anonymous, host name source, nothing touched
			r.ActorID, r.ActorName, r.Role, r.Source, r.Resources, r.Patients, r.Detail = "", "", "", "gateway.local", nil, nil, ""
		}
		t.Run(string(a), func(t *testing.T) {
			ev := audit.ToFHIR(r, audit.FHIROptions{})
			// Through JSON, as a client would receive it.
			b, err := json.Marshal(ev)
			if err != nil {
				t.Fatal(err)
			}
			var obj map[string]any
			if err := json.Unmarshal(b, &obj); err != nil {
				t.Fatal(err)
			}
			if issues := m.Validate(obj); len(issues) > 0 {
				t.Errorf("ToFHIR(%s) does not validate: %+v\n%s", a, issues, b)
			}
			want := map[vigil.AuditOutcome]string{vigil.AuditSuccess: "0", vigil.AuditDenied: "4", vigil.AuditFailed: "8"}[r.Outcome]
			if obj["outcome"] != want {
				t.Errorf("outcome = %v, want %s", obj["outcome"], want)
			}
		})
	}
}

// TestToFHIRShape checks the parts clients search and display.
func TestToFHIRShape(t *testing.T) {
	r := &vigil.AuditRecord{Seq: 42, Time: time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC), ActorID: "a7", ActorName: "dr.who",
		Role: "clinician", Action: vigil.AuditBreakGlass, Outcome: vigil.AuditSuccess, Patients: []string{"Patient/p9"},
		Source: "[2001:db8::5]:443", Detail: "unconscious, no CareTeam"}
	ev := audit.ToFHIR(r, audit.FHIROptions{Observer: "Vigil test"})
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		ID      string `json:"id"`
		Type    struct{ System, Code string }
		Subtype []struct{ System, Code string }
		Action  string
		Purpose []struct{ Coding []struct{ Code string } } `json:"purposeOfEvent"`
		Agent   []struct {
			Who struct {
				Display    string
				Identifier struct{ Value string }
			}
			Requestor bool
			Network   struct{ Address, Type string }
		}
		Entity []struct{ What struct{ Reference string } }
		Source struct{ Observer struct{ Display string } }
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	switch {
	case got.ID != "42", got.Type.Code != "110113", got.Subtype[0].Code != "110127", got.Action != "E":
		t.Errorf("id/type/subtype/action = %s %s %s %s", got.ID, got.Type.Code, got.Subtype[0].Code, got.Action)
	case len(got.Purpose) != 1 || got.Purpose[0].Coding[0].Code != "BTG":
		t.Errorf("purposeOfEvent = %+v, want BTG", got.Purpose)
	case len(got.Agent) != 1 || got.Agent[0].Who.Display != "dr.who" || got.Agent[0].Who.Identifier.Value != "a7" || !got.Agent[0].Requestor:
		t.Errorf("agent = %+v", got.Agent)
	case got.Agent[0].Network.Address != "2001:db8::5" || got.Agent[0].Network.Type != "2":
		t.Errorf("network = %+v, want the IP without port, type 2", got.Agent[0].Network)
	case len(got.Entity) != 1 || got.Entity[0].What.Reference != "Patient/p9":
		t.Errorf("entity = %+v", got.Entity)
	case got.Source.Observer.Display != "Vigil test":
		t.Errorf("observer = %+v", got.Source.Observer)
	}
}

func TestActionsFor(t *testing.T) {
	tests := []struct {
		param, code string
		want        []vigil.AuditAction
	}{
		{"action", "C", []vigil.AuditAction{vigil.AuditCreate, vigil.AuditImport}},
		{"action", "D", []vigil.AuditAction{vigil.AuditDelete}},
		{"subtype", "read", []vigil.AuditAction{vigil.AuditRead}},
		{"subtype", "110122", []vigil.AuditAction{vigil.AuditLogin, vigil.AuditLoginFailed}},
		{"type", "110114", []vigil.AuditAction{vigil.AuditLogin, vigil.AuditLoginFailed, vigil.AuditLogout}},
		{"action", "X", nil},
		{"outcome", "0", nil},
	}
	for _, tc := range tests {
		if got := audit.ActionsFor(tc.param, tc.code); !slices.Equal(got, tc.want) {
			t.Errorf("ActionsFor(%q, %q) = %v, want %v", tc.param, tc.code, got, tc.want)
		}
	}
}
