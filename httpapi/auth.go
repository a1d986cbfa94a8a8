package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/auth"
)

// SessionCookie is the name of the login-session cookie.
const SessionCookie = "vigil_session"

// authenticate resolves the caller of r: a bearer token or a session
// cookie. A request with no credentials goes on without a principal (the
// access policy then answers 401 wherever one is needed); a request with
// bad credentials is answered 401 here.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (*http.Request, bool) {
	a := s.cfg.Auth
	if a == nil {
		return r, true
	}
	var p *vigil.Principal
	var err error
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, _ := strings.Cut(h, " ")
		if !strings.EqualFold(scheme, "Bearer") {
			err = vigil.Errorf(vigil.ErrUnauthorized, "use Authorization: Bearer TOKEN")
		} else {
			p, err = a.AuthenticateToken(r.Context(), strings.TrimSpace(tok))
		}
	} else if c, cerr := r.Cookie(SessionCookie); cerr == nil {
		p, err = a.AuthenticateSession(r.Context(), c.Value)
		if err != nil {
			http.SetCookie(w, s.sessionCookie(r, "", -1))
		}
	}
	if err != nil {
		s.unauthorized(w, r, err)
		return r, false
	}
	if p == nil {
		return r, true
	}
	return r.WithContext(vigil.WithPrincipal(r.Context(), p)), true
}

func (s *Server) unauthorized(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, vigil.ErrUnauthorized) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="vigil"`)
	}
	s.fail(w, r, err)
}

// sessionCookie builds the session cookie: HttpOnly, SameSite=Strict,
// Secure under TLS, path /.
func (s *Server) sessionCookie(r *http.Request, value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: SessionCookie, Value: value, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: r.TLS != nil, MaxAge: maxAge}
}

func (s *Server) authRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /auth/login", s.login)
	mux.HandleFunc("POST /auth/logout", s.logout)
	mux.HandleFunc("GET /auth/me", s.me)
	mux.HandleFunc("POST /auth/totp/enrol", s.totpEnrol)
	mux.HandleFunc("POST /auth/totp/confirm", s.totpConfirm)
	mux.HandleFunc("POST /auth/totp/disable", s.totpDisable)
	mux.HandleFunc("POST /auth/password", s.changePassword)
	mux.HandleFunc("POST /auth/tokens", s.issueToken)
	mux.HandleFunc("DELETE /auth/tokens/{id}", s.revokeToken)
	mux.HandleFunc("POST /auth/break-glass", s.breakGlass)
	mux.HandleFunc("GET /auth/break-glass", s.listBreakGlass)
	s.accountRoutes(mux)
	s.securityRoutes(mux)
}

// maxJSONBody bounds the JSON bodies of /auth and the admin endpoints.
const maxJSONBody = 64 << 10

// readJSON decodes a small JSON body strictly: unknown fields and
// trailing data are malformed (400), a body over maxJSONBody is too large
// (413).
func readJSON(r *http.Request, v any) error {
	ct := r.Header.Get("Content-Type")
	if !strings.HasPrefix(ct, "application/json") {
		return errUnsupportedMedia
	}
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, maxJSONBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.More() {
		err = errors.New("trailing data")
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return &vigil.Error{Kind: vigil.ErrTooLarge, Message: fmt.Sprintf("the body exceeds %d bytes", maxJSONBody), Err: err}
	}
	if err != nil {
		return &vigil.Error{Kind: vigil.ErrInvalid, Message: "malformed JSON body: " + jsonProblem(err), Err: err}
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// principalOrFail returns the caller or answers 401.
func (s *Server) principalOrFail(w http.ResponseWriter, r *http.Request) *vigil.Principal {
	p := vigil.PrincipalFrom(r.Context())
	if p == nil {
		s.unauthorized(w, r, vigil.Errorf(vigil.ErrUnauthorized, "authentication required"))
	}
	return p
}

// caller returns the authentication service and the authenticated caller,
// or answers (404 without authentication configured, 401 without a
// caller) and returns false.
func (s *Server) caller(w http.ResponseWriter, r *http.Request) (*auth.Service, *vigil.Principal, bool) {
	a := s.authService(w, r)
	if a == nil {
		return nil, nil, false
	}
	p := s.principalOrFail(w, r)
	return a, p, p != nil
}

// decodeJSON reads a small JSON body into v, or answers 400/415 and
// returns false.
func (s *Server) decodeJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := readJSON(r, v); err != nil {
		s.bodyError(w, r, err)
		return false
	}
	return true
}

func (s *Server) authService(w http.ResponseWriter, r *http.Request) *auth.Service {
	if s.cfg.Auth == nil {
		s.fail(w, r, vigil.Errorf(vigil.ErrNotFound, "authentication is not configured"))
	}
	return s.cfg.Auth
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	a := s.authService(w, r)
	if a == nil {
		return
	}
	var body struct {
		Username string `json:"username"`
		Password string `json:"password"`
		Code     string `json:"code"`
	}
	if !s.decodeJSON(w, r, &body) {
		return
	}
	cookie, p, err := a.Login(r.Context(), body.Username, body.Password, body.Code, clientIP(r))
	if err != nil {
		s.unauthorized(w, r, err)
		return
	}
	http.SetCookie(w, s.sessionCookie(r, cookie, 0))
	writeJSON(w, http.StatusOK, meBody(p))
}

func meBody(p *vigil.Principal) map[string]any {
	m := map[string]any{"account": p.AccountID, "username": p.Username, "role": p.Role, "method": p.Method,
		"needs_second_factor": p.NeedsSecondFactor}
	if p.Patient != "" {
		m["patient"] = p.Patient
	}
	if p.Practitioner != "" {
		m["practitioner"] = p.Practitioner
	}
	if p.Device != "" {
		m["device"] = p.Device
	}
	if p.Scopes != nil {
		m["scope"] = vigil.FormatScopes(p.Scopes)
	}
	return m
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	a := s.authService(w, r)
	if a == nil {
		return
	}
	if c, err := r.Cookie(SessionCookie); err == nil {
		if err := a.Logout(r.Context(), c.Value, clientIP(r)); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	http.SetCookie(w, s.sessionCookie(r, "", -1))
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) me(w http.ResponseWriter, r *http.Request) {
	if p := s.principalOrFail(w, r); p != nil {
		writeJSON(w, http.StatusOK, meBody(p))
	}
}

func (s *Server) totpEnrol(w http.ResponseWriter, r *http.Request) {
	a, p, ok := s.caller(w, r)
	if !ok {
		return
	}
	secret, u, err := a.EnrolTOTP(r.Context(), p.AccountID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"secret": secret, "otpauth_url": u})
}

type codeBody struct {
	Code string `json:"code"`
}

func (s *Server) totpConfirm(w http.ResponseWriter, r *http.Request) {
	a, p, ok := s.caller(w, r)
	if !ok {
		return
	}
	var body codeBody
	if !s.decodeJSON(w, r, &body) {
		return
	}
	codes, err := a.ConfirmTOTP(r.Context(), p.AccountID, body.Code, clientIP(r))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"recovery_codes": codes})
}

func (s *Server) totpDisable(w http.ResponseWriter, r *http.Request) {
	a, p, ok := s.caller(w, r)
	if !ok {
		return
	}
	var body codeBody
	if !s.decodeJSON(w, r, &body) {
		return
	}
	if err := a.DisableTOTP(r.Context(), p.AccountID, body.Code, clientIP(r)); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) changePassword(w http.ResponseWriter, r *http.Request) {
	a, p, ok := s.caller(w, r)
	if !ok {
		return
	}
	var body struct {
		Current string `json:"current"`
		New     string `json:"new"`
	}
	if !s.decodeJSON(w, r, &body) {
		return
	}
	cookie := ""
	if c, err := r.Cookie(SessionCookie); err == nil && p.Method != "token" {
		cookie = c.Value
	}
	fresh, err := a.ChangePassword(r.Context(), p.AccountID, cookie, body.Current, body.New, clientIP(r))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// Every session and token of the account has ended; the caller's own
	// session goes on under a new cookie.
	if fresh != "" {
		http.SetCookie(w, s.sessionCookie(r, fresh, 0))
	} else if cookie != "" {
		http.SetCookie(w, s.sessionCookie(r, "", -1))
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) issueToken(w http.ResponseWriter, r *http.Request) {
	a, p, ok := s.caller(w, r)
	if !ok {
		return
	}
	if p.NeedsSecondFactor {
		s.fail(w, r, vigil.Errorf(vigil.ErrForbidden, "enrol a second factor first"))
		return
	}
	var body struct {
		Expires string `json:"expires"` // Go duration, e.g. "24h"
		Scope   string `json:"scope"`
	}
	if !s.decodeJSON(w, r, &body) {
		return
	}
	ttl := 24 * time.Hour
	if body.Expires != "" {
		d, err := time.ParseDuration(body.Expires)
		if err != nil {
			s.fail(w, r, vigil.Errorf(vigil.ErrInvalid, "expires: a duration such as 24h"))
			return
		}
		ttl = d
	}
	var scopes []vigil.Scope
	if body.Scope != "" {
		sc, err := vigil.ParseScopes(body.Scope)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		scopes = sc
	} else if p.Scopes != nil {
		scopes = p.Scopes // a token never widens the caller's own token
	}
	tok, t, err := a.IssueToken(r.Context(), p.AccountID, ttl, scopes)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"id": t.ID, "token": tok, "expires": t.Expires.Format(time.RFC3339)})
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) {
	a, p, ok := s.caller(w, r)
	if !ok {
		return
	}
	if err := a.RevokeToken(r.Context(), p, r.PathValue("id")); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) breakGlass(w http.ResponseWriter, r *http.Request) {
	a, p, ok := s.caller(w, r)
	if !ok {
		return
	}
	var body struct {
		Patient string `json:"patient"`
		Reason  string `json:"reason"`
		Minutes int    `json:"minutes"`
	}
	if !s.decodeJSON(w, r, &body) {
		return
	}
	g, err := a.BreakGlass(r.Context(), p, body.Patient, body.Reason, time.Duration(body.Minutes)*time.Minute, clientIP(r))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// Admins are alerted by auth (their live stream, the webhook); the log
	// keeps a warning too, without the reason.
	s.log.WarnContext(r.Context(), "break-the-glass access granted", "grant", g.ID, "account", p.AccountID, "until", g.Expires)
	writeJSON(w, http.StatusCreated, map[string]any{"id": g.ID, "patient": g.Patient, "expires": g.Expires.Format(time.RFC3339)})
}

func (s *Server) listBreakGlass(w http.ResponseWriter, r *http.Request) {
	a, p, ok := s.caller(w, r)
	if !ok {
		return
	}
	if p.Role != vigil.RoleAdmin || p.NeedsSecondFactor {
		s.fail(w, r, vigil.Errorf(vigil.ErrForbidden, "only admins see emergency-access grants"))
		return
	}
	gs, err := a.Accounts().ListBreakGlass(r.Context(), time.Now().Add(-30*24*time.Hour))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]map[string]any, 0, len(gs))
	for _, g := range gs {
		out = append(out, map[string]any{"id": g.ID, "account": g.AccountID, "patient": g.Patient, "reason": g.Reason,
			"created": g.Created.Format(time.RFC3339), "expires": g.Expires.Format(time.RFC3339)})
	}
	writeJSON(w, http.StatusOK, out)
}

// clientIP is the remote address without the port (the throttling key
// and the audit trail's source). Proxies are not trusted.
func clientIP(r *http.Request) string {
	h := r.RemoteAddr
	if i := strings.LastIndexByte(h, ':'); i > 0 {
		h = h[:i]
	}
	return strings.Trim(h, "[]")
}

// stampSource marks a resource submitted by a patient or device account
// with meta.source = urn:vigil:account:ID, which the access policy uses to
// let patients change only what they submitted.
func stampSource(ctx context.Context, obj map[string]any) {
	p := vigil.PrincipalFrom(ctx)
	if p == nil || (p.Role != vigil.RolePatient && p.Role != vigil.RoleDevice) {
		return
	}
	meta, _ := obj["meta"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
		obj["meta"] = meta
	}
	meta["source"] = vigil.AccountSource(p.AccountID)
}

// requirePrincipal refuses anonymous and half-logged-in callers before any
// FHIR interaction runs (the access policy checks again on every resource).
func (s *Server) requirePrincipal(r *http.Request) error {
	if s.cfg.Auth == nil {
		return nil
	}
	p := vigil.PrincipalFrom(r.Context())
	if p == nil {
		return vigil.Errorf(vigil.ErrUnauthorized, "authentication required")
	}
	if p.NeedsSecondFactor {
		return vigil.Errorf(vigil.ErrForbidden, "enrol a second factor (POST /auth/totp/enrol) before anything else")
	}
	return nil
}
