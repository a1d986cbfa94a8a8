package auth

import (
	"sync"
	"time"
)

// throttle limits failed authentication attempts per key (a source
// address): after Free failures within Window, each further attempt is
// refused until Window has passed since the oldest counted failure. It
// complements the per-account lockout, which stops guessing one account
// from many addresses (NIST SP 800-63B 5.2.2).
type throttle struct {
	mu     sync.Mutex
	free   int
	window time.Duration
	fails  map[string][]time.Time
}

func newThrottle(free int, window time.Duration) *throttle {
	return &throttle{free: free, window: window, fails: make(map[string][]time.Time)}
}

// blocked reports whether key must wait, and until when.
func (t *throttle) blocked(key string, now time.Time) (bool, time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fs := t.prune(key, now)
	if len(fs) < t.free {
		return false, time.Time{}
	}
	return true, fs[0].Add(t.window)
}

// fail counts a failure for key.
func (t *throttle) fail(key string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.fails[key] = append(t.prune(key, now), now)
	if len(t.fails) > 100000 { // bound memory under a distributed attack
		for k := range t.fails {
			delete(t.fails, k)
			if len(t.fails) < 50000 {
				break
			}
		}
	}
}

func (t *throttle) prune(key string, now time.Time) []time.Time {
	fs := t.fails[key]
	i := 0
	for i < len(fs) && now.Sub(fs[i]) >= t.window {
		i++
	}
	fs = fs[i:]
	if len(fs) == 0 {
		delete(t.fails, key)
		return nil
	}
	t.fails[key] = fs
	return fs
}
