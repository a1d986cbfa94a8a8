package alert

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"slices"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/ews"
	"github.com/vigilhealth/vigil/rules"
)

// Finding is a rule's verdict that a patient needs attention: the input of
// Engine.Raise.
type Finding struct {
	Patient string
	// Rule identifies what found it ("news2", a rules.Rule ID): at most one
	// active alert exists per patient and rule.
	Rule string
	// Severity is "low", "medium", "high" or "critical".
	Severity string
	// Title is a short text for the worklist, without patient identifiers.
	Title string
	// Readings are the samples that made the rule hold.
	Readings []vigil.Sample
	// Time is when the rule judged it (rules.Event.Time): a finding judged
	// before the alert's condition was marked cleared does not undo the
	// clearing. Zero means now.
	Time time.Time
}

// Rank orders severities: 1 (low) to 4 (critical), 0 for an unknown one.
func Rank(severity string) int {
	switch severity {
	case "low":
		return 1
	case "medium":
		return 2
	case "high":
		return 3
	case "critical":
		return 4
	}
	return 0
}

// FromRules turns a rules.Event of kind rules.Finding into a Finding of
// patient; ok is false for other kinds. The rule id is the event's.
func FromRules(patient, title string, ev *rules.Event) (f Finding, ok bool) {
	if ev.Kind != rules.Finding {
		return Finding{}, false
	}
	f = Finding{Patient: patient, Rule: ev.Rule, Severity: string(ev.Severity), Title: title, Time: ev.Time}
	for _, r := range ev.Readings {
		f.Readings = append(f.Readings, vigil.Sample{Patient: patient, Code: r.Code, Time: r.Time, Value: r.Value, Unit: r.Unit})
	}
	if f.Title == "" {
		f.Title = ev.Rule
	}
	return f, true
}

// NEWS2Rule is the rule id of alerts raised from NEWS2 scores.
const NEWS2Rule = "news2"

// NEWS2Severity maps a NEWS2 risk band to an alert severity, following
// the clinical response of RCP 2017 chart 3: a single red score (band
// low-medium) calls for an urgent ward-based response ("medium"), an
// aggregate of 5–6 for an urgent response by a clinician competent in
// acute illness ("high"), 7 or more for an emergency response
// ("critical"). A low band (0–4) calls for no alert: ok is false.
func NEWS2Severity(b ews.Band) (severity string, ok bool) {
	switch b {
	case ews.BandLowMedium:
		return "medium", true
	case ews.BandMedium:
		return "high", true
	case ews.BandHigh:
		return "critical", true
	}
	return "", false
}

func (f *Finding) validate() error {
	switch {
	case f.Patient == "" || f.Rule == "":
		return vigil.Errorf(vigil.ErrInvalid, "alert: a finding needs a patient and a rule")
	case Rank(f.Severity) == 0:
		return vigil.Errorf(vigil.ErrInvalid, "alert: unknown severity")
	}
	for i := range f.Readings {
		if f.Readings[i].Patient != "" && f.Readings[i].Patient != f.Patient {
			return vigil.Errorf(vigil.ErrInvalid, "alert: a reading of another patient")
		}
	}
	return nil
}

// mergeReadings adds the readings of add that a does not hold yet (by
// SampleKey), keeps them in time order and keeps the newest max. It
// reports whether anything was added.
func mergeReadings(a *vigil.AlertRecord, patient string, add []vigil.Sample, max int) bool {
	have := make(map[vigil.SampleKey]bool, len(a.Readings))
	for i := range a.Readings {
		have[a.Readings[i].Key()] = true
	}
	added := false
	for _, s := range add {
		s.Patient = patient
		s.Time = s.Time.UTC().Truncate(time.Millisecond)
		if !s.Received.IsZero() {
			s.Received = s.Received.UTC().Truncate(time.Millisecond)
		}
		if have[s.Key()] {
			continue
		}
		have[s.Key()] = true
		a.Readings = append(a.Readings, s)
		added = true
	}
	if !added {
		return false
	}
	slices.SortStableFunc(a.Readings, func(x, y vigil.Sample) int { return x.Time.Compare(y.Time) })
	if n := len(a.Readings); n > max {
		a.Readings = slices.Delete(a.Readings, 0, n-max)
	}
	return true
}

// Raise records a finding. When the patient has no active alert for the
// rule it creates one (event Created); when it has one — open,
// acknowledged or snoozed — it updates that alert instead (event Updated):
// new readings are added, a higher severity replaces the lower one (and
// ends a snooze), and a cleared condition counts as back. A finding that
// changes nothing (a re-evaluation with the same readings) writes nothing
// and publishes nothing. After the alert is resolved, the next finding
// creates a new alert.
//
// It returns the alert as stored, vigil.ErrInvalid for a finding without
// patient or rule or with an unknown severity, or the store's error.
func (e *Engine) Raise(ctx context.Context, f Finding) (*vigil.AlertRecord, error) {
	if err := f.validate(); err != nil {
		return nil, err
	}
	st, key := e.stripe(f.Patient, f.Rule)
	st.mu.Lock()
	defer st.mu.Unlock()
	create := !st.active[key]
	for attempt := range maxAttempts {
		if create {
			a := e.newAlert(&f)
			err := e.store.CreateAlert(ctx, a)
			if err == nil {
				st.active[key] = true
				e.publish(Created, a, false)
				return a, nil
			}
			if !errors.Is(err, vigil.ErrConflict) {
				return nil, err
			}
			// An active alert exists (another node's, or the hint was
			// lost): update it.
		}
		a, err := e.store.ActiveAlert(ctx, f.Patient, f.Rule)
		if errors.Is(err, vigil.ErrNotFound) {
			delete(st.active, key)
			create = true
			continue
		}
		if err != nil {
			return nil, err
		}
		st.active[key], create = true, false
		quiet, changed := e.update(a, &f)
		if !changed {
			return a, nil
		}
		err = e.store.UpdateAlert(ctx, a)
		if errors.Is(err, vigil.ErrConflict) {
			if err := pause(ctx, attempt); err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		e.publish(Updated, a, quiet)
		return a, nil
	}
	return nil, vigil.Errorf(vigil.ErrConflict, "alert: too many concurrent changes")
}

func (e *Engine) newAlert(f *Finding) *vigil.AlertRecord {
	now := e.clock()
	a := &vigil.AlertRecord{Alert: vigil.Alert{
		ID: rand.Text(), Patient: f.Patient, Rule: f.Rule, Severity: f.Severity, Status: vigil.AlertOpen,
		Title: cmp.Or(f.Title, f.Rule), Created: now, Updated: now,
	}}
	mergeReadings(a, f.Patient, f.Readings, e.maxReadings)
	if a.Readings == nil {
		a.Readings = []vigil.Sample{}
	}
	if d := e.timeout(a.Severity); d > 0 {
		a.NextEscalation = now.Add(d)
	}
	e.record(a, vigil.AlertAction{Action: "created", At: now})
	return a
}

// update applies a repeat finding to an active alert. It reports whether
// the change is quiet (a snoozed alert, no higher severity) and whether
// anything changed.
func (e *Engine) update(a *vigil.AlertRecord, f *Finding) (quiet, changed bool) {
	now := e.clock()
	changed = mergeReadings(a, f.Patient, f.Readings, e.maxReadings)
	// A finding judged before the condition cleared (a late reading
	// re-evaluated) adds its readings but does not undo the clearing.
	if !a.ClearedAt.IsZero() && (f.Time.IsZero() || !f.Time.Before(a.ClearedAt)) {
		a.ClearedAt = time.Time{}
		e.record(a, vigil.AlertAction{Action: "recurred", At: now})
		changed = true
	}
	if Rank(f.Severity) > Rank(a.Severity) {
		e.record(a, vigil.AlertAction{Action: "severity-raised", At: now, Note: a.Severity + " → " + f.Severity})
		a.Severity = f.Severity
		if f.Title != "" {
			a.Title = f.Title
		}
		a.SnoozedUntil, a.SnoozedBy = time.Time{}, ""
		if a.Status == vigil.AlertOpen {
			if d := e.timeout(a.Severity); d > 0 {
				next := now.Add(d)
				if a.NextEscalation.IsZero() || next.Before(a.NextEscalation) {
					a.NextEscalation = next
				}
			}
		}
		changed = true
	}
	if !changed {
		return false, false
	}
	a.Updated = now
	return snoozed(a, now), true
}

// Clear records that the condition of a patient's rule stopped holding at
// t (a rules.Cleared event). For the rules listed in Config.AutoResolve the
// active alert is resolved by the system (ResolvedBy ""; event Resolved).
// For the others — the default — the alert stays open (or acknowledged)
// and is marked cleared (ClearedAt = t; event Updated): a clinician still
// sees that the patient was, say, hypoxic for twenty minutes, and resolves
// it after looking. A later finding marks it as back ("recurred").
//
// It returns the changed alert, or nil when the patient has no active
// alert for the rule or it is already marked cleared.
func (e *Engine) Clear(ctx context.Context, patient, rule string, t time.Time) (*vigil.AlertRecord, error) {
	if patient == "" || rule == "" {
		return nil, vigil.Errorf(vigil.ErrInvalid, "alert: clear needs a patient and a rule")
	}
	st, key := e.stripe(patient, rule)
	st.mu.Lock()
	defer st.mu.Unlock()
	for attempt := range maxAttempts {
		a, err := e.store.ActiveAlert(ctx, patient, rule)
		if errors.Is(err, vigil.ErrNotFound) {
			delete(st.active, key)
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		now := e.clock()
		kind, quiet := Updated, false
		if e.autoResolve[rule] {
			e.resolve(a, "", "condition cleared")
			kind = Resolved
			delete(st.active, key)
		} else {
			if !a.ClearedAt.IsZero() {
				return nil, nil
			}
			if t.IsZero() {
				t = now
			}
			a.ClearedAt = t.UTC().Truncate(time.Millisecond)
			a.Updated = now
			e.record(a, vigil.AlertAction{Action: "cleared", At: now})
			quiet = snoozed(a, now)
		}
		err = e.store.UpdateAlert(ctx, a)
		if errors.Is(err, vigil.ErrConflict) {
			if err := pause(ctx, attempt); err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		e.publish(kind, a, quiet)
		return a, nil
	}
	return nil, vigil.Errorf(vigil.ErrConflict, "alert: too many concurrent changes")
}
