package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/audit"
	"github.com/vigilhealth/vigil/auth"
	"github.com/vigilhealth/vigil/httpapi"
	"github.com/vigilhealth/vigil/sqlite"
)

// auditKeyPath is where the audit trail's signing key lives: --audit-key,
// or audit.key in the SQLite data directory. With PostgreSQL the key must
// be given: it must not live in the database it protects.
func auditKeyPath(cfg Config) (string, error) {
	if cfg.AuditKey != "" {
		return cfg.AuditKey, nil
	}
	if cfg.DB != "" {
		return "", errors.New("--audit-key FILE is required with --db (the audit signing key must live outside the database)")
	}
	return filepath.Join(filepath.Clean(cfg.DataDir), audit.KeyFileName), nil
}

// openAuditStore returns the audit store of the resource store: the
// audit tables of the SQLite vigil.db (appends share the resource writer's
// commits, and creates, updates and deletes commit their record with the
// change), or of the PostgreSQL database.
func openAuditStore(store vigil.ResourceStore) (vigil.AuditStore, error) {
	switch s := store.(type) {
	case *sqlite.DB:
		return s.Audit()
	case vigil.AuditStore:
		return s, nil
	}
	return nil, errors.New("the store keeps no audit trail")
}

// openTrail opens the audit trail with its key and witness file.
func openTrail(ctx context.Context, cfg Config, store vigil.AuditStore) (*audit.Trail, error) {
	keyPath, err := auditKeyPath(cfg)
	if err != nil {
		return nil, err
	}
	key, err := audit.LoadOrCreateKey(keyPath)
	if err != nil {
		return nil, err
	}
	t, err := audit.Open(ctx, store, audit.Options{Key: key, WitnessFile: audit.WitnessPath(keyPath), Logger: cfg.Logger})
	if err != nil {
		return nil, fmt.Errorf("open audit trail: %w", err)
	}
	return t, nil
}

// maxAuditRefs bounds the resources listed in one record (a large search
// page is summarised); the patients are always all listed.
const maxAuditRefs = 200

// trailAuditor records every FHIR and API interaction in the trail.
type trailAuditor struct {
	trail *audit.Trail
}

var actionOf = map[httpapi.Action]vigil.AuditAction{
	httpapi.ActionRead: vigil.AuditRead, httpapi.ActionVRead: vigil.AuditVRead, httpapi.ActionSearch: vigil.AuditSearch,
	httpapi.ActionHistory: vigil.AuditHistory, httpapi.ActionCreate: vigil.AuditCreate, httpapi.ActionUpdate: vigil.AuditUpdate,
	httpapi.ActionPatch: vigil.AuditPatch, httpapi.ActionDelete: vigil.AuditDelete, httpapi.ActionEverything: vigil.AuditEverything,
	httpapi.ActionBatch: vigil.AuditUpdate, // a batch or transaction: its resources are listed
}

func outcomeOf(err error) vigil.AuditOutcome {
	switch {
	case err == nil:
		return vigil.AuditSuccess
	case errors.Is(err, vigil.ErrForbidden), errors.Is(err, vigil.ErrUnauthorized):
		return vigil.AuditDenied
	}
	return vigil.AuditFailed
}

// Record implements httpapi.Auditor.
func (t *trailAuditor) Record(ctx context.Context, a *httpapi.Access) error {
	rec, ok := t.record(ctx, a)
	if !ok {
		return nil // capabilities: no health data
	}
	return t.trail.Append(ctx, &rec)
}

// InCommit implements httpapi.CommitAuditor: the record of a successful
// write, listing what it stored, is built on the store's writer and
// committed with the change.
func (t *trailAuditor) InCommit(ctx context.Context, a *httpapi.Access) (context.Context, func() bool) {
	if _, ok := actionOf[a.Action]; !ok {
		return ctx, func() bool { return false }
	}
	ca := &vigil.CommitAudit{Chain: t.trail, Record: func(written []string) vigil.AuditRecord {
		done := *a
		done.Err, done.Touched = nil, written
		rec, _ := t.record(ctx, &done)
		return rec
	}}
	return vigil.WithCommitAudit(ctx, ca), ca.Appended
}

// record builds the audit record of a; false for interactions that touch
// no health data.
func (t *trailAuditor) record(ctx context.Context, a *httpapi.Access) (vigil.AuditRecord, bool) {
	act, ok := actionOf[a.Action]
	if !ok {
		return vigil.AuditRecord{}, false
	}
	rec := vigil.AuditRecord{Action: act, Outcome: outcomeOf(a.Err), Source: a.Source, RequestID: a.RequestID}
	p := vigil.PrincipalFrom(ctx)
	if p != nil {
		rec.ActorID, rec.ActorName, rec.Role = p.AccountID, p.Username, string(p.Role)
	}
	rec.Resources = a.Touched
	switch {
	case len(rec.Resources) > 0:
	case a.ID != "":
		rec.Resources = []string{a.Type + "/" + a.ID}
	case a.Type != "":
		rec.Detail = "type " + a.Type // a type-level interaction that returned nothing
	}
	if len(rec.Resources) > maxAuditRefs {
		rec.Detail = strings.TrimSpace(rec.Detail + fmt.Sprintf(" %d resources, first %d listed", len(rec.Resources), maxAuditRefs))
		rec.Resources = rec.Resources[:maxAuditRefs]
	}
	for _, id := range vigil.PatientLogFrom(ctx).Patients() {
		rec.Patients = append(rec.Patients, "Patient/"+id)
	}
	if a.Compartment != "" && !containsStr(rec.Patients, a.Compartment) && strings.HasPrefix(a.Compartment, "Patient/") {
		rec.Patients = append(rec.Patients, a.Compartment)
	}
	if p != nil {
		for _, g := range p.BreakGlass {
			if containsStr(rec.Patients, "Patient/"+g.Patient) {
				rec.Detail = strings.TrimSpace(rec.Detail + " break-the-glass grant " + g.ID)
			}
		}
	}
	return rec, true
}

func containsStr(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// securityAction maps auth events to audit actions.
var securityAction = map[string]vigil.AuditAction{
	"login": vigil.AuditLogin, "login-failed": vigil.AuditLoginFailed, "logout": vigil.AuditLogout,
	"2fa-enrol": vigil.Audit2FAEnrol, "2fa-disable": vigil.Audit2FADisable, "token-issue": vigil.AuditTokenIssue,
	"token-revoke": vigil.AuditTokenRevoke, "break-glass": vigil.AuditBreakGlass, "account-create": vigil.AuditAccountCreate,
	"password-change": vigil.AuditAccountUpdate, "account-update": vigil.AuditAccountUpdate, "account-lock": vigil.AuditAccountLock,
	"permission-denied": vigil.AuditPermissionDenied,
	// An admin reading the account list or the security alerts.
	"account-list": vigil.AuditSearch, "security-events": vigil.AuditSearch,
}

// securityEvents returns the auth.Config.Events hook that writes security
// events to the trail. A failure is logged and returned (auth refuses an
// emergency grant it cannot audit).
func securityEvents(trail *audit.Trail, log *slog.Logger) func(ctx context.Context, e auth.Event) error {
	return func(ctx context.Context, e auth.Event) error {
		act, ok := securityAction[e.Action]
		if !ok {
			log.ErrorContext(ctx, "unmapped security event", "action", e.Action)
			return fmt.Errorf("unmapped security event %q", e.Action)
		}
		rec := vigil.AuditRecord{Action: act, Outcome: vigil.AuditOutcome(e.Outcome), ActorID: e.AccountID, ActorName: e.Username,
			Role: string(e.Role), Source: e.Source, Detail: e.Detail, RequestID: httpapi.RequestID(ctx)}
		if e.Patient != "" {
			rec.Patients = []string{"Patient/" + e.Patient}
		}
		if err := trail.Append(ctx, &rec); err != nil {
			log.ErrorContext(ctx, "audit trail write failed", "action", e.Action, "err", err)
			return err
		}
		return nil
	}
}
