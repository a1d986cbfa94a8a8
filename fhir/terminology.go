package fhir

import (
	"slices"
	"strings"
	"sync"
)

// ValueSet returns the expansion of a value set of the release, as code
// system URL → sorted codes, and whether the release defines one that
// could be expanded. A "|version" suffix on url is ignored. The caller
// must not modify the result.
func (m *Model) ValueSet(url string) (map[string][]string, bool) {
	url, _, _ = strings.Cut(url, "|")
	vs, ok := m.defs.ValueSets[url]
	return vs, ok
}

// Subsumption returns code and the codes it subsumes (below true: its
// descendants) or that subsume it (below false: its ancestors) in the
// is-a hierarchy of a code system of the release, sorted (just code in a
// flat system); false when the release does not define all of system or
// code is not in it.
func (m *Model) Subsumption(system, code string, below bool) ([]string, bool) {
	parents := m.defs.CodeSystems[system]
	if parents == nil {
		return nil, false
	}
	next := parents
	if below {
		next = m.children.of(m.defs.CodeSystems)[system]
	}
	if _, known := parents[code]; !known {
		return nil, false
	}
	return Reach(next, code), true
}

// Reach returns code and every code reachable from it along next (a code →
// codes map: parents, or children), sorted.
func Reach(next map[string][]string, code string) []string {
	seen := map[string]bool{code: true}
	out := []string{code}
	for i := 0; i < len(out); i++ {
		for _, c := range next[out[i]] {
			if !seen[c] {
				seen[c] = true
				out = append(out, c)
			}
		}
	}
	slices.Sort(out)
	return out
}

// DefinesCodeSystem reports whether system is a code system of the release
// with complete content (the systems that required bindings of code
// elements imply).
func (m *Model) DefinesCodeSystem(system string) bool {
	_, ok := m.defs.CodeSystems[system]
	return ok
}

// SystemCodes returns every code of a code system of the release with
// complete content, sorted; false for any other system.
func (m *Model) SystemCodes(system string) ([]string, bool) {
	parents, ok := m.defs.CodeSystems[system]
	if !ok {
		return nil, false
	}
	out := make([]string, 0, len(parents))
	for c := range parents {
		out = append(out, c)
	}
	slices.Sort(out)
	return out, true
}

// childIndex is code → child codes per system, built once on first use.
type childIndex struct {
	once sync.Once
	m    map[string]map[string][]string
}

// of returns the index of parents (defs.CodeSystems), building it once.
func (c *childIndex) of(parents map[string]map[string][]string) map[string]map[string][]string {
	c.once.Do(func() { c.m = invertHierarchies(parents) })
	return c.m
}

// invertHierarchies builds code → child codes from code → parent codes.
func invertHierarchies(h map[string]map[string][]string) map[string]map[string][]string {
	out := make(map[string]map[string][]string, len(h))
	for system, parents := range h {
		children := make(map[string][]string)
		for code, ps := range parents {
			for _, p := range ps {
				children[p] = append(children[p], code)
			}
		}
		for _, cs := range children {
			slices.Sort(cs)
		}
		out[system] = children
	}
	return out
}
