package auth

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigilhealth/vigil"
)

// AlertBreakGlass is the Alert type of an emergency-access grant.
const AlertBreakGlass = "break-glass"

// Alert is a security event that admins are told about as it happens
// (issue #3: emergency access "raises an alert to admins"). Today the only
// type is AlertBreakGlass. It names who did what for which patient, never
// a password, code, token or cookie. It is the JSON of the admins' live
// stream, of the list of past alerts and of security webhooks.
type Alert struct {
	// ID identifies the alert: receivers use it to drop redeliveries. For
	// a break-the-glass alert it is the grant's id.
	ID   string    `json:"id"`
	Type string    `json:"type"`
	Time time.Time `json:"time"`
	// Account, Username and Role name the account that acted.
	Account  string     `json:"account"`
	Username string     `json:"username,omitempty"`
	Role     vigil.Role `json:"role,omitempty"`
	// Patient is the patient reached, as "Patient/id".
	Patient string `json:"patient,omitempty"`
	// Reason is the reason the account gave.
	Reason string `json:"reason,omitempty"`
	// Grant and Expires identify the grant and say when it ends.
	Grant   string    `json:"grant,omitempty"`
	Expires time.Time `json:"expires,omitzero"`
	// Source is the address the request came from; known only for alerts
	// delivered live (grants do not store it; the audit trail has it).
	Source string `json:"source,omitempty"`
	// Missed counts the alerts a live subscriber lost, because its buffer
	// was full, since the alert before this one; it should then reload
	// the list (SecurityAlerts).
	Missed uint64 `json:"-"`
}

// Notifier receives security alerts. Notify must not block: the Service
// calls it while answering the request that raised the alert.
type Notifier interface {
	Notify(Alert)
}

// breakGlassAlert is the alert of a grant made by username with role.
func breakGlassAlert(g *vigil.BreakGlass, username string, role vigil.Role, source string) Alert {
	return Alert{ID: g.ID, Type: AlertBreakGlass, Time: g.Created, Account: g.AccountID, Username: username, Role: role,
		Patient: "Patient/" + g.Patient, Reason: g.Reason, Grant: g.ID, Expires: g.Expires, Source: source}
}

// alert hands a to the live feed and every configured Notifier.
func (s *Service) alert(a Alert) {
	s.feed.Notify(a)
	for _, n := range s.cfg.Notify {
		n.Notify(a)
	}
}

// SubscribeAlerts returns a channel of the security alerts raised from now
// on and a function that ends the subscription (and closes the channel;
// it may be called more than once). Only admins may subscribe (CheckAdmin);
// others get vigil.ErrForbidden and the refusal is audited. The
// subscription itself is audited. A subscriber that does not keep up loses
// alerts (counted in the next one's Missed) rather than slowing anyone.
func (s *Service) SubscribeAlerts(ctx context.Context, by *vigil.Principal, source string) (<-chan Alert, func(), error) {
	if err := s.RequireAdmin(ctx, by, "security events", source); err != nil {
		return nil, nil, err
	}
	s.cfg.Events(ctx, Event{Action: "security-events", AccountID: by.AccountID, Username: by.Username, Role: by.Role,
		Outcome: "success", Source: source, Detail: "live stream of security alerts"})
	ch, cancel := s.feed.subscribe()
	return ch, cancel, nil
}

// maxAlertList bounds SecurityAlerts.
const maxAlertList = 1000

// SecurityAlerts returns the security alerts raised at or after since,
// newest first, at most 1000: what an admin who was offline missed. They
// are rebuilt from the stored break-the-glass grants, so they survive
// restarts (Source is empty). Only admins may list them (audited, like a
// refusal).
func (s *Service) SecurityAlerts(ctx context.Context, by *vigil.Principal, since time.Time, source string) ([]Alert, error) {
	if err := s.RequireAdmin(ctx, by, "security events", source); err != nil {
		return nil, err
	}
	gs, err := s.accounts.ListBreakGlass(ctx, since)
	if err != nil {
		return nil, err
	}
	if len(gs) > maxAlertList {
		gs = gs[:maxAlertList]
	}
	accounts := map[string]*vigil.Account{}
	out := make([]Alert, 0, len(gs))
	for i := range gs {
		g := &gs[i]
		a, ok := accounts[g.AccountID]
		if !ok {
			a, err = s.accounts.Account(ctx, g.AccountID)
			if errors.Is(err, vigil.ErrNotFound) {
				a, err = &vigil.Account{}, nil // named by id only
			}
			if err != nil {
				return nil, err
			}
			accounts[g.AccountID] = a
		}
		out = append(out, breakGlassAlert(g, a.Username, a.Role, ""))
	}
	s.cfg.Events(ctx, Event{Action: "security-events", AccountID: by.AccountID, Username: by.Username, Role: by.Role,
		Outcome: "success", Source: source, Detail: "list of security alerts since " + since.UTC().Format(time.RFC3339)})
	return out, nil
}

// defaultFeedBuffer is the per-subscriber buffer of the live feed.
const defaultFeedBuffer = 64

// feed fans alerts out to live subscribers, like alert.Hub does for
// clinical alerts: each subscriber has a bounded buffer, a full one drops
// the alert for that subscriber and counts it in the Missed field of the
// next one it receives. Notify never blocks. Safe for concurrent use.
type feed struct {
	buffer int
	mu     sync.RWMutex
	subs   map[*feedSub]struct{}
}

type feedSub struct {
	ch     chan Alert
	missed atomic.Uint64
}

var _ Notifier = (*feed)(nil)

func newFeed(buffer int) *feed {
	if buffer <= 0 {
		buffer = defaultFeedBuffer
	}
	return &feed{buffer: buffer, subs: make(map[*feedSub]struct{})}
}

func (f *feed) subscribe() (<-chan Alert, func()) {
	s := &feedSub{ch: make(chan Alert, f.buffer)}
	f.mu.Lock()
	f.subs[s] = struct{}{}
	f.mu.Unlock()
	var once sync.Once
	return s.ch, func() {
		once.Do(func() {
			f.mu.Lock()
			delete(f.subs, s)
			f.mu.Unlock()
			close(s.ch)
		})
	}
}

// Notify implements Notifier.
func (f *feed) Notify(a Alert) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	for s := range f.subs {
		e := a
		e.Missed = s.missed.Swap(0)
		select {
		case s.ch <- e:
		default:
			s.missed.Add(e.Missed + 1)
		}
	}
}

// AlertSubscribers returns the number of live subscriptions to security
// alerts.
func (s *Service) AlertSubscribers() int {
	s.feed.mu.RLock()
	defer s.feed.mu.RUnlock()
	return len(s.feed.subs)
}
