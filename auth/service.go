package auth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vigilhealth/vigil"
)

// Event is a security event for the audit trail: a login, a failed login,
// a second-factor change, a token issued or revoked, a break-the-glass
// grant, an admin's change to an account, a refusal of an admin-only
// request. It never carries a password, code, token or cookie.
//
// The actor is AccountID, Username and Role; when an admin acts on
// another account, Detail names that account ("account ID (username)").
type Event struct {
	// Action is one of login, login-failed, logout, 2fa-enrol,
	// 2fa-disable, token-issue, token-revoke, break-glass, account-create,
	// account-update, account-lock, password-change, permission-denied,
	// account-list, security-events.
	Action    string
	AccountID string
	Username  string
	Role      vigil.Role
	Outcome   string // success, failed, denied
	Source    string // remote address
	Patient   string // break-the-glass: the patient id
	Detail    string // e.g. the break-the-glass reason; never secrets
}

// Config configures a Service. Zero durations take the defaults given.
type Config struct {
	// Accounts stores accounts, token and session hashes. Required.
	Accounts vigil.AccountStore
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Events receives security events (default: dropped). For emergency
	// access an error refuses the grant (no unaudited break-the-glass);
	// for other events, which already happened, it is ignored.
	Events func(ctx context.Context, e Event) error
	// IdleTimeout ends a session after this much inactivity (default 15
	// minutes: HIPAA automatic logoff).
	IdleTimeout time.Duration
	// SessionLifetime ends a session this long after login, active or not
	// (default 12 hours).
	SessionLifetime time.Duration
	// MaxTokenTTL bounds the lifetime of a bearer token (default 1 year).
	MaxTokenTTL time.Duration
	// LockoutThreshold consecutive failures lock an account for
	// LockoutDuration (defaults 10 and 15 minutes).
	LockoutThreshold int
	LockoutDuration  time.Duration
	// SourceFailures failed attempts from one address within SourceWindow
	// make further attempts from it wait (defaults 20 in 5 minutes).
	SourceFailures int
	SourceWindow   time.Duration
	// RequireSecondFactor lists the roles that must use TOTP (default
	// admin and clinician).
	RequireSecondFactor []vigil.Role
	// CacheTTL is how long a verified token is trusted without a lookup
	// (default 10 s); revocation on this server takes effect at once, on
	// other servers sharing the database within CacheTTL.
	CacheTTL time.Duration
	// BreakGlassMax bounds an emergency grant (default 4 hours).
	BreakGlassMax time.Duration
	// Notify receives every security alert (an emergency-access grant)
	// besides the Service's own live feed (SubscribeAlerts), e.g. a
	// Webhook. Each Notify must return at once.
	Notify []Notifier
	// Links, when set, checks that the FHIR resources a new account links
	// to exist (Patient, Practitioner, Device with its patient);
	// CreateAccount refuses the account when it fails.
	Links func(ctx context.Context, role vigil.Role, patient, practitioner, device string) error
}

// Service authenticates callers. It is safe for concurrent use.
type Service struct {
	cfg      Config
	accounts vigil.AccountStore
	now      func() time.Time
	sources  *throttle
	feed     *feed // live security alerts

	mu    sync.Mutex
	cache map[string]cached // token hash → principal
}

type cached struct {
	p       *vigil.Principal
	until   time.Time // cache entry valid until
	expires time.Time // the token's own expiry
}

// New returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Accounts == nil {
		return nil, errors.New("auth: Config.Accounts is required")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.IdleTimeout, 15*time.Minute)
	def(&cfg.SessionLifetime, 12*time.Hour)
	def(&cfg.MaxTokenTTL, 365*24*time.Hour)
	def(&cfg.LockoutDuration, 15*time.Minute)
	def(&cfg.SourceWindow, 5*time.Minute)
	def(&cfg.CacheTTL, 10*time.Second)
	def(&cfg.BreakGlassMax, 4*time.Hour)
	if cfg.LockoutThreshold <= 0 {
		cfg.LockoutThreshold = 10
	}
	if cfg.SourceFailures <= 0 {
		cfg.SourceFailures = 20
	}
	if cfg.RequireSecondFactor == nil {
		cfg.RequireSecondFactor = []vigil.Role{vigil.RoleAdmin, vigil.RoleClinician}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Events == nil {
		cfg.Events = func(context.Context, Event) error { return nil }
	}
	return &Service{cfg: cfg, accounts: cfg.Accounts, now: cfg.Now, sources: newThrottle(cfg.SourceFailures, cfg.SourceWindow),
		feed: newFeed(0), cache: make(map[string]cached)}, nil
}

// Accounts returns the account store.
func (s *Service) Accounts() vigil.AccountStore { return s.accounts }

// AccountSpec describes an account to create.
type AccountSpec struct {
	Username     string
	Role         vigil.Role
	Password     string // required for admin, clinician and patient
	Patient      string
	Practitioner string
	Device       string
	Scopes       []vigil.Scope
}

// CreateAccount checks spec and stores a new account: the operator's
// path (vigil user add), audited with the new account as the actor. Linked
// FHIR resources are checked with Config.Links when set. Bad input
// (including a linked resource that does not exist) is vigil.ErrInvalid;
// a duplicate username vigil.ErrConflict.
func (s *Service) CreateAccount(ctx context.Context, spec AccountSpec) (*vigil.Account, error) {
	a, err := s.createAccount(ctx, spec)
	if err != nil {
		return nil, err
	}
	s.cfg.Events(ctx, Event{Action: "account-create", AccountID: a.ID, Username: a.Username, Role: a.Role, Outcome: "success"})
	return a, nil
}

func (s *Service) createAccount(ctx context.Context, spec AccountSpec) (*vigil.Account, error) {
	if !validUsername(spec.Username) {
		return nil, vigil.Errorf(vigil.ErrInvalid, "a username has 3 to 64 characters: letters, digits, '.', '_', '-', '@'")
	}
	if _, err := vigil.ParseRole(string(spec.Role)); err != nil {
		return nil, err
	}
	a := &vigil.Account{Username: spec.Username, Role: spec.Role, Patient: spec.Patient, Practitioner: spec.Practitioner,
		Device: spec.Device, Scopes: spec.Scopes, Created: s.now().UTC()}
	switch spec.Role {
	case vigil.RolePatient:
		if spec.Patient == "" {
			return nil, vigil.Errorf(vigil.ErrInvalid, "a patient account needs --patient")
		}
	case vigil.RoleDevice:
		if spec.Device == "" {
			return nil, vigil.Errorf(vigil.ErrInvalid, "a device account needs --device")
		}
	case vigil.RoleClinician:
		if spec.Practitioner == "" {
			return nil, vigil.Errorf(vigil.ErrInvalid, "a clinician account needs --practitioner")
		}
	case vigil.RoleService:
		if len(spec.Scopes) == 0 {
			return nil, vigil.Errorf(vigil.ErrInvalid, "a service account needs --scope (e.g. system/*.read)")
		}
	}
	if spec.Role != vigil.RoleService && len(spec.Scopes) > 0 {
		return nil, vigil.Errorf(vigil.ErrInvalid, "only service accounts carry scopes on the account (tokens may narrow any account)")
	}
	if spec.Patient != "" && spec.Role != vigil.RolePatient || spec.Practitioner != "" && spec.Role != vigil.RoleClinician ||
		spec.Device != "" && spec.Role != vigil.RoleDevice {
		return nil, vigil.Errorf(vigil.ErrInvalid, "--patient goes with patient, --practitioner with clinician, --device with device accounts")
	}
	if s.cfg.Links != nil {
		if err := s.cfg.Links(ctx, spec.Role, spec.Patient, spec.Practitioner, spec.Device); err != nil {
			return nil, linkError(spec, err)
		}
	}
	if spec.Password != "" || spec.Role == vigil.RoleAdmin || spec.Role == vigil.RoleClinician || spec.Role == vigil.RolePatient {
		if err := CheckPasswordPolicy(spec.Password); err != nil {
			return nil, err
		}
		h, err := HashPassword(spec.Password)
		if err != nil {
			return nil, err
		}
		a.PasswordHash = h
	}
	id, err := newID()
	if err != nil {
		return nil, err
	}
	a.ID = id
	if err := s.accounts.CreateAccount(ctx, a); err != nil {
		return nil, err
	}
	return a, nil
}

// linkError turns a missing linked resource into bad input (the account
// is what is wrong, not the URL asked for); other errors pass.
func linkError(spec AccountSpec, err error) error {
	if !errors.Is(err, vigil.ErrNotFound) {
		return err
	}
	switch {
	case spec.Patient != "":
		return vigil.Errorf(vigil.ErrInvalid, "the linked Patient/%s does not exist", spec.Patient)
	case spec.Practitioner != "":
		return vigil.Errorf(vigil.ErrInvalid, "the linked Practitioner/%s does not exist", spec.Practitioner)
	case spec.Device != "":
		return vigil.Errorf(vigil.ErrInvalid, "the linked Device/%s does not exist", spec.Device)
	}
	return vigil.Errorf(vigil.ErrInvalid, "a linked resource does not exist")
}

func validUsername(u string) bool {
	if len(u) < 3 || len(u) > 64 {
		return false
	}
	for _, r := range u {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-@", r)) {
			return false
		}
	}
	return true
}

// errLogin is the one answer to a wrong username, password or code, so
// that a guesser learns nothing about which part was wrong.
var errLogin = vigil.Errorf(vigil.ErrUnauthorized, "invalid username, password or code")

// ErrCodeRequired answers a correct password of an account with a second
// factor when no code was given.
var ErrCodeRequired = vigil.Errorf(vigil.ErrUnauthorized, "a one-time code is required")

// Login checks a username, password and (when enrolled) a TOTP or
// recovery code, and starts a session. It returns the session cookie
// value (to set, never to log) and the principal.
func (s *Service) Login(ctx context.Context, username, password, code, source string) (string, *vigil.Principal, error) {
	now := s.now()
	if blocked, until := s.sources.blocked(source, now); blocked {
		s.cfg.Events(ctx, Event{Action: "login-failed", Username: safeName(username), Outcome: "denied", Source: source, Detail: "throttled"})
		return "", nil, vigil.Errorf(vigil.ErrTooMany, "too many failed attempts from this address; retry after %s", until.UTC().Format(time.RFC3339))
	}
	a, err := s.accounts.AccountByUsername(ctx, username)
	if errors.Is(err, vigil.ErrNotFound) {
		// Spend the same time as a real check, so timing tells nothing.
		VerifyPassword(dummyHash, password)
		s.sources.fail(source, now)
		s.cfg.Events(ctx, Event{Action: "login-failed", Username: safeName(username), Outcome: "failed", Source: source, Detail: "unknown user"})
		return "", nil, errLogin
	}
	if err != nil {
		return "", nil, err
	}
	fail := func(detail string) (string, *vigil.Principal, error) {
		s.sources.fail(source, now)
		locked, err := s.accounts.RecordLoginFailure(ctx, a.ID, s.cfg.LockoutThreshold, now.Add(s.cfg.LockoutDuration).UTC())
		if err != nil {
			return "", nil, err
		}
		if locked {
			detail += "; account locked"
		}
		s.cfg.Events(ctx, Event{Action: "login-failed", AccountID: a.ID, Username: a.Username, Role: a.Role, Outcome: "failed", Source: source, Detail: detail})
		return "", nil, errLogin
	}
	if a.Disabled || a.PasswordHash == "" {
		VerifyPassword(dummyHash, password)
		return fail("account cannot log in")
	}
	if now.Before(a.LockedUntil) {
		VerifyPassword(dummyHash, password) // the same time as any other answer
		s.sources.fail(source, now)
		s.cfg.Events(ctx, Event{Action: "login-failed", AccountID: a.ID, Username: a.Username, Role: a.Role, Outcome: "denied", Source: source, Detail: "account locked"})
		return "", nil, vigil.Errorf(vigil.ErrTooMany, "this account is locked after too many failed attempts; retry later")
	}
	if !VerifyPassword(a.PasswordHash, password) {
		return fail("wrong password")
	}
	method := "password"
	if a.TOTPEnabled {
		if code == "" {
			return "", nil, ErrCodeRequired
		}
		ok, err := s.checkCode(ctx, a, code, now)
		if err != nil {
			return "", nil, err
		}
		if !ok {
			return fail("wrong second-factor code")
		}
		method = "password+totp"
	}
	if a.FailedLogins > 0 {
		if err := s.accounts.ResetLoginFailures(ctx, a.ID); err != nil {
			return "", nil, err
		}
	}
	cookie, err := newSecret()
	if err != nil {
		return "", nil, err
	}
	se := &vigil.Session{Hash: HashSecret(cookie), AccountID: a.ID, Method: method, Created: now.UTC(), LastSeen: now.UTC(),
		Expires: now.Add(s.cfg.SessionLifetime).UTC()}
	if err := s.accounts.CreateSession(ctx, se); err != nil {
		return "", nil, err
	}
	p, err := s.principal(ctx, a, nil, method)
	if err != nil {
		return "", nil, err
	}
	s.cfg.Events(ctx, Event{Action: "login", AccountID: a.ID, Username: a.Username, Role: a.Role, Outcome: "success", Source: source, Detail: method})
	return cookie, p, nil
}

// dummyHash is verified against when the username does not exist.
const dummyHash = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Cq4mDtr9lMrnbkh0T1SgPT7w0a6TT2yzkDO+Y6uXYc8"

// safeName keeps what an attacker typed as a username short and printable
// in the audit trail.
func safeName(u string) string {
	if len(u) > 64 {
		u = u[:64]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, u)
}

// checkCode accepts a TOTP code (never twice, even by concurrent
// requests) or an unused recovery code (used up), atomically in the store;
// a is updated to match.
func (s *Service) checkCode(ctx context.Context, a *vigil.Account, code string, now time.Time) (bool, error) {
	code = strings.ReplaceAll(strings.TrimSpace(code), " ", "")
	if step := checkTOTP(a.TOTPSecret, code, now, a.TOTPLastStep); step != 0 {
		ok, err := s.accounts.UseTOTPStep(ctx, a.ID, step)
		if ok {
			a.TOTPLastStep = step
		}
		return ok, err
	}
	h := HashSecret(strings.ToLower(strings.ReplaceAll(code, "-", "")))
	if !slices.Contains(a.RecoveryCodes, h) {
		return false, nil
	}
	ok, err := s.accounts.UseRecoveryCode(ctx, a.ID, h)
	if ok {
		a.RecoveryCodes = slices.DeleteFunc(a.RecoveryCodes, func(x string) bool { return x == h })
	}
	return ok, err
}

// principal builds the principal of an account, with token scopes (nil:
// the account's) and its active break-the-glass grants.
func (s *Service) principal(ctx context.Context, a *vigil.Account, scopes []vigil.Scope, method string) (*vigil.Principal, error) {
	p := &vigil.Principal{AccountID: a.ID, Username: a.Username, Role: a.Role, Patient: a.Patient, Practitioner: a.Practitioner,
		Device: a.Device, Scopes: a.Scopes, Method: method}
	if scopes != nil {
		p.Scopes = scopes
	}
	if method != "token" && slices.Contains(s.cfg.RequireSecondFactor, a.Role) && !a.TOTPEnabled {
		p.NeedsSecondFactor = true
	}
	if a.Role == vigil.RoleClinician || a.Role == vigil.RoleAdmin {
		g, err := s.accounts.ActiveBreakGlass(ctx, a.ID, s.now())
		if err != nil {
			return nil, err
		}
		p.BreakGlass = g
	}
	return p, nil
}

// Logout ends the session of cookie.
func (s *Service) Logout(ctx context.Context, cookie, source string) error {
	if !wellFormedSession(cookie) {
		return nil
	}
	se, err := s.accounts.SessionByHash(ctx, HashSecret(cookie))
	if err != nil {
		return nil
	}
	if err := s.accounts.DeleteSession(ctx, se.Hash); err != nil {
		return err
	}
	s.cfg.Events(ctx, Event{Action: "logout", AccountID: se.AccountID, Outcome: "success", Source: source})
	return nil
}

var errBadCredentials = vigil.Errorf(vigil.ErrUnauthorized, "invalid or expired credentials")

// AuthenticateSession returns the principal of a session cookie value,
// ending the session when it has been idle too long or is too old.
func (s *Service) AuthenticateSession(ctx context.Context, cookie string) (*vigil.Principal, error) {
	if !wellFormedSession(cookie) {
		return nil, errBadCredentials
	}
	se, err := s.accounts.SessionByHash(ctx, HashSecret(cookie))
	if errors.Is(err, vigil.ErrNotFound) {
		return nil, errBadCredentials
	}
	if err != nil {
		return nil, err
	}
	now := s.now()
	if now.Sub(se.LastSeen) > s.cfg.IdleTimeout || !now.Before(se.Expires) {
		_ = s.accounts.DeleteSession(ctx, se.Hash)
		return nil, vigil.Errorf(vigil.ErrUnauthorized, "the session has ended; log in again")
	}
	a, err := s.accounts.Account(ctx, se.AccountID)
	if err != nil {
		return nil, err
	}
	if a.Disabled {
		return nil, errBadCredentials
	}
	if now.Sub(se.LastSeen) > time.Minute {
		if err := s.accounts.TouchSession(ctx, se.Hash, now.UTC()); err != nil {
			return nil, err
		}
	}
	return s.principal(ctx, a, nil, se.Method)
}

// AuthenticateToken returns the principal of a bearer token.
func (s *Service) AuthenticateToken(ctx context.Context, token string) (*vigil.Principal, error) {
	if !wellFormedToken(token) {
		return nil, errBadCredentials
	}
	h := HashSecret(token)
	now := s.now()
	s.mu.Lock()
	c, ok := s.cache[h]
	s.mu.Unlock()
	if ok && now.Before(c.until) && now.Before(c.expires) {
		return c.p, nil
	}
	t, err := s.accounts.TokenByHash(ctx, h)
	if errors.Is(err, vigil.ErrNotFound) {
		return nil, errBadCredentials
	}
	if err != nil {
		return nil, err
	}
	if t.Revoked || !now.Before(t.Expires) {
		return nil, errBadCredentials
	}
	a, err := s.accounts.Account(ctx, t.AccountID)
	if err != nil {
		return nil, err
	}
	if a.Disabled {
		return nil, errBadCredentials
	}
	p, err := s.principal(ctx, a, t.Scopes, "token")
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if len(s.cache) > 100000 {
		clear(s.cache)
	}
	s.cache[h] = cached{p: p, until: now.Add(s.cfg.CacheTTL), expires: t.Expires}
	s.mu.Unlock()
	return p, nil
}

// forget drops every cached principal (after a revocation, a new grant or
// an account change).
func (s *Service) forget() {
	s.mu.Lock()
	clear(s.cache)
	s.mu.Unlock()
}

// IssueToken creates a bearer token for an account, valid for ttl (at most
// MaxTokenTTL), optionally narrowed to scopes. It returns the token — shown
// once, never stored — and its record.
func (s *Service) IssueToken(ctx context.Context, accountID string, ttl time.Duration, scopes []vigil.Scope) (string, *vigil.Token, error) {
	if ttl <= 0 || ttl > s.cfg.MaxTokenTTL {
		return "", nil, vigil.Errorf(vigil.ErrInvalid, "a token lives between 1s and %s", s.cfg.MaxTokenTTL)
	}
	a, err := s.accounts.Account(ctx, accountID)
	if err != nil {
		return "", nil, err
	}
	if a.Role == vigil.RoleService && scopes != nil {
		for _, sc := range scopes {
			if !scopeWithin(sc, a.Scopes) {
				return "", nil, vigil.Errorf(vigil.ErrInvalid, "scope %s exceeds the account's scopes", sc)
			}
		}
	}
	secret, err := newSecret()
	if err != nil {
		return "", nil, err
	}
	id, err := newID()
	if err != nil {
		return "", nil, err
	}
	tok := TokenPrefix + secret
	now := s.now().UTC()
	t := &vigil.Token{ID: id, Hash: HashSecret(tok), AccountID: a.ID, Scopes: scopes, Created: now, Expires: now.Add(ttl)}
	if err := s.accounts.CreateToken(ctx, t); err != nil {
		return "", nil, err
	}
	s.cfg.Events(ctx, Event{Action: "token-issue", AccountID: a.ID, Username: a.Username, Role: a.Role, Outcome: "success", Detail: "token " + id})
	return tok, t, nil
}

// scopeWithin reports whether sc is covered by one of the account scopes.
func scopeWithin(sc vigil.Scope, of []vigil.Scope) bool {
	for _, o := range of {
		if (o.Type == "*" || o.Type == sc.Type) && (!sc.Read || o.Read) && (!sc.Write || o.Write) {
			return true
		}
	}
	return false
}

// RevokeToken revokes a token by id. Its owner and admins may revoke it.
func (s *Service) RevokeToken(ctx context.Context, by *vigil.Principal, id string) error {
	if by == nil {
		return vigil.ErrUnauthorized
	}
	if by.Role != vigil.RoleAdmin {
		ts, err := s.accounts.ListTokens(ctx, by.AccountID)
		if err != nil {
			return err
		}
		if !slices.ContainsFunc(ts, func(t vigil.Token) bool { return t.ID == id }) {
			return vigil.Errorf(vigil.ErrNotFound, "no such token")
		}
	}
	if err := s.accounts.RevokeToken(ctx, id); err != nil {
		return err
	}
	s.forget()
	s.cfg.Events(ctx, Event{Action: "token-revoke", AccountID: by.AccountID, Username: by.Username, Role: by.Role, Outcome: "success", Detail: "token " + id})
	return nil
}

// EnrolTOTP starts second-factor enrolment: it stores a new secret (not
// yet enabled) and returns it with its otpauth:// URL.
func (s *Service) EnrolTOTP(ctx context.Context, accountID string) (secret, url string, err error) {
	a, err := s.accounts.Account(ctx, accountID)
	if err != nil {
		return "", "", err
	}
	if a.TOTPEnabled {
		return "", "", vigil.Errorf(vigil.ErrConflict, "a second factor is already enrolled; disable it first")
	}
	if a.TOTPSecret, err = NewTOTPSecret(); err != nil {
		return "", "", err
	}
	if err := s.accounts.UpdateAccount(ctx, a); err != nil {
		return "", "", err
	}
	return a.TOTPSecret, TOTPURL("Vigil", a.Username, a.TOTPSecret), nil
}

// recoveryCodes is how many one-time recovery codes an enrolment gives.
const recoveryCodes = 10

// ConfirmTOTP enables the enrolled secret once the user proves it with a
// valid code, and returns one-time recovery codes (shown once).
func (s *Service) ConfirmTOTP(ctx context.Context, accountID, code, source string) ([]string, error) {
	a, err := s.accounts.Account(ctx, accountID)
	if err != nil {
		return nil, err
	}
	if a.TOTPEnabled || a.TOTPSecret == "" {
		return nil, vigil.Errorf(vigil.ErrConflict, "no enrolment is pending")
	}
	now := s.now()
	if blocked, _ := s.sources.blocked(source, now); blocked {
		return nil, vigil.Errorf(vigil.ErrTooMany, "too many failed attempts from this address; retry later")
	}
	step := checkTOTP(a.TOTPSecret, strings.TrimSpace(code), now, a.TOTPLastStep)
	if step == 0 {
		s.sources.fail(source, now)
		s.cfg.Events(ctx, Event{Action: "2fa-enrol", AccountID: a.ID, Username: a.Username, Role: a.Role, Outcome: "failed", Source: source})
		return nil, vigil.Errorf(vigil.ErrInvalid, "the code does not match; check the authenticator's clock")
	}
	codes := make([]string, recoveryCodes)
	a.RecoveryCodes = a.RecoveryCodes[:0]
	for i := range codes {
		c, err := newID() // 64 bits each
		if err != nil {
			return nil, err
		}
		codes[i] = c[:8] + "-" + c[8:]
		a.RecoveryCodes = append(a.RecoveryCodes, HashSecret(c))
	}
	a.TOTPEnabled, a.TOTPLastStep = true, step
	if err := s.accounts.UpdateAccount(ctx, a); err != nil {
		return nil, err
	}
	s.forget()
	s.cfg.Events(ctx, Event{Action: "2fa-enrol", AccountID: a.ID, Username: a.Username, Role: a.Role, Outcome: "success", Source: source})
	return codes, nil
}

// DisableTOTP removes the second factor after checking a current code.
// Roles that require one can then only enrol again.
func (s *Service) DisableTOTP(ctx context.Context, accountID, code, source string) error {
	a, err := s.accounts.Account(ctx, accountID)
	if err != nil {
		return err
	}
	if !a.TOTPEnabled {
		return vigil.Errorf(vigil.ErrConflict, "no second factor is enrolled")
	}
	if blocked, _ := s.sources.blocked(source, s.now()); blocked {
		return vigil.Errorf(vigil.ErrTooMany, "too many failed attempts from this address; retry later")
	}
	ok, err := s.checkCode(ctx, a, code, s.now())
	if err != nil {
		return err
	}
	if !ok {
		s.sources.fail(source, s.now())
		s.cfg.Events(ctx, Event{Action: "2fa-disable", AccountID: a.ID, Username: a.Username, Role: a.Role, Outcome: "failed", Source: source})
		return errLogin
	}
	a.TOTPEnabled, a.TOTPSecret, a.RecoveryCodes = false, "", nil
	if err := s.accounts.UpdateAccount(ctx, a); err != nil {
		return err
	}
	s.forget()
	s.cfg.Events(ctx, Event{Action: "2fa-disable", AccountID: a.ID, Username: a.Username, Role: a.Role, Outcome: "success", Source: source})
	return nil
}

// BreakGlass grants p emergency access to one patient's record for d (at
// most BreakGlassMax), with a reason. The event goes to the audit trail
// first (no grant without its record), then, once the grant is stored, an
// Alert goes to the admins' live feed (SubscribeAlerts) and to every
// Config.Notify. Only clinicians and admins may ask.
func (s *Service) BreakGlass(ctx context.Context, p *vigil.Principal, patient, reason string, d time.Duration, source string) (*vigil.BreakGlass, error) {
	if p == nil {
		return nil, vigil.ErrUnauthorized
	}
	if p.Role != vigil.RoleClinician && p.Role != vigil.RoleAdmin {
		return nil, vigil.Errorf(vigil.ErrForbidden, "only clinicians and admins may use emergency access")
	}
	if p.NeedsSecondFactor || (p.Method != "password+totp" && p.Method != "token") {
		return nil, vigil.Errorf(vigil.ErrForbidden, "emergency access needs a login with a second factor")
	}
	reason = strings.TrimSpace(reason)
	if len(reason) < 10 || len(reason) > 500 {
		return nil, vigil.Errorf(vigil.ErrInvalid, "emergency access needs a reason of 10 to 500 characters")
	}
	if patient == "" {
		return nil, vigil.Errorf(vigil.ErrInvalid, "emergency access names one patient")
	}
	if d <= 0 || d > s.cfg.BreakGlassMax {
		d = s.cfg.BreakGlassMax
	}
	id, err := newID()
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	g := &vigil.BreakGlass{ID: id, AccountID: p.AccountID, Patient: patient, Reason: reason, Created: now, Expires: now.Add(d)}
	// Audit first: a grant that cannot be audited is not given.
	if err := s.cfg.Events(ctx, Event{Action: "break-glass", AccountID: p.AccountID, Username: p.Username, Role: p.Role, Outcome: "success",
		Source: source, Patient: patient, Detail: "grant " + id + ": " + reason}); err != nil {
		return nil, &vigil.Error{Kind: vigil.ErrUnavailable, Message: "emergency access needs the audit trail, which is unavailable", Err: err}
	}
	if err := s.accounts.CreateBreakGlass(ctx, g); err != nil {
		return nil, err
	}
	s.forget()
	s.alert(breakGlassAlert(g, p.Username, p.Role, source))
	return g, nil
}

// ChangePassword sets a new password after checking the current one.
// The old password may be known to someone else (NIST SP 800-63B 5.1.1.2
// and 6.1.2), so the change then ends every session of the account and
// revokes every bearer token it holds (tokens minted with the old password
// go with it). When cookie is the caller's own session of this account, a
// new session replaces it — same method, same absolute end — and its
// cookie value is returned, so the caller stays logged in under a fresh
// identifier; otherwise the result is "".
func (s *Service) ChangePassword(ctx context.Context, accountID, cookie, current, next, source string) (string, error) {
	a, err := s.accounts.Account(ctx, accountID)
	if err != nil {
		return "", err
	}
	if blocked, _ := s.sources.blocked(source, s.now()); blocked {
		return "", vigil.Errorf(vigil.ErrTooMany, "too many failed attempts from this address; retry later")
	}
	if !VerifyPassword(a.PasswordHash, current) {
		s.sources.fail(source, s.now())
		s.cfg.Events(ctx, Event{Action: "password-change", AccountID: a.ID, Username: a.Username, Role: a.Role, Outcome: "failed", Source: source})
		return "", errLogin
	}
	if err := CheckPasswordPolicy(next); err != nil {
		return "", err
	}
	if a.PasswordHash, err = HashPassword(next); err != nil {
		return "", err
	}
	if err := s.accounts.UpdateAccount(ctx, a); err != nil {
		return "", err
	}
	var own *vigil.Session
	if wellFormedSession(cookie) {
		if se, err := s.accounts.SessionByHash(ctx, HashSecret(cookie)); err == nil && se.AccountID == a.ID {
			own = se
		}
	}
	n, err := s.endAccess(ctx, a.ID)
	if err != nil {
		return "", err
	}
	fresh := ""
	if own != nil && s.now().Before(own.Expires) {
		if fresh, err = newSecret(); err != nil {
			return "", err
		}
		now := s.now().UTC()
		se := &vigil.Session{Hash: HashSecret(fresh), AccountID: a.ID, Method: own.Method, Created: own.Created, LastSeen: now, Expires: own.Expires}
		if err := s.accounts.CreateSession(ctx, se); err != nil {
			return "", err
		}
	}
	s.cfg.Events(ctx, Event{Action: "password-change", AccountID: a.ID, Username: a.Username, Role: a.Role, Outcome: "success", Source: source,
		Detail: fmt.Sprintf("all sessions ended, %d tokens revoked", n)})
	return fresh, nil
}

// endAccess ends every session and revokes every token of an account, and
// drops cached principals; it returns the number of tokens revoked.
func (s *Service) endAccess(ctx context.Context, accountID string) (int, error) {
	if err := s.accounts.DeleteSessions(ctx, accountID); err != nil {
		return 0, fmt.Errorf("auth: end sessions: %w", err)
	}
	n, err := s.accounts.RevokeTokens(ctx, accountID)
	s.forget()
	if err != nil {
		return 0, fmt.Errorf("auth: revoke tokens: %w", err)
	}
	return n, nil
}
