package httpapi

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/vigilhealth/vigil"
)

// Timings of a Server-Sent Events stream.
const (
	ssePing    = 15 * time.Second // a comment line keeps proxies from closing it
	sseRecheck = 30 * time.Second // credentials and access are checked again
	sseWrite   = 30 * time.Second // a client that does not read is dropped
)

// sseWriter writes a Server-Sent Events stream
// (https://html.spec.whatwg.org/multipage/server-sent-events.html): one
// event per call, flushed at once.
type sseWriter struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

// startSSE answers 200 with the event-stream headers and flushes them: a
// client that sees them is subscribed.
func startSSE(w http.ResponseWriter) *sseWriter {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	e := &sseWriter{w: w, rc: http.NewResponseController(w)}
	_ = e.rc.Flush()
	return e
}

// event writes one event; data must be a single line (JSON is). id and
// name may be empty.
func (e *sseWriter) event(id, name, data string) error {
	var b strings.Builder
	if id != "" {
		fmt.Fprintf(&b, "id: %s\n", id)
	}
	if name != "" {
		fmt.Fprintf(&b, "event: %s\n", name)
	}
	fmt.Fprintf(&b, "data: %s\n\n", data)
	return e.write(b.String())
}

// comment writes a comment line (ignored by clients).
func (e *sseWriter) comment(text string) error { return e.write(": " + text + "\n\n") }

func (e *sseWriter) write(s string) error {
	_ = e.rc.SetWriteDeadline(time.Now().Add(sseWrite))
	if _, err := e.w.Write([]byte(s)); err != nil {
		return err
	}
	return e.rc.Flush()
}

// reauthenticate checks the credentials of a long-lived request again
// (revoked tokens, ended sessions, locked accounts) and returns the
// caller's current principal.
func (s *Server) reauthenticate(r *http.Request) (*vigil.Principal, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		_, tok, _ := strings.Cut(h, " ")
		return s.cfg.Auth.AuthenticateToken(r.Context(), strings.TrimSpace(tok))
	}
	if c, err := r.Cookie(SessionCookie); err == nil {
		return s.cfg.Auth.AuthenticateSession(r.Context(), c.Value)
	}
	return nil, vigil.Errorf(vigil.ErrUnauthorized, "authentication required")
}
