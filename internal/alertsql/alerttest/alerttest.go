// Package alerttest is the conformance suite every vigil.AlertStore runs,
// in the manner of testing/slogtest: the sqlite and postgres packages call
// Run with a function opening a fresh, empty store.
package alerttest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/vigilhealth/vigil"
)

// Open returns a fresh, empty store; the suite closes it.
type Open func(t *testing.T) vigil.AlertStore

var t0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

// rec returns a minimal valid open alert.
func rec(id, patient, rule string, created time.Time) *vigil.AlertRecord {
	return &vigil.AlertRecord{Alert: vigil.Alert{
		ID: id, Patient: patient, Rule: rule, Severity: "high", Status: vigil.AlertOpen,
		Title: "SpO2 below 90 % for 5 min", Created: created, Updated: created,
	}}
}

// Run runs the suite.
func Run(t *testing.T, open Open) {
	ctx := context.Background()
	fresh := func(t *testing.T) vigil.AlertStore {
		t.Helper()
		s := open(t)
		t.Cleanup(func() { s.Close() })
		return s
	}

	t.Run("RoundTrip", func(t *testing.T) {
		s := fresh(t)
		a := rec("a1", "p1", "spo2-low", t0.Add(123456*time.Microsecond))
		a.Readings = []vigil.Sample{{Patient: "p1", Device: "d1", Code: "59408-5", Time: t0.Add(-time.Minute + 999*time.Microsecond),
			Value: 88, Unit: "%", Received: t0, Source: "http"}}
		a.NextEscalation = t0.Add(15 * time.Minute)
		a.History = []vigil.AlertAction{{Action: "created", At: t0}}
		if err := s.CreateAlert(ctx, a); err != nil {
			t.Fatalf("CreateAlert: %v", err)
		}
		if a.Version != 1 {
			t.Errorf("version after create = %d, want 1", a.Version)
		}
		got, err := s.Alert(ctx, "a1")
		if err != nil {
			t.Fatalf("Alert: %v", err)
		}
		if !reflect.DeepEqual(got, a) {
			t.Errorf("Alert = %+v\nwant %+v", got, a)
		}
		if got.Created.Location() != time.UTC || !got.Created.Equal(t0.Add(123*time.Millisecond)) {
			t.Errorf("Created = %v, want %v in UTC", got.Created, t0.Add(123*time.Millisecond))
		}
	})

	t.Run("CreateErrors", func(t *testing.T) {
		s := fresh(t)
		if err := s.CreateAlert(ctx, rec("a1", "p1", "r1", t0)); err != nil {
			t.Fatal(err)
		}
		bad := func(f func(a *vigil.AlertRecord)) *vigil.AlertRecord {
			a := rec("x", "p9", "r9", t0)
			f(a)
			return a
		}
		tests := []struct {
			name string
			a    *vigil.AlertRecord
			want error
		}{
			{"same id", rec("a1", "p2", "r2", t0), vigil.ErrConflict},
			{"active of same patient and rule", rec("a2", "p1", "r1", t0), vigil.ErrConflict},
			{"no id", bad(func(a *vigil.AlertRecord) { a.ID = "" }), vigil.ErrInvalid},
			{"no patient", bad(func(a *vigil.AlertRecord) { a.Patient = "" }), vigil.ErrInvalid},
			{"no rule", bad(func(a *vigil.AlertRecord) { a.Rule = "" }), vigil.ErrInvalid},
			{"no created", bad(func(a *vigil.AlertRecord) { a.Created = time.Time{} }), vigil.ErrInvalid},
			{"unknown status", bad(func(a *vigil.AlertRecord) { a.Status = "closed" }), vigil.ErrInvalid},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if err := s.CreateAlert(ctx, tt.a); !errors.Is(err, tt.want) {
					t.Errorf("CreateAlert = %v, want %v", err, tt.want)
				}
			})
		}
		// Another rule of the same patient, or a resolved alert of the
		// same rule, is no conflict.
		if err := s.CreateAlert(ctx, rec("a3", "p1", "r2", t0)); err != nil {
			t.Errorf("CreateAlert(other rule) = %v", err)
		}
		r := rec("a4", "p1", "r1", t0.Add(-time.Hour))
		r.Status = vigil.AlertResolved
		if err := s.CreateAlert(ctx, r); err != nil {
			t.Errorf("CreateAlert(resolved, same rule) = %v", err)
		}
	})

	t.Run("Update", func(t *testing.T) {
		s := fresh(t)
		a := rec("a1", "p1", "r1", t0)
		if err := s.CreateAlert(ctx, a); err != nil {
			t.Fatal(err)
		}
		stale := *a
		a.Status, a.AckBy, a.AckAt, a.Note = vigil.AlertAcknowledged, "Practitioner/n1", t0.Add(time.Minute), "seen"
		if err := s.UpdateAlert(ctx, a); err != nil {
			t.Fatalf("UpdateAlert: %v", err)
		}
		if a.Version != 2 {
			t.Errorf("version after update = %d, want 2", a.Version)
		}
		got, err := s.Alert(ctx, "a1")
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, a) {
			t.Errorf("after update Alert = %+v\nwant %+v", got, a)
		}
		stale.Severity = "critical"
		if err := s.UpdateAlert(ctx, &stale); !errors.Is(err, vigil.ErrConflict) {
			t.Errorf("UpdateAlert(stale version) = %v, want ErrConflict", err)
		}
		if stale.Version != 1 {
			t.Errorf("failed update changed the version to %d", stale.Version)
		}
		moved := *got
		moved.Patient = "p2"
		if err := s.UpdateAlert(ctx, &moved); !errors.Is(err, vigil.ErrInvalid) {
			t.Errorf("UpdateAlert(other patient) = %v, want ErrInvalid", err)
		}
		missing := rec("nope", "p1", "r1", t0)
		missing.Version = 1
		if err := s.UpdateAlert(ctx, missing); !errors.Is(err, vigil.ErrNotFound) {
			t.Errorf("UpdateAlert(missing) = %v, want ErrNotFound", err)
		}
		// Resolve, open a new one, then try to reopen the old one.
		got.Status = vigil.AlertResolved
		if err := s.UpdateAlert(ctx, got); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateAlert(ctx, rec("a2", "p1", "r1", t0.Add(time.Hour))); err != nil {
			t.Fatalf("CreateAlert after resolve: %v", err)
		}
		got.Status = vigil.AlertOpen
		if err := s.UpdateAlert(ctx, got); !errors.Is(err, vigil.ErrConflict) {
			t.Errorf("UpdateAlert(reopen while another is active) = %v, want ErrConflict", err)
		}
	})

	t.Run("ActiveAlert", func(t *testing.T) {
		s := fresh(t)
		old := rec("old", "p1", "r1", t0)
		old.Status = vigil.AlertResolved
		ack := rec("ack", "p1", "r1", t0.Add(time.Hour))
		ack.Status = vigil.AlertAcknowledged
		for _, a := range []*vigil.AlertRecord{old, ack, rec("other", "p1", "r2", t0)} {
			if err := s.CreateAlert(ctx, a); err != nil {
				t.Fatal(err)
			}
		}
		tests := []struct {
			patient, rule string
			want          string
			err           error
		}{
			{"p1", "r1", "ack", nil},
			{"p1", "r2", "other", nil},
			{"p1", "r3", "", vigil.ErrNotFound},
			{"p2", "r1", "", vigil.ErrNotFound},
		}
		for _, tt := range tests {
			got, err := s.ActiveAlert(ctx, tt.patient, tt.rule)
			if !errors.Is(err, tt.err) {
				t.Errorf("ActiveAlert(%s, %s) error = %v, want %v", tt.patient, tt.rule, err, tt.err)
				continue
			}
			if err == nil && got.ID != tt.want {
				t.Errorf("ActiveAlert(%s, %s) = %s, want %s", tt.patient, tt.rule, got.ID, tt.want)
			}
		}
		if _, err := s.Alert(ctx, "missing"); !errors.Is(err, vigil.ErrNotFound) {
			t.Errorf("Alert(missing) = %v, want ErrNotFound", err)
		}
	})

	t.Run("List", func(t *testing.T) { testList(t, fresh(t)) })

	t.Run("ConcurrentUpdate", func(t *testing.T) {
		// Twenty alerts, each updated twice at once from the same read
		// version: exactly one update of each wins, whatever the store
		// commits together.
		s := fresh(t)
		const n = 20
		read := make([]*vigil.AlertRecord, n)
		for i := range n {
			read[i] = rec(fmt.Sprintf("u%02d", i), fmt.Sprintf("p%d", i), "r1", t0)
			if err := s.CreateAlert(ctx, read[i]); err != nil {
				t.Fatal(err)
			}
		}
		var wg sync.WaitGroup
		errs := make([]error, 2*n)
		for i := range 2 * n {
			a := *read[i/2]
			a.Severity = []string{"medium", "critical"}[i%2]
			wg.Go(func() { errs[i] = s.UpdateAlert(ctx, &a) })
		}
		wg.Wait()
		for i := range n {
			e0, e1 := errs[2*i], errs[2*i+1]
			won := 0
			for _, err := range []error{e0, e1} {
				switch {
				case err == nil:
					won++
				case !errors.Is(err, vigil.ErrConflict):
					t.Errorf("alert %d: UpdateAlert = %v, want nil or ErrConflict", i, err)
				}
			}
			if won != 1 {
				t.Errorf("alert %d: %d updates won (%v, %v), want 1", i, won, e0, e1)
				continue
			}
			got, err := s.Alert(ctx, read[i].ID)
			if err != nil {
				t.Fatal(err)
			}
			want := "medium"
			if e0 != nil {
				want = "critical"
			}
			if got.Severity != want || got.Version != 2 {
				t.Errorf("alert %d: severity %s version %d, want %s 2", i, got.Severity, got.Version, want)
			}
		}
	})

	t.Run("ConcurrentCreate", func(t *testing.T) {
		s := fresh(t)
		const n = 16
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				errs[i] = s.CreateAlert(ctx, rec(fmt.Sprintf("c%d", i), "p1", "r1", t0))
			})
		}
		wg.Wait()
		ok := 0
		for i, err := range errs {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, vigil.ErrConflict):
				t.Errorf("CreateAlert #%d = %v, want nil or ErrConflict", i, err)
			}
		}
		if ok != 1 {
			t.Errorf("%d of %d concurrent creates succeeded, want 1", ok, n)
		}
		all, _, err := s.ListAlerts(ctx, &vigil.AlertQuery{Patient: "p1"})
		if err != nil || len(all) != 1 {
			t.Errorf("ListAlerts after concurrent creates = %d alerts, %v; want 1", len(all), err)
		}
	})
}

func testList(t *testing.T, s vigil.AlertStore) {
	ctx := context.Background()
	// Ten alerts, a minute apart: patients p0/p1 alternate, every third
	// one resolved, the first four due for escalation at t0+5min+i.
	for i := range 10 {
		a := rec(fmt.Sprintf("a%02d", i), fmt.Sprintf("p%d", i%2), fmt.Sprintf("r%d", i), t0.Add(time.Duration(i)*time.Minute))
		if i%3 == 0 {
			a.Status = vigil.AlertResolved
		}
		if i < 4 {
			a.NextEscalation = t0.Add(5*time.Minute + time.Duration(i)*time.Second)
		}
		if err := s.CreateAlert(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	// Two more with the same creation time, to page across a tie.
	for _, id := range []string{"b1", "b2"} {
		if err := s.CreateAlert(ctx, rec(id, "p2", "tie-"+id, t0.Add(20*time.Minute))); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		q    vigil.AlertQuery
		want []string
	}{
		{"all", vigil.AlertQuery{}, []string{"b2", "b1", "a09", "a08", "a07", "a06", "a05", "a04", "a03", "a02", "a01", "a00"}},
		{"patient", vigil.AlertQuery{Patient: "p1"}, []string{"a09", "a07", "a05", "a03", "a01"}},
		{"rule", vigil.AlertQuery{Rule: "r4"}, []string{"a04"}},
		{"open", vigil.AlertQuery{Status: []vigil.AlertStatus{vigil.AlertOpen}, Patient: "p0"}, []string{"a08", "a04", "a02"}},
		{"resolved", vigil.AlertQuery{Status: []vigil.AlertStatus{vigil.AlertResolved}}, []string{"a09", "a06", "a03", "a00"}},
		{"open or resolved", vigil.AlertQuery{Status: []vigil.AlertStatus{vigil.AlertOpen, vigil.AlertResolved}, Patient: "p1"}, []string{"a09", "a07", "a05", "a03", "a01"}},
		{"since", vigil.AlertQuery{Since: t0.Add(8 * time.Minute), Patient: "p0"}, []string{"a08"}},
		{"due", vigil.AlertQuery{DueBefore: t0.Add(5*time.Minute + 2*time.Second)}, []string{"a02", "a01", "a00"}},
		{"due and open", vigil.AlertQuery{DueBefore: t0.Add(time.Hour), Status: []vigil.AlertStatus{vigil.AlertOpen}}, []string{"a02", "a01"}},
		{"nothing", vigil.AlertQuery{Patient: "nobody"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, next, err := s.ListAlerts(ctx, &tt.q)
			if err != nil {
				t.Fatalf("ListAlerts: %v", err)
			}
			if ids := ids(got); !reflect.DeepEqual(ids, tt.want) {
				t.Errorf("ListAlerts(%+v) = %v, want %v", tt.q, ids, tt.want)
			}
			if next != "" {
				t.Errorf("ListAlerts(%+v) next = %q, want none", tt.q, next)
			}
		})
	}
	t.Run("pages", func(t *testing.T) {
		for _, limit := range []int{1, 2, 5, 11, 12} {
			var all []string
			q := vigil.AlertQuery{Limit: limit}
			for pages := 0; ; pages++ {
				if pages > 20 {
					t.Fatalf("limit %d: paging does not end", limit)
				}
				got, next, err := s.ListAlerts(ctx, &q)
				if err != nil {
					t.Fatalf("limit %d: %v", limit, err)
				}
				if len(got) > limit {
					t.Fatalf("limit %d: page of %d", limit, len(got))
				}
				all = append(all, ids(got)...)
				if next == "" {
					break
				}
				q.Cursor = next
			}
			want := []string{"b2", "b1", "a09", "a08", "a07", "a06", "a05", "a04", "a03", "a02", "a01", "a00"}
			if !reflect.DeepEqual(all, want) {
				t.Errorf("limit %d: pages = %v, want %v", limit, all, want)
			}
		}
	})
	t.Run("errors", func(t *testing.T) {
		for _, q := range []vigil.AlertQuery{{Cursor: "%%%"}, {Cursor: "bm9zbGFzaA"}, {Status: []vigil.AlertStatus{"closed"}}} {
			if _, _, err := s.ListAlerts(ctx, &q); !errors.Is(err, vigil.ErrInvalid) {
				t.Errorf("ListAlerts(%+v) = %v, want ErrInvalid", q, err)
			}
		}
	})
}

func ids(as []vigil.AlertRecord) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.ID)
	}
	return out
}
