package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/vigilhealth/vigil"
)

// TestAuditTrail checks that accesses to health data land in the trail
// with who, what, which patients and the outcome, and that the trail is
// served as AuditEvent to admins (everything) and patients (their own
// record only).
func TestAuditTrail(t *testing.T) {
	eachConfig(t, func(t *testing.T, cfg Config) {
		f := startFixture(t, cfg)
		ctx := context.Background()
		if s, _ := f.do("clin", "GET", "/fhir/Observation/oA1", ""); s != 200 {
			t.Fatalf("clinician read: %d", s)
		}
		if s, _ := f.do("clin", "GET", "/fhir/Observation/oB1", ""); s != 404 {
			t.Fatalf("clinician read of other patient: %d", s)
		}
		if s, _ := f.do("pat", "GET", "/fhir/Observation?_count=50", ""); s != 200 {
			t.Fatalf("patient search: %d", s)
		}
		if s, _ := f.do("reader", "GET", "/fhir/Observation/oB1", ""); s != 200 {
			t.Fatalf("integration read of pB: %d", s)
		}
		// Writes: the store commits their record with the change
		// (vigil.CommitAudit); exactly one record each, none twice.
		obs := `{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},"subject":{"reference":"Patient/pA"},"valueQuantity":{"value":72,"unit":"/min","system":"http://unitsofmeasure.org","code":"/min"}}`
		s, created := f.do("clin", "POST", "/fhir/Observation", obs)
		if s != 201 {
			t.Fatalf("clinician create: %d %v", s, created)
		}
		newID, _ := created["id"].(string)
		if s, _ := f.do("clin", "PUT", "/fhir/Observation/"+newID, strings.Replace(obs, `{"resourceType":"Observation",`, `{"resourceType":"Observation","id":"`+newID+`",`, 1)); s != 200 {
			t.Fatalf("clinician update: %d", s)
		}
		if s, _ := f.do("clin", "DELETE", "/fhir/Observation/"+newID, ""); s != 204 {
			t.Fatalf("clinician delete: %d", s)
		}
		// A write the policy refuses (another team's patient): recorded as
		// denied, with no change.
		if s, _ := f.do("clin", "POST", "/fhir/Observation", strings.Replace(obs, "Patient/pA", "Patient/pB", 1)); s < 400 {
			t.Fatalf("create for another team's patient: %d", s)
		}
		page, err := f.app.Trail.Query(ctx, &vigil.AuditQuery{Count: 1000})
		if err != nil {
			t.Fatal(err)
		}
		for _, act := range []vigil.AuditAction{vigil.AuditCreate, vigil.AuditUpdate, vigil.AuditDelete} {
			n := 0
			for _, r := range page.Records {
				if r.Action == act && r.ActorName == "clin" && slices.Contains(r.Resources, "Observation/"+newID) {
					n++
					if r.Outcome != vigil.AuditSuccess || !slices.Equal(r.Patients, []string{"Patient/pA"}) || r.RequestID == "" || r.Source == "" {
						t.Errorf("%s record %+v", act, r)
					}
				}
			}
			if n != 1 {
				t.Errorf("%d %s records of Observation/%s, want 1", n, act, newID)
			}
		}
		denied := 0
		for _, r := range page.Records {
			if r.Action == vigil.AuditCreate && r.ActorName == "clin" && r.Outcome == vigil.AuditDenied {
				denied++
			}
		}
		if denied != 1 {
			t.Errorf("%d denied-create records, want 1", denied)
		}
		find := func(actor string, act vigil.AuditAction, outcome vigil.AuditOutcome) *vigil.AuditRecord {
			for i := range page.Records {
				r := &page.Records[i]
				if r.ActorName == actor && r.Action == act && r.Outcome == outcome {
					return r
				}
			}
			return nil
		}
		if r := find("clin", vigil.AuditRead, vigil.AuditSuccess); r == nil {
			t.Error("no record of the clinician's read")
		} else if !slices.Equal(r.Patients, []string{"Patient/pA"}) || !slices.Contains(r.Resources, "Observation/oA1") || r.Role != "clinician" || r.RequestID == "" || r.Source == "" {
			t.Errorf("read record %+v", r)
		}
		if r := find("clin", vigil.AuditRead, vigil.AuditDenied); r == nil {
			t.Error("no record of the clinician's denied read")
		} else if len(r.Patients) != 0 {
			t.Errorf("a denied read names patients %v", r.Patients)
		}
		if r := find("pat", vigil.AuditSearch, vigil.AuditSuccess); r == nil {
			t.Error("no record of the patient's search")
		} else if !slices.Equal(r.Patients, []string{"Patient/pA"}) {
			t.Errorf("search record patients %v", r.Patients)
		}
		// Security events: every token issued by the fixture.
		if r := find("clin", vigil.AuditTokenIssue, vigil.AuditSuccess); r == nil {
			t.Error("no record of the token issue")
		}

		// The patient sees who accessed their record, and nobody else's.
		status, ids, _ := f.ids("pat", "/fhir/AuditEvent?_count=100")
		if status != 200 || len(ids) == 0 {
			t.Fatalf("patient's AuditEvent search: %d %v", status, ids)
		}
		_, m := f.do("pat", "GET", "/fhir/AuditEvent?_count=100", "")
		sawClin := false
		for _, e := range m["entry"].([]any) {
			res := e.(map[string]any)["resource"].(map[string]any)
			if res["resourceType"] != "AuditEvent" {
				t.Fatalf("entry %v", res["resourceType"])
			}
			raw := toJSON(t, res)
			if strings.Contains(raw, "Patient/pB") {
				t.Errorf("the patient sees a record about another patient: %s", raw)
			}
			if strings.Contains(raw, "clin") {
				sawClin = true
			}
		}
		if !sawClin {
			t.Error("the patient does not see that the clinician read their record")
		}
		if s, m := f.do("pat", "GET", "/fhir/AuditEvent?patient=pB", ""); s != 200 || m["entry"] != nil && len(m["entry"].([]any)) != 0 {
			t.Errorf("patient asking for another patient's trail: %d %v", s, m["entry"])
		}
		if s, _ := f.do("clin", "GET", "/fhir/AuditEvent", ""); s != 403 {
			t.Errorf("clinician reading the trail: %d, want 403", s)
		}
		if s, m := f.do("admin", "GET", "/fhir/AuditEvent?patient=pA&_count=5", ""); s != 200 || m["entry"] == nil || len(m["entry"].([]any)) == 0 {
			t.Errorf("admin reading pA's trail: %d", s)
		}
		if s, _ := f.do("admin", "POST", "/fhir/AuditEvent", `{"resourceType":"AuditEvent"}`); s != 405 {
			t.Errorf("writing an AuditEvent: %d, want 405", s)
		}
		if s, _ := f.do("admin", "GET", "/fhir/AuditEvent?date=ge2020-01-01&action=R&agent="+f.accountID(t, "clin"), ""); s != 200 {
			t.Errorf("admin search by date, action and agent: %d", s)
		}
		// Read by id: the clinician's read of pA is readable by the patient;
		// a record of another patient's access is not.
		var ownSeq, otherSeq int64
		for _, r := range page.Records {
			switch {
			case slices.Contains(r.Patients, "Patient/pA") && ownSeq == 0:
				ownSeq = r.Seq
			case len(r.Patients) > 0 && !slices.Contains(r.Patients, "Patient/pA") && otherSeq == 0:
				otherSeq = r.Seq
			}
		}
		if s, ev := f.do("pat", "GET", fmt.Sprintf("/fhir/AuditEvent/%d", ownSeq), ""); s != 200 || ev["resourceType"] != "AuditEvent" {
			t.Errorf("patient reading an AuditEvent of their record: %d", s)
		}
		if s, _ := f.do("pat", "GET", fmt.Sprintf("/fhir/AuditEvent/%d", otherSeq), ""); otherSeq == 0 || s != 404 {
			t.Errorf("patient reading AuditEvent %d of another patient: %d, want 404", otherSeq, s)
		}
		if s, _ := f.do("admin", "GET", "/fhir/AuditEvent/999999999", ""); s != 404 {
			t.Errorf("missing AuditEvent: %d", s)
		}
	})
}

func (f *accessFixture) accountID(t *testing.T, username string) string {
	a, err := f.app.Accounts.AccountByUsername(context.Background(), username)
	if err != nil {
		t.Fatal(err)
	}
	return a.ID
}

func toJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
