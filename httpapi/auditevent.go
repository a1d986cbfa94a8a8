package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/audit"
	"github.com/vigilhealth/vigil/records"
)

// AuditReader reads the audit trail (audit.Trail).
type AuditReader interface {
	Query(ctx context.Context, q *vigil.AuditQuery) (*vigil.AuditPage, error)
	Read(ctx context.Context, seq int64) (vigil.AuditRecord, error)
}

// auditIntercept serves /fhir/AuditEvent… from the audit trail instead of
// the resource store: the generic FHIR routes would otherwise take them.
func (s *Server) auditIntercept(next http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /fhir/AuditEvent", s.auditSearch)
	mux.HandleFunc("GET /fhir/AuditEvent/{id}", s.auditRead)
	// The trail is written by Vigil alone; there is no history to page.
	mux.HandleFunc("/fhir/AuditEvent", s.auditReadOnly)
	mux.HandleFunc("/fhir/AuditEvent/", s.auditReadOnly)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/fhir/AuditEvent" || strings.HasPrefix(r.URL.Path, "/fhir/AuditEvent/") {
			mux.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) auditReadOnly(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Allow", "GET")
	w.Header().Set("Content-Type", fhirJSON+"; charset=utf-8")
	w.WriteHeader(http.StatusMethodNotAllowed)
	_, _ = w.Write(records.Outcome(vigil.Errorf(vigil.ErrUnsupported, "AuditEvent is read-only: the audit trail is written by the server")))
}

// auditScope returns the patient filter the caller is held to ("" for
// everyone's records), or an error: admins (and services with an
// AuditEvent read scope) see every record; a patient sees the records
// that involve them; nobody else reads the trail.
func auditScope(p *vigil.Principal) (string, error) {
	switch {
	case p.Role == vigil.RoleAdmin && (p.Scopes == nil || vigil.Allows(p.Scopes, "AuditEvent", false)):
		return "", nil
	case p.Role == vigil.RoleService && vigil.Allows(p.Scopes, "AuditEvent", false):
		return "", nil
	case p.Role == vigil.RolePatient && p.Patient != "":
		return "Patient/" + p.Patient, nil
	}
	return "", vigil.Errorf(vigil.ErrForbidden, "only admins, and patients for their own record, read the audit trail")
}

// auditQuery parses the AuditEvent search parameters Vigil supports:
// patient, agent (account id), date (with prefixes), action (C R U D E)
// and subtype (Vigil action names), _count and the paging cursor.
func auditQuery(v url.Values) (*vigil.AuditQuery, error) {
	q := &vigil.AuditQuery{}
	for k, vs := range v {
		val := vs[0]
		switch k {
		case "patient", "entity":
			if !strings.HasPrefix(val, "Patient/") {
				val = "Patient/" + val
			}
			q.Patient = val
		case "agent", "agent:identifier":
			q.Agent = strings.TrimPrefix(val, "urn:vigil:account|")
		case "date":
			for _, d := range vs {
				if err := dateBound(q, d); err != nil {
					return nil, err
				}
			}
		case "action", "subtype", "type":
			for _, c := range strings.Split(val, ",") {
				acts := audit.ActionsFor(k, c)
				if len(acts) == 0 {
					return nil, vigil.Errorf(vigil.ErrInvalid, "unknown %s code %q", k, clip(c))
				}
				q.Actions = append(q.Actions, acts...)
			}
		case "_count":
			n, err := strconv.Atoi(val)
			if err != nil || n < 1 {
				return nil, vigil.Errorf(vigil.ErrInvalid, "_count must be a positive integer")
			}
			q.Count = n
		case "_before":
			n, err := strconv.ParseInt(val, 10, 64)
			if err != nil || n < 1 {
				return nil, vigil.Errorf(vigil.ErrInvalid, "invalid paging cursor")
			}
			q.Before = n
		case "_format", "_sort":
		default:
			return nil, vigil.Errorf(vigil.ErrInvalid, "unsupported AuditEvent search parameter %q (patient, agent, date, action, subtype, type)", clip(k))
		}
	}
	return q, nil
}

// dateBound narrows q by one date parameter: a prefix (eq, ge, gt, le,
// lt; eq by default) and a FHIR date or dateTime.
func dateBound(q *vigil.AuditQuery, d string) error {
	prefix := "eq"
	if len(d) > 2 && d[0] >= 'a' && d[0] <= 'z' {
		prefix, d = d[:2], d[2:]
	}
	var start, end time.Time
	for _, f := range []struct {
		layout string
		step   func(time.Time) time.Time
	}{
		{time.RFC3339Nano, func(t time.Time) time.Time { return t.Add(time.Microsecond) }},
		{"2006-01-02", func(t time.Time) time.Time { return t.AddDate(0, 0, 1) }},
		{"2006-01", func(t time.Time) time.Time { return t.AddDate(0, 1, 0) }},
		{"2006", func(t time.Time) time.Time { return t.AddDate(1, 0, 0) }},
	} {
		if t, err := time.Parse(f.layout, d); err == nil {
			start, end = t, f.step(t)
			break
		}
	}
	if start.IsZero() {
		return vigil.Errorf(vigil.ErrInvalid, "date must be a FHIR date or dateTime with an optional prefix")
	}
	later := func(a, b time.Time) time.Time {
		if a.After(b) {
			return a
		}
		return b
	}
	earlier := func(a, b time.Time) time.Time {
		if a.IsZero() || b.Before(a) {
			return b
		}
		return a
	}
	switch prefix {
	case "eq":
		q.Since, q.Until = later(q.Since, start), earlier(q.Until, end)
	case "ge":
		q.Since = later(q.Since, start)
	case "gt":
		q.Since = later(q.Since, end)
	case "le":
		q.Until = earlier(q.Until, end)
	case "lt":
		q.Until = earlier(q.Until, start)
	default:
		return vigil.Errorf(vigil.ErrInvalid, "date prefix is one of eq, ge, gt, le, lt")
	}
	return nil
}

func (s *Server) auditSearch(w http.ResponseWriter, r *http.Request) {
	a := &Access{Action: ActionSearch, Type: "AuditEvent"}
	if !s.begin(w, r, a) {
		return
	}
	if s.cfg.Audit == nil {
		s.end(w, r, a, vigil.Errorf(vigil.ErrNotFound, "the audit trail is not configured"))
		return
	}
	p := vigil.PrincipalFrom(r.Context())
	scope, err := auditScope(p)
	if err != nil {
		s.end(w, r, a, err)
		return
	}
	q, err := auditQuery(r.URL.Query())
	if err != nil {
		s.end(w, r, a, err)
		return
	}
	var page *vigil.AuditPage
	switch {
	case scope != "" && q.Patient != "" && q.Patient != scope:
		page = &vigil.AuditPage{} // another patient's records: none
	default:
		if scope != "" {
			q.Patient = scope
		}
		page, err = s.cfg.Audit.Query(r.Context(), q)
	}
	if !s.end(w, r, a, err) {
		return
	}
	base := s.base(r)
	var buf bytes.Buffer
	buf.WriteString(`{"resourceType":"Bundle","type":"searchset","link":[`)
	self := base + "/AuditEvent"
	if enc := r.URL.Query().Encode(); enc != "" {
		self += "?" + enc
	}
	writeLink(&buf, "self", self)
	if page.Next != 0 {
		v := r.URL.Query()
		v.Set("_before", strconv.FormatInt(page.Next, 10))
		buf.WriteByte(',')
		writeLink(&buf, "next", base+"/AuditEvent?"+v.Encode())
	}
	buf.WriteString(`],"entry":[`)
	for i := range page.Records {
		if i > 0 {
			buf.WriteByte(',')
		}
		res, err := json.Marshal(audit.ToFHIR(redact(&page.Records[i], scope), audit.FHIROptions{}))
		if err != nil {
			s.fail(w, r, err)
			return
		}
		buf.WriteString(`{"fullUrl":`)
		writeJSONString(&buf, base+"/AuditEvent/"+strconv.FormatInt(page.Records[i].Seq, 10))
		buf.WriteString(`,"resource":`)
		buf.Write(res)
		buf.WriteString(`,"search":{"mode":"match"}}`)
	}
	buf.WriteString("]}")
	writeFHIR(w, r, http.StatusOK, buf.Bytes())
}

func writeLink(buf *bytes.Buffer, rel, u string) {
	buf.WriteString(`{"relation":"` + rel + `","url":`)
	writeJSONString(buf, u)
	buf.WriteByte('}')
}

func writeJSONString(buf *bytes.Buffer, s string) {
	b, _ := json.Marshal(s)
	buf.Write(b)
}

func (s *Server) auditRead(w http.ResponseWriter, r *http.Request) {
	a := &Access{Action: ActionRead, Type: "AuditEvent", ID: r.PathValue("id")}
	if !s.begin(w, r, a) {
		return
	}
	if s.cfg.Audit == nil {
		s.end(w, r, a, vigil.Errorf(vigil.ErrNotFound, "the audit trail is not configured"))
		return
	}
	seq, err := strconv.ParseInt(a.ID, 10, 64)
	if err != nil || seq < 1 {
		s.end(w, r, a, vigil.Errorf(vigil.ErrNotFound, "AuditEvent not found"))
		return
	}
	scope, err := auditScope(vigil.PrincipalFrom(r.Context()))
	if err != nil {
		s.end(w, r, a, err)
		return
	}
	rec, err := s.cfg.Audit.Read(r.Context(), seq)
	if err == nil && scope != "" && !slices.Contains(rec.Patients, scope) {
		err = &vigil.Error{Kind: vigil.ErrNotFound, Message: "AuditEvent not found", Err: vigil.ErrForbidden}
	}
	if !s.end(w, r, a, err) {
		return
	}
	b, err := json.Marshal(audit.ToFHIR(redact(&rec, scope), audit.FHIROptions{}))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeFHIR(w, r, http.StatusOK, b)
}

// redact shows a patient only their part of a record: who accessed their
// data, when, how and from where — not the other patients or resources
// the same access touched.
func redact(r *vigil.AuditRecord, scope string) *vigil.AuditRecord {
	if scope == "" {
		return r
	}
	c := *r
	c.Patients = []string{scope}
	c.Resources = nil
	c.Detail = ""
	return &c
}

// clip keeps caller-supplied text short in error messages.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
