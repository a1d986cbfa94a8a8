package vigil

import (
	"context"
	"log/slog"
	"time"
)

// Account is a user, device or integration that can authenticate. Secrets
// are stored only as hashes (passwords: argon2id; tokens, sessions and
// recovery codes: SHA-256 of high-entropy random values).
type Account struct {
	ID           string
	Username     string
	Role         Role
	Patient      string  // linked Patient id (patient accounts)
	Practitioner string  // linked Practitioner id (clinician accounts)
	Device       string  // linked Device id (device accounts)
	Scopes       []Scope // service accounts: what they may do
	// PasswordHash is a PHC-format argon2id hash; empty for accounts that
	// log in only with tokens (devices, services).
	PasswordHash string
	// TOTPSecret is the RFC 6238 shared secret (base32); TOTPEnabled says
	// whether enrolment was confirmed with a valid code.
	TOTPSecret  string
	TOTPEnabled bool
	// TOTPLastStep is the time step of the last accepted code, so that a
	// code is never accepted twice (RFC 6238 section 5.2).
	TOTPLastStep int64
	// RecoveryCodes are SHA-256 hashes (hex) of unused recovery codes.
	RecoveryCodes []string
	// FailedLogins counts consecutive failed password or code checks;
	// LockedUntil is when a lockout after too many of them ends.
	FailedLogins int
	LockedUntil  time.Time
	Disabled     bool
	Created      time.Time
}

// LogValue keeps secrets out of logs.
func (a *Account) LogValue() slog.Value { return slog.StringValue(a.ID) }

// Token is a bearer token for API clients and devices. Only the SHA-256
// hash of the secret is stored.
type Token struct {
	ID        string
	Hash      string // hex SHA-256 of the secret
	AccountID string
	Scopes    []Scope // nil: what the account may do
	Created   time.Time
	Expires   time.Time
	Revoked   bool
}

// Session is a browser login session; only the hash of its cookie value is
// stored.
type Session struct {
	Hash      string // hex SHA-256 of the cookie value
	AccountID string
	Method    string
	Created   time.Time
	LastSeen  time.Time
	Expires   time.Time // absolute end, whatever the activity
}

// AccountStore keeps accounts, tokens, sessions and break-the-glass grants.
// Implementations are safe for concurrent use. Lookups return ErrNotFound
// when nothing matches; creating a duplicate username returns ErrConflict.
type AccountStore interface {
	CreateAccount(ctx context.Context, a *Account) error
	Account(ctx context.Context, id string) (*Account, error)
	AccountByUsername(ctx context.Context, username string) (*Account, error)
	// UpdateAccount replaces every field of the stored account a.ID.
	UpdateAccount(ctx context.Context, a *Account) error
	// RecordLoginFailure counts one failed check atomically; at threshold
	// consecutive failures it locks the account until lockUntil and resets
	// the count. It reports whether this failure locked the account.
	RecordLoginFailure(ctx context.Context, id string, threshold int, lockUntil time.Time) (locked bool, err error)
	// ResetLoginFailures sets the failure count to 0.
	ResetLoginFailures(ctx context.Context, id string) error
	// UseTOTPStep records step as the last accepted TOTP step if it is
	// newer than the stored one, atomically; false means the code was
	// used already (RFC 6238 section 5.2).
	UseTOTPStep(ctx context.Context, id string, step int64) (bool, error)
	// UseRecoveryCode removes one recovery code hash atomically; false
	// means it was not (or no longer) there.
	UseRecoveryCode(ctx context.Context, id, hash string) (bool, error)
	ListAccounts(ctx context.Context) ([]Account, error)
	// SetAccountDisabled locks (true) or unlocks (false) an account in one
	// statement; unlocking also clears the failure count and any lockout
	// after failed logins.
	SetAccountDisabled(ctx context.Context, id string, disabled bool) error
	// ResetSecondFactor removes an account's TOTP secret and recovery codes
	// in one statement: its next login must enrol again where the role
	// requires a second factor.
	ResetSecondFactor(ctx context.Context, id string) error

	CreateToken(ctx context.Context, t *Token) error
	TokenByHash(ctx context.Context, hash string) (*Token, error)
	RevokeToken(ctx context.Context, id string) error
	ListTokens(ctx context.Context, accountID string) ([]Token, error)
	// RevokeTokens revokes every token of an account not revoked yet and
	// returns how many it revoked (password change, admin revocation).
	RevokeTokens(ctx context.Context, accountID string) (int, error)

	CreateSession(ctx context.Context, s *Session) error
	SessionByHash(ctx context.Context, hash string) (*Session, error)
	TouchSession(ctx context.Context, hash string, t time.Time) error
	DeleteSession(ctx context.Context, hash string) error
	// DeleteSessions ends every session of an account (password change,
	// lock, second-factor reset, admin revocation).
	DeleteSessions(ctx context.Context, accountID string) error

	CreateBreakGlass(ctx context.Context, g *BreakGlass) error
	// ActiveBreakGlass lists the grants of an account that have not
	// expired at now.
	ActiveBreakGlass(ctx context.Context, accountID string, now time.Time) ([]BreakGlass, error)
	// ListBreakGlass lists all grants created at or after since, newest first.
	ListBreakGlass(ctx context.Context, since time.Time) ([]BreakGlass, error)

	Close() error
}
