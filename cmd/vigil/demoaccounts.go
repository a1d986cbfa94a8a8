package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/auth"
)

// demoAccounts gives the demo a clinician who cares for every demo
// patient, a patient, a read-only integration and an admin, and prints
// how to use them. Passwords are random per run; tokens last the day.
func demoAccounts(ctx context.Context, app *App, out io.Writer) error {
	if _, err := app.Records.Update(ctx, "Practitioner", "demo-clinician",
		[]byte(`{"resourceType":"Practitioner","id":"demo-clinician","name":[{"family":"Demo","given":["Dana"],"prefix":["Dr"]}]}`), ""); err != nil {
		return fmt.Errorf("demo practitioner: %w", err)
	}
	var patients []string
	q := &vigil.SearchQuery{Type: "Patient", Count: 1000}
	res, err := app.Store.Search(ctx, q)
	if err != nil {
		return err
	}
	for _, r := range res.Matches {
		patients = append(patients, r.ID)
	}
	for i, id := range patients {
		ct := fmt.Sprintf(`{"resourceType":"CareTeam","id":"demo-team-%d","status":"active","name":"Virtual ward","subject":{"reference":"Patient/%s"},`+
			`"participant":[{"member":{"reference":"Practitioner/demo-clinician"}}]}`, i, id)
		if _, err := app.Records.Update(ctx, "CareTeam", fmt.Sprintf("demo-team-%d", i), []byte(ct), ""); err != nil {
			return fmt.Errorf("demo care team: %w", err)
		}
	}
	pw := func() string {
		b := make([]byte, 12)
		_, _ = rand.Read(b)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	type acct struct {
		spec auth.AccountSpec
		note string
	}
	accts := []acct{
		{auth.AccountSpec{Username: "admin", Role: vigil.RoleAdmin, Password: pw()}, "manages accounts and care teams"},
		{auth.AccountSpec{Username: "clinician", Role: vigil.RoleClinician, Password: pw(), Practitioner: "demo-clinician"}, "cares for every demo patient"},
		{auth.AccountSpec{Username: "ehr", Role: vigil.RoleService, Scopes: []vigil.Scope{{Type: "*", Read: true}}}, "read-only integration (system/*.read)"},
	}
	if len(patients) > 0 {
		accts = append(accts, acct{auth.AccountSpec{Username: "patient", Role: vigil.RolePatient, Password: pw(), Patient: patients[0]}, "sees Patient/" + patients[0]})
	}
	fmt.Fprintln(out, "Demo accounts (this run only; tokens valid 24 h):")
	for _, a := range accts {
		acc, err := app.Auth.CreateAccount(ctx, a.spec)
		if err != nil {
			return fmt.Errorf("demo account %s: %w", a.spec.Username, err)
		}
		tok, _, err := app.Auth.IssueToken(ctx, acc.ID, 24*time.Hour, nil)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "  %-9s %-38s password %-16s token %s\n", a.spec.Username, "("+a.note+")", orDash(a.spec.Password), tok)
	}
	fmt.Fprintln(out, "  Use a token as: curl -H 'Authorization: Bearer TOKEN' URL/fhir/Patient")
	fmt.Fprintln(out, "  Admin and clinician logins with a password must enrol TOTP first (POST /auth/totp/enrol).")
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
