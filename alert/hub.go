package alert

import (
	"sync"
	"sync/atomic"

	"github.com/vigilhealth/vigil"
)

// DefaultBuffer is the per-subscriber buffer of a Hub made with a buffer
// size of 0.
const DefaultBuffer = 256

// Hub fans events out to live subscribers (the HTTP layer's Server-Sent
// Events streams). A slow subscriber never blocks the engine: each has a
// bounded buffer; when it is full the event is dropped for that subscriber
// and counted in the Missed field of the next event it receives.
//
// A Hub is safe for concurrent use. Publish costs one filter call and one
// non-blocking channel send per subscriber.
type Hub struct {
	buffer int
	mu     sync.RWMutex
	subs   map[*subscriber]struct{}
}

type subscriber struct {
	ch     chan Event
	filter func(*vigil.Alert) bool
	missed atomic.Uint64
}

var _ Sink = (*Hub)(nil)

// NewHub returns a Hub whose subscribers each buffer up to buffer events
// (DefaultBuffer when buffer <= 0).
func NewHub(buffer int) *Hub {
	if buffer <= 0 {
		buffer = DefaultBuffer
	}
	return &Hub{buffer: buffer, subs: make(map[*subscriber]struct{})}
}

// Subscribe returns a channel of the events whose alert passes filter (all
// events when filter is nil) and a function that ends the subscription and
// closes the channel. filter runs on the publishing goroutine, so it must
// be fast and must not block; the HTTP layer passes the caller's access
// check. cancel may be called more than once.
func (h *Hub) Subscribe(filter func(*vigil.Alert) bool) (<-chan Event, func()) {
	s := &subscriber{ch: make(chan Event, h.buffer), filter: filter}
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	var once sync.Once
	return s.ch, func() {
		once.Do(func() {
			h.mu.Lock()
			delete(h.subs, s)
			h.mu.Unlock()
			close(s.ch)
		})
	}
}

// Publish delivers ev to every subscriber whose filter accepts its alert,
// without blocking.
func (h *Hub) Publish(ev Event) {
	if ev.Alert == nil {
		return
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	for s := range h.subs {
		if s.filter != nil && !s.filter(&ev.Alert.Alert) {
			continue
		}
		e := ev
		e.Missed = s.missed.Swap(0)
		select {
		case s.ch <- e:
		default:
			s.missed.Add(e.Missed + 1)
		}
	}
}

// Subscribers returns the number of live subscriptions.
func (h *Hub) Subscribers() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.subs)
}
