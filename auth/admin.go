package auth

import (
	"context"
	"fmt"
	"time"

	"github.com/vigilhealth/vigil"
)

// CheckAdmin returns nil when p may manage accounts and watch security
// alerts: an admin logged in with a second factor, or holding a token that
// is not narrowed to scopes. Otherwise it returns an error of kind
// vigil.ErrUnauthorized (no caller) or vigil.ErrForbidden. It records
// nothing; RequireAdmin also audits a refusal.
func CheckAdmin(p *vigil.Principal) error {
	switch {
	case p == nil:
		return vigil.Errorf(vigil.ErrUnauthorized, "authentication required")
	case p.Role != vigil.RoleAdmin:
		return vigil.Errorf(vigil.ErrForbidden, "only admins may do this")
	case p.NeedsSecondFactor || (p.Method != "password+totp" && p.Method != "token"):
		return vigil.Errorf(vigil.ErrForbidden, "admin functions need a login with a second factor")
	case p.Scopes != nil:
		return vigil.Errorf(vigil.ErrForbidden, "a token narrowed to scopes cannot use admin functions")
	}
	return nil
}

// RequireAdmin is CheckAdmin with the refusal of an authenticated caller
// audited as permission-denied; what names the function refused (such as
// "account management").
func (s *Service) RequireAdmin(ctx context.Context, p *vigil.Principal, what, source string) error {
	err := CheckAdmin(p)
	if err != nil && p != nil {
		s.cfg.Events(ctx, Event{Action: "permission-denied", AccountID: p.AccountID, Username: p.Username, Role: p.Role,
			Outcome: "denied", Source: source, Detail: what})
	}
	return err
}

// AccountInfo is what admins see of an account: never a password hash, a
// TOTP secret or a recovery code.
type AccountInfo struct {
	ID           string     `json:"id"`
	Username     string     `json:"username"`
	Role         vigil.Role `json:"role"`
	Patient      string     `json:"patient,omitempty"`
	Practitioner string     `json:"practitioner,omitempty"`
	Device       string     `json:"device,omitempty"`
	Scope        string     `json:"scope,omitempty"`
	// Password says whether the account can log in with a password
	// (devices and services usually cannot: they use tokens).
	Password bool `json:"password"`
	// SecondFactor says whether a TOTP second factor is enrolled.
	SecondFactor bool `json:"second_factor"`
	// Locked says whether an admin locked the account.
	Locked bool `json:"locked"`
	// LockedUntil is the end of a lockout after failed logins, while one
	// lasts.
	LockedUntil time.Time `json:"locked_until,omitzero"`
	Created     time.Time `json:"created"`
}

func (s *Service) info(a *vigil.Account) AccountInfo {
	in := AccountInfo{ID: a.ID, Username: a.Username, Role: a.Role, Patient: a.Patient, Practitioner: a.Practitioner, Device: a.Device,
		Scope: vigil.FormatScopes(a.Scopes), Password: a.PasswordHash != "", SecondFactor: a.TOTPEnabled, Locked: a.Disabled,
		Created: a.Created}
	if s.now().Before(a.LockedUntil) {
		in.LockedUntil = a.LockedUntil
	}
	return in
}

// target names the account an admin acted on, for the audit trail.
func target(a *vigil.Account) string { return "account " + a.ID + " (" + a.Username + ")" }

// adminEvent records what admin by did to account a.
func (s *Service) adminEvent(ctx context.Context, by *vigil.Principal, action, source, detail string) {
	s.cfg.Events(ctx, Event{Action: action, AccountID: by.AccountID, Username: by.Username, Role: by.Role, Outcome: "success",
		Source: source, Detail: detail})
}

// ListAccounts returns every account, by username, for admin by
// (audited).
func (s *Service) ListAccounts(ctx context.Context, by *vigil.Principal, source string) ([]AccountInfo, error) {
	if err := s.RequireAdmin(ctx, by, "account management", source); err != nil {
		return nil, err
	}
	as, err := s.accounts.ListAccounts(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]AccountInfo, len(as))
	for i := range as {
		out[i] = s.info(&as[i])
	}
	s.adminEvent(ctx, by, "account-list", source, fmt.Sprintf("%d accounts listed", len(out)))
	return out, nil
}

// CreateAccountAs creates an account for admin by, with the rules of
// CreateAccount, audited with by as the actor.
func (s *Service) CreateAccountAs(ctx context.Context, by *vigil.Principal, spec AccountSpec, source string) (AccountInfo, error) {
	if err := s.RequireAdmin(ctx, by, "account management", source); err != nil {
		return AccountInfo{}, err
	}
	a, err := s.createAccount(ctx, spec)
	if err != nil {
		return AccountInfo{}, err
	}
	s.adminEvent(ctx, by, "account-create", source, "created "+target(a)+" with role "+string(a.Role))
	return s.info(a), nil
}

// account loads the account an admin acts on.
func (s *Service) account(ctx context.Context, by *vigil.Principal, id, source string) (*vigil.Account, error) {
	if err := s.RequireAdmin(ctx, by, "account management", source); err != nil {
		return nil, err
	}
	return s.accounts.Account(ctx, id)
}

// LockAccount locks an account for admin by: it can no longer log in, its
// sessions end at once and its tokens stop working (they work again after
// UnlockAccount unless revoked). An admin cannot lock their own account.
func (s *Service) LockAccount(ctx context.Context, by *vigil.Principal, id, source string) (AccountInfo, error) {
	a, err := s.account(ctx, by, id, source)
	if err != nil {
		return AccountInfo{}, err
	}
	if a.ID == by.AccountID {
		return AccountInfo{}, vigil.Errorf(vigil.ErrInvalid, "an admin cannot lock their own account")
	}
	if err := s.accounts.SetAccountDisabled(ctx, a.ID, true); err != nil {
		return AccountInfo{}, err
	}
	a.Disabled = true
	if err := s.accounts.DeleteSessions(ctx, a.ID); err != nil {
		return AccountInfo{}, fmt.Errorf("auth: end sessions: %w", err)
	}
	s.forget()
	s.adminEvent(ctx, by, "account-lock", source, "locked "+target(a))
	return s.info(a), nil
}

// UnlockAccount lifts an admin's lock and any lockout after failed logins.
func (s *Service) UnlockAccount(ctx context.Context, by *vigil.Principal, id, source string) (AccountInfo, error) {
	a, err := s.account(ctx, by, id, source)
	if err != nil {
		return AccountInfo{}, err
	}
	if err := s.accounts.SetAccountDisabled(ctx, a.ID, false); err != nil {
		return AccountInfo{}, err
	}
	a.Disabled, a.FailedLogins, a.LockedUntil = false, 0, time.Time{}
	s.forget()
	s.adminEvent(ctx, by, "account-update", source, "unlocked "+target(a))
	return s.info(a), nil
}

// ResetSecondFactor removes an account's second factor and recovery codes
// (a lost authenticator) and ends its sessions: its next login must enrol
// again where the role requires a second factor. Its tokens keep working;
// RevokeAccess ends them too.
func (s *Service) ResetSecondFactor(ctx context.Context, by *vigil.Principal, id, source string) (AccountInfo, error) {
	a, err := s.account(ctx, by, id, source)
	if err != nil {
		return AccountInfo{}, err
	}
	if err := s.accounts.ResetSecondFactor(ctx, a.ID); err != nil {
		return AccountInfo{}, err
	}
	a.TOTPEnabled, a.TOTPSecret, a.RecoveryCodes = false, "", nil
	if err := s.accounts.DeleteSessions(ctx, a.ID); err != nil {
		return AccountInfo{}, fmt.Errorf("auth: end sessions: %w", err)
	}
	s.forget()
	s.adminEvent(ctx, by, "2fa-disable", source, "second factor reset by an admin for "+target(a))
	return s.info(a), nil
}

// RevokeAccess ends every session and revokes every token of an account
// (a stolen laptop, a leaked token), for admin by, and returns the number
// of tokens revoked. The account itself stays usable: its owner logs in
// again.
func (s *Service) RevokeAccess(ctx context.Context, by *vigil.Principal, id, source string) (int, error) {
	a, err := s.account(ctx, by, id, source)
	if err != nil {
		return 0, err
	}
	n, err := s.endAccess(ctx, a.ID)
	if err != nil {
		return 0, err
	}
	s.adminEvent(ctx, by, "token-revoke", source, fmt.Sprintf("all sessions and %d tokens of %s revoked", n, target(a)))
	return n, nil
}
