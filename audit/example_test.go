package audit_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/audit"
	"github.com/vigilhealth/vigil/sqlite"
)

// Example appends two records to a trail in a SQLite data directory,
// queries a patient's accesses and verifies the whole trail.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "audit-example-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)

	store, err := sqlite.OpenAudit(ctx, dir)
	if err != nil {
		panic(err)
	}
	defer store.Close()
	key, err := audit.LoadOrCreateKey(filepath.Join(dir, audit.KeyFileName))
	if err != nil {
		panic(err)
	}
	witness := filepath.Join(dir, audit.WitnessFileName)
	trail, err := audit.Open(ctx, store, audit.Options{Key: key, WitnessFile: witness})
	if err != nil {
		panic(err)
	}
	for _, r := range []*vigil.AuditRecord{
		{ActorID: "u1", ActorName: "alice", Role: "clinician", Action: vigil.AuditRead, Outcome: vigil.AuditSuccess,
			Resources: []string{"Observation/o1"}, Patients: []string{"Patient/p1"}, Source: "192.0.2.1:40000", RequestID: "r1"},
		{ActorID: "u2", ActorName: "bob", Role: "clinician", Action: vigil.AuditRead, Outcome: vigil.AuditDenied,
			Resources: []string{"Observation/o2"}, Patients: []string{"Patient/p2"}, Source: "192.0.2.2:40000", RequestID: "r2"},
	} {
		if err := trail.Append(ctx, r); err != nil {
			panic(err)
		}
		fmt.Println("appended record", r.Seq)
	}
	page, err := trail.Query(ctx, &vigil.AuditQuery{Patient: "Patient/p1"})
	if err != nil {
		panic(err)
	}
	for _, r := range page.Records {
		fmt.Println("Patient/p1 was accessed by", r.ActorName, "with", r.Action)
	}
	if err := trail.Close(); err != nil { // writes the final checkpoint
		panic(err)
	}
	rep, err := audit.Verify(ctx, store, audit.VerifyKey{Public: key.Public().(ed25519.PublicKey), Private: key},
		audit.VerifyOptions{WitnessFile: witness})
	if err != nil {
		panic(err)
	}
	fmt.Println("verified:", rep.OK(), rep.Records, "records,", rep.Unsigned, "unsigned")
	// Output:
	// appended record 1
	// appended record 2
	// Patient/p1 was accessed by alice with read
	// verified: true 2 records, 0 unsigned
}

// ExampleToFHIR renders a denied read as a FHIR AuditEvent.
func ExampleToFHIR() {
	r := &vigil.AuditRecord{Seq: 7, Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), ActorID: "u2", ActorName: "bob",
		Role: "clinician", Action: vigil.AuditRead, Outcome: vigil.AuditDenied, Patients: []string{"Patient/p2"}}
	ev := audit.ToFHIR(r, audit.FHIROptions{})
	b, _ := json.Marshal(map[string]any{"type": ev["type"], "subtype": ev["subtype"], "action": ev["action"], "outcome": ev["outcome"], "recorded": ev["recorded"]})
	fmt.Println(string(b))
	// Output:
	// {"action":"R","outcome":"4","recorded":"2026-01-02T03:04:05.000000Z","subtype":[{"code":"read","display":"read","system":"http://hl7.org/fhir/restful-interaction"}],"type":{"code":"rest","display":"RESTful Operation","system":"http://terminology.hl7.org/CodeSystem/audit-event-type"}}
}
