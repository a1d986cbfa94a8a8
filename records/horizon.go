package records

import (
	"strconv"
	"strings"
	"sync"
	"time"
)

// horizon tracks the writes in flight in this Service, so that a history
// Bundle can tell a polling client from which instant to ask next time
// without missing a version.
//
// A version's meta.lastUpdated is taken when the write is prepared, before
// it reaches the store, and writes commit in any order: a create stamped at
// t1 can commit after one stamped at t2 > t1. A client that polled, saw the
// second and asked next with _since=t2 would never see the first. So every
// write registers the instant it began before it takes any timestamp, and
// the horizon is the earliest such instant still in flight (or the current
// instant when none is): every version stamped before the horizon was
// committed, or failed, before the horizon was read. History Bundles carry
// it as meta.lastUpdated; polling with _since set to it misses nothing (a
// version at or after it may be listed again).
//
// The horizon covers the writes of this process only: two Vigil servers
// writing to one PostgreSQL database do not see each other's writes in
// flight (README, known gaps).
type horizon struct {
	mu   sync.Mutex
	next uint64
	open map[uint64]time.Time
}

// begin registers a write that begins at now() and returns the function
// that ends it, to be called once the write has committed or failed.
func (h *horizon) begin(now func() time.Time) (end func()) {
	h.mu.Lock()
	if h.open == nil {
		h.open = make(map[uint64]time.Time)
	}
	h.next++
	id := h.next
	h.open[id] = now()
	h.mu.Unlock()
	return func() {
		h.mu.Lock()
		delete(h.open, id)
		h.mu.Unlock()
	}
}

// at returns the horizon: the earliest beginning of a write still in
// flight, or now() when none is. The clock is read under the lock, so a
// write that begins afterwards begins at or after the result.
func (h *horizon) at(now func() time.Time) time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	min := now()
	for _, t := range h.open {
		if t.Before(min) {
			min = t
		}
	}
	return min
}

// track registers a write beginning now; defer the result.
func (s *Service) track() (end func()) { return s.inflight.begin(s.instant) }

// Horizon returns the instant before which every version this Service
// stamped has been committed or has failed: a history Bundle's
// meta.lastUpdated, from which a polling client asks next.
func (s *Service) Horizon() time.Time { return s.inflight.at(s.instant) }

// historyCursor joins the horizon of a history listing's first page with
// the store's cursor, so that every page of one listing names the same
// horizon: "<unix ms>.<store cursor>". Store cursors are base64url and hold
// no dot.
func historyCursor(at time.Time, store string) string {
	return strconv.FormatInt(at.UnixMilli(), 10) + "." + store
}

// parseHistoryCursor splits a cursor made by historyCursor.
func parseHistoryCursor(c string) (at time.Time, store string, ok bool) {
	ms, store, found := strings.Cut(c, ".")
	if !found {
		return time.Time{}, "", false
	}
	n, err := strconv.ParseInt(ms, 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, "", false
	}
	return time.UnixMilli(n).UTC(), store, true
}
