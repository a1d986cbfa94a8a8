package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/alert"
)

func asType[T error](err error, target *T) bool { return errors.As(err, target) }

func (s *Server) alertRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/alerts", s.listAlerts)
	mux.HandleFunc("GET /api/v1/alerts/stream", s.alertStream)
	mux.HandleFunc("GET /api/v1/alerts/{id}", s.getAlert)
	mux.HandleFunc("POST /api/v1/alerts/{id}/ack", s.alertAction)
	mux.HandleFunc("POST /api/v1/alerts/{id}/resolve", s.alertAction)
	mux.HandleFunc("POST /api/v1/alerts/{id}/snooze", s.alertAction)
}

func (s *Server) alertsConfigured(w http.ResponseWriter, r *http.Request) bool {
	if s.cfg.Monitor.Alerts == nil || s.cfg.Monitor.AlertStore == nil {
		s.fail(w, r, vigil.Errorf(vigil.ErrNotFound, "alerts are not configured"))
		return false
	}
	return true
}

// parseStatuses reads status=open,acknowledged.
func parseStatuses(v string) ([]vigil.AlertStatus, error) {
	var out []vigil.AlertStatus
	for _, st := range strings.Split(v, ",") {
		switch a := vigil.AlertStatus(st); a {
		case vigil.AlertOpen, vigil.AlertAcknowledged, vigil.AlertResolved:
			out = append(out, a)
		case "":
		default:
			return nil, vigil.Errorf(vigil.ErrInvalid, "status is open, acknowledged or resolved")
		}
	}
	return out, nil
}

// listAlerts answers GET /api/v1/alerts?patient=ID&status=open: a JSON
// array of the alerts the caller may see, newest first.
func (s *Server) listAlerts(w http.ResponseWriter, r *http.Request) {
	if !s.alertsConfigured(w, r) {
		return
	}
	visible, ok := s.visibleFilter(w, r)
	if !ok {
		return
	}
	q := &vigil.AlertQuery{Patient: r.URL.Query().Get("patient"), Limit: 1000}
	st, err := parseStatuses(r.URL.Query().Get("status"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	q.Status = st
	a := &Access{Action: ActionSearch, Type: "Flag"}
	out := []vigil.AlertRecord{}
	// Query per visible patient (the limit then applies to what the caller
	// may see, not before filtering); all at once for callers who see all.
	patients := []string{q.Patient}
	if q.Patient == "" {
		all, ids, err := s.cfg.Monitor.Access.Visible(r.Context())
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if !all {
			patients = ids
		}
	}
	for _, p := range patients {
		if p != "" && !visible(p) {
			continue
		}
		pq := *q
		pq.Patient = p
		list, _, err := s.cfg.Monitor.AlertStore.ListAlerts(r.Context(), &pq)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		for _, al := range list {
			if visible(al.Patient) {
				out = append(out, al)
				vigil.PatientLogFrom(r.Context()).Note(al.Patient)
			}
		}
	}
	slices.SortFunc(out, func(x, y vigil.AlertRecord) int { return y.Created.Compare(x.Created) })
	if err := s.audit(r, a); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// visibleAlert loads an alert the caller may see, or answers 404.
func (s *Server) visibleAlert(w http.ResponseWriter, r *http.Request, id string) *vigil.AlertRecord {
	visible, ok := s.visibleFilter(w, r)
	if !ok {
		return nil
	}
	al, err := s.cfg.Monitor.AlertStore.Alert(r.Context(), id)
	if err == nil && !visible(al.Patient) {
		err = &vigil.Error{Kind: vigil.ErrNotFound, Message: "alert not found", Err: vigil.ErrForbidden}
	}
	if err != nil {
		s.audit(r, &Access{Action: ActionRead, Type: "Flag", Err: err})
		s.fail(w, r, err)
		return nil
	}
	vigil.PatientLogFrom(r.Context()).Note(al.Patient)
	return al
}

func (s *Server) getAlert(w http.ResponseWriter, r *http.Request) {
	if !s.alertsConfigured(w, r) {
		return
	}
	al := s.visibleAlert(w, r, r.PathValue("id"))
	if al == nil {
		return
	}
	if err := s.audit(r, &Access{Action: ActionRead, Type: "Flag"}); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, al)
}

// alertAction runs ack, resolve and snooze. Only clinicians (and services
// with a Flag write scope) act on alerts of patients they may see.
func (s *Server) alertAction(w http.ResponseWriter, r *http.Request) {
	if !s.alertsConfigured(w, r) {
		return
	}
	verb := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
	var body struct {
		Note    string `json:"note"`
		Until   string `json:"until"`   // snooze: RFC 3339
		Minutes int    `json:"minutes"` // snooze: or a duration
	}
	if r.ContentLength != 0 {
		if err := readJSON(r, &body); err != nil {
			s.bodyError(w, r, err)
			return
		}
	}
	if len(body.Note) > 2000 {
		s.fail(w, r, vigil.Errorf(vigil.ErrInvalid, "a note has at most 2000 characters"))
		return
	}
	al := s.visibleAlert(w, r, r.PathValue("id"))
	if al == nil {
		return
	}
	p := vigil.PrincipalFrom(r.Context())
	if p.Role != vigil.RoleClinician && !(p.Role == vigil.RoleService && vigil.Allows(p.Scopes, "Flag", true)) {
		err := vigil.Errorf(vigil.ErrForbidden, "only clinicians act on alerts")
		s.audit(r, &Access{Action: ActionUpdate, Type: "Flag", Err: err})
		s.fail(w, r, err)
		return
	}
	by := "account/" + p.AccountID
	if p.Practitioner != "" {
		by = "Practitioner/" + p.Practitioner
	}
	e := s.cfg.Monitor.Alerts
	var out *vigil.AlertRecord
	var err error
	switch verb {
	case "ack":
		out, err = e.Acknowledge(r.Context(), al.ID, by, body.Note)
	case "resolve":
		out, err = e.Resolve(r.Context(), al.ID, by, body.Note)
	case "snooze":
		var until time.Time
		switch {
		case body.Until != "":
			until, err = time.Parse(time.RFC3339, body.Until)
			if err != nil || until.After(time.Now().Add(24*time.Hour)) {
				err = vigil.Errorf(vigil.ErrInvalid, "until must be an RFC 3339 time within 24 hours")
			}
		case body.Minutes > 0 && body.Minutes <= 24*60:
			until = time.Now().Add(time.Duration(body.Minutes) * time.Minute)
		default:
			err = vigil.Errorf(vigil.ErrInvalid, "snooze needs until or minutes (1 to 1440)")
		}
		if err == nil {
			out, err = e.Snooze(r.Context(), al.ID, by, until)
		}
	}
	if aerr := s.audit(r, &Access{Action: ActionUpdate, Type: "Flag", Err: err}); aerr != nil && err == nil {
		err = aerr
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// alertStream serves live alert events as Server-Sent Events
// (https://html.spec.whatwg.org/multipage/server-sent-events.html),
// filtered by what the caller may see when the stream starts. A comment
// line every 15 s keeps proxies from closing it.
func (s *Server) alertStream(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Monitor.Hub == nil {
		s.fail(w, r, vigil.Errorf(vigil.ErrNotFound, "live alerts are not configured"))
		return
	}
	visible, ok := s.visibleFilter(w, r)
	if !ok {
		return
	}
	if err := s.audit(r, &Access{Action: ActionSearch, Type: "Flag"}); err != nil {
		s.fail(w, r, err)
		return
	}
	// The filter is swapped when access is re-checked (every 30 s below).
	var filter atomic.Pointer[func(string) bool]
	filter.Store(&visible)
	events, cancel := s.cfg.Monitor.Hub.Subscribe(func(a *vigil.Alert) bool { return (*filter.Load())(a.Patient) })
	defer cancel()
	recheck := time.NewTicker(30 * time.Second)
	defer recheck.Stop()
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	_ = rc.Flush()
	ping := time.NewTicker(15 * time.Second)
	defer ping.Stop()
	for {
		_ = rc.SetWriteDeadline(time.Now().Add(30 * time.Second))
		select {
		case <-r.Context().Done():
			return
		case <-ping.C:
			if _, err := fmt.Fprint(w, ": ping\n\n"); err != nil {
				return
			}
		case <-recheck.C:
			// Credentials revoked or expired, grants ended, care teams
			// changed: the stream follows, or ends.
			v, ok := s.recheckAccess(r)
			if !ok {
				fmt.Fprint(w, "event: end\ndata: access ended\n\n")
				_ = rc.Flush()
				return
			}
			filter.Store(&v)
		case ev, ok := <-events:
			if !ok {
				return
			}
			b, err := json.Marshal(ev)
			if err != nil {
				return
			}
			if ev.Missed > 0 {
				fmt.Fprintf(w, "event: missed\ndata: %d\n\n", ev.Missed)
			}
			if _, err := fmt.Fprintf(w, "id: %s\nevent: %s\ndata: %s\n\n", ev.ID, ev.Kind, b); err != nil {
				return
			}
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}

var _ alert.Sink = (*alert.Hub)(nil)

// recheckAccess authenticates r's credentials again and returns the
// caller's current patient filter; false when access has ended.
func (s *Server) recheckAccess(r *http.Request) (func(string) bool, bool) {
	if s.cfg.Auth == nil {
		return func(string) bool { return true }, true
	}
	var p *vigil.Principal
	var err error
	if h := r.Header.Get("Authorization"); h != "" {
		_, tok, _ := strings.Cut(h, " ")
		p, err = s.cfg.Auth.AuthenticateToken(r.Context(), strings.TrimSpace(tok))
	} else if c, cerr := r.Cookie(SessionCookie); cerr == nil {
		p, err = s.cfg.Auth.AuthenticateSession(r.Context(), c.Value)
	} else {
		return nil, false
	}
	if err != nil || p == nil || p.NeedsSecondFactor {
		return nil, false
	}
	ctx := vigil.WithPrincipal(r.Context(), p)
	if s.cfg.Monitor.Access == nil {
		return func(string) bool { return true }, true
	}
	all, ids, err := s.cfg.Monitor.Access.Visible(ctx)
	if err != nil {
		return nil, false
	}
	return func(id string) bool {
		if all {
			return true
		}
		_, ok := slices.BinarySearch(ids, id)
		return ok
	}, true
}
