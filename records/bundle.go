package records

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/vigilhealth/vigil"
)

// entry is one parsed entry of a batch or transaction Bundle.
type entry struct {
	index    int
	method   string
	typ, id  string // from request.url
	vid      string // vread version
	query    string // conditional or search query, without "?"
	fullURL  string
	resource Object
	patch    []PatchOp

	ifNoneExist, ifMatch string
	newID                string // pre-assigned server id for POST / conditional PUT

	// results
	status   int
	written  *vigil.Resource // version written
	body     []byte          // resource or bundle to return
	location string
	etag     string
	lastMod  string
	outcome  []byte
}

// BundleRequest is a batch or transaction interaction.
type BundleRequest struct {
	Body []byte
	Base string
	// Authorize, when set, is asked about every entry before anything runs;
	// the access-control layer plugs in here.
	Authorize func(method, typ, id string, resource Object) error
}

// Process runs a batch or transaction Bundle and returns the response
// Bundle. A transaction is all-or-nothing: any failing entry fails the
// whole request and nothing is written; its error names the entry. A batch
// runs each entry on its own and reports per-entry outcomes.
func (s *Service) Process(ctx context.Context, req *BundleRequest) ([]byte, error) {
	defer s.track()() // history's horizon (horizon.go)
	obj, entriesValid, err := s.decodeBundle(req.Body)
	if err != nil {
		return nil, err
	}
	kind, _ := obj["type"].(string)
	if kind != "transaction" && kind != "batch" {
		return nil, vigil.Errorf(vigil.ErrInvalid, "Bundle.type must be transaction or batch to be processed, not %q", kind)
	}
	raw, _ := obj["entry"].([]any)
	entries := make([]*entry, 0, len(raw))
	for i, e := range raw {
		en, err := s.parseEntry(i, e, req.Base)
		if err == nil && !entriesValid && en.resource != nil {
			err = s.validate(en.resource)
		}
		if err == nil && req.Authorize != nil {
			err = req.Authorize(en.method, en.typ, en.id, en.resource)
		}
		if err != nil {
			if kind == "transaction" {
				return nil, entryError(i, err)
			}
			en = &entry{index: i}
			en.fail(err)
		}
		entries = append(entries, en)
	}
	if kind == "transaction" {
		if err := checkDistinct(entries); err != nil {
			return nil, err
		}
		if err := s.transaction(ctx, entries, req.Base); err != nil {
			return nil, err
		}
	} else {
		s.batch(ctx, entries, req.Base)
	}
	return s.renderResponse(kind+"-response", entries)
}

// decodeBundle decodes and validates a batch or transaction Bundle. When
// only entry resources are invalid it still returns the Bundle, with
// entriesValid false, so that each entry can be judged on its own: a batch
// fails just those entries, a transaction fails naming the first.
func (s *Service) decodeBundle(body []byte) (obj Object, entriesValid bool, err error) {
	obj, err = s.decode(body, "Bundle")
	if err == nil {
		return obj, true, nil
	}
	if !errors.Is(err, vigil.ErrUnprocessable) {
		return nil, false, err
	}
	if jerr := jsonUnmarshalNumber(body, &obj); jerr != nil {
		return nil, false, err
	}
	// Validate the Bundle without its entry resources.
	shell := make(Object, len(obj))
	for k, v := range obj {
		shell[k] = v
	}
	if list, ok := obj["entry"].([]any); ok {
		stripped := make([]any, len(list))
		for i, e := range list {
			m, ok := e.(map[string]any)
			if !ok {
				return nil, false, err
			}
			c := make(map[string]any, len(m))
			for k, v := range m {
				if k != "resource" {
					c[k] = v
				}
			}
			stripped[i] = c
		}
		shell["entry"] = stripped
	}
	if verr := s.validate(shell); verr != nil {
		return nil, false, verr
	}
	return obj, false, nil
}

func (e *entry) fail(err error) {
	e.status = Status(err)
	e.outcome = Outcome(err)
}

// entryError prefixes err's public message and issue paths with the entry.
func entryError(i int, err error) error {
	var ve *vigil.Error
	if errors.As(err, &ve) {
		ne := *ve
		ne.Message = fmt.Sprintf("Bundle.entry[%d]: %s", i, ve.Message)
		ne.Issues = make([]vigil.Issue, len(ve.Issues))
		for j, is := range ve.Issues {
			if is.Path != "" {
				is.Path = fmt.Sprintf("Bundle.entry[%d].resource.%s", i, is.Path)
			}
			ne.Issues[j] = is
		}
		ne.Err = err
		return &ne
	}
	return fmt.Errorf("Bundle.entry[%d]: %w", i, err)
}

func (s *Service) parseEntry(i int, v any, base string) (*entry, error) {
	m, _ := v.(map[string]any)
	req, _ := m["request"].(map[string]any)
	if req == nil {
		return nil, vigil.Errorf(vigil.ErrInvalid, "entry has no request")
	}
	en := &entry{index: i}
	en.method, _ = req["method"].(string)
	rawURL, _ := req["url"].(string)
	en.ifNoneExist, _ = req["ifNoneExist"].(string)
	en.ifMatch, _ = req["ifMatch"].(string)
	en.fullURL, _ = m["fullUrl"].(string)
	en.resource, _ = m["resource"].(map[string]any)
	if strings.HasPrefix(rawURL, "http://") || strings.HasPrefix(rawURL, "https://") {
		if !strings.HasPrefix(rawURL, base+"/") {
			return nil, vigil.Errorf(vigil.ErrInvalid, "request.url is not on this server")
		}
		rawURL = rawURL[len(base)+1:]
	}
	rawURL = strings.TrimPrefix(rawURL, "/")
	path, query, _ := strings.Cut(rawURL, "?")
	en.query = query
	seg := strings.Split(path, "/")
	en.typ = seg[0]
	if !s.model.IsResourceType(en.typ) {
		return nil, vigil.Errorf(vigil.ErrInvalid, "request.url names an unknown resource type")
	}
	if len(seg) > 1 {
		en.id = seg[1]
		if !validID(en.id) {
			return nil, vigil.Errorf(vigil.ErrInvalid, "request.url has an invalid id")
		}
	}
	if len(seg) == 4 && seg[2] == "_history" {
		en.vid = seg[3]
	} else if len(seg) > 2 {
		return nil, vigil.Errorf(vigil.ErrUnsupported, "request.url form is not supported in a Bundle")
	}
	switch en.method {
	case "POST":
		if en.id != "" || en.resource == nil {
			return nil, vigil.Errorf(vigil.ErrInvalid, "POST needs a type URL and a resource")
		}
		en.newID = s.newID()
	case "PUT":
		if en.resource == nil || (en.id == "" && query == "") {
			return nil, vigil.Errorf(vigil.ErrInvalid, "PUT needs Type/id or Type?condition and a resource")
		}
		if en.id != "" {
			if rid, _ := en.resource["id"].(string); rid != en.id {
				return nil, vigil.Errorf(vigil.ErrInvalid, "resource id does not match request.url")
			}
		}
		en.newID = s.newID()
	case "PATCH":
		if en.id == "" {
			return nil, vigil.Errorf(vigil.ErrInvalid, "PATCH needs Type/id")
		}
		ops, err := patchFromResource(en.resource)
		if err != nil {
			return nil, err
		}
		en.patch = ops
	case "DELETE":
		if en.id == "" && query == "" {
			return nil, vigil.Errorf(vigil.ErrInvalid, "DELETE needs Type/id or Type?condition")
		}
	case "GET", "HEAD":
	default:
		return nil, vigil.Errorf(vigil.ErrInvalid, "unsupported request.method %q", en.method)
	}
	if en.resource != nil && en.method != "PATCH" {
		if rt, _ := en.resource["resourceType"].(string); rt != en.typ {
			return nil, vigil.Errorf(vigil.ErrInvalid, "resource type does not match request.url")
		}
	}
	return en, nil
}

// patchFromResource reads a JSON Patch carried in a Binary resource.
func patchFromResource(r Object) ([]PatchOp, error) {
	if rt, _ := r["resourceType"].(string); rt != "Binary" {
		return nil, vigil.Errorf(vigil.ErrUnsupported, "PATCH entries must carry a JSON Patch in a Binary resource")
	}
	if ct, _ := r["contentType"].(string); ct != "application/json-patch+json" {
		return nil, vigil.Errorf(vigil.ErrUnsupported, "PATCH Binary must have contentType application/json-patch+json")
	}
	data, _ := r["data"].(string)
	raw, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		return nil, vigil.Errorf(vigil.ErrInvalid, "PATCH Binary data is not base64")
	}
	return ParsePatch(raw)
}

// checkDistinct rejects a transaction that touches one resource twice
// (FHIR R4 §3.1.0.11.2: overlapping identities fail the transaction).
func checkDistinct(entries []*entry) error {
	seen := map[string]int{}
	for _, e := range entries {
		if e.id == "" || e.method == "GET" || e.method == "HEAD" {
			continue
		}
		k := e.typ + "/" + e.id
		if j, ok := seen[k]; ok {
			return vigil.Errorf(vigil.ErrInvalid, "Bundle.entry[%d] and Bundle.entry[%d] both change %s", j, e.index, k)
		}
		seen[k] = e.index
	}
	return nil
}

// order is the processing order of a transaction (FHIR R4 §3.1.0.11.2).
var order = []string{"DELETE", "POST", "PUT", "PATCH", "GET", "HEAD"}

func (s *Service) transaction(ctx context.Context, entries []*entry, base string) error {
	var written []*vigil.Resource
	err := s.store.Write(ctx, func(ctx context.Context, tx vigil.ResourceTx) error {
		written = written[:0]
		refs := map[string]string{}
		existing := map[int]*vigil.Resource{}
		ids := map[int]string{}
		// Resolve identities first so that references between entries can be rewritten.
		for _, e := range entries {
			switch {
			case e.method == "POST":
				ids[e.index] = e.newID
				if e.ifNoneExist != "" {
					q, err := s.conditionQuery(e.typ, e.ifNoneExist)
					if err != nil {
						return entryError(e.index, err)
					}
					m, err := matchOne(ctx, tx, q)
					if err != nil {
						return entryError(e.index, err)
					}
					if m != nil {
						existing[e.index] = m
						ids[e.index] = m.ID
					}
				}
			case e.method == "PUT" && e.id == "":
				q, err := s.conditionQuery(e.typ, e.query)
				if err != nil {
					return entryError(e.index, err)
				}
				m, err := matchOne(ctx, tx, q)
				if err != nil {
					return entryError(e.index, err)
				}
				switch bodyID, _ := e.resource["id"].(string); {
				case m != nil:
					ids[e.index] = m.ID
				case bodyID != "":
					ids[e.index] = bodyID
				default:
					ids[e.index] = e.newID
				}
			case e.method == "PUT":
				ids[e.index] = e.id
			default:
				continue
			}
			if e.fullURL != "" {
				refs[e.fullURL] = e.typ + "/" + ids[e.index]
			}
		}
		for _, method := range order {
			for _, e := range entries {
				if e.method != method {
					continue
				}
				w, err := s.runEntry(ctx, tx, e, refs, existing[e.index], ids[e.index], base)
				if err != nil {
					return entryError(e.index, err)
				}
				written = append(written, w...)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.notify(ctx, written...)
	return nil
}

// resolveRefs copies obj and rewrites references to other entries
// (fullUrl → Type/id) and conditional references (Type?query) to the one
// resource they match.
func (s *Service) resolveRefs(ctx context.Context, tx vigil.ResourceReader, obj Object, refs map[string]string) (Object, error) {
	out := deepCopy(obj).(map[string]any)
	var firstErr error
	walkReferences(out, func(ref string) string {
		if to, ok := refs[ref]; ok {
			return to
		}
		if typ, query, ok := strings.Cut(ref, "?"); ok && s.model.IsResourceType(typ) {
			q, err := s.conditionQuery(typ, query)
			if err == nil {
				var m *vigil.Resource
				m, err = matchOne(ctx, tx, q)
				if err == nil && m == nil {
					err = vigil.Errorf(vigil.ErrPrecondition, "conditional reference matches no resource")
				}
				if err == nil {
					return m.Ref()
				}
			}
			if firstErr == nil {
				firstErr = err
			}
			return ref
		}
		if strings.HasPrefix(ref, "urn:uuid:") || strings.HasPrefix(ref, "urn:oid:") {
			if firstErr == nil {
				firstErr = vigil.Errorf(vigil.ErrInvalid, "reference to %s is not the fullUrl of any entry", ref)
			}
		}
		return ref
	})
	return out, firstErr
}

// runEntry executes one entry inside tx and fills its response fields.
func (s *Service) runEntry(ctx context.Context, tx vigil.ResourceTx, e *entry, refs map[string]string, existing *vigil.Resource, id, base string) ([]*vigil.Resource, error) {
	switch e.method {
	case "DELETE":
		var del []*vigil.Resource
		if e.id != "" {
			r, err := s.deleteTx(ctx, tx, e.typ, e.id)
			if err != nil {
				return nil, err
			}
			if r.Resource != nil {
				del = append(del, r.Resource)
			}
		} else {
			q, err := s.conditionQuery(e.typ, e.query)
			if err != nil {
				return nil, err
			}
			q.Count = maxConditionalDeletes + 1
			if del, err = s.conditionalDeleteTx(ctx, tx, q); err != nil {
				return nil, err
			}
		}
		e.status = http.StatusNoContent
		return del, nil
	case "POST":
		if existing != nil {
			e.setResult(http.StatusOK, existing)
			return nil, nil
		}
		obj, err := s.resolveRefs(ctx, tx, e.resource, refs)
		if err != nil {
			return nil, err
		}
		idx, err := s.model.Index(obj)
		if err != nil {
			return nil, err
		}
		p, err := s.prepareIndexed(obj, idx, e.typ, id, 1, "POST")
		if err != nil {
			return nil, err
		}
		if err := tx.Put(ctx, &p.res, p.index); err != nil {
			return nil, err
		}
		e.setResult(http.StatusCreated, &p.res)
		return []*vigil.Resource{&p.res}, nil
	case "PUT":
		obj, err := s.resolveRefs(ctx, tx, e.resource, refs)
		if err != nil {
			return nil, err
		}
		want, err := parseETag(e.ifMatch)
		if err != nil {
			return nil, err
		}
		idx, err := s.model.Index(obj)
		if err != nil {
			return nil, err
		}
		res, err := s.putTx(ctx, tx, e.typ, id, obj, idx, want, "PUT")
		if err != nil {
			return nil, err
		}
		st := http.StatusOK
		if res.Created {
			st = http.StatusCreated
		}
		e.setResult(st, res.Resource)
		return []*vigil.Resource{res.Resource}, nil
	case "PATCH":
		want, err := parseETag(e.ifMatch)
		if err != nil {
			return nil, err
		}
		res, err := s.patchTx(ctx, tx, e.typ, e.id, e.patch, want)
		if err != nil {
			return nil, err
		}
		e.setResult(http.StatusOK, res.Resource)
		return []*vigil.Resource{res.Resource}, nil
	default: // GET, HEAD
		return nil, s.getEntry(ctx, tx, e, base)
	}
}

func (s *Service) getEntry(ctx context.Context, r vigil.ResourceReader, e *entry, base string) error {
	switch {
	case e.vid != "":
		v, err := strconv.ParseInt(e.vid, 10, 64)
		if err != nil {
			return vigil.Errorf(vigil.ErrNotFound, "version not found")
		}
		res, err := r.ReadVersion(ctx, e.typ, e.id, v)
		if err != nil {
			return err
		}
		e.setResult(http.StatusOK, res)
	case e.id != "":
		res, err := r.Read(ctx, e.typ, e.id)
		if err != nil {
			return err
		}
		e.setResult(http.StatusOK, res)
	default:
		vals, err := url.ParseQuery(e.query)
		if err != nil {
			return vigil.Errorf(vigil.ErrInvalid, "malformed search query")
		}
		q, opts, _, err := s.model.ParseSearch(e.typ, vals, false)
		if err != nil {
			return err
		}
		if err := s.resolveTerms(ctx, r, q); err != nil {
			return err
		}
		if err := s.hasSamples(ctx, q); err != nil { // _has on device readings
			return err
		}
		mark := s.Horizon()
		res, err := r.Search(ctx, q)
		if err != nil {
			return err
		}
		self := base + "/" + e.typ
		if e.query != "" {
			self += "?" + e.query
		}
		b, err := s.renderSearchset(base, self, "", mark, res, q.Total || q.SummaryCount, opts)
		if err != nil {
			return err
		}
		e.status = http.StatusOK
		e.body = b
	}
	if e.method == "HEAD" {
		e.body = nil
	}
	return nil
}

func (e *entry) setResult(status int, r *vigil.Resource) {
	e.status = status
	e.written = r
	e.body = r.JSON
	e.location = r.Type + "/" + r.ID + "/_history/" + strconv.FormatInt(r.Version, 10)
	e.etag = `W/"` + strconv.FormatInt(r.Version, 10) + `"`
	e.lastMod = FormatInstant(r.LastUpdated)
}

// batch runs every entry on its own; failures are reported per entry.
func (s *Service) batch(ctx context.Context, entries []*entry, base string) {
	for _, method := range order {
		for _, e := range entries {
			if e.method != method || e.status != 0 {
				continue
			}
			var written []*vigil.Resource
			var err error
			if method == "GET" || method == "HEAD" {
				err = s.getEntry(ctx, s.store, e, base)
			} else {
				id := e.id
				if method == "POST" || (method == "PUT" && id == "") {
					id = e.newID
				}
				err = s.store.Write(ctx, func(ctx context.Context, tx vigil.ResourceTx) error {
					var existing *vigil.Resource
					rid := id
					if method == "POST" && e.ifNoneExist != "" {
						q, err := s.conditionQuery(e.typ, e.ifNoneExist)
						if err != nil {
							return err
						}
						if existing, err = matchOne(ctx, tx, q); err != nil {
							return err
						}
					}
					if method == "PUT" && e.id == "" {
						q, err := s.conditionQuery(e.typ, e.query)
						if err != nil {
							return err
						}
						m, err := matchOne(ctx, tx, q)
						if err != nil {
							return err
						}
						if m != nil {
							rid = m.ID
						} else if bid, _ := e.resource["id"].(string); bid != "" {
							rid = bid
						}
					}
					var err error
					written, err = s.runEntry(ctx, tx, e, nil, existing, rid, base)
					return err
				})
			}
			if err != nil {
				e.fail(err)
				continue
			}
			s.notify(ctx, written...)
		}
	}
}

func (s *Service) renderResponse(kind string, entries []*entry) ([]byte, error) {
	list := make([]any, len(entries))
	for i, e := range entries {
		resp := map[string]any{"status": strconv.Itoa(e.status) + " " + http.StatusText(e.status)}
		if e.location != "" {
			resp["location"] = e.location
			resp["etag"] = e.etag
			resp["lastModified"] = e.lastMod
		}
		if e.outcome != nil {
			o, err := unmarshal(e.outcome)
			if err != nil {
				return nil, err
			}
			resp["outcome"] = o
		}
		ent := map[string]any{"response": resp}
		if e.body != nil {
			r, err := unmarshal(e.body)
			if err != nil {
				return nil, err
			}
			ent["resource"] = r
			if e.written != nil {
				ent["fullUrl"] = e.written.Type + "/" + e.written.ID
			}
		}
		list[i] = ent
	}
	return Marshal(Object{"resourceType": "Bundle", "id": NewID(), "type": kind, "entry": list})
}
