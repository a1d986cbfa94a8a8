package vigil

import (
	"sync"
	"time"
)

// WriteHorizon tracks the writes in flight in one process, so that a
// client polling for changes (FHIR history with _since, searches with
// _lastUpdated) can be told from which instant to ask next without
// missing anything.
//
// A resource version's meta.lastUpdated, and a device reading's received
// time, are taken before the write reaches its store, and concurrent
// writes commit in any order: a write stamped t1 can commit after one
// stamped t2 > t1. A client that polled in between, saw the second and
// asked next from t2 would never see the first. So every writer calls
// Begin before it takes a timestamp and the returned end once its write has
// committed or failed; At is then an instant before which everything
// stamped has been committed or has failed.
//
// The zero value is ready to use, and a nil *WriteHorizon tracks nothing
// (At returns the clock's time). It covers one process: two servers
// writing to one PostgreSQL database do not see each other's writes.
type WriteHorizon struct {
	mu   sync.Mutex
	next uint64
	open map[uint64]time.Time
}

// Begin registers a write that begins at clock() (read under the lock) and
// returns the function that ends it, to be called once, after the write
// has committed or failed. Timestamps the write takes must come from
// clock, truncated no finer than At's caller compares them.
func (h *WriteHorizon) Begin(clock func() time.Time) (end func()) {
	if h == nil {
		return func() {}
	}
	h.mu.Lock()
	if h.open == nil {
		h.open = make(map[uint64]time.Time)
	}
	h.next++
	id := h.next
	h.open[id] = clock()
	h.mu.Unlock()
	return func() {
		h.mu.Lock()
		delete(h.open, id)
		h.mu.Unlock()
	}
}

// At returns the horizon: the earliest beginning of a write still in
// flight, or clock() when none is. The clock is read under the lock, so a
// write that begins afterwards begins at or after the result.
func (h *WriteHorizon) At(clock func() time.Time) time.Time {
	if h == nil {
		return clock()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	min := clock()
	for _, t := range h.open {
		if t.Before(min) {
			min = t
		}
	}
	return min
}
