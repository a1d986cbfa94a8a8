package rules

import (
	"math"
	"sort"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/vitals"
)

// Sample is one reading as a rule saw it, in the rule's unit.
type Sample struct {
	Code  string    `json:"code"`
	Time  time.Time `json:"time"`
	Value float64   `json:"value"`
	Unit  string    `json:"unit"`
}

// EventKind says whether a rule started or stopped holding.
type EventKind string

// Event kinds.
const (
	Finding EventKind = "finding"
	Cleared EventKind = "cleared"
)

// Event is a change of a rule's state.
type Event struct {
	Kind     EventKind `json:"kind"`
	Rule     string    `json:"rule"`
	Severity Severity  `json:"severity"`
	// Time is when the change was judged: the newest reading's time, or the
	// Tick time for missing-data rules.
	Time time.Time `json:"time"`
	// Observed is what was compared with the rule's Value: the newest value
	// (threshold), the change (trend), the slope (rate), or the silence in
	// hours (missing).
	Observed float64 `json:"observed"`
	// Readings are the readings that made the rule hold (for a finding) or
	// stop holding (for a cleared event); for missing data, the last
	// reading if any.
	Readings []Sample `json:"readings"`
}

// point is a stored reading.
type point struct {
	t    int64 // Unix nanoseconds
	v    float64
	code string
}

// series holds one parameter's readings in one unit, sorted by time.
type series struct {
	param   vitals.Param
	unit    string
	horizon time.Duration // readings older than newest − horizon are dropped
	pts     []point
	rules   []int // indexes into Patient.rules, missing rules excluded
	missing []int // missing-data rules
}

// Patient evaluates one patient's rules. It is not safe for concurrent use:
// call it from the goroutine that owns the patient's stream.
type Patient struct {
	rules  []Rule
	active []bool
	series []*series
	ruleS  []*series   // series of each rule
	ext    []*extremes // trend rules: running extremum of their window
	start  time.Time
	now    time.Time
}

// NewPatient validates rules and returns a Patient evaluating them. since is
// when monitoring began: missing-data rules measure silence from it until
// the first reading.
func NewPatient(rules []Rule, since time.Time) (*Patient, error) {
	p := &Patient{rules: append([]Rule(nil), rules...), active: make([]bool, len(rules)), start: since, now: since}
	p.ruleS = make([]*series, len(rules))
	p.ext = make([]*extremes, len(rules))
	ids := make(map[string]bool, len(rules))
	for i := range p.rules {
		r := &p.rules[i]
		if err := r.Validate(); err != nil {
			return nil, err
		}
		if ids[r.ID] {
			return nil, vigil.Errorf(vigil.ErrInvalid, "rules: duplicate rule id %q", clip(r.ID))
		}
		ids[r.ID] = true
		param, unit := vitals.ParamOf(r.Code)
		var s *series
		for _, x := range p.series {
			if x.param == param && x.unit == unit {
				s = x
			}
		}
		if s == nil {
			s = &series{param: param, unit: unit}
			p.series = append(p.series, s)
		}
		p.ruleS[i] = s
		switch r.Kind {
		case Missing:
			s.missing = append(s.missing, i)
		case Threshold:
			s.rules = append(s.rules, i)
			s.horizon = max(s.horizon, time.Duration(r.For))
		default:
			s.rules = append(s.rules, i)
			s.horizon = max(s.horizon, time.Duration(r.Window))
			if r.Kind == Trend {
				p.ext[i] = &extremes{low: r.Op == Greater || r.Op == GreaterEqual}
			}
		}
	}
	return p, nil
}

// Rules returns the patient's rules.
func (p *Patient) Rules() []Rule { return p.rules }

// Active reports whether the rule with the given id currently holds.
func (p *Patient) Active(id string) bool {
	for i := range p.rules {
		if p.rules[i].ID == id {
			return p.active[i]
		}
	}
	return false
}

// convert returns v (in unit from) in unit to; only glucose has two units.
func convert(v float64, from, to string) (float64, bool) {
	switch {
	case from == to:
		return v, true
	case from == "mmol/L" && to == "mg/dL":
		return v * vitals.GlucoseMgdLPerMmolL, true
	case from == "mg/dL" && to == "mmol/L":
		return v / vitals.GlucoseMgdLPerMmolL, true
	}
	return 0, false
}

// Observe adds a normalised reading measured at t and returns the events it
// causes, in a deterministic order (nil when none). Readings of parameters no rule
// uses are ignored. Observe does not allocate unless it returns events or
// grows a series.
func (p *Patient) Observe(r vitals.Reading, t time.Time) []Event {
	var events []Event
	if t.After(p.now) {
		p.now = t
	}
	for _, s := range p.series {
		if s.param != r.Param {
			continue
		}
		v, ok := convert(r.Value, r.Unit, s.unit)
		if !ok {
			continue
		}
		ok, late := s.insert(point{t: t.UnixNano(), v: v, code: r.Code})
		if !ok {
			continue // older than anything that can matter
		}
		for _, i := range s.rules {
			if e := p.ext[i]; e != nil {
				if n := len(s.pts); late {
					e.rebuild(s.pts[:n-1])
				} else if n >= 2 {
					e.push(s.pts[n-2])
				}
			}
			events = p.evaluate(i, s, events)
		}
		for _, i := range s.missing {
			events = p.evaluateMissing(i, s, events)
		}
	}
	return events
}

// Tick advances the patient's clock to now (never backwards) and evaluates
// the missing-data rules.
func (p *Patient) Tick(now time.Time) []Event {
	if now.After(p.now) {
		p.now = now
	}
	var events []Event
	for _, s := range p.series {
		for _, i := range s.missing {
			events = p.evaluateMissing(i, s, events)
		}
	}
	return events
}

// insert places pt in time order and drops readings beyond the horizon. It
// reports false when pt itself is beyond it, and whether pt is older than
// the newest reading (late).
func (s *series) insert(pt point) (ok, late bool) {
	n := len(s.pts)
	if n > 0 && pt.t < s.pts[n-1].t {
		newest := s.pts[n-1].t
		if s.tooOld(pt.t, newest) {
			return false, true
		}
		i := sort.Search(n, func(i int) bool { return s.pts[i].t > pt.t })
		s.pts = append(s.pts, point{})
		copy(s.pts[i+1:], s.pts[i:])
		s.pts[i] = pt
		return true, true
	}
	s.pts = append(s.pts, pt)
	// Drop everything older than the horizon but keep one reading before
	// it: a threshold window needs the reading at or just before its start.
	cut := pt.t - int64(s.horizon)
	i := sort.Search(len(s.pts), func(i int) bool { return s.pts[i].t >= cut })
	if i > 1 {
		s.pts = s.pts[i-1:]
	}
	return true, false
}

// tooOld reports whether a reading at t cannot change any result judged at
// newest: it precedes the oldest retained reading, which already lies
// before the horizon.
func (s *series) tooOld(t, newest int64) bool {
	return len(s.pts) > 0 && t < s.pts[0].t && s.pts[0].t < newest-int64(s.horizon)
}

func (s *series) sample(pt point) Sample {
	return Sample{Code: pt.code, Time: time.Unix(0, pt.t).UTC(), Value: pt.v, Unit: s.unit}
}

func (s *series) samples(pts []point) []Sample {
	out := make([]Sample, len(pts))
	for i, pt := range pts {
		out[i] = s.sample(pt)
	}
	return out
}

// evaluate judges rule i at the newest reading of s and appends an event
// when its state changes.
func (p *Patient) evaluate(i int, s *series, events []Event) []Event {
	r := &p.rules[i]
	n := len(s.pts)
	if n == 0 {
		return events
	}
	newest := s.pts[n-1]
	var holds bool
	var observed float64
	var why []point // readings that make it hold, or the newest one
	switch r.Kind {
	case Threshold:
		observed = newest.v
		start := newest.t - int64(r.For)
		holds = true
		j := n - 1
		for ; j >= 0; j-- {
			if !r.Op.holds(s.pts[j].v, r.Value) {
				holds = false
				break
			}
			if r.MaxGap > 0 && j < n-1 && s.pts[j+1].t-s.pts[j].t > int64(r.MaxGap) {
				holds = false
				break
			}
			if s.pts[j].t <= start {
				break // covered back to the start of the window
			}
		}
		if j < 0 {
			holds = false // no reading at or before the start of the window
		}
		if holds {
			why = s.pts[j:]
		}
	case Trend:
		if ref, ok := p.ext[i].front(newest.t - int64(r.Window)); ok {
			observed = newest.v - ref.v
			holds = r.Op.holds(observed, r.Value)
			if holds {
				why = []point{ref, newest}
			}
		}
	case Rate:
		from := newest.t - int64(r.Window)
		j := n - 1
		for j > 0 && s.pts[j-1].t >= from {
			j--
		}
		w := s.pts[j:]
		if len(w) >= 2 && newest.t-w[0].t >= int64(r.Window)/2 {
			observed = slope(w, w[0].t) * float64(r.per())
			holds = r.Op.holds(observed, r.Value)
			if holds {
				why = w
			}
		}
	}
	if holds == p.active[i] {
		return events
	}
	p.active[i] = holds
	e := Event{Kind: Finding, Rule: r.ID, Severity: r.Severity, Time: time.Unix(0, newest.t).UTC(), Observed: observed}
	if holds {
		e.Readings = s.samples(why)
	} else {
		e.Kind = Cleared
		e.Readings = []Sample{s.sample(newest)}
	}
	return append(events, e)
}

// slope is the least-squares slope of w in value units per nanosecond.
func slope(w []point, t0 int64) float64 {
	var sx, sy, sxx, sxy float64
	n := float64(len(w))
	for _, pt := range w {
		x := float64(pt.t - t0)
		sx += x
		sy += pt.v
		sxx += x * x
		sxy += x * pt.v
	}
	d := n*sxx - sx*sx
	if d == 0 || math.IsNaN(d) {
		return 0
	}
	return (n*sxy - sx*sy) / d
}

// evaluateMissing judges missing-data rule i at p.now.
func (p *Patient) evaluateMissing(i int, s *series, events []Event) []Event {
	r := &p.rules[i]
	last := p.start
	var lastPt *point
	if n := len(s.pts); n > 0 {
		lastPt = &s.pts[n-1]
		last = time.Unix(0, lastPt.t)
	}
	silence := p.now.Sub(last)
	holds := silence > time.Duration(r.For)
	if holds == p.active[i] {
		return events
	}
	p.active[i] = holds
	e := Event{Kind: Finding, Rule: r.ID, Severity: r.Severity, Time: p.now.UTC(), Observed: silence.Hours()}
	if !holds {
		e.Kind = Cleared
	}
	if lastPt != nil {
		e.Readings = []Sample{s.sample(*lastPt)}
	}
	return append(events, e)
}

// extremes is a monotonic deque over a series' readings except the newest:
// its front is the lowest (low) or highest value not older than a trend
// window, the most recent one among equals. In-order readings cost O(1)
// amortised; a late reading rebuilds it from the series.
type extremes struct {
	low  bool
	q    []point
	head int
}

func (e *extremes) push(pt point) {
	q := e.q
	for len(q) > e.head && (e.low && q[len(q)-1].v >= pt.v || !e.low && q[len(q)-1].v <= pt.v) {
		q = q[:len(q)-1]
	}
	e.q = append(q, pt)
}

// front drops values older than from and returns the extremum, if any.
func (e *extremes) front(from int64) (point, bool) {
	for e.head < len(e.q) && e.q[e.head].t < from {
		e.head++
	}
	if e.head > 64 && 2*e.head > len(e.q) {
		e.q = e.q[:copy(e.q, e.q[e.head:])]
		e.head = 0
	}
	if e.head == len(e.q) {
		return point{}, false
	}
	return e.q[e.head], true
}

func (e *extremes) rebuild(pts []point) {
	e.q, e.head = e.q[:0], 0
	for _, pt := range pts {
		e.push(pt)
	}
}
