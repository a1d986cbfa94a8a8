package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/auth"
	"github.com/vigilhealth/vigil/records"
)

// Config configures a Server.
type Config struct {
	// Records performs the FHIR interactions. Required.
	Records *records.Service
	// Logger receives request logs (no patient data). Default slog.Default().
	Logger *slog.Logger
	// MaxBody bounds request bodies in bytes (default 16 MiB); larger bodies
	// get 413.
	MaxBody int64
	// BaseURL, when set, is the public FHIR base (e.g.
	// "https://vigil.example.org/fhir") used in links; otherwise it is
	// derived from each request.
	BaseURL string
	// Policy decides access; nil allows everything (no authentication yet).
	Policy Policy
	// Auditor records each interaction; nil records nothing.
	Auditor Auditor
	// Version is reported in the CapabilityStatement.
	Version string
	// Auth authenticates callers (bearer tokens and session cookies) and
	// serves /auth/…; nil means no authentication (tests of the FHIR layer
	// alone). The access decisions themselves live in the store that
	// Records runs on (package access).
	Auth *auth.Service
	// Monitor wires the remote-monitoring API under /api/v1.
	Monitor MonitorConfig
	// Audit, when set, serves the audit trail as read-only FHIR AuditEvent
	// resources.
	Audit AuditReader
}

// Server is Vigil's HTTP front end. Create it with New; it is an
// http.Handler.
type Server struct {
	cfg     Config
	log     *slog.Logger
	handler http.Handler
	capa    []byte
}

// New builds the server and its routes.
func New(cfg Config) (*Server, error) {
	if cfg.Records == nil {
		return nil, errors.New("httpapi: Config.Records is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 16 << 20
	}
	if cfg.Policy == nil {
		cfg.Policy = allowAll{}
	}
	if cfg.Auditor == nil {
		cfg.Auditor = noAudit{}
	}
	s := &Server{cfg: cfg, log: cfg.Logger}
	capa, err := capabilityStatement(cfg.Records.Model(), cfg.Version)
	if err != nil {
		return nil, err
	}
	s.capa = capa
	mux := http.NewServeMux()
	s.routes(mux)
	s.authRoutes(mux)
	s.monitorRoutes(mux)
	// Cookie-authenticated browsers may not be made to write from another
	// origin (CSRF); API clients with bearer tokens send no Origin or
	// Sec-Fetch-Site and pass.
	s.handler = s.chain(http.NewCrossOriginProtection().Handler(s.auditIntercept(mux)))
	return s, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

type ctxKey int

const requestIDKey ctxKey = iota

// RequestID returns the id the server gave the request (also sent back in
// X-Request-Id).
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// chain wraps the routes in the middleware every request passes.
func (s *Server) chain(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := newRequestID()
		ctx := context.WithValue(r.Context(), requestIDKey, id)
		ctx, _ = vigil.WithPatientLog(ctx) // filled by the access policy, read by the auditor
		h := w.Header()
		h.Set("X-Request-Id", id)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		if r.TLS != nil {
			h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBody)
		}
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if v := recover(); v != nil {
				s.log.ErrorContext(ctx, "panic serving request", "request_id", id, "panic", v, "stack", string(debug.Stack()))
				if sw.status == 0 {
					writeError(sw, errors.New("internal error"))
				}
			}
			// Paths hold only resource types and opaque ids; query strings
			// (which may hold patient data) are not logged.
			s.log.InfoContext(ctx, "request", "request_id", id, "method", r.Method, "path", r.URL.Path,
				"status", sw.status, "bytes", sw.bytes, "duration", time.Since(start))
		}()
		r, ok := s.authenticate(sw, r.WithContext(ctx))
		if !ok {
			return
		}
		next.ServeHTTP(sw, r)
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += n
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// base returns the FHIR base URL for links.
func (s *Server) base(r *http.Request) string {
	if s.cfg.BaseURL != "" {
		return strings.TrimSuffix(s.cfg.BaseURL, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + "/fhir"
}
