package vigil

import (
	"context"
	"time"
)

// AlertRecord is an Alert as stored, with the bookkeeping the alert engine
// (package alert) needs. It marshals to the Alert's JSON plus the fields
// below.
type AlertRecord struct {
	Alert
	// Version starts at 1 on create and grows by one on every update; an
	// update names the version it read (optimistic concurrency).
	Version int64 `json:"version"`
	// ClearedAt is when the alert's condition stopped holding while the
	// alert stayed open (see alert.Engine.Clear); zero while it holds.
	ClearedAt time.Time `json:"cleared_at,omitzero"`
	// SnoozedBy is who snoozed it (SnoozedUntil is on Alert).
	SnoozedBy string `json:"snoozed_by,omitempty"`
	// NextEscalation is when the alert is escalated if nobody has
	// acknowledged it by then; zero when no escalation is pending.
	NextEscalation time.Time `json:"next_escalation,omitzero"`
	// History lists the lifecycle actions in order, each with who, when
	// and the note given.
	History []AlertAction `json:"history,omitempty"`
}

// AlertAction is one entry of an alert's history.
type AlertAction struct {
	// Action is "created", "acknowledged", "resolved", "snoozed",
	// "escalated", "severity-raised", "cleared" (the condition stopped
	// holding) or "recurred" (it holds again).
	Action string    `json:"action"`
	By     string    `json:"by,omitempty"` // account or Practitioner reference; "" for the system
	At     time.Time `json:"at"`
	Note   string    `json:"note,omitempty"`
}

// Active reports whether the alert is not resolved: at most one active
// alert exists per patient and rule.
func (a *Alert) Active() bool { return a.Status != AlertResolved }

// AlertQuery selects alerts for AlertStore.ListAlerts. Zero fields do not
// filter.
type AlertQuery struct {
	Patient string
	Rule    string
	// Status keeps alerts in any of these states.
	Status []AlertStatus
	// Since keeps alerts created at or after it.
	Since time.Time
	// DueBefore keeps alerts whose NextEscalation is set and at or before
	// it (the escalation scan).
	DueBefore time.Time
	// Limit bounds the page (stores cap it at 1000; 0 means 100).
	Limit int
	// Cursor continues a previous listing: the next value it returned.
	Cursor string
}

// AlertStore keeps alerts. Implementations are safe for concurrent use and
// store times in UTC with millisecond precision.
//
// The store enforces the rule "one active alert per patient and rule":
// CreateAlert fails with ErrConflict when an unresolved alert of the same
// patient and rule exists, also when two nodes race.
type AlertStore interface {
	// CreateAlert stores a new alert with a.ID set by the caller and sets
	// a.Version to 1. It returns ErrConflict when the ID exists or when an
	// active alert of a.Patient and a.Rule exists.
	CreateAlert(ctx context.Context, a *AlertRecord) error
	// Alert returns one alert, or ErrNotFound.
	Alert(ctx context.Context, id string) (*AlertRecord, error)
	// UpdateAlert replaces the stored alert a.ID if its version is still
	// a.Version, and then increments a.Version. It returns ErrConflict when
	// the stored version differs (someone else updated it first) and
	// ErrNotFound when there is no such alert. Patient, Rule and Created
	// cannot change.
	UpdateAlert(ctx context.Context, a *AlertRecord) error
	// ActiveAlert returns the unresolved alert of a patient and rule, or
	// ErrNotFound.
	ActiveAlert(ctx context.Context, patient, rule string) (*AlertRecord, error)
	// ListAlerts returns alerts matching q, newest first (by Created, then
	// ID), and a cursor for the next page ("" after the last page). A
	// malformed cursor gives ErrInvalid.
	ListAlerts(ctx context.Context, q *AlertQuery) ([]AlertRecord, string, error)
	Close() error
}
