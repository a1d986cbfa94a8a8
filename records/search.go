package records

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/fhir"
)

// pagingParam carries the store's cursor in next/previous links. It is not
// a FHIR search parameter; the service strips it before parsing.
const pagingParam = "_cursor"

// Page is one page of a search or history, rendered as a FHIR Bundle.
type Page struct {
	// Bundle is the Bundle resource (searchset or history) as JSON.
	Bundle []byte
	// Warnings are issues about the request that did not stop it, such as
	// ignored unknown parameters under Prefer: handling=lenient.
	Warnings []vigil.Issue
	// Matches are the matching resources on this page (not the included
	// ones); the audit trail records them.
	Matches []vigil.Resource
	// Included are the resources added by _include/_revinclude or
	// $everything's references.
	Included []vigil.Resource
}

// SearchRequest is a search interaction.
type SearchRequest struct {
	// Type is the resource type, or "" for a system search.
	Type string
	// Query is the query string parameters (GET) or the form body (POST _search).
	Query url.Values
	// Strict rejects unknown parameters (Prefer: handling=strict); otherwise
	// they are ignored with a warning.
	Strict bool
	// Base is the server's FHIR base URL, e.g. "http://host/fhir"; links and
	// fullUrls are built from it.
	Base string
	// Compartment, when set, is "Patient/123": a compartment search.
	Compartment string
	// Filter, when set, is applied to the parsed query before it runs; the
	// access-control layer uses it to narrow searches to what the caller
	// may see.
	Filter func(*vigil.SearchQuery) error
}

// Search runs a search and renders the searchset Bundle.
func (s *Service) Search(ctx context.Context, req *SearchRequest) (*Page, error) {
	if req.Type != "" {
		if err := s.checkType(req.Type); err != nil {
			return nil, err
		}
	}
	params := cloneValues(req.Query)
	mark, cursor, err := s.markedCursor(params.Get(pagingParam))
	if err != nil {
		return nil, err
	}
	params.Del(pagingParam)
	params.Del("_format")
	params.Del("_pretty")
	q, opts, warnings, err := s.model.ParseSearch(req.Type, params, req.Strict)
	if err != nil {
		return nil, err
	}
	if err := s.resolveTerms(ctx, s.store, q); err != nil {
		return nil, err
	}
	q.Cursor = cursor
	if req.Compartment != "" {
		ctype, cid, _ := strings.Cut(req.Compartment, "/")
		if ctype != "Patient" {
			return nil, vigil.Errorf(vigil.ErrUnsupported, "only the Patient compartment is supported")
		}
		comp := s.model.PatientCompartment()
		if req.Type != "" && req.Type != "Patient" && len(comp[req.Type]) == 0 {
			return nil, vigil.Errorf(vigil.ErrInvalid, "%s is not in the Patient compartment", req.Type)
		}
		q.Compartment = &vigil.Compartment{Type: ctype, ID: cid, Params: comp}
	}
	if req.Filter != nil {
		if err := req.Filter(q); err != nil {
			return nil, err
		}
	}
	if err := s.hasSamples(ctx, q); err != nil { // _has on device readings (samples_has.go)
		return nil, err
	}
	res, sampleIssues, err := s.searchWithSamples(ctx, q, queryHash("search", req.Type, req.Compartment, params)) // + device samples (samples_search.go)
	if err != nil {
		return nil, err
	}
	warnings = append(warnings, sampleIssues...)
	if res.IncludedCut {
		warnings = append(warnings, vigil.Issue{Severity: "warning", Code: "too-costly",
			Message: fmt.Sprintf("_include/_revinclude brought in the first %d resources only; ask for smaller pages (_count)", vigil.MaxIncluded)})
	}
	self := searchURL(req, params, markCursor(mark, cursor))
	next := ""
	if res.Next != "" {
		next = searchURL(req, params, markCursor(mark, res.Next))
	}
	b, err := s.renderSearchset(req.Base, self, next, mark, res, q.SummaryCount || q.Total, opts)
	if err != nil {
		return nil, err
	}
	return &Page{Bundle: b, Warnings: warnings, Matches: res.Matches, Included: res.Included}, nil
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// searchURL builds the self/next link of a search page.
func searchURL(req *SearchRequest, params url.Values, cursor string) string {
	p := cloneValues(params)
	if cursor != "" {
		p.Set(pagingParam, cursor)
	}
	path := req.Base
	if req.Compartment != "" {
		path += "/" + req.Compartment
	}
	if req.Type != "" {
		path += "/" + req.Type
	}
	if enc := p.Encode(); enc != "" {
		path += "?" + enc
	}
	return path
}

// renderSearchset writes a searchset Bundle around the raw resource JSON,
// without decoding resources unless _summary/_elements ask for it.
// updated is the listing's horizon (vigil.WriteHorizon), its meta.lastUpdated.
func (s *Service) renderSearchset(base, self, next string, updated time.Time, res *vigil.SearchResult, withTotal bool, opts *fhir.SearchOptions) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(256 + 1024*len(res.Matches))
	buf.WriteString(`{"resourceType":"Bundle","id":"`)
	buf.WriteString(NewID())
	buf.WriteString(`","meta":{"lastUpdated":"`)
	buf.WriteString(FormatInstant(updated))
	buf.WriteString(`"},"type":"searchset"`)
	if withTotal && res.Total >= 0 {
		buf.WriteString(`,"total":`)
		buf.WriteString(strconv.Itoa(res.Total))
	}
	buf.WriteString(`,"link":[{"relation":"self","url":`)
	writeJSONString(&buf, self)
	buf.WriteString(`}`)
	if next != "" {
		buf.WriteString(`,{"relation":"next","url":`)
		writeJSONString(&buf, next)
		buf.WriteString(`}`)
	}
	buf.WriteString(`]`)
	n := 0
	write := func(r *vigil.Resource, mode string) error {
		if n == 0 {
			buf.WriteString(`,"entry":[`)
		} else {
			buf.WriteByte(',')
		}
		n++
		buf.WriteString(`{"fullUrl":`)
		writeJSONString(&buf, base+"/"+r.Type+"/"+r.ID)
		buf.WriteString(`,"resource":`)
		data, err := s.shape(r.JSON, opts)
		if err != nil {
			return err
		}
		buf.Write(data)
		buf.WriteString(`,"search":{"mode":"` + mode + `"}}`)
		return nil
	}
	for i := range res.Matches {
		if err := write(&res.Matches[i], "match"); err != nil {
			return nil, err
		}
	}
	for i := range res.Included {
		if err := write(&res.Included[i], "include"); err != nil {
			return nil, err
		}
	}
	if n > 0 {
		buf.WriteByte(']')
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// shape applies _summary and _elements to one resource.
func (s *Service) shape(data []byte, opts *fhir.SearchOptions) ([]byte, error) {
	if opts == nil || (len(opts.Elements) == 0 && (opts.Summary == "" || opts.Summary == "false")) {
		return data, nil
	}
	obj, err := unmarshal(data)
	if err != nil {
		return nil, err
	}
	if opts.Summary != "" && opts.Summary != "false" && opts.Summary != "count" {
		obj = s.model.Summarize(obj, opts.Summary)
	}
	if len(opts.Elements) > 0 {
		obj = s.model.Elements(obj, opts.Elements)
	}
	return Marshal(obj)
}

func writeJSONString(buf *bytes.Buffer, s string) {
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	buf.Truncate(buf.Len() - 1)
}

// HistoryRequest is a history interaction (instance, type or system).
type HistoryRequest struct {
	Type, ID string
	Query    url.Values // _count, _since, _at, _cursor
	Base     string
}

// History renders a history Bundle, newest version first.
func (s *Service) History(ctx context.Context, req *HistoryRequest) (*Page, error) {
	if req.Type != "" {
		if err := s.checkType(req.Type); err != nil {
			return nil, err
		}
	}
	// Every page of one listing carries its first page's horizon (horizon.go).
	mark, cursor, err := s.markedCursor(req.Query.Get(pagingParam))
	if err != nil {
		return nil, err
	}
	q := &vigil.HistoryQuery{Type: req.Type, ID: req.ID, Cursor: cursor}
	for k, vs := range req.Query {
		if len(vs) == 0 {
			continue
		}
		v := vs[0]
		switch k {
		case "_count":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return nil, vigil.Errorf(vigil.ErrInvalid, "_count must be a non-negative integer")
			}
			q.Count = n
		case "_since", "_at":
			t, err := parseInstant(v)
			if err != nil {
				return nil, vigil.Errorf(vigil.ErrInvalid, "%s must be an instant", k)
			}
			if k == "_since" {
				q.Since = t
			} else {
				q.At = t
			}
		case pagingParam, "_format", "_pretty":
		default:
			return nil, vigil.Errorf(vigil.ErrInvalid, "unknown history parameter %q", k)
		}
	}
	if req.ID != "" {
		if _, err := s.store.ReadVersion(ctx, req.Type, req.ID, 1); err != nil {
			return nil, vigil.Errorf(vigil.ErrNotFound, "%s/%s not found", req.Type, req.ID)
		}
	}
	res, err := s.store.History(ctx, q)
	if err != nil {
		return nil, err
	}
	path := req.Base
	if req.Type != "" {
		path += "/" + req.Type
	}
	if req.ID != "" {
		path += "/" + req.ID
	}
	path += "/_history"
	link := func(cursor string) string {
		p := cloneValues(req.Query)
		p.Del(pagingParam)
		if cursor != "" {
			p.Set(pagingParam, markCursor(mark, cursor))
		}
		if enc := p.Encode(); enc != "" {
			return path + "?" + enc
		}
		return path
	}
	var buf bytes.Buffer
	buf.WriteString(`{"resourceType":"Bundle","id":"` + NewID() + `","meta":{"lastUpdated":"` + FormatInstant(mark) + `"},"type":"history"`)
	if res.Total >= 0 {
		buf.WriteString(`,"total":` + strconv.Itoa(res.Total))
	}
	buf.WriteString(`,"link":[{"relation":"self","url":`)
	writeJSONString(&buf, link(q.Cursor))
	buf.WriteString(`}`)
	if res.Next != "" {
		buf.WriteString(`,{"relation":"next","url":`)
		writeJSONString(&buf, link(res.Next))
		buf.WriteString(`}`)
	}
	buf.WriteString(`]`)
	for i, r := range res.Versions {
		if i == 0 {
			buf.WriteString(`,"entry":[`)
		} else {
			buf.WriteByte(',')
		}
		buf.WriteString(`{"fullUrl":`)
		writeJSONString(&buf, req.Base+"/"+r.Type+"/"+r.ID)
		if !r.Deleted {
			buf.WriteString(`,"resource":`)
			buf.Write(r.JSON)
		}
		method := r.Method
		if method == "" {
			method = "PUT"
		}
		url := r.Type + "/" + r.ID
		status := "200"
		switch {
		case method == "POST":
			url = r.Type
			status = "201"
		case r.Deleted:
			status = "204"
		case r.Version == 1:
			status = "201"
		}
		buf.WriteString(`,"request":{"method":"` + method + `","url":`)
		writeJSONString(&buf, url)
		buf.WriteString(`},"response":{"status":"` + status + `","etag":"W/\"` + strconv.FormatInt(r.Version, 10) + `\"","lastModified":"` + FormatInstant(r.LastUpdated) + `"}}`)
	}
	if len(res.Versions) > 0 {
		buf.WriteByte(']')
	}
	buf.WriteByte('}')
	return &Page{Bundle: buf.Bytes(), Matches: res.Versions}, nil
}

// Everything implements Patient/{id}/$everything: the patient, every
// resource in the patient's compartment, and the resources those refer to
// (practitioners, organisations, …), one page at a time.
func (s *Service) Everything(ctx context.Context, patientID string, query url.Values, base string, filter func(*vigil.SearchQuery) error) (*Page, error) {
	if _, err := s.Read(ctx, "Patient", patientID); err != nil {
		return nil, err
	}
	mark, cursor, err := s.markedCursor(query.Get(pagingParam))
	if err != nil {
		return nil, err
	}
	q := &vigil.SearchQuery{
		Compartment: &vigil.Compartment{Type: "Patient", ID: patientID, Params: s.model.PatientCompartment()},
		Cursor:      cursor,
		Count:       200,
		Total:       true,
	}
	for k, vs := range query {
		switch k {
		case "_count":
			n, err := strconv.Atoi(vs[0])
			if err != nil || n < 1 {
				return nil, vigil.Errorf(vigil.ErrInvalid, "_count must be a positive integer")
			}
			q.Count = n
		case "_since":
			t, err := parseInstant(vs[0])
			if err != nil {
				return nil, vigil.Errorf(vigil.ErrInvalid, "_since must be an instant")
			}
			q.Params = append(q.Params, vigil.SearchParam{Name: "_lastUpdated", Type: vigil.ParamDate,
				Values: []vigil.SearchValue{{Prefix: vigil.PrefixGe, Start: t, End: t.Add(time.Millisecond)}}})
		case pagingParam, "_format", "_pretty":
		default:
			return nil, vigil.Errorf(vigil.ErrInvalid, "unsupported $everything parameter %q", k)
		}
	}
	if filter != nil {
		if err := filter(q); err != nil {
			return nil, err
		}
	}
	res, sampleIssues, err := s.searchWithSamples(ctx, q, queryHash("everything", "Patient", patientID, query)) // + device samples (samples_search.go)
	if err != nil {
		return nil, err
	}
	inc, err := s.referenced(ctx, res.Matches, filter)
	if err != nil {
		return nil, err
	}
	res.Included = append(res.Included, inc...)
	path := base + "/Patient/" + patientID + "/$everything"
	link := func(c string) string {
		p := cloneValues(query)
		p.Del(pagingParam)
		if c != "" {
			p.Set(pagingParam, markCursor(mark, c))
		}
		if enc := p.Encode(); enc != "" {
			return path + "?" + enc
		}
		return path
	}
	next := ""
	if res.Next != "" {
		next = link(res.Next)
	}
	b, err := s.renderSearchset(base, link(cursor), next, mark, res, true, nil)
	if err != nil {
		return nil, err
	}
	return &Page{Bundle: b, Warnings: sampleIssues, Matches: res.Matches, Included: res.Included}, nil
}

// referenced reads the resources that matches refer to and that are not
// themselves among the matches (for $everything).
func (s *Service) referenced(ctx context.Context, matches []vigil.Resource, filter func(*vigil.SearchQuery) error) ([]vigil.Resource, error) {
	have := make(map[string]bool, len(matches))
	for i := range matches {
		have[matches[i].Ref()] = true
	}
	var out []vigil.Resource
	for i := range matches {
		for _, ref := range References(matches[i].JSON) {
			if have[ref] {
				continue
			}
			have[ref] = true
			typ, id, ok := strings.Cut(ref, "/")
			if !ok || !s.model.IsResourceType(typ) || !validID(id) {
				continue
			}
			if filter != nil {
				// The access filter decides per search; reuse it on an _id search.
				q := &vigil.SearchQuery{Type: typ, Count: 1, Params: []vigil.SearchParam{{Name: "_id", Type: vigil.ParamToken, Values: []vigil.SearchValue{{Code: id, AnySystem: true}}}}}
				if err := filter(q); err != nil {
					continue
				}
				res, err := s.store.Search(ctx, q)
				if errors.Is(err, vigil.ErrForbidden) {
					continue // a type the caller may not search
				}
				if err != nil {
					return nil, err
				}
				out = append(out, res.Matches...)
				continue
			}
			r, err := s.store.Read(ctx, typ, id)
			if err != nil {
				continue // dangling or deleted reference
			}
			out = append(out, *r)
		}
	}
	return out, nil
}

// References returns the relative literal references ("Type/id") found in a
// resource's JSON, in order of appearance, without duplicates.
func References(data []byte) []string {
	var obj any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if dec.Decode(&obj) != nil {
		return nil
	}
	var out []string
	seen := map[string]bool{}
	walkReferences(obj, func(ref string) string {
		if i := strings.Index(ref, "/_history/"); i >= 0 {
			ref = ref[:i]
		}
		if strings.Count(ref, "/") == 1 && !strings.ContainsAny(ref, "?#:") && !seen[ref] {
			seen[ref] = true
			out = append(out, ref)
		}
		return ref
	})
	return out
}

// walkReferences calls fn for every "reference" string element and
// replaces the element with fn's result.
func walkReferences(v any, fn func(string) string) {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if k == "reference" {
				if s, ok := e.(string); ok {
					v[k] = fn(s)
					continue
				}
			}
			walkReferences(e, fn)
		}
	case []any:
		for _, e := range v {
			walkReferences(e, fn)
		}
	}
}

// parseInstant parses a FHIR instant (or a dateTime with a time zone).
func parseInstant(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, err
	}
	return t.UTC(), nil
}
