package access_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/access"
	"github.com/vigilhealth/vigil/auth"
	"github.com/vigilhealth/vigil/fhir"
	"github.com/vigilhealth/vigil/records"
	"github.com/vigilhealth/vigil/sqlite"
)

// BenchmarkRead measures what authentication and authorization add to a
// read by id: "plain" reads from the store; "guarded" authenticates a
// bearer token (as every request does), then reads through the policy,
// which resolves the clinician's care teams (cached) and checks the
// resource's compartment. The difference is the per-request cost of
// access control (issue #3: < 50 µs).
func BenchmarkRead(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	store, err := sqlite.Open(ctx, dir)
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	accounts, err := sqlite.OpenAccounts(ctx, dir)
	if err != nil {
		b.Fatal(err)
	}
	defer accounts.Close()
	model, err := fhir.LoadR4()
	if err != nil {
		b.Fatal(err)
	}
	rec := records.New(store, model)
	for _, r := range []string{
		`{"resourceType":"Patient","id":"pA"}`,
		`{"resourceType":"Practitioner","id":"prac1"}`,
		`{"resourceType":"CareTeam","id":"ctA","status":"active","subject":{"reference":"Patient/pA"},"participant":[{"member":{"reference":"Practitioner/prac1"}}]}`,
		`{"resourceType":"Observation","id":"o1","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},"subject":{"reference":"Patient/pA"},"effectiveDateTime":"2026-11-25T10:00:00Z","valueQuantity":{"value":72,"unit":"/min","system":"http://unitsofmeasure.org","code":"/min"}}`,
	} {
		var obj map[string]any
		if err := json.Unmarshal([]byte(r), &obj); err != nil {
			b.Fatal(err)
		}
		if _, err := rec.UpdateObject(ctx, obj["resourceType"].(string), obj["id"].(string), obj, ""); err != nil {
			b.Fatal(err)
		}
	}
	authn, err := auth.New(auth.Config{Accounts: accounts})
	if err != nil {
		b.Fatal(err)
	}
	acc, err := authn.CreateAccount(ctx, auth.AccountSpec{Username: "clin", Role: vigil.RoleClinician, Password: "correct horse battery", Practitioner: "prac1"})
	if err != nil {
		b.Fatal(err)
	}
	tok, _, err := authn.IssueToken(ctx, acc.ID, time.Hour, nil)
	if err != nil {
		b.Fatal(err)
	}
	guarded := access.New(store, model).Store()
	b.Run("plain", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := store.Read(ctx, "Observation", "o1"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("guarded", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			p, err := authn.AuthenticateToken(ctx, tok)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := guarded.Read(vigil.WithPrincipal(ctx, p), "Observation", "o1"); err != nil {
				b.Fatal(err)
			}
		}
	})
}
