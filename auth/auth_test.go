package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/sqlite"
)

// RFC 6238 Appendix B test vectors (SHA-1, 8 digits in the RFC; the last
// 6 digits are the 6-digit codes, since the value is taken modulo 10^6).
func TestTOTPRFC6238Vectors(t *testing.T) {
	secret := b32.EncodeToString([]byte("12345678901234567890"))
	cases := []struct {
		unix int64
		want string // RFC's 8-digit value
	}{
		{59, "94287082"},
		{1111111109, "07081804"},
		{1111111111, "14050471"},
		{1234567890, "89005924"},
		{2000000000, "69279037"},
		{20000000000, "65353130"},
	}
	for _, c := range cases {
		got, err := TOTPCode(secret, time.Unix(c.unix, 0))
		if err != nil {
			t.Fatal(err)
		}
		if want := c.want[2:]; got != want {
			t.Errorf("TOTPCode(t=%d) = %s, want %s", c.unix, got, want)
		}
	}
}

func TestCheckTOTP(t *testing.T) {
	secret, err := NewTOTPSecret()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	code, _ := TOTPCode(secret, now)
	prev, _ := TOTPCode(secret, now.Add(-30*time.Second))
	old, _ := TOTPCode(secret, now.Add(-90*time.Second))
	step := now.Unix() / 30
	cases := []struct {
		name string
		code string
		last int64
		want int64
	}{
		{"current", code, 0, step},
		{"one step late", prev, 0, step - 1},
		{"three steps late", old, 0, 0},
		{"replayed", code, step, 0},
		{"wrong length", code[:5], 0, 0},
		{"wrong", "000000", 0, 0},
	}
	for _, c := range cases {
		if c.name == "wrong" && (code == "000000" || prev == "000000") {
			continue
		}
		if got := checkTOTP(secret, c.code, now, c.last); got != c.want {
			t.Errorf("%s: checkTOTP = %d, want %d", c.name, got, c.want)
		}
	}
}

func TestPassword(t *testing.T) {
	h, err := HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("hash %q is not PHC argon2id", h)
	}
	if !VerifyPassword(h, "correct horse battery") {
		t.Error("VerifyPassword(right) = false")
	}
	for _, bad := range []string{"correct horse batterY", "", strings.Repeat("x", 300)} {
		if VerifyPassword(h, bad) {
			t.Errorf("VerifyPassword(%q) = true", bad)
		}
	}
	for _, malformed := range []string{"", "$argon2id$", "$argon2i$v=19$m=1,t=1,p=1$AA$AA", dummyHash[:40]} {
		if VerifyPassword(malformed, "x") {
			t.Errorf("VerifyPassword on malformed hash %q = true", malformed)
		}
	}
	if err := CheckPasswordPolicy("short"); !errors.Is(err, vigil.ErrInvalid) {
		t.Errorf("CheckPasswordPolicy(short) = %v", err)
	}
}

// clock is a settable test clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time       { return c.t }
func (c *clock) add(d time.Duration)  { c.t = c.t.Add(d) }
func newClock() *clock                { return &clock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)} }
func (c *clock) code(s string) string { v, _ := TOTPCode(s, c.t); return v }
func (c *clock) codeAt(s string, d time.Duration) string {
	v, _ := TOTPCode(s, c.t.Add(d))
	return v
}

func newService(t *testing.T, c *clock) (*Service, *[]Event) {
	t.Helper()
	accounts, err := sqlite.OpenAccounts(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { accounts.Close() })
	var events []Event
	var mu sync.Mutex // logins run in parallel in TestConcurrentGuesses
	s, err := New(Config{Accounts: accounts, Now: c.now, Events: func(_ context.Context, e Event) error {
		mu.Lock()
		defer mu.Unlock()
		events = append(events, e)
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	return s, &events
}

// TestSecondFactorFlow walks a clinician through first login (second
// factor required), enrolment, login with a code, replay, recovery code,
// idle timeout and break-the-glass.
func TestSecondFactorFlow(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	s, events := newService(t, c)
	a, err := s.CreateAccount(ctx, AccountSpec{Username: "nurse", Role: vigil.RoleClinician, Password: "correct horse battery", Practitioner: "p1"})
	if err != nil {
		t.Fatal(err)
	}
	cookie, p, err := s.Login(ctx, "nurse", "correct horse battery", "", "10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if !p.NeedsSecondFactor {
		t.Fatal("a clinician without TOTP must be asked to enrol")
	}
	if _, err := s.BreakGlass(ctx, p, "pX", "patient collapsed at home", time.Hour, ""); !errors.Is(err, vigil.ErrForbidden) {
		t.Errorf("break-glass before enrolment: %v, want forbidden", err)
	}
	secret, url, err := s.EnrolTOTP(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(url, "otpauth://totp/") {
		t.Errorf("otpauth URL %q", url)
	}
	codes, err := s.ConfirmTOTP(ctx, a.ID, c.code(secret), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(codes) != 10 {
		t.Fatalf("%d recovery codes", len(codes))
	}
	if err := s.Logout(ctx, cookie, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AuthenticateSession(ctx, cookie); !errors.Is(err, vigil.ErrUnauthorized) {
		t.Errorf("session after logout: %v", err)
	}
	c.add(31 * time.Second) // the enrolment code's step is used up
	if _, _, err := s.Login(ctx, "nurse", "correct horse battery", "", ""); !errors.Is(err, ErrCodeRequired) {
		t.Errorf("login without code: %v, want ErrCodeRequired", err)
	}
	code := c.code(secret)
	cookie, p, err = s.Login(ctx, "nurse", "correct horse battery", code, "")
	if err != nil {
		t.Fatal(err)
	}
	if p.NeedsSecondFactor || p.Method != "password+totp" {
		t.Errorf("principal after TOTP login: %+v", p)
	}
	if _, _, err := s.Login(ctx, "nurse", "correct horse battery", code, ""); err == nil {
		t.Error("a TOTP code was accepted twice")
	}
	if _, _, err := s.Login(ctx, "nurse", "correct horse battery", codes[0], ""); err != nil {
		t.Errorf("recovery code: %v", err)
	}
	if _, _, err := s.Login(ctx, "nurse", "correct horse battery", codes[0], ""); err == nil {
		t.Error("a recovery code was accepted twice")
	}
	// Break the glass, then see the grant on the next authentication.
	g, err := s.BreakGlass(ctx, p, "pX", "patient collapsed at home", 30*time.Minute, "10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.BreakGlass(ctx, p, "pX", "short", 0, ""); !errors.Is(err, vigil.ErrInvalid) {
		t.Errorf("break-glass without a real reason: %v", err)
	}
	p2, err := s.AuthenticateSession(ctx, cookie)
	if err != nil {
		t.Fatal(err)
	}
	if len(p2.BreakGlass) != 1 || p2.BreakGlass[0].ID != g.ID || p2.BreakGlass[0].Patient != "pX" {
		t.Errorf("grants on the principal: %+v", p2.BreakGlass)
	}
	// Automatic logoff after 15 minutes idle.
	c.add(16 * time.Minute)
	if _, err := s.AuthenticateSession(ctx, cookie); !errors.Is(err, vigil.ErrUnauthorized) {
		t.Errorf("session after 16 idle minutes: %v, want unauthorized", err)
	}
	// The grant has expired 30 minutes after it was made.
	c.add(15 * time.Minute)
	if gs, _ := s.Accounts().ActiveBreakGlass(ctx, a.ID, c.now()); len(gs) != 0 {
		t.Errorf("grants after expiry: %v", gs)
	}
	var actions []string
	for _, e := range *events {
		actions = append(actions, e.Action+":"+e.Outcome)
		if strings.Contains(e.Detail, "horse") || strings.Contains(e.Detail, code) {
			t.Errorf("event %+v carries a secret", e)
		}
	}
	for _, want := range []string{"account-create:success", "login:success", "2fa-enrol:success", "logout:success", "login-failed:failed", "break-glass:success"} {
		if !strings.Contains(strings.Join(actions, " "), want) {
			t.Errorf("events %v lack %s", actions, want)
		}
	}
}

// TestBruteForce checks the per-account lockout and the per-address
// throttle.
func TestBruteForce(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	s, _ := newService(t, c)
	if _, err := s.CreateAccount(ctx, AccountSpec{Username: "pat", Role: vigil.RolePatient, Password: "correct horse battery", Patient: "p1"}); err != nil {
		t.Fatal(err)
	}
	// Ten wrong passwords from different addresses lock the account.
	for i := range 10 {
		if _, _, err := s.Login(ctx, "pat", "wrong password!", "", "10.0.1."+string(rune('a'+i))); !errors.Is(err, vigil.ErrUnauthorized) {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	if _, _, err := s.Login(ctx, "pat", "correct horse battery", "", "10.9.9.9"); !errors.Is(err, vigil.ErrTooMany) {
		t.Errorf("right password on a locked account: %v, want too many", err)
	}
	c.add(16 * time.Minute)
	if _, _, err := s.Login(ctx, "pat", "correct horse battery", "", "10.9.9.9"); err != nil {
		t.Errorf("login after the lockout: %v", err)
	}
	// Twenty failures from one address (any usernames) throttle it.
	for i := range 20 {
		if _, _, err := s.Login(ctx, "nobody"+string(rune('a'+i)), "x", "", "10.2.2.2"); !errors.Is(err, vigil.ErrUnauthorized) {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	if _, _, err := s.Login(ctx, "pat", "correct horse battery", "", "10.2.2.2"); !errors.Is(err, vigil.ErrTooMany) {
		t.Errorf("21st attempt from one address: %v, want too many", err)
	}
	if _, _, err := s.Login(ctx, "pat", "correct horse battery", "", "10.3.3.3"); err != nil {
		t.Errorf("another address is not throttled: %v", err)
	}
	c.add(6 * time.Minute)
	if _, _, err := s.Login(ctx, "pat", "correct horse battery", "", "10.2.2.2"); err != nil {
		t.Errorf("after the window: %v", err)
	}
}

func TestTokens(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	s, _ := newService(t, c)
	a, err := s.CreateAccount(ctx, AccountSpec{Username: "ehr", Role: vigil.RoleService, Scopes: []vigil.Scope{{Type: "*", Read: true}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.IssueToken(ctx, a.ID, time.Hour, []vigil.Scope{{Type: "Observation", Write: true}}); !errors.Is(err, vigil.ErrInvalid) {
		t.Errorf("a token wider than its account: %v", err)
	}
	tok, rec, err := s.IssueToken(ctx, a.ID, time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := s.Accounts().TokenByHash(ctx, HashSecret(tok))
	if err != nil || stored.ID != rec.ID || strings.Contains(stored.Hash, tok) {
		t.Fatalf("stored token %+v, %v", stored, err)
	}
	p, err := s.AuthenticateToken(ctx, tok)
	if err != nil || p.Role != vigil.RoleService || !vigil.Allows(p.Scopes, "Patient", false) || vigil.Allows(p.Scopes, "Patient", true) {
		t.Fatalf("principal %+v, %v", p, err)
	}
	for _, bad := range []string{"", "vgl_", tok + "x", strings.Replace(tok, "vgl_", "xyz_", 1), tok[:len(tok)-1] + "A"} {
		if _, err := s.AuthenticateToken(ctx, bad); !errors.Is(err, vigil.ErrUnauthorized) {
			t.Errorf("AuthenticateToken(%q) = %v", bad, err)
		}
	}
	if err := s.RevokeToken(ctx, p, rec.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AuthenticateToken(ctx, tok); !errors.Is(err, vigil.ErrUnauthorized) {
		t.Errorf("revoked token: %v", err)
	}
	tok2, _, err := s.IssueToken(ctx, a.ID, time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.add(2 * time.Minute)
	if _, err := s.AuthenticateToken(ctx, tok2); !errors.Is(err, vigil.ErrUnauthorized) {
		t.Errorf("expired token: %v", err)
	}
}

// FuzzAuthenticateToken feeds arbitrary bearer tokens and session cookies:
// never a panic, never a principal.
func FuzzAuthenticateToken(f *testing.F) {
	for _, s := range []string{"", "vgl_", "vgl_" + strings.Repeat("A", 43), strings.Repeat("A", 43), "vgl_\x00\xff", "Bearer x"} {
		f.Add(s)
	}
	c := newClock()
	accounts, err := sqlite.OpenAccounts(context.Background(), f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	defer accounts.Close()
	s, err := New(Config{Accounts: accounts, Now: c.now})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		if p, err := s.AuthenticateToken(context.Background(), tok); err == nil || p != nil {
			t.Fatalf("AuthenticateToken(%q) = %v, %v", tok, p, err)
		}
		if p, err := s.AuthenticateSession(context.Background(), tok); err == nil || p != nil {
			t.Fatalf("AuthenticateSession(%q) = %v, %v", tok, p, err)
		}
	})
}

// TestConcurrentGuesses checks that parallel attempts cannot get around
// the lockout or reuse a one-time code (the store updates atomically).
func TestConcurrentGuesses(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	s, _ := newService(t, c)
	a, err := s.CreateAccount(ctx, AccountSpec{Username: "nurse", Role: vigil.RoleClinician, Password: "correct horse battery", Practitioner: "p"})
	if err != nil {
		t.Fatal(err)
	}
	secret, _, err := s.EnrolTOTP(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ConfirmTOTP(ctx, a.ID, c.code(secret), ""); err != nil {
		t.Fatal(err)
	}
	c.add(30 * time.Second)
	code := c.code(secret)
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for i := range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, _, err := s.Login(ctx, "nurse", "correct horse battery", code, fmt.Sprint("10.0.0.", i)); err == nil {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Errorf("one TOTP code opened %d sessions in parallel, want 1", wins)
	}
	for i := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, _ = s.Login(ctx, "nurse", "wrong password!!", "", fmt.Sprint("10.1.0.", i))
		}()
	}
	wg.Wait()
	if _, _, err := s.Login(ctx, "nurse", "correct horse battery", c.codeAt(secret, 30*time.Second), "10.9.9.9"); !errors.Is(err, vigil.ErrTooMany) {
		t.Errorf("after 12 parallel failures: %v, want the account locked", err)
	}
}
