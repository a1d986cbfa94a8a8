package httpapi

import (
	"context"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/records"
)

const fhirJSON = "application/fhir+json"

func (s *Server) routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /fhir/metadata", s.metadata)
	mux.HandleFunc("GET /fhir", s.systemSearch)
	mux.HandleFunc("GET /fhir/{$}", s.systemSearch)
	mux.HandleFunc("POST /fhir", s.bundle)
	mux.HandleFunc("POST /fhir/{$}", s.bundle)
	mux.HandleFunc("GET /fhir/_history", s.history)
	mux.HandleFunc("GET /fhir/{type}", s.search)
	mux.HandleFunc("POST /fhir/{type}/_search", s.search)
	mux.HandleFunc("POST /fhir/{type}", s.create)
	mux.HandleFunc("PUT /fhir/{type}", s.conditionalUpdate)
	mux.HandleFunc("DELETE /fhir/{type}", s.conditionalDelete)
	mux.HandleFunc("GET /fhir/{type}/_history", s.history)
	mux.HandleFunc("GET /fhir/{type}/{id}", s.read)
	mux.HandleFunc("PUT /fhir/{type}/{id}", s.update)
	mux.HandleFunc("PATCH /fhir/{type}/{id}", s.patch)
	mux.HandleFunc("DELETE /fhir/{type}/{id}", s.delete)
	mux.HandleFunc("GET /fhir/{type}/{id}/_history", s.history)
	mux.HandleFunc("GET /fhir/{type}/{id}/_history/{vid}", s.vread)
	mux.HandleFunc("GET /fhir/{type}/{id}/{sub}", s.compartment)
	mux.HandleFunc("/fhir/", s.notFound)
}

// writeError sends err as an OperationOutcome with its mapped status.
func writeError(w http.ResponseWriter, err error) {
	status := records.Status(err)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		status = http.StatusRequestEntityTooLarge
		err = vigil.Errorf(vigil.ErrTooLarge, "request body exceeds %d bytes", mbe.Limit)
	}
	w.Header().Set("Content-Type", fhirJSON+"; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(records.Outcome(err))
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	if records.Status(err) >= 500 {
		s.log.ErrorContext(r.Context(), "request failed", "request_id", RequestID(r.Context()), "err", err)
	}
	writeError(w, err)
}

func writeFHIR(w http.ResponseWriter, r *http.Request, status int, body []byte) {
	w.Header().Set("Content-Type", fhirJSON+"; charset=utf-8")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// negotiate checks Accept and _format: only JSON is served (406 otherwise).
func negotiate(r *http.Request) error {
	if f := r.URL.Query().Get("_format"); f != "" {
		switch f {
		case "json", fhirJSON, "application/json":
		default:
			return &vigil.Error{Kind: vigil.ErrInvalid, Message: "only JSON is supported (_format=json)"}
		}
	}
	acc := r.Header.Get("Accept")
	if acc == "" {
		return nil
	}
	for _, part := range strings.Split(acc, ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch mt {
		case "*/*", "application/*", fhirJSON, "application/json", "application/json+fhir":
			return nil
		}
	}
	return errNotAcceptable
}

var errNotAcceptable = &vigil.Error{Kind: vigil.ErrUnsupported, Message: "only application/fhir+json is served"}

// readBody reads a request body after checking its media type against the
// allowed ones (415 otherwise).
func readBody(r *http.Request, allowed ...string) ([]byte, error) {
	ct := r.Header.Get("Content-Type")
	mt, params, err := mime.ParseMediaType(ct)
	if ct == "" || err != nil {
		return nil, errUnsupportedMedia
	}
	ok := false
	for _, a := range allowed {
		if mt == a {
			ok = true
		}
	}
	if !ok {
		return nil, errUnsupportedMedia
	}
	if cs, has := params["charset"]; has && !strings.EqualFold(cs, "utf-8") {
		return nil, errUnsupportedMedia
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	return b, nil
}

// errUnsupportedMedia maps to 415 in handlers.
var errUnsupportedMedia = &vigil.Error{Kind: vigil.ErrInvalid, Message: "unsupported media type: send application/fhir+json"}

func (s *Server) bodyError(w http.ResponseWriter, r *http.Request, err error) {
	if err == errUnsupportedMedia {
		w.Header().Set("Content-Type", fhirJSON+"; charset=utf-8")
		w.WriteHeader(http.StatusUnsupportedMediaType)
		_, _ = w.Write(records.Outcome(err))
		return
	}
	s.fail(w, r, err)
}

func (s *Server) respondError(w http.ResponseWriter, r *http.Request, err error) {
	if err == errNotAcceptable {
		w.Header().Set("Content-Type", fhirJSON+"; charset=utf-8")
		w.WriteHeader(http.StatusNotAcceptable)
		_, _ = w.Write(records.Outcome(err))
		return
	}
	s.bodyError(w, r, err)
}

// prefer parses the Prefer header (RFC 7240) into its return and handling
// preferences.
func prefer(r *http.Request) (ret, handling string) {
	for _, v := range r.Header.Values("Prefer") {
		for _, p := range strings.Split(v, ",") {
			k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
			val = strings.Trim(val, `"`)
			switch strings.ToLower(k) {
			case "return":
				ret = val
			case "handling":
				handling = val
			}
		}
	}
	return ret, handling
}

// begin authorizes an interaction; on denial it answers and returns false.
func (s *Server) begin(w http.ResponseWriter, r *http.Request, a *Access) bool {
	a.RequestID = RequestID(r.Context())
	a.Source = r.RemoteAddr
	if err := negotiate(r); err != nil {
		s.respondError(w, r, err)
		return false
	}
	if err := s.requirePrincipal(r); err != nil {
		a.Err = err
		s.audit(r, a)
		s.unauthorized(w, r, err)
		return false
	}
	if err := s.cfg.Policy.Authorize(r.Context(), a); err != nil {
		a.Err = err
		s.audit(r, a)
		s.fail(w, r, err)
		return false
	}
	return true
}

// inCommit returns the context for the Write of a: when the Auditor is a
// CommitAuditor, one under which the store commits a's record together
// with the change.
func (s *Server) inCommit(r *http.Request, a *Access) context.Context {
	ca, ok := s.cfg.Auditor.(CommitAuditor)
	if !ok {
		return r.Context()
	}
	ctx, appended := ca.InCommit(r.Context(), a)
	a.appended = appended
	return ctx
}

// audit records a (unless the store already committed its record with the
// change); a failure is logged and returned as ErrUnavailable.
func (s *Server) audit(r *http.Request, a *Access) error {
	if a.Err == nil && a.appended != nil && a.appended() {
		return nil
	}
	if a.RequestID == "" {
		a.RequestID, a.Source = RequestID(r.Context()), r.RemoteAddr
	}
	if err := s.cfg.Auditor.Record(r.Context(), a); err != nil {
		s.log.ErrorContext(r.Context(), "audit trail write failed", "request_id", a.RequestID, "err", err)
		return vigil.Errorf(vigil.ErrUnavailable, "the audit trail is unavailable; nothing was returned")
	}
	return nil
}

// end audits the interaction and answers an error if there was one.
func (s *Server) end(w http.ResponseWriter, r *http.Request, a *Access, err error) bool {
	a.Err = err
	if aerr := s.audit(r, a); aerr != nil && err == nil {
		err = aerr
	}
	if err != nil {
		s.respondError(w, r, err)
		return false
	}
	return true
}

func (s *Server) filter(r *http.Request, a *Access) func(*vigil.SearchQuery) error {
	return func(q *vigil.SearchQuery) error {
		a.Query = q
		return s.cfg.Policy.Filter(r.Context(), a, q)
	}
}

func (s *Server) metadata(w http.ResponseWriter, r *http.Request) {
	if err := negotiate(r); err != nil {
		s.respondError(w, r, err)
		return
	}
	writeFHIR(w, r, http.StatusOK, s.capa)
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	writeError(w, vigil.Errorf(vigil.ErrNotFound, "no such FHIR endpoint"))
}

// writeResource answers with one resource version and its headers.
func (s *Server) writeResource(w http.ResponseWriter, r *http.Request, status int, res *vigil.Resource) {
	h := w.Header()
	h.Set("ETag", `W/"`+strconv.FormatInt(res.Version, 10)+`"`)
	h.Set("Last-Modified", res.LastUpdated.UTC().Format(http.TimeFormat))
	if status == http.StatusCreated || r.Method == http.MethodPut || r.Method == http.MethodPatch {
		h.Set("Location", s.base(r)+"/"+res.Type+"/"+res.ID+"/_history/"+strconv.FormatInt(res.Version, 10))
	}
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		writeFHIR(w, r, status, res.JSON)
		return
	}
	ret, _ := prefer(r)
	switch ret {
	case "minimal":
		w.WriteHeader(status)
	case "OperationOutcome":
		writeFHIR(w, r, status, records.OutcomeOf([]vigil.Issue{{Severity: "information", Code: "informational", Message: "ok"}}))
	default:
		writeFHIR(w, r, status, res.JSON)
	}
}

func (s *Server) read(w http.ResponseWriter, r *http.Request) {
	a := &Access{Action: ActionRead, Type: r.PathValue("type"), ID: r.PathValue("id")}
	if !s.begin(w, r, a) {
		return
	}
	res, err := s.cfg.Records.Read(r.Context(), a.Type, a.ID)
	if err == nil {
		a.Touched = []string{res.Ref()}
	}
	if !s.end(w, r, a, err) {
		return
	}
	if inm := r.Header.Get("If-None-Match"); inm != "" && strings.Trim(strings.TrimPrefix(inm, "W/"), `"`) == strconv.FormatInt(res.Version, 10) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	s.writeResource(w, r, http.StatusOK, res)
}

func (s *Server) vread(w http.ResponseWriter, r *http.Request) {
	a := &Access{Action: ActionVRead, Type: r.PathValue("type"), ID: r.PathValue("id")}
	if !s.begin(w, r, a) {
		return
	}
	res, err := s.cfg.Records.ReadVersion(r.Context(), a.Type, a.ID, r.PathValue("vid"))
	if err == nil {
		a.Touched = []string{res.Ref()}
	}
	if !s.end(w, r, a, err) {
		return
	}
	s.writeResource(w, r, http.StatusOK, res)
}

func (s *Server) create(w http.ResponseWriter, r *http.Request) {
	a := &Access{Action: ActionCreate, Type: r.PathValue("type")}
	s.write(w, r, a, func(ctx context.Context, obj map[string]any) (*records.Result, error) {
		return s.cfg.Records.CreateObject(ctx, a.Type, obj, r.Header.Get("If-None-Exist"))
	})
}

func (s *Server) update(w http.ResponseWriter, r *http.Request) {
	a := &Access{Action: ActionUpdate, Type: r.PathValue("type"), ID: r.PathValue("id")}
	s.write(w, r, a, func(ctx context.Context, obj map[string]any) (*records.Result, error) {
		return s.cfg.Records.UpdateObject(ctx, a.Type, a.ID, obj, r.Header.Get("If-Match"))
	})
}

func (s *Server) conditionalUpdate(w http.ResponseWriter, r *http.Request) {
	a := &Access{Action: ActionUpdate, Type: r.PathValue("type")}
	if r.URL.RawQuery == "" {
		s.fail(w, r, vigil.Errorf(vigil.ErrInvalid, "a type-level PUT needs search criteria (conditional update)"))
		return
	}
	s.write(w, r, a, func(ctx context.Context, obj map[string]any) (*records.Result, error) {
		return s.cfg.Records.ConditionalUpdateObject(ctx, a.Type, r.URL.RawQuery, obj, r.Header.Get("If-Match"))
	})
}

// write runs a create or update: it reads and validates the body,
// authorizes, runs the interaction, audits it and answers with the version
// written (201 when a resource came into existence, 200 otherwise).
func (s *Server) write(w http.ResponseWriter, r *http.Request, a *Access, run func(ctx context.Context, obj map[string]any) (*records.Result, error)) {
	body, err := readBody(r, fhirJSON, "application/json")
	if err != nil {
		s.bodyError(w, r, err)
		return
	}
	obj, err := s.decodeFor(a.Type, body)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	a.Resource = obj
	stampSource(r.Context(), obj)
	if !s.begin(w, r, a) {
		return
	}
	res, err := run(s.inCommit(r, a), obj)
	if err == nil {
		a.Touched = []string{res.Resource.Ref()}
	}
	if !s.end(w, r, a, err) {
		return
	}
	status := http.StatusOK
	if res.Created {
		status = http.StatusCreated
	}
	s.writeResource(w, r, status, res.Resource)
}

// decodeFor decodes and validates a body for a type from the URL.
func (s *Server) decodeFor(typ string, body []byte) (map[string]any, error) {
	m := s.cfg.Records.Model()
	if !m.IsResourceType(typ) {
		return nil, vigil.Errorf(vigil.ErrNotFound, "unknown resource type %q", typ)
	}
	obj, err := m.Decode(body)
	if err != nil {
		return nil, err
	}
	if rt, _ := obj["resourceType"].(string); rt != typ {
		return nil, vigil.Errorf(vigil.ErrInvalid, "resource type %q does not match the URL type %q", rt, typ)
	}
	return obj, nil
}

func (s *Server) patch(w http.ResponseWriter, r *http.Request) {
	a := &Access{Action: ActionPatch, Type: r.PathValue("type"), ID: r.PathValue("id")}
	body, err := readBody(r, "application/json-patch+json")
	if err != nil {
		s.bodyError(w, r, err)
		return
	}
	if !s.begin(w, r, a) {
		return
	}
	res, err := s.cfg.Records.Patch(s.inCommit(r, a), a.Type, a.ID, body, r.Header.Get("If-Match"))
	if err == nil {
		a.Touched = []string{res.Resource.Ref()}
	}
	if !s.end(w, r, a, err) {
		return
	}
	s.writeResource(w, r, http.StatusOK, res.Resource)
}

func (s *Server) delete(w http.ResponseWriter, r *http.Request) {
	a := &Access{Action: ActionDelete, Type: r.PathValue("type"), ID: r.PathValue("id")}
	if !s.begin(w, r, a) {
		return
	}
	res, err := s.cfg.Records.Delete(s.inCommit(r, a), a.Type, a.ID)
	if err == nil && res.Resource != nil {
		a.Touched = []string{res.Resource.Ref()}
		w.Header().Set("ETag", `W/"`+strconv.FormatInt(res.Resource.Version, 10)+`"`)
	}
	if !s.end(w, r, a, err) {
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) conditionalDelete(w http.ResponseWriter, r *http.Request) {
	a := &Access{Action: ActionDelete, Type: r.PathValue("type")}
	if r.URL.RawQuery == "" {
		s.fail(w, r, vigil.Errorf(vigil.ErrInvalid, "a type-level DELETE needs search criteria (conditional delete)"))
		return
	}
	if !s.begin(w, r, a) {
		return
	}
	_, err := s.cfg.Records.ConditionalDelete(r.Context(), a.Type, r.URL.RawQuery)
	if !s.end(w, r, a, err) {
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// searchQuery merges the URL query with a POST _search form body.
func searchQuery(r *http.Request) (url.Values, error) {
	q := r.URL.Query()
	if r.Method == http.MethodPost {
		ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if ct != "application/x-www-form-urlencoded" {
			return nil, errUnsupportedMedia
		}
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, err
		}
		form, err := url.ParseQuery(string(b))
		if err != nil {
			return nil, vigil.Errorf(vigil.ErrInvalid, "malformed form body")
		}
		for k, vs := range form {
			q[k] = append(q[k], vs...)
		}
	}
	return q, nil
}

func (s *Server) search(w http.ResponseWriter, r *http.Request) {
	s.runSearch(w, r, r.PathValue("type"), "")
}

func (s *Server) systemSearch(w http.ResponseWriter, r *http.Request) {
	s.runSearch(w, r, "", "")
}

func (s *Server) runSearch(w http.ResponseWriter, r *http.Request, typ, compartment string) {
	a := &Access{Action: ActionSearch, Type: typ, Compartment: compartment}
	q, err := searchQuery(r)
	if err != nil {
		s.bodyError(w, r, err)
		return
	}
	if !s.begin(w, r, a) {
		return
	}
	_, handling := prefer(r)
	page, err := s.cfg.Records.Search(r.Context(), &records.SearchRequest{
		Type: typ, Query: q, Strict: handling == "strict", Base: s.base(r), Compartment: compartment, Filter: s.filter(r, a),
	})
	if err == nil {
		a.Touched = touched(page)
	}
	if !s.end(w, r, a, err) {
		return
	}
	writeFHIR(w, r, http.StatusOK, withWarnings(page))
}

func touched(p *records.Page) []string {
	out := make([]string, 0, len(p.Matches)+len(p.Included))
	for i := range p.Matches {
		out = append(out, p.Matches[i].Ref())
	}
	for i := range p.Included {
		out = append(out, p.Included[i].Ref())
	}
	return out
}

// withWarnings adds an OperationOutcome entry (search mode "outcome") to a
// searchset when the search ignored parameters.
func withWarnings(p *records.Page) []byte {
	if len(p.Warnings) == 0 {
		return p.Bundle
	}
	oo := records.OutcomeOf(p.Warnings)
	b := p.Bundle
	entry := append(append([]byte(`{"resource":`), oo...), []byte(`,"search":{"mode":"outcome"}}`)...)
	if i := strings.Index(string(b), `,"entry":[`); i >= 0 {
		j := i + len(`,"entry":[`)
		out := append([]byte{}, b[:j]...)
		out = append(out, entry...)
		out = append(out, ',')
		return append(out, b[j:]...)
	}
	out := append([]byte{}, b[:len(b)-1]...)
	out = append(out, `,"entry":[`...)
	out = append(out, entry...)
	return append(out, "]}"...)
}

func (s *Server) history(w http.ResponseWriter, r *http.Request) {
	a := &Access{Action: ActionHistory, Type: r.PathValue("type"), ID: r.PathValue("id")}
	if !s.begin(w, r, a) {
		return
	}
	page, err := s.cfg.Records.History(r.Context(), &records.HistoryRequest{Type: a.Type, ID: a.ID, Query: r.URL.Query(), Base: s.base(r)})
	if err == nil {
		a.Touched = touched(page)
	}
	if !s.end(w, r, a, err) {
		return
	}
	writeFHIR(w, r, http.StatusOK, page.Bundle)
}

func (s *Server) compartment(w http.ResponseWriter, r *http.Request) {
	typ, id, sub := r.PathValue("type"), r.PathValue("id"), r.PathValue("sub")
	if typ != "Patient" {
		s.fail(w, r, vigil.Errorf(vigil.ErrNotFound, "only Patient compartments and operations are supported"))
		return
	}
	if sub == "$everything" {
		a := &Access{Action: ActionEverything, Type: "Patient", ID: id, Compartment: "Patient/" + id}
		if !s.begin(w, r, a) {
			return
		}
		page, err := s.cfg.Records.Everything(r.Context(), id, r.URL.Query(), s.base(r), s.filter(r, a))
		if err == nil {
			a.Touched = touched(page)
		}
		if !s.end(w, r, a, err) {
			return
		}
		writeFHIR(w, r, http.StatusOK, withWarnings(page))
		return
	}
	if sub == "*" {
		sub = ""
	}
	s.runSearch(w, r, sub, "Patient/"+id)
}

func (s *Server) bundle(w http.ResponseWriter, r *http.Request) {
	a := &Access{Action: ActionBatch}
	body, err := readBody(r, fhirJSON, "application/json")
	if err != nil {
		s.bodyError(w, r, err)
		return
	}
	if !s.begin(w, r, a) {
		return
	}
	out, err := s.cfg.Records.Process(r.Context(), &records.BundleRequest{Body: body, Base: s.base(r)})
	if !s.end(w, r, a, err) {
		return
	}
	writeFHIR(w, r, http.StatusOK, out)
}
