package alert_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/alert"
	"github.com/vigilhealth/vigil/internal/alertsql"
	"github.com/vigilhealth/vigil/internal/testenv"
)

var t0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

// clock is a manual clock for the engine.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}

// backends opens a fresh alert store on each real database, configured
// as sqlite.OpenAlerts and postgres.OpenAlerts do (those packages are not
// imported, to keep this package's tests independent of their other
// stores).
var backends = []struct {
	name string
	open func(t testing.TB) vigil.AlertStore
}{
	{"sqlite", openSQLite},
	{"postgres", openPostgres},
}

func openSQLite(t testing.TB) vigil.AlertStore {
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "alerts.db")+
		"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(4)
	s, err := alertsql.Open(context.Background(), db, alertsql.SQLite)
	if err != nil {
		t.Fatalf("alertsql.Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func openPostgres(t testing.TB) vigil.AlertStore {
	cfg, err := pgx.ParseConfig(testenv.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(8)
	s, err := alertsql.Open(context.Background(), db, alertsql.Postgres)
	if err != nil {
		t.Fatalf("alertsql.Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// recorder is a Sink that keeps every event.
type recorder struct {
	mu     sync.Mutex
	events []alert.Event
}

func (r *recorder) Publish(ev alert.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
}

// take returns the kinds of the events since the last call.
func (r *recorder) take() []alert.EventKind {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []alert.EventKind
	for _, ev := range r.events {
		out = append(out, ev.Kind)
	}
	r.events = nil
	return out
}

type fixture struct {
	eng   *alert.Engine
	clock *clock
	rec   *recorder
	store vigil.AlertStore
}

func newFixture(t *testing.T, store vigil.AlertStore, cfg alert.Config) *fixture {
	t.Helper()
	f := &fixture{clock: &clock{t: t0}, rec: &recorder{}, store: store}
	cfg.Store, cfg.Now = store, f.clock.Now
	cfg.Sinks = append(cfg.Sinks, f.rec)
	eng, err := alert.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	f.eng = eng
	return f
}

func sample(patient string, minute int, v float64) vigil.Sample {
	return vigil.Sample{Patient: patient, Code: "59408-5", Time: t0.Add(time.Duration(minute) * time.Minute), Value: v, Unit: "%"}
}

func finding(patient, rule, sev string, readings ...vigil.Sample) alert.Finding {
	return alert.Finding{Patient: patient, Rule: rule, Severity: sev, Title: "SpO2 low", Readings: readings, Time: t0}
}

func equalKinds(a, b []alert.EventKind) bool { return fmt.Sprint(a) == fmt.Sprint(b) }

func TestRaiseDeduplicatesAndRearms(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t, be.open(t), alert.Config{})
			a1, err := f.eng.Raise(ctx, finding("p1", "spo2", "medium", sample("p1", 0, 89)))
			if err != nil {
				t.Fatalf("Raise: %v", err)
			}
			steps := []struct {
				name      string
				f         alert.Finding
				wantKinds []alert.EventKind
				wantSev   string
				wantN     int // readings
			}{
				{"same reading again changes nothing", finding("p1", "spo2", "medium", sample("p1", 0, 89)), nil, "medium", 1},
				{"new reading updates", finding("p1", "spo2", "medium", sample("p1", 1, 88)), []alert.EventKind{alert.Updated}, "medium", 2},
				{"higher severity raises it", finding("p1", "spo2", "critical", sample("p1", 2, 80)), []alert.EventKind{alert.Updated}, "critical", 3},
				{"lower severity keeps the higher", finding("p1", "spo2", "low", sample("p1", 3, 89)), []alert.EventKind{alert.Updated}, "critical", 4},
				{"other rule is another alert", finding("p1", "hr", "low"), []alert.EventKind{alert.Created}, "low", 0},
				{"other patient is another alert", finding("p2", "spo2", "low"), []alert.EventKind{alert.Created}, "low", 0},
			}
			f.rec.take()
			for _, st := range steps {
				a, err := f.eng.Raise(ctx, st.f)
				if err != nil {
					t.Fatalf("%s: Raise: %v", st.name, err)
				}
				if got := f.rec.take(); !equalKinds(got, st.wantKinds) {
					t.Errorf("%s: events %v, want %v", st.name, got, st.wantKinds)
				}
				if a.Severity != st.wantSev || len(a.Readings) != st.wantN {
					t.Errorf("%s: severity %s with %d readings, want %s with %d", st.name, a.Severity, len(a.Readings), st.wantSev, st.wantN)
				}
				if st.f.Patient == "p1" && st.f.Rule == "spo2" && a.ID != a1.ID {
					t.Errorf("%s: alert %s, want the active %s", st.name, a.ID, a1.ID)
				}
			}
			// Resolve, then the next finding opens a new alert.
			if _, err := f.eng.Resolve(ctx, a1.ID, "Practitioner/n1", "treated"); err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			a2, err := f.eng.Raise(ctx, finding("p1", "spo2", "medium", sample("p1", 60, 87)))
			if err != nil {
				t.Fatalf("Raise after resolve: %v", err)
			}
			if a2.ID == a1.ID || a2.Status != vigil.AlertOpen || len(a2.Readings) != 1 {
				t.Errorf("Raise after resolve = %s %s with %d readings, want a new open alert with 1", a2.ID, a2.Status, len(a2.Readings))
			}
			all, _, err := f.store.ListAlerts(ctx, &vigil.AlertQuery{Patient: "p1", Rule: "spo2"})
			if err != nil || len(all) != 2 {
				t.Errorf("alerts of p1/spo2: %d, %v; want 2", len(all), err)
			}
		})
	}
}

func TestRaiseInvalid(t *testing.T) {
	f := newFixture(t, backends[0].open(t), alert.Config{})
	for _, fd := range []alert.Finding{
		{Rule: "r", Severity: "low"},
		{Patient: "p", Severity: "low"},
		{Patient: "p", Rule: "r", Severity: "severe"},
		{Patient: "p", Rule: "r", Severity: "low", Readings: []vigil.Sample{sample("other", 0, 1)}},
	} {
		if _, err := f.eng.Raise(context.Background(), fd); !errors.Is(err, vigil.ErrInvalid) {
			t.Errorf("Raise(%+v) = %v, want ErrInvalid", fd, err)
		}
	}
}

func TestReadingsBounded(t *testing.T) {
	f := newFixture(t, backends[0].open(t), alert.Config{MaxReadings: 3})
	var a *vigil.AlertRecord
	var err error
	for m := range 5 {
		if a, err = f.eng.Raise(context.Background(), finding("p1", "spo2", "low", sample("p1", 4-m, float64(90-m)))); err != nil {
			t.Fatal(err)
		}
	}
	// Readings at minutes 4, 3, 2, 1, 0 arrived newest first; the three
	// newest by time are kept, in time order.
	var got []int
	for _, r := range a.Readings {
		got = append(got, int(r.Time.Sub(t0)/time.Minute))
	}
	if fmt.Sprint(got) != "[2 3 4]" {
		t.Errorf("kept readings at minutes %v, want [2 3 4]", got)
	}
}

func TestLifecycle(t *testing.T) {
	type action func(ctx context.Context, e *alert.Engine, id string, now time.Time) (*vigil.AlertRecord, error)
	ack := func(ctx context.Context, e *alert.Engine, id string, _ time.Time) (*vigil.AlertRecord, error) {
		return e.Acknowledge(ctx, id, "Practitioner/n1", "on it")
	}
	resolve := func(ctx context.Context, e *alert.Engine, id string, _ time.Time) (*vigil.AlertRecord, error) {
		return e.Resolve(ctx, id, "Practitioner/n2", "fine now")
	}
	snooze := func(ctx context.Context, e *alert.Engine, id string, now time.Time) (*vigil.AlertRecord, error) {
		return e.Snooze(ctx, id, "Practitioner/n1", now.Add(30*time.Minute))
	}
	tests := []struct {
		name       string
		setup      []action
		do         action
		wantErr    error
		wantStatus vigil.AlertStatus
		wantEvent  alert.EventKind
	}{
		{"acknowledge open", nil, ack, nil, vigil.AlertAcknowledged, alert.Acknowledged},
		{"acknowledge acknowledged", []action{ack}, ack, vigil.ErrConflict, "", ""},
		{"acknowledge resolved", []action{resolve}, ack, vigil.ErrConflict, "", ""},
		{"acknowledge snoozed", []action{snooze}, ack, nil, vigil.AlertAcknowledged, alert.Acknowledged},
		{"resolve open", nil, resolve, nil, vigil.AlertResolved, alert.Resolved},
		{"resolve acknowledged", []action{ack}, resolve, nil, vigil.AlertResolved, alert.Resolved},
		{"resolve resolved", []action{resolve}, resolve, vigil.ErrConflict, "", ""},
		{"snooze open", nil, snooze, nil, vigil.AlertOpen, alert.Snoozed},
		{"snooze acknowledged", []action{ack}, snooze, nil, vigil.AlertAcknowledged, alert.Snoozed},
		{"snooze resolved", []action{resolve}, snooze, vigil.ErrConflict, "", ""},
		{"unknown id", nil, func(ctx context.Context, e *alert.Engine, _ string, _ time.Time) (*vigil.AlertRecord, error) {
			return e.Acknowledge(ctx, "nope", "x", "")
		}, vigil.ErrNotFound, "", ""},
		{"nobody acts", nil, func(ctx context.Context, e *alert.Engine, id string, _ time.Time) (*vigil.AlertRecord, error) {
			return e.Resolve(ctx, id, "", "")
		}, vigil.ErrInvalid, "", ""},
		{"snooze into the past", nil, func(ctx context.Context, e *alert.Engine, id string, now time.Time) (*vigil.AlertRecord, error) {
			return e.Snooze(ctx, id, "x", now)
		}, vigil.ErrInvalid, "", ""},
	}
	store := backends[0].open(t)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t, store, alert.Config{Escalation: map[string]time.Duration{"high": 15 * time.Minute}})
			a, err := f.eng.Raise(ctx, finding(fmt.Sprintf("p%d", i), "spo2", "high"))
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range tt.setup {
				f.clock.Add(time.Minute)
				if _, err := s(ctx, f.eng, a.ID, f.clock.Now()); err != nil {
					t.Fatalf("setup: %v", err)
				}
			}
			f.rec.take()
			now := f.clock.Add(time.Minute)
			got, err := tt.do(ctx, f.eng, a.ID, now)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error = %v, want %v", err, tt.wantErr)
			}
			events := f.rec.take()
			if err != nil {
				if len(events) != 0 {
					t.Errorf("failed action published %v", events)
				}
				return
			}
			if got.Status != tt.wantStatus || !equalKinds(events, []alert.EventKind{tt.wantEvent}) {
				t.Errorf("status %s, events %v; want %s, [%s]", got.Status, events, tt.wantStatus, tt.wantEvent)
			}
			stored, err := f.store.Alert(ctx, a.ID)
			if err != nil {
				t.Fatal(err)
			}
			last := stored.History[len(stored.History)-1]
			if !last.At.Equal(now) || last.By == "" {
				t.Errorf("last history entry %+v, want one by someone at %v", last, now)
			}
			switch tt.wantEvent {
			case alert.Acknowledged:
				if stored.AckBy != "Practitioner/n1" || !stored.AckAt.Equal(now) || stored.Note != "on it" || !stored.NextEscalation.IsZero() {
					t.Errorf("acknowledged alert %+v: want AckBy, AckAt, Note set and no escalation pending", stored.Alert)
				}
			case alert.Resolved:
				if stored.ResolvedBy != "Practitioner/n2" || !stored.ResolvedAt.Equal(now) || stored.Note != "fine now" {
					t.Errorf("resolved alert %+v: want ResolvedBy, ResolvedAt, Note set", stored.Alert)
				}
			case alert.Snoozed:
				if !stored.SnoozedUntil.Equal(now.Add(30*time.Minute)) || stored.SnoozedBy != "Practitioner/n1" {
					t.Errorf("snoozed alert until %v by %q, want %v", stored.SnoozedUntil, stored.SnoozedBy, now.Add(30*time.Minute))
				}
			}
		})
	}
}

func TestClear(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, backends[0].open(t), alert.Config{AutoResolve: map[string]bool{"missing-spo2": true}})
	kept, err := f.eng.Raise(ctx, finding("p1", "spo2", "high", sample("p1", 0, 85)))
	if err != nil {
		t.Fatal(err)
	}
	auto, err := f.eng.Raise(ctx, finding("p1", "missing-spo2", "medium"))
	if err != nil {
		t.Fatal(err)
	}
	f.rec.take()
	clearedAt := t0.Add(20 * time.Minute)
	f.clock.Add(21 * time.Minute)

	a, err := f.eng.Clear(ctx, "p1", "spo2", clearedAt)
	if err != nil {
		t.Fatal(err)
	}
	if a.ID != kept.ID || a.Status != vigil.AlertOpen || !a.ClearedAt.Equal(clearedAt) {
		t.Errorf("Clear(spo2) = %s %s cleared %v; want %s open, cleared at %v", a.ID, a.Status, a.ClearedAt, kept.ID, clearedAt)
	}
	if a, err := f.eng.Clear(ctx, "p1", "spo2", clearedAt.Add(time.Minute)); a != nil || err != nil {
		t.Errorf("second Clear = %v, %v; want nil, nil", a, err)
	}
	a, err = f.eng.Clear(ctx, "p1", "missing-spo2", clearedAt)
	if err != nil {
		t.Fatal(err)
	}
	if a.ID != auto.ID || a.Status != vigil.AlertResolved || a.ResolvedBy != "" {
		t.Errorf("Clear(auto-resolve rule) = %s %s by %q; want %s resolved by the system", a.ID, a.Status, a.ResolvedBy, auto.ID)
	}
	if a, err := f.eng.Clear(ctx, "p9", "spo2", clearedAt); a != nil || err != nil {
		t.Errorf("Clear(no alert) = %v, %v; want nil, nil", a, err)
	}
	if got := f.rec.take(); !equalKinds(got, []alert.EventKind{alert.Updated, alert.Resolved}) {
		t.Errorf("events %v, want [updated resolved]", got)
	}
	// A late finding judged before the clearing adds its reading only.
	late := finding("p1", "spo2", "high", sample("p1", 10, 84))
	late.Time = t0.Add(10 * time.Minute)
	a, err = f.eng.Raise(ctx, late)
	if err != nil {
		t.Fatal(err)
	}
	if !a.ClearedAt.Equal(clearedAt) || len(a.Readings) != 2 {
		t.Errorf("late finding: cleared %v with %d readings; want still cleared at %v, 2 readings", a.ClearedAt, len(a.Readings), clearedAt)
	}
	// The condition comes back: same alert, no longer cleared.
	back := finding("p1", "spo2", "high", sample("p1", 30, 86))
	back.Time = t0.Add(30 * time.Minute)
	a, err = f.eng.Raise(ctx, back)
	if err != nil {
		t.Fatal(err)
	}
	if a.ID != kept.ID || !a.ClearedAt.IsZero() || a.History[len(a.History)-1].Action != "recurred" {
		t.Errorf("recurrence: %s cleared %v history %v; want %s, not cleared, recurred", a.ID, a.ClearedAt, a.History, kept.ID)
	}
}

func TestEscalation(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, backends[0].open(t), alert.Config{
		Escalation:     map[string]time.Duration{"high": 15 * time.Minute, "critical": 5 * time.Minute},
		MaxEscalations: 3,
	})
	high, err := f.eng.Raise(ctx, finding("p1", "spo2", "high"))
	if err != nil {
		t.Fatal(err)
	}
	low, err := f.eng.Raise(ctx, finding("p2", "spo2", "low"))
	if err != nil {
		t.Fatal(err)
	}
	acked, err := f.eng.Raise(ctx, finding("p3", "spo2", "high"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.eng.Acknowledge(ctx, acked.ID, "n1", ""); err != nil {
		t.Fatal(err)
	}
	f.rec.take()
	steps := []struct {
		at   time.Duration
		want int // escalated by this Tick
		esc  int // Escalations of the high alert after it
	}{
		{14 * time.Minute, 0, 0},
		{15 * time.Minute, 1, 1},
		{15 * time.Minute, 0, 1}, // the same deadline twice escalates once
		{29 * time.Minute, 0, 1},
		{30 * time.Minute, 1, 2},
		{45 * time.Minute, 1, 3},
		{4 * time.Hour, 0, 3}, // MaxEscalations reached
	}
	for _, st := range steps {
		n, err := f.eng.Tick(ctx, t0.Add(st.at))
		if err != nil {
			t.Fatalf("Tick(+%v): %v", st.at, err)
		}
		a, err := f.store.Alert(ctx, high.ID)
		if err != nil {
			t.Fatal(err)
		}
		if n != st.want || a.Escalations != st.esc {
			t.Errorf("Tick(+%v) = %d with Escalations %d, want %d with %d", st.at, n, a.Escalations, st.want, st.esc)
		}
	}
	if got := f.rec.take(); !equalKinds(got, []alert.EventKind{alert.Escalated, alert.Escalated, alert.Escalated}) {
		t.Errorf("events %v, want three escalations", got)
	}
	for _, id := range []string{low.ID, acked.ID} {
		a, err := f.store.Alert(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if a.Escalations != 0 {
			t.Errorf("alert %s (%s, %s) escalated %d times, want never", id, a.Severity, a.Status, a.Escalations)
		}
	}
}

func TestSnoozeDefersEscalation(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, backends[0].open(t), alert.Config{Escalation: map[string]time.Duration{"high": 15 * time.Minute, "critical": 5 * time.Minute}})
	a, err := f.eng.Raise(ctx, finding("p1", "spo2", "high", sample("p1", 0, 85)))
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Add(5 * time.Minute)
	if _, err := f.eng.Snooze(ctx, a.ID, "n1", t0.Add(40*time.Minute)); err != nil {
		t.Fatal(err)
	}
	f.rec.r()
	// A repeat finding while snoozed is stored but quiet.
	f.clock.Add(time.Minute)
	if _, err := f.eng.Raise(ctx, finding("p1", "spo2", "high", sample("p1", 6, 84))); err != nil {
		t.Fatal(err)
	}
	evs := f.rec.r()
	if len(evs) != 1 || evs[0].Kind != alert.Updated || !evs[0].Quiet {
		t.Errorf("update while snoozed: %+v, want one quiet Updated", evs)
	}
	if n, _ := f.eng.Tick(ctx, t0.Add(20*time.Minute)); n != 0 {
		t.Errorf("Tick during the snooze escalated %d", n)
	}
	if n, _ := f.eng.Tick(ctx, t0.Add(40*time.Minute)); n != 1 {
		t.Errorf("Tick at the end of the snooze escalated %d, want 1", n)
	}
	// Snooze again; a higher severity ends the snooze and is not quiet.
	f.clock.Add(40 * time.Minute)
	if _, err := f.eng.Snooze(ctx, a.ID, "n1", f.clock.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	f.rec.r()
	b, err := f.eng.Raise(ctx, finding("p1", "spo2", "critical", sample("p1", 47, 80)))
	if err != nil {
		t.Fatal(err)
	}
	evs = f.rec.r()
	if len(evs) != 1 || evs[0].Quiet || !b.SnoozedUntil.IsZero() {
		t.Errorf("critical finding while snoozed: events %+v snoozed until %v; want one loud event, snooze ended", evs, b.SnoozedUntil)
	}
	if want := f.clock.Now().Add(5 * time.Minute); !b.NextEscalation.Equal(want) {
		t.Errorf("NextEscalation = %v, want %v (critical timeout)", b.NextEscalation, want)
	}
}

// r returns the events since the last call.
func (r *recorder) r() []alert.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.events
	r.events = nil
	return out
}

// TestConcurrentRaise races findings of one patient and rule from two
// engines on one store (two Vigil nodes) and from several goroutines each:
// one alert holds every reading.
func TestConcurrentRaise(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			ctx := context.Background()
			store := be.open(t)
			var engines []*alert.Engine
			var recs []*recorder
			for range 2 {
				f := newFixture(t, store, alert.Config{})
				engines, recs = append(engines, f.eng), append(recs, f.rec)
			}
			const perEngine = 10
			var wg sync.WaitGroup
			errs := make(chan error, 2*perEngine)
			for e, eng := range engines {
				for i := range perEngine {
					wg.Go(func() {
						m := e*perEngine + i
						if _, err := eng.Raise(ctx, finding("p1", "spo2", "high", sample("p1", m, 85))); err != nil {
							errs <- err
						}
					})
				}
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Errorf("Raise: %v", err)
			}
			all, _, err := store.ListAlerts(ctx, &vigil.AlertQuery{Patient: "p1"})
			if err != nil {
				t.Fatal(err)
			}
			if len(all) != 1 {
				t.Fatalf("%d alerts, want 1", len(all))
			}
			if len(all[0].Readings) != 2*perEngine {
				t.Errorf("alert holds %d readings, want %d", len(all[0].Readings), 2*perEngine)
			}
			created := 0
			for _, r := range recs {
				for _, k := range r.take() {
					if k == alert.Created {
						created++
					}
				}
			}
			if created != 1 {
				t.Errorf("%d Created events, want 1", created)
			}
		})
	}
}
