package access

import (
	"sync"

	"github.com/vigilhealth/vigil"
)

// versionKey names one stored version of a resource.
type versionKey struct {
	typ, id string
	version int64
}

// patientCacheSize bounds the versions patientCache remembers (about
// 100 bytes each).
const patientCacheSize = 1 << 16

// patientCache remembers the compartment patients of stored resource
// versions. A version never changes once stored, so an entry stays right
// for as long as it is kept; the oldest entries make room for new ones.
// Reading a resource asks for its patients twice (may the caller see it,
// then which patients the audit record names), and each answer otherwise
// decodes the whole resource: a fifth of an audited read's CPU.
type patientCache struct {
	mu   sync.Mutex
	m    map[versionKey][]string
	ring []versionKey // insertion order, for eviction
	next int          // the ring slot the next entry takes
}

func (c *patientCache) get(k versionKey) ([]string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ps, ok := c.m[k]
	return ps, ok
}

func (c *patientCache) put(k versionKey, ps []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[versionKey][]string)
	}
	if _, ok := c.m[k]; ok {
		return
	}
	if len(c.ring) < patientCacheSize {
		c.ring = append(c.ring, k)
	} else {
		delete(c.m, c.ring[c.next])
		c.ring[c.next] = k
		c.next = (c.next + 1) % patientCacheSize
	}
	c.m[k] = ps
}

// keyOf is the cache key of a stored version.
func keyOf(r *vigil.Resource) versionKey {
	return versionKey{typ: r.Type, id: r.ID, version: r.Version}
}
