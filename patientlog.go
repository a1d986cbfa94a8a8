package vigil

import (
	"context"
	"slices"
	"sync"
)

// PatientLog collects the patients whose data one request touched, for the
// audit trail: the access policy notes every patient of every resource it
// lets through, and the auditor reads them when the request ends. It is
// safe for concurrent use.
type PatientLog struct {
	mu  sync.Mutex
	ids map[string]struct{}
}

type patientLogKey struct{}

// WithPatientLog returns a context carrying a new, empty log.
func WithPatientLog(ctx context.Context) (context.Context, *PatientLog) {
	l := &PatientLog{}
	return context.WithValue(ctx, patientLogKey{}, l), l
}

// PatientLogFrom returns the log of ctx, or nil.
func PatientLogFrom(ctx context.Context) *PatientLog {
	l, _ := ctx.Value(patientLogKey{}).(*PatientLog)
	return l
}

// Note adds patient ids (bare ids, not "Patient/id"). A nil log ignores
// them.
func (l *PatientLog) Note(ids ...string) {
	if l == nil || len(ids) == 0 {
		return
	}
	l.mu.Lock()
	if l.ids == nil {
		l.ids = make(map[string]struct{})
	}
	for _, id := range ids {
		l.ids[id] = struct{}{}
	}
	l.mu.Unlock()
}

// Patients returns the noted ids, sorted.
func (l *PatientLog) Patients() []string {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]string, 0, len(l.ids))
	for id := range l.ids {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}
