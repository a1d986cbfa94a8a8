package alert

import (
	"time"

	"github.com/vigilhealth/vigil"
)

// EventKind says what happened to an alert.
type EventKind string

// The event kinds.
const (
	Created      EventKind = "created"
	Updated      EventKind = "updated" // a repeat finding, a higher severity, or the condition cleared
	Acknowledged EventKind = "acknowledged"
	Resolved     EventKind = "resolved"
	Escalated    EventKind = "escalated"
	Snoozed      EventKind = "snoozed"
)

// Event is a change of an alert, delivered to subscribers (Hub) and
// webhooks.
type Event struct {
	// ID identifies the event; webhook receivers use it to drop
	// redeliveries.
	ID   string    `json:"id"`
	Kind EventKind `json:"type"`
	Time time.Time `json:"time"`
	// Alert is the alert after the change. It is shared by every
	// receiver of the event and must not be modified.
	Alert *vigil.AlertRecord `json:"alert"`
	// Quiet is true for an update of a snoozed alert: live views show it,
	// but it must not notify anyone (webhooks skip it).
	Quiet bool `json:"-"`
	// Missed counts the events a Hub subscriber lost, because its buffer
	// was full, since the event before this one. A subscriber that sees
	// Missed > 0 should reload the alerts it shows.
	Missed uint64 `json:"-"`
}

// Sink receives every event of an Engine. Publish must not block: the
// engine calls it while raising alerts.
type Sink interface {
	Publish(Event)
}
