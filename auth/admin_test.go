package auth

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vigilhealth/vigil"
)

func TestCheckAdmin(t *testing.T) {
	cases := []struct {
		name string
		p    *vigil.Principal
		want error // nil, vigil.ErrUnauthorized or vigil.ErrForbidden
	}{
		{"anonymous", nil, vigil.ErrUnauthorized},
		{"admin with a second factor", &vigil.Principal{Role: vigil.RoleAdmin, Method: "password+totp"}, nil},
		{"admin token", &vigil.Principal{Role: vigil.RoleAdmin, Method: "token"}, nil},
		{"admin still enrolling", &vigil.Principal{Role: vigil.RoleAdmin, Method: "password", NeedsSecondFactor: true}, vigil.ErrForbidden},
		{"admin with a password only", &vigil.Principal{Role: vigil.RoleAdmin, Method: "password"}, vigil.ErrForbidden},
		{"admin token narrowed to scopes", &vigil.Principal{Role: vigil.RoleAdmin, Method: "token", Scopes: []vigil.Scope{{Type: "*", Read: true}}}, vigil.ErrForbidden},
		{"clinician", &vigil.Principal{Role: vigil.RoleClinician, Method: "password+totp"}, vigil.ErrForbidden},
		{"patient", &vigil.Principal{Role: vigil.RolePatient, Method: "password"}, vigil.ErrForbidden},
		{"device", &vigil.Principal{Role: vigil.RoleDevice, Method: "token"}, vigil.ErrForbidden},
		{"service with every scope", &vigil.Principal{Role: vigil.RoleService, Method: "token", Scopes: []vigil.Scope{{Type: "*", Read: true, Write: true}}}, vigil.ErrForbidden},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := CheckAdmin(c.p)
			if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
				t.Errorf("CheckAdmin(%+v) = %v, want %v", c.p, err, c.want)
			}
		})
	}
}

// TestChangePasswordEndsAccess checks that a password change ends every
// other session and revokes every token of the account, keeps the caller
// logged in under a new session, and leaves other accounts alone.
func TestChangePasswordEndsAccess(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	s, events := newService(t, c)
	a, err := s.CreateAccount(ctx, AccountSpec{Username: "pat", Role: vigil.RolePatient, Password: "correct horse battery", Patient: "p1"})
	if err != nil {
		t.Fatal(err)
	}
	other, err := s.CreateAccount(ctx, AccountSpec{Username: "gateway", Role: vigil.RoleService, Scopes: []vigil.Scope{{Type: "Observation", Write: true}}})
	if err != nil {
		t.Fatal(err)
	}
	own, _, err := s.Login(ctx, "pat", "correct horse battery", "", "10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	elsewhere, _, err := s.Login(ctx, "pat", "correct horse battery", "", "10.0.0.2")
	if err != nil {
		t.Fatal(err)
	}
	var tokens []string
	for range 2 {
		tok, _, err := s.IssueToken(ctx, a.ID, time.Hour, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.AuthenticateToken(ctx, tok); err != nil { // now cached
			t.Fatal(err)
		}
		tokens = append(tokens, tok)
	}
	otherTok, _, err := s.IssueToken(ctx, other.ID, time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ChangePassword(ctx, a.ID, own, "wrong password!!", "a new long passphrase", "10.0.0.1"); !errors.Is(err, vigil.ErrUnauthorized) {
		t.Fatalf("ChangePassword with a wrong current password = %v, want unauthorized", err)
	}
	if _, err := s.AuthenticateSession(ctx, elsewhere); err != nil {
		t.Fatalf("a failed change ended a session: %v", err)
	}
	c.add(5 * time.Minute)
	fresh, err := s.ChangePassword(ctx, a.ID, own, "correct horse battery", "a new long passphrase", "10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if fresh == "" || fresh == own {
		t.Fatalf("ChangePassword returned cookie %q, want a new one", fresh)
	}
	for name, cookie := range map[string]string{"the caller's old cookie": own, "another session": elsewhere} {
		if _, err := s.AuthenticateSession(ctx, cookie); !errors.Is(err, vigil.ErrUnauthorized) {
			t.Errorf("%s after the change: %v, want unauthorized", name, err)
		}
	}
	p, err := s.AuthenticateSession(ctx, fresh)
	if err != nil || p.AccountID != a.ID || p.Method != "password" {
		t.Errorf("the new session: %+v, %v", p, err)
	}
	for i, tok := range tokens {
		if _, err := s.AuthenticateToken(ctx, tok); !errors.Is(err, vigil.ErrUnauthorized) {
			t.Errorf("token %d after the change: %v, want unauthorized", i, err)
		}
	}
	if _, err := s.AuthenticateToken(ctx, otherTok); err != nil {
		t.Errorf("another account's token after the change: %v", err)
	}
	// The new session keeps the old one's absolute end (12 h after login).
	c.add(12*time.Hour - 5*time.Minute)
	if _, err := s.AuthenticateSession(ctx, fresh); !errors.Is(err, vigil.ErrUnauthorized) {
		t.Errorf("the new session outlived the old one's absolute end: %v", err)
	}
	if _, _, err := s.Login(ctx, "pat", "correct horse battery", "", ""); !errors.Is(err, vigil.ErrUnauthorized) {
		t.Errorf("login with the old password: %v", err)
	}
	// Without a session of its own (a token caller), nothing is returned.
	if fresh, err := s.ChangePassword(ctx, a.ID, "", "a new long passphrase", "another long passphrase", ""); err != nil || fresh != "" {
		t.Errorf("ChangePassword without a session = %q, %v", fresh, err)
	}
	var found bool
	for _, e := range *events {
		if e.Action == "password-change" && e.Outcome == "success" {
			found = found || e.Detail == "all sessions ended, 2 tokens revoked"
			if strings.Contains(e.Detail, "horse") || strings.Contains(e.Detail, "passphrase") {
				t.Errorf("event %+v carries a password", e)
			}
		}
	}
	if !found {
		t.Errorf("no password-change event says what was revoked: %+v", *events)
	}
}

// TestAdminOperations runs the admin account operations on a real store
// and checks their effect, their audit events and the refusals.
func TestAdminOperations(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	s, events := newService(t, c)
	admin := &vigil.Principal{AccountID: "adm", Username: "root", Role: vigil.RoleAdmin, Method: "token"}
	linked := map[string]bool{"Practitioner/p1": true}
	s.cfg.Links = func(_ context.Context, r vigil.Role, patient, practitioner, device string) error {
		if practitioner != "" && !linked["Practitioner/"+practitioner] {
			return vigil.Errorf(vigil.ErrNotFound, "not found")
		}
		return nil
	}
	// Bad input.
	bad := []struct {
		name string
		spec AccountSpec
		want error
	}{
		{"no practitioner", AccountSpec{Username: "n1", Role: vigil.RoleClinician, Password: "correct horse battery"}, vigil.ErrInvalid},
		{"unknown practitioner", AccountSpec{Username: "n1", Role: vigil.RoleClinician, Password: "correct horse battery", Practitioner: "p9"}, vigil.ErrInvalid},
		{"patient link on a clinician", AccountSpec{Username: "n1", Role: vigil.RoleClinician, Password: "correct horse battery", Practitioner: "p1", Patient: "x"}, vigil.ErrInvalid},
		{"short password", AccountSpec{Username: "n1", Role: vigil.RoleClinician, Password: "short", Practitioner: "p1"}, vigil.ErrInvalid},
		{"bad username", AccountSpec{Username: "a b", Role: vigil.RoleClinician, Password: "correct horse battery", Practitioner: "p1"}, vigil.ErrInvalid},
	}
	for _, b := range bad {
		if _, err := s.CreateAccountAs(ctx, admin, b.spec, ""); !errors.Is(err, b.want) || errors.Is(err, vigil.ErrNotFound) {
			t.Errorf("CreateAccountAs(%s) = %v, want %v", b.name, err, b.want)
		}
	}
	info, err := s.CreateAccountAs(ctx, admin, AccountSpec{Username: "nurse", Role: vigil.RoleClinician, Password: "correct horse battery", Practitioner: "p1"}, "10.0.0.9")
	if err != nil {
		t.Fatal(err)
	}
	if info.SecondFactor || !info.Password || info.Locked || info.Practitioner != "p1" {
		t.Errorf("created %+v", info)
	}
	if _, err := s.CreateAccountAs(ctx, admin, AccountSpec{Username: "nurse", Role: vigil.RoleClinician, Password: "correct horse battery", Practitioner: "p1"}, ""); !errors.Is(err, vigil.ErrConflict) {
		t.Errorf("duplicate username: %v, want conflict", err)
	}
	secret, _, err := s.EnrolTOTP(ctx, info.ID)
	if err != nil {
		t.Fatal(err)
	}
	codes, err := s.ConfirmTOTP(ctx, info.ID, c.code(secret), "")
	if err != nil {
		t.Fatal(err)
	}
	cookie, _, err := s.Login(ctx, "nurse", "correct horse battery", codes[0], "")
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := s.IssueToken(ctx, info.ID, time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}

	if _, err := s.LockAccount(ctx, admin, "adm", ""); !errors.Is(err, vigil.ErrNotFound) {
		t.Errorf("locking an unknown account: %v, want not found", err)
	}
	if got, err := s.LockAccount(ctx, admin, info.ID, ""); err != nil || !got.Locked {
		t.Fatalf("LockAccount = %+v, %v", got, err)
	}
	if _, err := s.AuthenticateSession(ctx, cookie); !errors.Is(err, vigil.ErrUnauthorized) {
		t.Errorf("session of a locked account: %v", err)
	}
	if _, err := s.AuthenticateToken(ctx, tok); !errors.Is(err, vigil.ErrUnauthorized) {
		t.Errorf("token of a locked account: %v", err)
	}
	if _, _, err := s.Login(ctx, "nurse", "correct horse battery", codes[1], ""); !errors.Is(err, vigil.ErrUnauthorized) {
		t.Errorf("login to a locked account: %v", err)
	}
	if got, err := s.UnlockAccount(ctx, admin, info.ID, ""); err != nil || got.Locked {
		t.Fatalf("UnlockAccount = %+v, %v", got, err)
	}
	if _, err := s.AuthenticateToken(ctx, tok); err != nil {
		t.Errorf("token after unlock: %v", err)
	}
	if cookie, _, err = s.Login(ctx, "nurse", "correct horse battery", codes[2], ""); err != nil {
		t.Fatalf("login after unlock: %v", err)
	}
	if got, err := s.ResetSecondFactor(ctx, admin, info.ID, ""); err != nil || got.SecondFactor {
		t.Fatalf("ResetSecondFactor = %+v, %v", got, err)
	}
	if _, err := s.AuthenticateSession(ctx, cookie); !errors.Is(err, vigil.ErrUnauthorized) {
		t.Errorf("session after a second-factor reset: %v", err)
	}
	_, p, err := s.Login(ctx, "nurse", "correct horse battery", "", "")
	if err != nil || !p.NeedsSecondFactor {
		t.Errorf("login after a second-factor reset: %+v, %v (want an enrolment to be owed)", p, err)
	}
	n, err := s.RevokeAccess(ctx, admin, info.ID, "")
	if err != nil || n != 1 {
		t.Errorf("RevokeAccess = %d, %v, want 1 token", n, err)
	}
	if _, err := s.AuthenticateToken(ctx, tok); !errors.Is(err, vigil.ErrUnauthorized) {
		t.Errorf("token after RevokeAccess: %v", err)
	}
	list, err := s.ListAccounts(ctx, admin, "")
	if err != nil || len(list) != 1 || list[0].Username != "nurse" {
		t.Errorf("ListAccounts = %+v, %v", list, err)
	}

	// Refusals, each audited as permission-denied.
	clin := &vigil.Principal{AccountID: info.ID, Username: "nurse", Role: vigil.RoleClinician, Method: "password+totp"}
	before := len(*events)
	if _, err := s.ListAccounts(ctx, clin, ""); !errors.Is(err, vigil.ErrForbidden) {
		t.Errorf("clinician listing accounts: %v", err)
	}
	if _, err := s.LockAccount(ctx, clin, info.ID, ""); !errors.Is(err, vigil.ErrForbidden) {
		t.Errorf("clinician locking an account: %v", err)
	}
	if _, _, err := s.SubscribeAlerts(ctx, clin, ""); !errors.Is(err, vigil.ErrForbidden) {
		t.Errorf("clinician subscribing to security alerts: %v", err)
	}
	denied := 0
	for _, e := range (*events)[before:] {
		if e.Action == "permission-denied" && e.Outcome == "denied" && e.AccountID == info.ID {
			denied++
		}
	}
	if denied != 3 {
		t.Errorf("%d permission-denied events for 3 refusals: %+v", denied, (*events)[before:])
	}
	want := map[string]string{"account-create": "created account " + info.ID, "account-lock": "locked account " + info.ID,
		"account-update": "unlocked account " + info.ID, "2fa-disable": "second factor reset", "token-revoke": "1 tokens of account " + info.ID,
		"account-list": "1 accounts listed"}
	for _, e := range *events {
		if w, ok := want[e.Action]; ok && e.AccountID == "adm" && strings.Contains(e.Detail, w) {
			delete(want, e.Action)
		}
	}
	if len(want) > 0 {
		t.Errorf("no admin events for %v in %+v", want, *events)
	}
}

// TestSelfLock: an admin cannot lock themselves out.
func TestSelfLock(t *testing.T) {
	ctx := context.Background()
	s, _ := newService(t, newClock())
	a, err := s.CreateAccount(ctx, AccountSpec{Username: "root", Role: vigil.RoleAdmin, Password: "correct horse battery"})
	if err != nil {
		t.Fatal(err)
	}
	by := &vigil.Principal{AccountID: a.ID, Username: a.Username, Role: vigil.RoleAdmin, Method: "token"}
	if _, err := s.LockAccount(ctx, by, a.ID, ""); !errors.Is(err, vigil.ErrInvalid) {
		t.Errorf("LockAccount(self) = %v, want invalid", err)
	}
}

// TestBreakGlassAlert checks that a grant reaches live subscribers and
// configured notifiers with who, what, why and until when; that the
// stored list rebuilds it; and that a slow subscriber loses alerts
// without blocking the grant.
func TestBreakGlassAlert(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	s, _ := newService(t, c)
	var notified []Alert
	s.cfg.Notify = []Notifier{notifyFunc(func(a Alert) { notified = append(notified, a) })}
	clin, err := s.CreateAccount(ctx, AccountSpec{Username: "nurse", Role: vigil.RoleClinician, Password: "correct horse battery", Practitioner: "p1"})
	if err != nil {
		t.Fatal(err)
	}
	admin := &vigil.Principal{AccountID: "adm", Username: "root", Role: vigil.RoleAdmin, Method: "token"}
	live, cancel, err := s.SubscribeAlerts(ctx, admin, "")
	if err != nil {
		t.Fatal(err)
	}
	defer cancel()
	p := &vigil.Principal{AccountID: clin.ID, Username: "nurse", Role: vigil.RoleClinician, Method: "token"}
	g, err := s.BreakGlass(ctx, p, "pX", "patient collapsed at home", 30*time.Minute, "10.1.2.3")
	if err != nil {
		t.Fatal(err)
	}
	want := Alert{ID: g.ID, Type: AlertBreakGlass, Time: g.Created, Account: clin.ID, Username: "nurse", Role: vigil.RoleClinician,
		Patient: "Patient/pX", Reason: "patient collapsed at home", Grant: g.ID, Expires: g.Created.Add(30 * time.Minute), Source: "10.1.2.3"}
	select {
	case got := <-live:
		if got != want {
			t.Errorf("live alert = %+v, want %+v", got, want)
		}
	default:
		t.Fatal("no live alert after the grant")
	}
	if len(notified) != 1 || notified[0] != want {
		t.Errorf("notified %+v, want %+v", notified, want)
	}
	list, err := s.SecurityAlerts(ctx, admin, c.now().Add(-time.Hour), "")
	want.Source = "" // not stored with the grant
	if err != nil || len(list) != 1 || !list[0].Time.Equal(want.Time) || list[0].ID != want.ID || list[0].Username != "nurse" || list[0].Patient != "Patient/pX" {
		t.Errorf("SecurityAlerts = %+v, %v, want [%+v]", list, err, want)
	}
	// A subscriber that never reads: grants go on, the overflow is counted.
	for range defaultFeedBuffer + 5 {
		if _, err := s.BreakGlass(ctx, p, "pY", "ward round emergency", time.Minute, ""); err != nil {
			t.Fatal(err)
		}
	}
	for range defaultFeedBuffer {
		<-live
	}
	if _, err := s.BreakGlass(ctx, p, "pZ", "ward round emergency", time.Minute, ""); err != nil {
		t.Fatal(err)
	}
	if got := <-live; got.Missed != 5 || got.Patient != "Patient/pZ" {
		t.Errorf("after an overflow: Missed = %d for %s, want 5 for Patient/pZ", got.Missed, got.Patient)
	}
	cancel()
	if n := s.AlertSubscribers(); n != 0 {
		t.Errorf("%d subscribers after cancel", n)
	}
}

type notifyFunc func(Alert)

func (f notifyFunc) Notify(a Alert) { f(a) }
