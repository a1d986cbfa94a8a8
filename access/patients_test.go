package access

import (
	"fmt"
	"slices"
	"testing"
)

func TestPatientCache(t *testing.T) {
	var c patientCache
	key := func(i int) versionKey { return versionKey{typ: "Observation", id: fmt.Sprint("o", i), version: 1} }
	for i := range patientCacheSize + 10 {
		c.put(key(i), []string{fmt.Sprint("p", i)})
	}
	if len(c.m) != patientCacheSize || len(c.ring) != patientCacheSize {
		t.Fatalf("cache holds %d entries (ring %d), want %d", len(c.m), len(c.ring), patientCacheSize)
	}
	for _, c2 := range []struct {
		i    int
		want bool
	}{{0, false}, {9, false}, {10, true}, {patientCacheSize + 9, true}} {
		ps, ok := c.get(key(c2.i))
		if ok != c2.want {
			t.Errorf("entry %d cached = %v, want %v", c2.i, ok, c2.want)
		}
		if ok && !slices.Equal(ps, []string{fmt.Sprint("p", c2.i)}) {
			t.Errorf("entry %d = %v", c2.i, ps)
		}
	}
	// A second put of a key keeps the first answer (versions never change).
	c.put(key(10), []string{"other"})
	if ps, _ := c.get(key(10)); !slices.Equal(ps, []string{"p10"}) {
		t.Errorf("re-put changed the entry to %v", ps)
	}
	if _, ok := c.get(versionKey{typ: "Observation", id: "o10", version: 2}); ok {
		t.Error("another version of a cached resource was found")
	}
}
