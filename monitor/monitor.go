package monitor

import (
	"context"
	"errors"
	"hash/maphash"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/alert"
	"github.com/vigilhealth/vigil/ews"
	"github.com/vigilhealth/vigil/rules"
	"github.com/vigilhealth/vigil/vitals"
)

// Finding is something an analyser wants a clinician to see: it becomes
// (or updates) the open alert of its patient and rule.
type Finding = alert.Finding

// Alerter receives findings and cleared conditions: the alert engine
// (*alert.Engine).
type Alerter interface {
	Raise(ctx context.Context, f alert.Finding) (*vigil.AlertRecord, error)
	Clear(ctx context.Context, patient, rule string, t time.Time) (*vigil.AlertRecord, error)
}

// Programme is what a patient is monitored for.
type Programme struct {
	Rules []rules.Rule
	// Scale2 uses NEWS2 SpO2 scale 2 (documented hypercapnic respiratory
	// failure with a target of 88–92 %).
	Scale2 bool
}

// Config configures a Monitor.
type Config struct {
	// Samples is where a patient's recent history is read from when the
	// patient is first seen. Required.
	Samples vigil.SampleStore
	// Alerts receives findings. Required.
	Alerts Alerter
	// ProgrammeFor returns a patient's programme (from their CarePlan).
	// Nil: DefaultProgramme for everyone.
	ProgrammeFor func(ctx context.Context, patient string) (Programme, error)
	// NEWS2 freshness window (default ews.DefaultMaxAge).
	NEWS2 ews.Options
	// Now is the clock (default time.Now); used for NEWS2 freshness and
	// missing-data ticks.
	Now func() time.Time
	// History is how much of a patient's past is replayed on first sight
	// (default 4 days: the longest default trend window plus a margin).
	History time.Duration
	Logger  *slog.Logger
	// Horizon, when set, is told about the heart-rate readings the monitor
	// derives from ECG while it stores them (vigil.WriteHorizon). Nil: not
	// tracked.
	Horizon *vigil.WriteHorizon
	// ECG configures the classification of ECG beats and its findings
	// (ecgconfig.go).
	ECG ECGConfig
}

// DefaultProgramme is the monitoring of a virtual-ward patient without a
// programme of their own: NEWS2 plus sustained hypoxia, severe
// hypertension, and a silent-device rule.
func DefaultProgramme() Programme {
	return Programme{Rules: []rules.Rule{
		{ID: "spo2-below-90-5min", Kind: rules.Threshold, Code: vitals.CodeSpO2, Op: rules.Less, Value: 90, For: rules.Duration(5 * time.Minute), Severity: rules.High},
		{ID: "systolic-above-180", Kind: rules.Threshold, Code: vitals.CodeSystolic, Op: rules.Greater, Value: 180, Severity: rules.High},
		{ID: "heart-rate-missing-4h", Kind: rules.Missing, Code: vitals.CodeHeartRate, For: rules.Duration(4 * time.Hour), Severity: rules.Medium},
	}}
}

// Monitor analyses streams. It is safe for concurrent use.
type Monitor struct {
	cfg    Config
	seed   maphash.Seed
	shards [64]shard
}

type shard struct {
	mu       sync.Mutex
	patients map[string]*patient
	// loading holds the patients whose state is being built (outside the
	// lock, see state).
	loading map[string]*load
}

// load is a patient state being built; done closes when it is over.
type load struct {
	done chan struct{}
	// stale is set (under the shard lock) by Forget during the load: the
	// state is used by the call that built it but not kept.
	stale bool
}

// patient is one patient's analysis state.
type patient struct {
	id     string
	input  ews.Input
	latest [ews.NumParameters + 1]vigil.Sample // the sample behind each NEWS2 value
	news   ews.Result
	band   ews.Band // band of the last raised/cleared NEWS2 state
	rules  *rules.Patient
	seen   time.Time             // newest reading time
	ecg    map[string]*ecgStream // ECG leads by device and code
}

// New returns a Monitor.
func New(cfg Config) (*Monitor, error) {
	if cfg.Samples == nil || cfg.Alerts == nil {
		return nil, errors.New("monitor: Config.Samples and Alerts are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.History <= 0 {
		cfg.History = 4 * 24 * time.Hour
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if err := cfg.ECG.setDefaults(); err != nil {
		return nil, err
	}
	m := &Monitor{cfg: cfg, seed: maphash.MakeSeed()}
	for i := range m.shards {
		m.shards[i].patients = make(map[string]*patient)
		m.shards[i].loading = make(map[string]*load)
	}
	return m, nil
}

func (m *Monitor) shardOf(patient string) *shard {
	return &m.shards[maphash.String(m.seed, patient)%uint64(len(m.shards))]
}

// action is an alert call made after the shard lock is released.
type action struct {
	raise *Finding
	clear string // rule id
	t     time.Time
}

// observeWorkers bounds the patients of one Observe call analysed at
// once: a patient seen for the first time costs store reads (programme,
// recent history), which then overlap instead of queueing one after the
// other.
const observeWorkers = 8

// Observe analyses newly stored samples (any order, any patients). It
// returns once every patient's samples are analysed and their alerts
// raised.
func (m *Monitor) Observe(ctx context.Context, samples []vigil.Sample) {
	byPatient := map[string][]vigil.Sample{}
	var ids []string
	for _, s := range samples {
		if byPatient[s.Patient] == nil {
			ids = append(ids, s.Patient)
		}
		byPatient[s.Patient] = append(byPatient[s.Patient], s)
	}
	one := func(id string) {
		acts, err := m.observe(ctx, id, byPatient[id])
		if err != nil {
			m.cfg.Logger.ErrorContext(ctx, "monitor: analysis failed", "patient", id, "err", err)
			return
		}
		m.apply(ctx, id, acts)
	}
	if len(ids) == 1 {
		one(ids[0])
		return
	}
	// Workers take the next patient from a shared counter (a batch of
	// random devices has hundreds of patients: no channel hand-off each).
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(observeWorkers, len(ids)) {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(len(ids)); i = next.Add(1) - 1 {
				one(ids[i])
			}
		})
	}
	wg.Wait()
}

func (m *Monitor) apply(ctx context.Context, id string, acts []action) {
	for _, a := range acts {
		var err error
		if a.raise != nil {
			_, err = m.cfg.Alerts.Raise(ctx, *a.raise)
		} else {
			_, err = m.cfg.Alerts.Clear(ctx, id, a.clear, a.t)
		}
		if err != nil {
			m.cfg.Logger.ErrorContext(ctx, "monitor: alert delivery failed", "patient", id, "err", err)
		}
	}
}

// state returns the patient's state, building it from the sample store on
// first sight. The shard lock is held on entry and on return, but released
// while the state is built (store reads), so that the shard's other
// patients are not held up; concurrent calls for the patient wait for the
// one building it.
func (m *Monitor) state(ctx context.Context, sh *shard, id string, upTo time.Time) (*patient, error) {
	for {
		if p := sh.patients[id]; p != nil {
			return p, nil
		}
		l := sh.loading[id]
		if l == nil {
			break
		}
		sh.mu.Unlock()
		<-l.done
		sh.mu.Lock()
		// Built (or failed, or forgotten meanwhile): look again.
	}
	l := &load{done: make(chan struct{})}
	sh.loading[id] = l
	sh.mu.Unlock()
	p, err := m.build(ctx, id, upTo)
	sh.mu.Lock()
	delete(sh.loading, id)
	close(l.done)
	if err != nil {
		return nil, err
	}
	if !l.stale {
		sh.patients[id] = p
	}
	return p, nil
}

// build makes a patient's state from its programme and recent history.
func (m *Monitor) build(ctx context.Context, id string, upTo time.Time) (*patient, error) {
	prog := DefaultProgramme()
	if m.cfg.ProgrammeFor != nil {
		var err error
		if prog, err = m.cfg.ProgrammeFor(ctx, id); err != nil {
			return nil, err
		}
	}
	now := m.cfg.Now()
	rp, err := rules.NewPatient(prog.Rules, now)
	if err != nil {
		return nil, err
	}
	p := &patient{id: id, rules: rp}
	p.input.Scale2 = prog.Scale2
	// Replay the recent past (up to the readings being analysed, which
	// are fed afterwards so that their findings are judged), so that
	// trends and NEWS2 resume after a restart.
	hist, err := m.cfg.Samples.QuerySamples(ctx, &vigil.SampleQuery{Patient: id, From: now.Add(-m.cfg.History), To: upTo, Limit: 100000})
	if err != nil {
		return nil, err
	}
	for _, s := range hist {
		p.feed(s)
	}
	p.news = ews.Calculate(&p.input, now, m.cfg.NEWS2)
	return p, nil
}

// feed adds one sample to the state without judging it.
func (p *patient) feed(s vigil.Sample) []rules.Event {
	r, err := vitals.Normalize(s.Code, s.Value, s.Unit)
	if err != nil {
		return nil // stored samples are normalised; a code retired since is skipped
	}
	if p.input.Observe(r, s.Time) {
		if np := ews.ParameterOf(r.Param); np != ews.ParamUnknown {
			p.latest[np] = s
		}
	}
	if s.Time.After(p.seen) {
		p.seen = s.Time
	}
	return p.rules.Observe(r, s.Time)
}

func (m *Monitor) observe(ctx context.Context, id string, ss []vigil.Sample) ([]action, error) {
	sh := m.shardOf(id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sort.Slice(ss, func(i, j int) bool { return ss[i].Time.Before(ss[j].Time) })
	p, err := m.state(ctx, sh, id, ss[0].Time)
	if err != nil {
		return nil, err
	}
	var acts []action
	var events []rules.Event
	for _, s := range ss {
		events = append(events, p.feed(s)...)
	}
	acts = append(acts, ruleActions(id, events, p)...)
	acts = append(acts, m.news2(p)...)
	return acts, nil
}

// news2 recomputes the score and raises or clears the NEWS2 alert when
// the band crosses the alerting threshold.
func (m *Monitor) news2(p *patient) []action {
	now := m.cfg.Now()
	p.news = ews.Calculate(&p.input, now, m.cfg.NEWS2)
	sev, _ := alert.NEWS2Severity(p.news.Band)
	var acts []action
	if p.news.Band == p.band {
		return nil // raise and clear on band changes only
	}
	switch {
	case sev != "":
		f := &Finding{Patient: p.id, Rule: alert.NEWS2Rule, Severity: sev, Time: p.news.Time,
			Title: "NEWS2 " + itoa(p.news.Score) + " (" + p.news.Band.String() + " risk)"}
		for i, c := range p.news.Components {
			if !c.Missing && p.latest[i+1].Code != "" {
				f.Readings = append(f.Readings, p.latest[i+1])
			}
		}
		acts = append(acts, action{raise: f})
	case alerting(p.band):
		acts = append(acts, action{clear: alert.NEWS2Rule, t: p.news.Time})
	}
	p.band = p.news.Band
	return acts
}

func ruleActions(id string, events []rules.Event, p *patient) []action {
	var acts []action
	for _, e := range events {
		switch e.Kind {
		case rules.Finding:
			f := &Finding{Patient: id, Rule: e.Rule, Severity: string(e.Severity), Time: e.Time, Title: ruleTitle(p, e.Rule)}
			for _, r := range e.Readings {
				f.Readings = append(f.Readings, vigil.Sample{Patient: id, Code: r.Code, Time: r.Time, Value: r.Value, Unit: r.Unit})
			}
			acts = append(acts, action{raise: f})
		case rules.Cleared:
			acts = append(acts, action{clear: e.Rule, t: e.Time})
		}
	}
	return acts
}

func ruleTitle(p *patient, id string) string {
	for _, r := range p.rules.Rules() {
		if r.ID == id {
			switch r.Kind {
			case rules.Missing:
				return "no " + r.Code + " reading for " + time.Duration(r.For).String()
			default:
				return string(r.Kind) + " " + r.Code + " " + string(r.Op) + " " + ftoa(r.Value)
			}
		}
	}
	return id
}

// Tick evaluates the time-driven rules (missing data) and NEWS2 freshness
// for every known patient at now.
func (m *Monitor) Tick(ctx context.Context) {
	now := m.cfg.Now()
	for i := range m.shards {
		sh := &m.shards[i]
		type pending struct {
			id   string
			acts []action
		}
		var todo []pending
		sh.mu.Lock()
		for id, p := range sh.patients {
			acts := ruleActions(id, p.rules.Tick(now), p)
			acts = append(acts, m.news2(p)...)
			if len(acts) > 0 {
				todo = append(todo, pending{id, acts})
			}
		}
		sh.mu.Unlock()
		for _, t := range todo {
			m.apply(ctx, t.id, t.acts)
		}
	}
}

// NEWS2 returns the patient's current score; ok is false when no NEWS2
// parameter is available.
func (m *Monitor) NEWS2(ctx context.Context, patient string) (ews.Result, bool, error) {
	sh := m.shardOf(patient)
	sh.mu.Lock()
	p, err := m.state(ctx, sh, patient, time.Time{})
	var r ews.Result
	if err == nil {
		p.news = ews.Calculate(&p.input, m.cfg.Now(), m.cfg.NEWS2)
		r = p.news
	}
	sh.mu.Unlock()
	if err != nil {
		return ews.Result{}, false, err
	}
	return r, r.Available(), nil
}

// Entry is one line of the worklist.
type Entry struct {
	Patient  string    `json:"patient"`
	Score    int       `json:"news2"`
	Band     string    `json:"band"`
	Partial  bool      `json:"partial"`
	LastSeen time.Time `json:"last_reading,omitzero"`
}

// Worklist returns the patients known to the monitor that visible accepts,
// highest NEWS2 first (then most recent reading).
func (m *Monitor) Worklist(visible func(patient string) bool) []Entry {
	now := m.cfg.Now()
	var out []Entry
	for i := range m.shards {
		sh := &m.shards[i]
		sh.mu.Lock()
		for id, p := range sh.patients {
			if !visible(id) {
				continue
			}
			r := ews.Calculate(&p.input, now, m.cfg.NEWS2)
			out = append(out, Entry{Patient: id, Score: r.Score, Band: r.Band.String(), Partial: r.Partial, LastSeen: p.seen})
		}
		sh.mu.Unlock()
	}
	slices.SortFunc(out, func(a, b Entry) int {
		if a.Score != b.Score {
			return b.Score - a.Score
		}
		return b.LastSeen.Compare(a.LastSeen)
	})
	return out
}

// Forget drops a patient's state (after a programme change), so that it
// is rebuilt on the next reading.
func (m *Monitor) Forget(patient string) {
	sh := m.shardOf(patient)
	sh.mu.Lock()
	delete(sh.patients, patient)
	if l := sh.loading[patient]; l != nil {
		l.stale = true
	}
	sh.mu.Unlock()
}

// alerting reports whether a NEWS2 band raises an alert (RCP 2017 chart
// 3; alert.NEWS2Severity).
func alerting(b ews.Band) bool {
	_, ok := alert.NEWS2Severity(b)
	return ok
}
