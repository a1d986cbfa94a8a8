package alert

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	mathrand "math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/vigilhealth/vigil"
)

// Defaults of Config.
const (
	DefaultMaxReadings = 50
	DefaultMaxHistory  = 200
	// maxAttempts bounds the optimistic-concurrency retries of one change.
	maxAttempts = 16
)

// DefaultEscalation is a starting point for Config.Escalation: how long an
// alert of each severity may stay unacknowledged before it is escalated.
// Low-severity alerts never escalate. Virtual wards set their own.
func DefaultEscalation() map[string]time.Duration {
	return map[string]time.Duration{
		"medium":   60 * time.Minute,
		"high":     15 * time.Minute,
		"critical": 5 * time.Minute,
	}
}

// Config configures an Engine. Only Store is required.
type Config struct {
	Store vigil.AlertStore
	// Sinks receive every event (a Hub, Webhooks); see Sink.
	Sinks []Sink
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Escalation maps a severity to how long an alert of that severity may
	// stay open without an acknowledgement before it is escalated, and
	// then escalated again. A severity that is absent (or 0) never
	// escalates.
	Escalation map[string]time.Duration
	// MaxEscalations stops escalating an alert after this many
	// escalations; 0 means no limit.
	MaxEscalations int
	// AutoResolve lists the rules whose alerts resolve by themselves when
	// the condition clears (Clear). Alerts of other rules stay open and are
	// marked cleared.
	AutoResolve map[string]bool
	// MaxReadings bounds the readings kept on one alert (the newest are
	// kept); DefaultMaxReadings when 0.
	MaxReadings int
	// MaxHistory bounds the lifecycle entries kept on one alert (the
	// first and the newest are kept); DefaultMaxHistory when 0.
	MaxHistory int
	// Logger receives errors that cannot be returned; slog.Default when nil.
	Logger *slog.Logger
}

// Engine turns findings into alerts and drives their lifecycle: it keeps
// one active alert per patient and rule, records acknowledgements,
// resolutions and snoozes, escalates alerts nobody acknowledged, and
// publishes every change to its sinks.
//
// An Engine is safe for concurrent use. Every change is a read, a change
// and a versioned write to the store, retried when another writer (another
// goroutine or another Vigil node) changed the alert in between; changes
// of one patient and rule are also serialised in-process, so concurrent
// findings do not spin on conflicts. Events are published after the store
// has committed the change.
type Engine struct {
	store          vigil.AlertStore
	sinks          []Sink
	now            func() time.Time
	escalation     map[string]time.Duration
	maxEscalations int
	autoResolve    map[string]bool
	maxReadings    int
	maxHistory     int
	log            *slog.Logger
	seed           maphash.Seed
	stripes        [256]stripe
}

// stripe serialises the changes of the patients and rules that hash to it
// in this process, and remembers which of them have an active alert (a
// hint: when it is absent Raise tries to create the alert straight away,
// one round trip instead of a read and a write; a wrong hint costs one
// more round trip, never correctness).
type stripe struct {
	mu     sync.Mutex
	active map[string]bool
}

// New returns an Engine. It fails with vigil.ErrInvalid when Store is nil,
// a severity in Escalation is unknown or a duration is negative.
func New(cfg Config) (*Engine, error) {
	if cfg.Store == nil {
		return nil, vigil.Errorf(vigil.ErrInvalid, "alert: no store")
	}
	e := &Engine{
		store:          cfg.Store,
		sinks:          slices.Clone(cfg.Sinks),
		now:            cfg.Now,
		escalation:     make(map[string]time.Duration, len(cfg.Escalation)),
		maxEscalations: cfg.MaxEscalations,
		autoResolve:    make(map[string]bool, len(cfg.AutoResolve)),
		maxReadings:    cfg.MaxReadings,
		maxHistory:     cfg.MaxHistory,
		log:            cfg.Logger,
		seed:           maphash.MakeSeed(),
	}
	for i := range e.stripes {
		e.stripes[i].active = make(map[string]bool)
	}
	for sev, d := range cfg.Escalation {
		if Rank(sev) == 0 {
			return nil, vigil.Errorf(vigil.ErrInvalid, "alert: unknown severity in escalation")
		}
		if d < 0 {
			return nil, vigil.Errorf(vigil.ErrInvalid, "alert: negative escalation timeout")
		}
		e.escalation[sev] = d
	}
	for r, v := range cfg.AutoResolve {
		e.autoResolve[r] = v
	}
	if e.now == nil {
		e.now = time.Now
	}
	if e.maxReadings <= 0 {
		e.maxReadings = DefaultMaxReadings
	}
	if e.maxHistory <= 0 {
		e.maxHistory = DefaultMaxHistory
	}
	if e.log == nil {
		e.log = slog.Default()
	}
	return e, nil
}

func (e *Engine) clock() time.Time { return e.now().UTC().Truncate(time.Millisecond) }

// stripe returns the stripe of a patient and rule, and their key.
func (e *Engine) stripe(patient, rule string) (*stripe, string) {
	key := patient + "\x00" + rule
	st := &e.stripes[maphash.String(e.seed, key)%uint64(len(e.stripes))]
	return st, key
}

// forget drops the hint that a patient and rule have an active alert.
func (e *Engine) forget(a *vigil.AlertRecord) {
	st, key := e.stripe(a.Patient, a.Rule)
	st.mu.Lock()
	delete(st.active, key)
	st.mu.Unlock()
}

func (e *Engine) publish(kind EventKind, a *vigil.AlertRecord, quiet bool) {
	if len(e.sinks) == 0 {
		return
	}
	// Receivers share a copy: the caller keeps a to change as it likes.
	c := *a
	c.Readings = slices.Clone(a.Readings)
	c.History = slices.Clone(a.History)
	ev := Event{ID: rand.Text(), Kind: kind, Time: a.Updated, Alert: &c, Quiet: quiet}
	for _, s := range e.sinks {
		s.Publish(ev)
	}
}

// timeout is the escalation timeout of a severity, 0 for none.
func (e *Engine) timeout(sev string) time.Duration { return e.escalation[sev] }

func (e *Engine) record(a *vigil.AlertRecord, act vigil.AlertAction) {
	a.History = append(a.History, act)
	if n := len(a.History); n > e.maxHistory {
		// Keep the creation entry and the newest ones.
		a.History = append(a.History[:1], a.History[n-e.maxHistory+1:]...)
	}
}

// change is one attempt's modification of a fresh copy of an alert. It
// returns the event to publish ("" for none: nothing changed) and whether
// it is quiet, or an error that ends the operation.
type change func(a *vigil.AlertRecord) (EventKind, bool, error)

// modify applies ch to the stored alert id, retrying on version conflicts.
func (e *Engine) modify(ctx context.Context, id string, ch change) (*vigil.AlertRecord, error) {
	for attempt := range maxAttempts {
		a, err := e.store.Alert(ctx, id)
		if err != nil {
			return nil, err
		}
		kind, quiet, err := ch(a)
		if err != nil {
			return nil, err
		}
		if kind == "" {
			return a, nil
		}
		err = e.store.UpdateAlert(ctx, a)
		if errors.Is(err, vigil.ErrConflict) {
			if err := pause(ctx, attempt); err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		e.publish(kind, a, quiet)
		return a, nil
	}
	return nil, vigil.Errorf(vigil.ErrConflict, "alert: too many concurrent changes")
}

// pause waits a random time of up to attempt+1 milliseconds after a lost
// race, so that writers racing on one alert (two nodes) spread out.
func pause(ctx context.Context, attempt int) error {
	t := time.NewTimer(mathrand.N(time.Duration(attempt+1) * time.Millisecond))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func checkBy(by string) error {
	if by == "" {
		return vigil.Errorf(vigil.ErrInvalid, "alert: who acts must be given")
	}
	return nil
}

// Acknowledge records that by (an account id or Practitioner reference)
// has seen the alert and takes care of it: open → acknowledged, with
// who, when and note; escalation stops. It returns vigil.ErrNotFound for
// an unknown id and vigil.ErrConflict unless the alert is open.
func (e *Engine) Acknowledge(ctx context.Context, id, by, note string) (*vigil.AlertRecord, error) {
	if err := checkBy(by); err != nil {
		return nil, err
	}
	return e.modify(ctx, id, func(a *vigil.AlertRecord) (EventKind, bool, error) {
		if a.Status != vigil.AlertOpen {
			return "", false, vigil.Errorf(vigil.ErrConflict, "only an open alert can be acknowledged")
		}
		now := e.clock()
		a.Status, a.AckBy, a.AckAt, a.Updated = vigil.AlertAcknowledged, by, now, now
		a.NextEscalation = time.Time{}
		if note != "" {
			a.Note = note
		}
		e.record(a, vigil.AlertAction{Action: "acknowledged", By: by, At: now, Note: note})
		return Acknowledged, false, nil
	})
}

// Resolve closes the alert (open or acknowledged → resolved) with who,
// when and note. The next finding of the same patient and rule opens a new
// alert. It returns vigil.ErrNotFound for an unknown id and
// vigil.ErrConflict when the alert is already resolved.
func (e *Engine) Resolve(ctx context.Context, id, by, note string) (*vigil.AlertRecord, error) {
	if err := checkBy(by); err != nil {
		return nil, err
	}
	a, err := e.modify(ctx, id, func(a *vigil.AlertRecord) (EventKind, bool, error) {
		if a.Status == vigil.AlertResolved {
			return "", false, vigil.Errorf(vigil.ErrConflict, "the alert is already resolved")
		}
		e.resolve(a, by, note)
		return Resolved, false, nil
	})
	if err == nil {
		e.forget(a)
	}
	return a, err
}

func (e *Engine) resolve(a *vigil.AlertRecord, by, note string) {
	now := e.clock()
	a.Status, a.ResolvedBy, a.ResolvedAt, a.Updated = vigil.AlertResolved, by, now, now
	a.NextEscalation, a.SnoozedUntil, a.SnoozedBy = time.Time{}, time.Time{}, ""
	if note != "" {
		a.Note = note
	}
	e.record(a, vigil.AlertAction{Action: "resolved", By: by, At: now, Note: note})
}

// Snooze suppresses notification of the alert until until: repeat
// findings still update it (and live subscribers see that), but the
// updates are Quiet (no webhooks) and it is not escalated. If it is still
// unacknowledged when the snooze ends, the next Tick escalates it: that is
// the reminder. A finding of higher severity ends the snooze. It returns
// vigil.ErrInvalid when until is not in the future, vigil.ErrNotFound for
// an unknown id and vigil.ErrConflict when the alert is resolved.
func (e *Engine) Snooze(ctx context.Context, id, by string, until time.Time) (*vigil.AlertRecord, error) {
	if err := checkBy(by); err != nil {
		return nil, err
	}
	until = until.UTC().Truncate(time.Millisecond)
	return e.modify(ctx, id, func(a *vigil.AlertRecord) (EventKind, bool, error) {
		now := e.clock()
		if !until.After(now) {
			return "", false, vigil.Errorf(vigil.ErrInvalid, "a snooze must end in the future")
		}
		if a.Status == vigil.AlertResolved {
			return "", false, vigil.Errorf(vigil.ErrConflict, "a resolved alert cannot be snoozed")
		}
		a.SnoozedUntil, a.SnoozedBy, a.Updated = until, by, now
		if a.Status == vigil.AlertOpen && !a.NextEscalation.IsZero() {
			a.NextEscalation = until
		}
		e.record(a, vigil.AlertAction{Action: "snoozed", By: by, At: now, Note: "until " + until.Format(time.RFC3339)})
		return Snoozed, false, nil
	})
}

// snoozed reports whether a is snoozed at now.
func snoozed(a *vigil.AlertRecord, now time.Time) bool {
	return !a.SnoozedUntil.IsZero() && now.Before(a.SnoozedUntil)
}

// Tick escalates every open alert whose acknowledgement is overdue at now
// (Escalations++, an Escalated event, the next escalation one timeout
// later) and returns how many it escalated. Call it from a ticker, every
// few seconds; it is safe to call from several nodes at once (each alert is
// escalated once per deadline: the versioned update decides).
func (e *Engine) Tick(ctx context.Context, now time.Time) (int, error) {
	now = now.UTC().Truncate(time.Millisecond)
	n := 0
	q := vigil.AlertQuery{Status: []vigil.AlertStatus{vigil.AlertOpen}, DueBefore: now, Limit: 500}
	for {
		due, next, err := e.store.ListAlerts(ctx, &q)
		if err != nil {
			return n, fmt.Errorf("alert: escalation scan: %w", err)
		}
		for i := range due {
			deadline := due[i].NextEscalation
			did := false
			_, err := e.modify(ctx, due[i].ID, func(a *vigil.AlertRecord) (EventKind, bool, error) {
				did = false
				if a.Status != vigil.AlertOpen || a.NextEscalation.IsZero() || !a.NextEscalation.Equal(deadline) {
					return "", false, nil // acknowledged, resolved or rescheduled meanwhile
				}
				a.Escalations++
				a.Updated = now
				a.SnoozedUntil, a.SnoozedBy = time.Time{}, ""
				a.NextEscalation = time.Time{}
				if d := e.timeout(a.Severity); d > 0 && (e.maxEscalations == 0 || a.Escalations < e.maxEscalations) {
					a.NextEscalation = now.Add(d)
				}
				e.record(a, vigil.AlertAction{Action: "escalated", At: now, Note: fmt.Sprintf("not acknowledged (escalation %d)", a.Escalations)})
				did = true
				return Escalated, false, nil
			})
			if err != nil {
				if errors.Is(err, vigil.ErrNotFound) {
					continue
				}
				return n, err
			}
			if did {
				n++
			}
		}
		if next == "" {
			return n, nil
		}
		q.Cursor = next
	}
}
