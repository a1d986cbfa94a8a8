package httpapi

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/auth"
)

// Defaults of the security event endpoints.
const (
	// securityListDefault is how far back GET /api/v1/security/events
	// goes without since.
	securityListDefault = 7 * 24 * time.Hour
	// securityReplayWindow is how far back a reconnecting stream looks
	// for its Last-Event-ID.
	securityReplayWindow = 30 * 24 * time.Hour
)

func (s *Server) securityRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/security/events", s.listSecurityEvents)
	mux.HandleFunc("GET /api/v1/security/events/stream", s.securityStream)
}

// listSecurityEvents answers GET /api/v1/security/events?since=RFC3339:
// the security alerts (emergency-access grants) raised since then
// (default: the last 7 days), newest first, at most 1000. Admins only.
func (s *Server) listSecurityEvents(w http.ResponseWriter, r *http.Request) {
	a, p, ok := s.caller(w, r)
	if !ok {
		return
	}
	since := time.Now().Add(-securityListDefault)
	if v := r.URL.Query().Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			s.fail(w, r, vigil.Errorf(vigil.ErrInvalid, "since must be an RFC 3339 time such as 2026-11-25T08:00:00Z"))
			return
		}
		since = t
	}
	list, err := a.SecurityAlerts(r.Context(), p, since, clientIP(r))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}

// securityStream serves security alerts live to admins as Server-Sent
// Events: "event: break-glass", "id:" the alert id, "data:" the alert
// JSON (auth.Alert). A client that reconnects with Last-Event-ID first
// gets the alerts raised after that one (from the last 30 days), or
// "event: missed" when it is unknown; "event: missed" also follows a
// buffer overflow. Either way the client should reload the list. The
// caller's credentials are checked again every 30 s; the stream ends
// ("event: end") when they no longer make an admin.
func (s *Server) securityStream(w http.ResponseWriter, r *http.Request) {
	a, p, ok := s.caller(w, r)
	if !ok {
		return
	}
	source := clientIP(r)
	alerts, cancel, err := a.SubscribeAlerts(r.Context(), p, source)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer cancel()
	// Subscribed before looking back: nothing falls between the two.
	var replay []auth.Alert
	missed := false
	if last := r.Header.Get("Last-Event-ID"); last != "" {
		list, err := a.SecurityAlerts(r.Context(), p, time.Now().Add(-securityReplayWindow), source)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if i := slices.IndexFunc(list, func(x auth.Alert) bool { return x.ID == last }); i >= 0 {
			replay = list[:i]
			slices.Reverse(replay) // oldest first, as they happened
		} else {
			missed = true
		}
	}
	out := startSSE(w)
	sent := make(map[string]bool, len(replay))
	send := func(al auth.Alert) bool {
		b, err := json.Marshal(al)
		if err != nil {
			return false
		}
		if al.Missed > 0 && out.event("", "missed", strconv.FormatUint(al.Missed, 10)) != nil {
			return false
		}
		return out.event(al.ID, al.Type, string(b)) == nil
	}
	if missed && out.event("", "missed", "unknown Last-Event-ID") != nil {
		return
	}
	for _, al := range replay {
		sent[al.ID] = true
		if !send(al) {
			return
		}
	}
	ping := time.NewTicker(ssePing)
	defer ping.Stop()
	recheck := time.NewTicker(sseRecheck)
	defer recheck.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-ping.C:
			if out.comment("ping") != nil {
				return
			}
		case <-recheck.C:
			// Token revoked, session ended, account locked: the stream ends.
			if p, err := s.reauthenticate(r); err != nil || auth.CheckAdmin(p) != nil {
				_ = out.event("", "end", "access ended")
				return
			}
		case al, ok := <-alerts:
			if !ok {
				return
			}
			if sent[al.ID] {
				continue
			}
			if !send(al) {
				return
			}
		}
	}
}
