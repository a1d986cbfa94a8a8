// Package accountsql implements vigil.AccountStore over database/sql, for
// both SQLite and PostgreSQL: the schema uses only TEXT, INTEGER and
// BIGINT columns, times are Unix milliseconds, and queries are written with
// ? placeholders that are rewritten to $n for PostgreSQL. The sqlite and
// postgres packages open the database and hand it here.
package accountsql

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/internal/sqldb"
)

// Dialect names the SQL flavour (sqldb.SQLite or sqldb.Postgres).
type Dialect = sqldb.Dialect

// The dialects.
const (
	SQLite   = sqldb.SQLite
	Postgres = sqldb.Postgres
)

// schema is applied with CREATE … IF NOT EXISTS on open; later versions
// add statements to the end and bump schemaVersion.
var schema = []string{
	`CREATE TABLE IF NOT EXISTS auth_accounts (
		id TEXT PRIMARY KEY,
		username TEXT NOT NULL UNIQUE,
		role TEXT NOT NULL,
		patient TEXT NOT NULL DEFAULT '',
		practitioner TEXT NOT NULL DEFAULT '',
		device TEXT NOT NULL DEFAULT '',
		scopes TEXT NOT NULL DEFAULT '',
		password_hash TEXT NOT NULL DEFAULT '',
		totp_secret TEXT NOT NULL DEFAULT '',
		totp_enabled INTEGER NOT NULL DEFAULT 0,
		totp_last BIGINT NOT NULL DEFAULT 0,
		recovery_codes TEXT NOT NULL DEFAULT '[]',
		failed_logins INTEGER NOT NULL DEFAULT 0,
		locked_until BIGINT NOT NULL DEFAULT 0,
		disabled INTEGER NOT NULL DEFAULT 0,
		created BIGINT NOT NULL
	)`,
	`CREATE TABLE IF NOT EXISTS auth_tokens (
		id TEXT PRIMARY KEY,
		hash TEXT NOT NULL UNIQUE,
		account_id TEXT NOT NULL REFERENCES auth_accounts(id),
		scopes TEXT NOT NULL DEFAULT '',
		has_scopes INTEGER NOT NULL DEFAULT 0,
		created BIGINT NOT NULL,
		expires BIGINT NOT NULL,
		revoked INTEGER NOT NULL DEFAULT 0
	)`,
	`CREATE INDEX IF NOT EXISTS auth_tokens_account ON auth_tokens (account_id)`,
	`CREATE TABLE IF NOT EXISTS auth_sessions (
		hash TEXT PRIMARY KEY,
		account_id TEXT NOT NULL REFERENCES auth_accounts(id),
		method TEXT NOT NULL,
		created BIGINT NOT NULL,
		last_seen BIGINT NOT NULL,
		expires BIGINT NOT NULL
	)`,
	`CREATE INDEX IF NOT EXISTS auth_sessions_account ON auth_sessions (account_id)`,
	`CREATE TABLE IF NOT EXISTS auth_break_glass (
		id TEXT PRIMARY KEY,
		account_id TEXT NOT NULL REFERENCES auth_accounts(id),
		patient TEXT NOT NULL,
		reason TEXT NOT NULL,
		created BIGINT NOT NULL,
		expires BIGINT NOT NULL
	)`,
	`CREATE INDEX IF NOT EXISTS auth_break_glass_account ON auth_break_glass (account_id, expires)`,
}

// Store is a vigil.AccountStore on a *sql.DB.
type Store struct {
	db      *sql.DB
	dialect Dialect
}

var _ vigil.AccountStore = (*Store)(nil)

// Open creates the tables when missing and returns the store. The Store
// owns db and closes it in Close.
func Open(ctx context.Context, db *sql.DB, d Dialect) (*Store, error) {
	s := &Store{db: db, dialect: d}
	for _, q := range schema {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return nil, fmt.Errorf("accounts: schema: %w", err)
		}
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// q rewrites ? placeholders to $n for PostgreSQL.
func (s *Store) q(query string) string { return sqldb.Rebind(s.dialect, query) }

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

const accountCols = "id, username, role, patient, practitioner, device, scopes, password_hash, totp_secret, totp_enabled, totp_last, recovery_codes, failed_logins, locked_until, disabled, created"

// CreateAccount implements vigil.AccountStore.
func (s *Store) CreateAccount(ctx context.Context, a *vigil.Account) error {
	codes, err := json.Marshal(nonNil(a.RecoveryCodes))
	if err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx, s.q("INSERT INTO auth_accounts ("+accountCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
		a.ID, a.Username, string(a.Role), a.Patient, a.Practitioner, a.Device, vigil.FormatScopes(a.Scopes), a.PasswordHash,
		a.TOTPSecret, b2i(a.TOTPEnabled), a.TOTPLastStep, string(codes), a.FailedLogins, sqldb.Millis(a.LockedUntil), b2i(a.Disabled), sqldb.Millis(a.Created))
	if err != nil {
		if sqldb.IsUnique(err) {
			return vigil.Errorf(vigil.ErrConflict, "an account with this username exists")
		}
		return fmt.Errorf("accounts: create: %w", err)
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

type scanner interface{ Scan(...any) error }

func scanAccount(r scanner) (*vigil.Account, error) {
	var a vigil.Account
	var role, scopes, codes string
	var totp, disabled int
	var locked, created int64
	if err := r.Scan(&a.ID, &a.Username, &role, &a.Patient, &a.Practitioner, &a.Device, &scopes, &a.PasswordHash,
		&a.TOTPSecret, &totp, &a.TOTPLastStep, &codes, &a.FailedLogins, &locked, &disabled, &created); err != nil {
		return nil, err
	}
	a.Role = vigil.Role(role)
	var err error
	if a.Scopes, err = vigil.ParseScopes(scopes); err != nil {
		return nil, fmt.Errorf("accounts: stored scopes: %w", err)
	}
	if err := json.Unmarshal([]byte(codes), &a.RecoveryCodes); err != nil {
		return nil, fmt.Errorf("accounts: stored recovery codes: %w", err)
	}
	a.TOTPEnabled, a.Disabled = totp == 1, disabled == 1
	a.LockedUntil, a.Created = sqldb.FromMillis(locked), sqldb.FromMillis(created)
	return &a, nil
}

func (s *Store) oneAccount(ctx context.Context, where string, arg any) (*vigil.Account, error) {
	a, err := scanAccount(s.db.QueryRowContext(ctx, s.q("SELECT "+accountCols+" FROM auth_accounts WHERE "+where+" = ?"), arg))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, vigil.Errorf(vigil.ErrNotFound, "no such account")
	}
	if err != nil {
		return nil, fmt.Errorf("accounts: read: %w", err)
	}
	return a, nil
}

// Account implements vigil.AccountStore.
func (s *Store) Account(ctx context.Context, id string) (*vigil.Account, error) {
	return s.oneAccount(ctx, "id", id)
}

// AccountByUsername implements vigil.AccountStore.
func (s *Store) AccountByUsername(ctx context.Context, username string) (*vigil.Account, error) {
	return s.oneAccount(ctx, "username", username)
}

// UpdateAccount implements vigil.AccountStore.
func (s *Store) UpdateAccount(ctx context.Context, a *vigil.Account) error {
	codes, err := json.Marshal(nonNil(a.RecoveryCodes))
	if err != nil {
		return err
	}
	res, err := s.db.ExecContext(ctx, s.q(`UPDATE auth_accounts SET username = ?, role = ?, patient = ?, practitioner = ?, device = ?,
		scopes = ?, password_hash = ?, totp_secret = ?, totp_enabled = ?, totp_last = ?, recovery_codes = ?, failed_logins = ?, locked_until = ?,
		disabled = ? WHERE id = ?`),
		a.Username, string(a.Role), a.Patient, a.Practitioner, a.Device, vigil.FormatScopes(a.Scopes), a.PasswordHash,
		a.TOTPSecret, b2i(a.TOTPEnabled), a.TOTPLastStep, string(codes), a.FailedLogins, sqldb.Millis(a.LockedUntil), b2i(a.Disabled), a.ID)
	if err != nil {
		if sqldb.IsUnique(err) {
			return vigil.Errorf(vigil.ErrConflict, "an account with this username exists")
		}
		return fmt.Errorf("accounts: update: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return vigil.Errorf(vigil.ErrNotFound, "no such account")
	}
	return nil
}

// RecordLoginFailure implements vigil.AccountStore with one UPDATE, so
// that concurrent failures all count.
func (s *Store) RecordLoginFailure(ctx context.Context, id string, threshold int, lockUntil time.Time) (bool, error) {
	var locked int64
	err := s.db.QueryRowContext(ctx, s.q(`UPDATE auth_accounts SET
		locked_until = CASE WHEN failed_logins + 1 >= ? THEN ? ELSE locked_until END,
		failed_logins = CASE WHEN failed_logins + 1 >= ? THEN 0 ELSE failed_logins + 1 END
		WHERE id = ? RETURNING locked_until`), threshold, sqldb.Millis(lockUntil), threshold, id).Scan(&locked)
	if errors.Is(err, sql.ErrNoRows) {
		return false, vigil.Errorf(vigil.ErrNotFound, "no such account")
	}
	if err != nil {
		return false, fmt.Errorf("accounts: record failure: %w", err)
	}
	return locked == sqldb.Millis(lockUntil), nil
}

// ResetLoginFailures implements vigil.AccountStore.
func (s *Store) ResetLoginFailures(ctx context.Context, id string) error {
	if _, err := s.db.ExecContext(ctx, s.q("UPDATE auth_accounts SET failed_logins = 0 WHERE id = ? AND failed_logins <> 0"), id); err != nil {
		return fmt.Errorf("accounts: reset failures: %w", err)
	}
	return nil
}

// UseTOTPStep implements vigil.AccountStore (compare and set).
func (s *Store) UseTOTPStep(ctx context.Context, id string, step int64) (bool, error) {
	res, err := s.db.ExecContext(ctx, s.q("UPDATE auth_accounts SET totp_last = ? WHERE id = ? AND totp_last < ?"), step, id, step)
	if err != nil {
		return false, fmt.Errorf("accounts: use totp step: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// UseRecoveryCode implements vigil.AccountStore (compare and set on the
// stored list, retried while others change it).
func (s *Store) UseRecoveryCode(ctx context.Context, id, hash string) (bool, error) {
	for range 10 {
		var codes string
		if err := s.db.QueryRowContext(ctx, s.q("SELECT recovery_codes FROM auth_accounts WHERE id = ?"), id).Scan(&codes); err != nil {
			return false, fmt.Errorf("accounts: recovery codes: %w", err)
		}
		var list []string
		if err := json.Unmarshal([]byte(codes), &list); err != nil {
			return false, fmt.Errorf("accounts: stored recovery codes: %w", err)
		}
		i := slices.Index(list, hash)
		if i < 0 {
			return false, nil
		}
		next, err := json.Marshal(slices.Delete(list, i, i+1))
		if err != nil {
			return false, err
		}
		res, err := s.db.ExecContext(ctx, s.q("UPDATE auth_accounts SET recovery_codes = ? WHERE id = ? AND recovery_codes = ?"), string(next), id, codes)
		if err != nil {
			return false, fmt.Errorf("accounts: use recovery code: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return true, nil
		}
	}
	return false, vigil.Errorf(vigil.ErrConflict, "recovery codes changed concurrently; retry")
}

// ListAccounts implements vigil.AccountStore.
func (s *Store) ListAccounts(ctx context.Context) ([]vigil.Account, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT "+accountCols+" FROM auth_accounts ORDER BY username")
	if err != nil {
		return nil, fmt.Errorf("accounts: list: %w", err)
	}
	defer rows.Close()
	var out []vigil.Account
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, fmt.Errorf("accounts: list: %w", err)
		}
		out = append(out, *a)
	}
	return out, rows.Err()
}

// SetAccountDisabled implements vigil.AccountStore.
func (s *Store) SetAccountDisabled(ctx context.Context, id string, disabled bool) error {
	query := "UPDATE auth_accounts SET disabled = 1 WHERE id = ?"
	if !disabled {
		query = "UPDATE auth_accounts SET disabled = 0, failed_logins = 0, locked_until = 0 WHERE id = ?"
	}
	return s.updateOne(ctx, "set disabled", query, id)
}

// ResetSecondFactor implements vigil.AccountStore. The last accepted TOTP
// step is kept: it only ever grows.
func (s *Store) ResetSecondFactor(ctx context.Context, id string) error {
	return s.updateOne(ctx, "reset second factor",
		"UPDATE auth_accounts SET totp_enabled = 0, totp_secret = '', recovery_codes = '[]' WHERE id = ?", id)
}

// updateOne runs an UPDATE of one account, ErrNotFound when there is none.
func (s *Store) updateOne(ctx context.Context, what, query, id string) error {
	res, err := s.db.ExecContext(ctx, s.q(query), id)
	if err != nil {
		return fmt.Errorf("accounts: %s: %w", what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("accounts: %s: %w", what, err)
	}
	if n == 0 {
		return vigil.Errorf(vigil.ErrNotFound, "no such account")
	}
	return nil
}

// CreateToken implements vigil.AccountStore.
func (s *Store) CreateToken(ctx context.Context, t *vigil.Token) error {
	_, err := s.db.ExecContext(ctx, s.q("INSERT INTO auth_tokens (id, hash, account_id, scopes, has_scopes, created, expires, revoked) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"),
		t.ID, t.Hash, t.AccountID, vigil.FormatScopes(t.Scopes), b2i(t.Scopes != nil), sqldb.Millis(t.Created), sqldb.Millis(t.Expires), b2i(t.Revoked))
	if err != nil {
		return fmt.Errorf("accounts: create token: %w", err)
	}
	return nil
}

const tokenCols = "id, hash, account_id, scopes, has_scopes, created, expires, revoked"

func scanToken(r scanner) (*vigil.Token, error) {
	var t vigil.Token
	var scopes string
	var has, revoked int
	var created, expires int64
	if err := r.Scan(&t.ID, &t.Hash, &t.AccountID, &scopes, &has, &created, &expires, &revoked); err != nil {
		return nil, err
	}
	if has == 1 {
		sc, err := vigil.ParseScopes(scopes)
		if err != nil {
			return nil, fmt.Errorf("accounts: stored token scopes: %w", err)
		}
		t.Scopes = append([]vigil.Scope{}, sc...)
	}
	t.Created, t.Expires, t.Revoked = sqldb.FromMillis(created), sqldb.FromMillis(expires), revoked == 1
	return &t, nil
}

// TokenByHash implements vigil.AccountStore.
func (s *Store) TokenByHash(ctx context.Context, hash string) (*vigil.Token, error) {
	t, err := scanToken(s.db.QueryRowContext(ctx, s.q("SELECT "+tokenCols+" FROM auth_tokens WHERE hash = ?"), hash))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, vigil.Errorf(vigil.ErrNotFound, "no such token")
	}
	if err != nil {
		return nil, fmt.Errorf("accounts: read token: %w", err)
	}
	return t, nil
}

// RevokeToken implements vigil.AccountStore.
func (s *Store) RevokeToken(ctx context.Context, id string) error {
	res, err := s.db.ExecContext(ctx, s.q("UPDATE auth_tokens SET revoked = 1 WHERE id = ?"), id)
	if err != nil {
		return fmt.Errorf("accounts: revoke token: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return vigil.Errorf(vigil.ErrNotFound, "no such token")
	}
	return nil
}

// RevokeTokens implements vigil.AccountStore.
func (s *Store) RevokeTokens(ctx context.Context, accountID string) (int, error) {
	res, err := s.db.ExecContext(ctx, s.q("UPDATE auth_tokens SET revoked = 1 WHERE account_id = ? AND revoked = 0"), accountID)
	if err != nil {
		return 0, fmt.Errorf("accounts: revoke tokens: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("accounts: revoke tokens: %w", err)
	}
	return int(n), nil
}

// ListTokens implements vigil.AccountStore.
func (s *Store) ListTokens(ctx context.Context, accountID string) ([]vigil.Token, error) {
	rows, err := s.db.QueryContext(ctx, s.q("SELECT "+tokenCols+" FROM auth_tokens WHERE account_id = ? ORDER BY created"), accountID)
	if err != nil {
		return nil, fmt.Errorf("accounts: list tokens: %w", err)
	}
	defer rows.Close()
	var out []vigil.Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *t)
	}
	return out, rows.Err()
}

// CreateSession implements vigil.AccountStore.
func (s *Store) CreateSession(ctx context.Context, se *vigil.Session) error {
	_, err := s.db.ExecContext(ctx, s.q("INSERT INTO auth_sessions (hash, account_id, method, created, last_seen, expires) VALUES (?, ?, ?, ?, ?, ?)"),
		se.Hash, se.AccountID, se.Method, sqldb.Millis(se.Created), sqldb.Millis(se.LastSeen), sqldb.Millis(se.Expires))
	if err != nil {
		return fmt.Errorf("accounts: create session: %w", err)
	}
	return nil
}

// SessionByHash implements vigil.AccountStore.
func (s *Store) SessionByHash(ctx context.Context, hash string) (*vigil.Session, error) {
	var se vigil.Session
	var created, seen, expires int64
	err := s.db.QueryRowContext(ctx, s.q("SELECT hash, account_id, method, created, last_seen, expires FROM auth_sessions WHERE hash = ?"), hash).
		Scan(&se.Hash, &se.AccountID, &se.Method, &created, &seen, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, vigil.Errorf(vigil.ErrNotFound, "no such session")
	}
	if err != nil {
		return nil, fmt.Errorf("accounts: read session: %w", err)
	}
	se.Created, se.LastSeen, se.Expires = sqldb.FromMillis(created), sqldb.FromMillis(seen), sqldb.FromMillis(expires)
	return &se, nil
}

// TouchSession implements vigil.AccountStore.
func (s *Store) TouchSession(ctx context.Context, hash string, t time.Time) error {
	if _, err := s.db.ExecContext(ctx, s.q("UPDATE auth_sessions SET last_seen = ? WHERE hash = ?"), sqldb.Millis(t), hash); err != nil {
		return fmt.Errorf("accounts: touch session: %w", err)
	}
	return nil
}

// DeleteSession implements vigil.AccountStore.
func (s *Store) DeleteSession(ctx context.Context, hash string) error {
	if _, err := s.db.ExecContext(ctx, s.q("DELETE FROM auth_sessions WHERE hash = ?"), hash); err != nil {
		return fmt.Errorf("accounts: delete session: %w", err)
	}
	return nil
}

// DeleteSessions implements vigil.AccountStore.
func (s *Store) DeleteSessions(ctx context.Context, accountID string) error {
	if _, err := s.db.ExecContext(ctx, s.q("DELETE FROM auth_sessions WHERE account_id = ?"), accountID); err != nil {
		return fmt.Errorf("accounts: delete sessions: %w", err)
	}
	return nil
}

// CreateBreakGlass implements vigil.AccountStore.
func (s *Store) CreateBreakGlass(ctx context.Context, g *vigil.BreakGlass) error {
	_, err := s.db.ExecContext(ctx, s.q("INSERT INTO auth_break_glass (id, account_id, patient, reason, created, expires) VALUES (?, ?, ?, ?, ?, ?)"),
		g.ID, g.AccountID, g.Patient, g.Reason, sqldb.Millis(g.Created), sqldb.Millis(g.Expires))
	if err != nil {
		return fmt.Errorf("accounts: create break-glass grant: %w", err)
	}
	return nil
}

func (s *Store) grants(ctx context.Context, query string, args ...any) ([]vigil.BreakGlass, error) {
	rows, err := s.db.QueryContext(ctx, s.q("SELECT id, account_id, patient, reason, created, expires FROM auth_break_glass WHERE "+query), args...)
	if err != nil {
		return nil, fmt.Errorf("accounts: break-glass grants: %w", err)
	}
	defer rows.Close()
	var out []vigil.BreakGlass
	for rows.Next() {
		var g vigil.BreakGlass
		var created, expires int64
		if err := rows.Scan(&g.ID, &g.AccountID, &g.Patient, &g.Reason, &created, &expires); err != nil {
			return nil, fmt.Errorf("accounts: break-glass grants: %w", err)
		}
		g.Created, g.Expires = sqldb.FromMillis(created), sqldb.FromMillis(expires)
		out = append(out, g)
	}
	return out, rows.Err()
}

// ActiveBreakGlass implements vigil.AccountStore.
func (s *Store) ActiveBreakGlass(ctx context.Context, accountID string, now time.Time) ([]vigil.BreakGlass, error) {
	return s.grants(ctx, "account_id = ? AND expires > ? ORDER BY created", accountID, sqldb.Millis(now))
}

// ListBreakGlass implements vigil.AccountStore.
func (s *Store) ListBreakGlass(ctx context.Context, since time.Time) ([]vigil.BreakGlass, error) {
	return s.grants(ctx, "created >= ? ORDER BY created DESC", sqldb.Millis(since))
}
