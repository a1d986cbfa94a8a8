package records

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/fhir"
)

// MaxTermCodes caps the codes one value of a token :in, :not-in, :above or
// :below search expands to; a larger expansion is refused (ErrTooLarge,
// "too-costly") rather than turned into a query the store would scan for.
const MaxTermCodes = 1000

// termErr is a reason a terminology search cannot be resolved that the
// client can act on (an unknown value set, a code not in its system).
type termErr string

func (e termErr) Error() string { return string(e) }

// maxTermDepth bounds value sets that include other value sets.
const maxTermDepth = 8

// maxTermLookups bounds how many of the server's ValueSet and CodeSystem
// resources one search may read (value sets that include each other many
// times over would otherwise cost exponentially many).
const maxTermLookups = 64

// termSource resolves value sets and code system hierarchies: the server's
// own ValueSet and CodeSystem resources first (through reader; nil for
// none), then those of the FHIR release (the model). It remembers what it
// read for the length of one search.
type termSource struct {
	s        *Service
	reader   vigil.ResourceReader
	fallback vigil.ResourceReader           // read when reader refuses (ErrForbidden)
	read     map[string][]byte              // typ|url → JSON (nil: none stored)
	expanded map[string]map[string][]string // value set url → expansion
	lookups  *int
}

// resolveTerms rewrites the token parameters of q that need terminology
// (https://hl7.org/fhir/R4/search.html#token) into plain token lists the
// stores run: :in → the value set's codes, :not-in → :not with them,
// :below → the code and its descendants, :above → the code and its
// ancestors, in the code system's is-a hierarchy. Chains and _has filters
// are resolved too. reader finds the server's own ValueSet and CodeSystem
// resources (the WithTerminology reader instead, when set); with nil only
// the release's are used.
func (s *Service) resolveTerms(ctx context.Context, reader vigil.ResourceReader, q *vigil.SearchQuery) error {
	if !slices.ContainsFunc(q.Params, needsTerms) {
		return nil // the usual search: nothing to set up
	}
	ts := termSource{s: s, reader: reader, read: map[string][]byte{}, expanded: map[string]map[string][]string{}, lookups: new(int)}
	if reader != nil && s.terms != nil {
		if reader == vigil.ResourceReader(s.store) {
			ts.reader = s.terms
		} else {
			// A transaction: it sees its own new ValueSets; what it may
			// not read comes from the terminology reader.
			ts.fallback = s.terms
		}
	}
	for i := range q.Params {
		if err := ts.param(ctx, &q.Params[i]); err != nil {
			return err
		}
	}
	return nil
}

// needsTerms reports whether p, its chain or its _has filter is a token
// parameter with a modifier resolved against terminology.
func needsTerms(p vigil.SearchParam) bool {
	switch {
	case p.Chain != nil && needsTerms(*p.Chain):
		return true
	case p.Has != nil && p.Has.Filter != nil && needsTerms(*p.Has.Filter):
		return true
	}
	return p.Type == vigil.ParamToken && (p.Modifier == "in" || p.Modifier == "not-in" || p.Modifier == "above" || p.Modifier == "below")
}

func (ts termSource) param(ctx context.Context, p *vigil.SearchParam) error {
	if p.Chain != nil {
		if err := ts.param(ctx, p.Chain); err != nil {
			return err
		}
	}
	if p.Has != nil && p.Has.Filter != nil {
		if err := ts.param(ctx, p.Has.Filter); err != nil {
			return err
		}
	}
	if p.Type != vigil.ParamToken {
		return nil
	}
	var mod string
	switch p.Modifier {
	case "in":
	case "not-in":
		mod = "not"
	case "above", "below":
	default:
		return nil
	}
	var out []vigil.SearchValue
	total := 0
	for _, v := range p.Values {
		var set map[string][]string
		var err error
		if p.Modifier == "in" || p.Modifier == "not-in" {
			set, err = ts.valueSet(ctx, v.URI, 0)
		} else {
			var codes []string
			codes, err = ts.subsumption(ctx, v.System, v.Code, p.Modifier == "below")
			set = map[string][]string{v.System: codes}
		}
		var te termErr
		if errors.As(err, &te) {
			return vigil.Errorf(vigil.ErrInvalid, "search parameter %s:%s: %s", p.Name, p.Modifier, string(te))
		}
		if err != nil {
			return fmt.Errorf("records: resolve %s:%s: %w", p.Name, p.Modifier, err)
		}
		n := 0
		for _, codes := range set {
			n += len(codes)
		}
		if total += n; total > MaxTermCodes {
			return vigil.Errorf(vigil.ErrTooLarge, "search parameter %s:%s expands to more than %d codes", p.Name, p.Modifier, MaxTermCodes)
		}
		systems := make([]string, 0, len(set))
		for sys := range set {
			systems = append(systems, sys)
		}
		sort.Strings(systems)
		for _, sys := range systems {
			// A primitive code element (status, gender…) is indexed with
			// the system its required binding implies (fhir's index), so
			// system and code are enough. An older program's index, still
			// being rebuilt, has them without it: a code of a release
			// system then also matches without a system (IndexState).
			bare := ts.s.index.Stale() && ts.s.model.DefinesCodeSystem(sys)
			for _, c := range set[sys] {
				out = append(out, vigil.SearchValue{System: sys, Code: c})
				if bare {
					out = append(out, vigil.SearchValue{Code: c})
				}
			}
		}
	}
	p.Modifier, p.Values = mod, out
	if len(out) == 0 {
		// An empty value set: :in matches nothing, :not-in everything a
		// plain search would; a code that is never stored stands for it.
		p.Values = []vigil.SearchValue{{System: "urn:vigil:empty-value-set", Code: "-"}}
	}
	return nil
}

// valueSet expands the value set url: the server's own ValueSet of that
// url (its expansion, or its compose), else the release's.
func (ts termSource) valueSet(ctx context.Context, u string, depth int) (map[string][]string, error) {
	if depth > maxTermDepth {
		return nil, termErr("value sets include each other too deeply")
	}
	base, _, _ := strings.Cut(u, "|")
	if base == "" {
		return nil, termErr("a value set URL is needed")
	}
	if set, ok := ts.expanded[base]; ok {
		return set, nil
	}
	stored, err := ts.stored(ctx, "ValueSet", base)
	if err != nil {
		return nil, err
	}
	if stored != nil {
		set, err := ts.expandStored(ctx, stored, depth)
		if err == nil {
			ts.expanded[base] = set
		}
		return set, err
	}
	if set, ok := ts.s.model.ValueSet(base); ok {
		return set, nil
	}
	return nil, termErr("the value set is not known to this server or cannot be expanded here (store it as a ValueSet resource with an expansion or a compose of listed codes)")
}

// subsumption returns code with its descendants (below) or ancestors: from
// the server's own CodeSystem of that url, else the release's.
func (ts termSource) subsumption(ctx context.Context, system, code string, below bool) ([]string, error) {
	parents, err := ts.storedSystem(ctx, system)
	if err != nil {
		return nil, err
	}
	if parents != nil {
		if _, ok := parents[code]; ok {
			return walkHierarchy(parents, code, below), nil
		}
		return nil, termErr("the code is not in the code system")
	}
	if codes, ok := ts.s.model.Subsumption(system, code, below); ok {
		return codes, nil
	}
	return nil, termErr("no hierarchy of the code system is known to this server, or the code is not in it (store the code system as a CodeSystem resource with nested concepts)")
}

// stored returns the JSON of the server's current resource of type typ
// ("ValueSet" or "CodeSystem") whose url is u, or nil; more than one is an
// error.
func (ts termSource) stored(ctx context.Context, typ, u string) ([]byte, error) {
	if ts.reader == nil || u == "" {
		return nil, nil
	}
	if data, ok := ts.read[typ+"|"+u]; ok {
		return data, nil
	}
	if *ts.lookups++; *ts.lookups > maxTermLookups {
		return nil, termErr("the search names or includes too many value sets and code systems")
	}
	// The url as one value, not parsed from a query string: it may hold
	// commas or a "|".
	q := &vigil.SearchQuery{Type: typ, Count: 2, Params: []vigil.SearchParam{
		{Name: "url", Type: vigil.ParamURI, Values: []vigil.SearchValue{{URI: u}}}}}
	res, err := ts.reader.Search(ctx, q)
	if errors.Is(err, vigil.ErrForbidden) && ts.fallback != nil {
		res, err = ts.fallback.Search(ctx, q)
	}
	if err != nil {
		return nil, fmt.Errorf("look up the %s: %w", typ, err)
	}
	var data []byte
	switch len(res.Matches) {
	case 0:
	case 1:
		data = res.Matches[0].JSON
	default:
		return nil, termErr("more than one " + typ + " has that url")
	}
	ts.read[typ+"|"+u] = data
	return data, nil
}

// storedValueSet is the part of a ValueSet resource expansion reads.
type storedValueSet struct {
	Expansion *struct {
		Contains []vsContains `json:"contains"`
	} `json:"expansion"`
	Compose *struct {
		Include []vsInclude `json:"include"`
		Exclude []vsInclude `json:"exclude"`
	} `json:"compose"`
}

type vsContains struct {
	System   string       `json:"system"`
	Code     string       `json:"code"`
	Abstract bool         `json:"abstract"`
	Contains []vsContains `json:"contains"`
}

type vsInclude struct {
	System  string `json:"system"`
	Concept []struct {
		Code string `json:"code"`
	} `json:"concept"`
	Filter   []vsFilter `json:"filter"`
	ValueSet []string   `json:"valueSet"`
}

type vsFilter struct {
	Property string `json:"property"`
	Op       string `json:"op"`
	Value    string `json:"value"`
}

// codeSet collects system → code → true.
type codeSet map[string]map[string]bool

func (c codeSet) add(system, code string) {
	if c[system] == nil {
		c[system] = map[string]bool{}
	}
	c[system][code] = true
}

func (c codeSet) sorted() map[string][]string {
	out := make(map[string][]string, len(c))
	for sys, codes := range c {
		for code := range codes {
			out[sys] = append(out[sys], code)
		}
		sort.Strings(out[sys])
	}
	return out
}

// expandStored expands a stored ValueSet: its expansion when it has one
// (https://hl7.org/fhir/R4/valueset.html#expansion), else its compose:
// listed concepts, whole code systems the server can enumerate, is-a and
// descendent-of filters on hierarchies it knows, and other value sets.
func (ts termSource) expandStored(ctx context.Context, data []byte, depth int) (map[string][]string, error) {
	var vs storedValueSet
	if err := json.Unmarshal(data, &vs); err != nil {
		return nil, fmt.Errorf("decode the stored ValueSet: %w", err)
	}
	set := codeSet{}
	if vs.Expansion != nil && len(vs.Expansion.Contains) > 0 {
		var walk func([]vsContains)
		walk = func(cs []vsContains) {
			for _, c := range cs {
				if c.Code != "" && !c.Abstract {
					set.add(c.System, c.Code)
				}
				walk(c.Contains)
			}
		}
		walk(vs.Expansion.Contains)
		return set.sorted(), nil
	}
	if vs.Compose == nil {
		return nil, termErr("the stored ValueSet has neither an expansion nor a compose")
	}
	for _, inc := range vs.Compose.Include {
		part, err := ts.include(ctx, inc, depth)
		if err != nil {
			return nil, err
		}
		for sys, codes := range part {
			for _, c := range codes {
				set.add(sys, c)
			}
		}
	}
	for _, exc := range vs.Compose.Exclude {
		part, err := ts.include(ctx, exc, depth)
		if err != nil {
			return nil, err
		}
		for sys, codes := range part {
			for _, c := range codes {
				delete(set[sys], c)
			}
		}
	}
	return set.sorted(), nil
}

// include enumerates one compose.include (or exclude) entry. Its parts are
// intersected, as the specification says: a system (all of it, its listed
// concepts, or what its filters select) and every value set listed.
func (ts termSource) include(ctx context.Context, inc vsInclude, depth int) (map[string][]string, error) {
	var parts []codeSet
	if inc.System != "" {
		sys := codeSet{}
		switch {
		case len(inc.Concept) > 0:
			for _, c := range inc.Concept {
				sys.add(inc.System, c.Code)
			}
		case len(inc.Filter) > 0:
			first := true
			for _, f := range inc.Filter {
				if f.Property != "concept" || (f.Op != "is-a" && f.Op != "descendent-of") {
					return nil, termErr("a filter other than concept is-a or descendent-of is not supported")
				}
				codes, err := ts.subsumption(ctx, inc.System, f.Value, true)
				if err != nil {
					return nil, err
				}
				got := codeSet{}
				for _, c := range codes {
					if f.Op == "descendent-of" && c == f.Value {
						continue
					}
					got.add(inc.System, c)
				}
				if first {
					sys, first = got, false
				} else {
					sys = intersect(sys, got)
				}
			}
		default:
			codes, err := ts.wholeSystem(ctx, inc.System)
			if err != nil {
				return nil, err
			}
			for _, c := range codes {
				sys.add(inc.System, c)
			}
		}
		parts = append(parts, sys)
	}
	for _, u := range inc.ValueSet {
		set, err := ts.valueSet(ctx, u, depth+1)
		if err != nil {
			return nil, err
		}
		part := codeSet{}
		for sys, codes := range set {
			for _, c := range codes {
				part.add(sys, c)
			}
		}
		parts = append(parts, part)
	}
	if len(parts) == 0 {
		return nil, termErr("a compose entry names neither a system nor a value set")
	}
	out := parts[0]
	for _, p := range parts[1:] {
		out = intersect(out, p)
	}
	return out.sorted(), nil
}

// wholeSystem lists every code of a code system: the server's own
// CodeSystem, else one of the release that the model can enumerate.
func (ts termSource) wholeSystem(ctx context.Context, system string) ([]string, error) {
	parents, err := ts.storedSystem(ctx, system)
	if err != nil {
		return nil, err
	}
	if parents != nil {
		out := make([]string, 0, len(parents))
		for c := range parents {
			out = append(out, c)
		}
		sort.Strings(out)
		return out, nil
	}
	// A code system of the release: its hierarchy lists every code.
	if codes, ok := ts.s.model.SystemCodes(system); ok {
		return codes, nil
	}
	return nil, termErr("the codes of a code system in the value set cannot be enumerated here")
}

func intersect(a, b codeSet) codeSet {
	out := codeSet{}
	for sys, codes := range a {
		for c := range codes {
			if b[sys][c] {
				out.add(sys, c)
			}
		}
	}
	return out
}

// storedSystem returns the codes of the server's own CodeSystem of url
// system, as code → parent codes (nested concepts are is-a), or nil when
// the server has none with complete content.
func (ts termSource) storedSystem(ctx context.Context, system string) (map[string][]string, error) {
	stored, err := ts.stored(ctx, "CodeSystem", system)
	if err != nil || stored == nil {
		return nil, err
	}
	var cs storedCodeSystem
	if err := json.Unmarshal(stored, &cs); err != nil {
		return nil, fmt.Errorf("decode the stored CodeSystem: %w", err)
	}
	if cs.Content != "complete" {
		// A stub (not-present, example, fragment, supplement) does not list
		// the system: the release's definition, if any, is used instead.
		return nil, nil
	}
	parents := map[string][]string{}
	cs.walk(cs.Concept, "", parents)
	return parents, nil
}

// storedCodeSystem is the part of a CodeSystem resource read here.
type storedCodeSystem struct {
	Content string          `json:"content"`
	Concept []storedConcept `json:"concept"`
}

type storedConcept struct {
	Code    string          `json:"code"`
	Concept []storedConcept `json:"concept"`
}

// walk records code → parents for every concept, nesting as is-a.
func (cs *storedCodeSystem) walk(concepts []storedConcept, parent string, parents map[string][]string) {
	for _, c := range concepts {
		if parents[c.Code] == nil {
			parents[c.Code] = []string{}
		}
		if parent != "" {
			parents[c.Code] = append(parents[c.Code], parent)
		}
		cs.walk(c.Concept, c.Code, parents)
	}
}

// walkHierarchy returns code and its descendants (below) or ancestors,
// sorted, in a code → parents map.
func walkHierarchy(parents map[string][]string, code string, below bool) []string {
	next := parents
	if below {
		next = map[string][]string{}
		for c, ps := range parents {
			for _, p := range ps {
				next[p] = append(next[p], c)
			}
		}
	}
	return fhir.Reach(next, code)
}
