package records

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/vigilhealth/vigil"
)

// Result is the outcome of a write interaction.
type Result struct {
	// Resource is the version written, or for a conditional create that
	// matched, the existing resource.
	Resource *vigil.Resource
	// Created reports that a new resource came into existence (HTTP 201).
	Created bool
	// Unchanged reports a conditional create that matched an existing
	// resource: nothing was written (HTTP 200).
	Unchanged bool
}

// Create creates a resource of type typ with a server-assigned id (an id in
// the body is ignored, as FHIR requires). With ifNoneExist (a search query
// such as "identifier=http://x|1") it is a conditional create: when exactly
// one resource matches nothing is written and that one is returned; when
// several match it fails with vigil.ErrPrecondition.
func (s *Service) Create(ctx context.Context, typ string, body []byte, ifNoneExist string) (*Result, error) {
	obj, err := s.decode(body, typ)
	if err != nil {
		return nil, err
	}
	return s.CreateObject(ctx, typ, obj, ifNoneExist)
}

// CreateObject is Create for an already decoded and validated resource.
func (s *Service) CreateObject(ctx context.Context, typ string, obj Object, ifNoneExist string) (*Result, error) {
	defer s.track()() // history's horizon (horizon.go)
	var cond *vigil.SearchQuery
	if ifNoneExist != "" {
		q, err := s.conditionQuery(typ, ifNoneExist)
		if err != nil {
			return nil, err
		}
		cond = q
	}
	p, err := s.prepare(obj, typ, s.newID(), 1, "POST", s.instant())
	if err != nil {
		return nil, err
	}
	var res Result
	err = s.store.Write(ctx, func(ctx context.Context, tx vigil.ResourceTx) error {
		res = Result{}
		if cond != nil {
			existing, err := matchOne(ctx, tx, cond)
			if err != nil {
				return err
			}
			if existing != nil {
				res = Result{Resource: existing, Unchanged: true}
				return nil
			}
		}
		if err := tx.Put(ctx, &p.res, p.index); err != nil {
			return err
		}
		res = Result{Resource: &p.res, Created: true}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if res.Created {
		s.notify(ctx, res.Resource)
	}
	return &res, nil
}

// conditionQuery parses the query of a conditional interaction strictly:
// an unknown parameter must not silently widen a conditional match.
func (s *Service) conditionQuery(typ, query string) (*vigil.SearchQuery, error) {
	v, err := url.ParseQuery(strings.TrimPrefix(query, "?"))
	if err != nil {
		return nil, vigil.Errorf(vigil.ErrInvalid, "malformed conditional query")
	}
	if len(v) == 0 {
		return nil, vigil.Errorf(vigil.ErrInvalid, "empty conditional query")
	}
	q, _, _, err := s.model.ParseSearch(typ, v, true)
	if err != nil {
		return nil, err
	}
	// Only the release's terminology: a conditional query is also run
	// inside transactions, where the server's own ValueSets are not read.
	if err := s.resolveTerms(context.Background(), nil, q); err != nil {
		return nil, err
	}
	q.Count = 2
	return q, nil
}

// matchOne runs a conditional query: nil for no match, the resource for one
// match, ErrPrecondition for several.
func matchOne(ctx context.Context, r vigil.ResourceReader, q *vigil.SearchQuery) (*vigil.Resource, error) {
	if err := lockConditional(ctx, r, q.Type); err != nil {
		return nil, err
	}
	res, err := r.Search(ctx, q)
	if err != nil {
		return nil, err
	}
	switch len(res.Matches) {
	case 0:
		return nil, nil
	case 1:
		return &res.Matches[0], nil
	default:
		return nil, vigil.Errorf(vigil.ErrPrecondition, "conditional query matches more than one resource")
	}
}

// lockConditional serialises conditional interactions on resources of typ
// when the store's transactions can run concurrently (vigil.Locker): the
// lock is held until the transaction ends, so a second conditional create
// with the same criteria sees the first one's resource instead of creating
// another. The lock is per type, not per criteria, because differently
// written criteria can match the same resource.
func lockConditional(ctx context.Context, r vigil.ResourceReader, typ string) error {
	if l, ok := r.(vigil.Locker); ok {
		return l.Lock(ctx, "conditional:"+typ)
	}
	return nil
}

// Read returns the current version. ErrGone when deleted.
func (s *Service) Read(ctx context.Context, typ, id string) (*vigil.Resource, error) {
	if err := s.checkType(typ); err != nil {
		return nil, err
	}
	if !validID(id) {
		return nil, vigil.Errorf(vigil.ErrNotFound, "resource not found")
	}
	r, err := s.store.Read(ctx, typ, id)
	if errors.Is(err, vigil.ErrNotFound) {
		if r, ok, serr := s.readSample(ctx, typ, id); ok { // device samples (samples.go)
			return r, serr
		}
		return nil, &vigil.Error{Kind: vigil.ErrNotFound, Message: typ + "/" + id + " not found", Err: err}
	}
	if errors.Is(err, vigil.ErrGone) {
		return r, &vigil.Error{Kind: vigil.ErrGone, Message: typ + "/" + id + " has been deleted"}
	}
	return r, err
}

// ReadVersion returns one version (vread).
func (s *Service) ReadVersion(ctx context.Context, typ, id, version string) (*vigil.Resource, error) {
	if err := s.checkType(typ); err != nil {
		return nil, err
	}
	v, err := strconv.ParseInt(version, 10, 64)
	if err != nil || v < 1 || !validID(id) {
		return nil, vigil.Errorf(vigil.ErrNotFound, "version not found")
	}
	r, err := s.store.ReadVersion(ctx, typ, id, v)
	if errors.Is(err, vigil.ErrNotFound) && v == 1 {
		if r, ok, serr := s.readSample(ctx, typ, id); ok { // device samples (samples.go)
			return r, serr
		}
	}
	if errors.Is(err, vigil.ErrNotFound) {
		return nil, &vigil.Error{Kind: vigil.ErrNotFound, Message: fmt.Sprintf("%s/%s version %d not found", typ, id, v), Err: err}
	}
	if err == nil && r.Deleted {
		return r, &vigil.Error{Kind: vigil.ErrGone, Message: "this version is a delete"}
	}
	return r, err
}

func (s *Service) checkType(typ string) error {
	if !s.model.IsResourceType(typ) {
		return vigil.Errorf(vigil.ErrNotFound, "unknown resource type %q", typ)
	}
	return nil
}

// Update writes a new version of typ/id from body (update, or
// update-as-create with a client-assigned id when it does not exist). The
// body's id must equal id. ifMatch, when not empty, is the ETag the client
// expects to be current (W/"3" or 3); a mismatch fails with
// ErrPrecondition.
func (s *Service) Update(ctx context.Context, typ, id string, body []byte, ifMatch string) (*Result, error) {
	if err := s.checkType(typ); err != nil {
		return nil, err
	}
	obj, err := s.decode(body, typ)
	if err != nil {
		return nil, err
	}
	return s.UpdateObject(ctx, typ, id, obj, ifMatch)
}

// UpdateObject is Update for an already decoded and validated resource.
func (s *Service) UpdateObject(ctx context.Context, typ, id string, obj Object, ifMatch string) (*Result, error) {
	defer s.track()() // history's horizon (horizon.go)
	if err := s.checkType(typ); err != nil {
		return nil, err
	}
	bodyID, _ := obj["id"].(string)
	if bodyID == "" {
		return nil, vigil.Errorf(vigil.ErrInvalid, "the resource has no id; an update must carry the id of the URL")
	}
	if bodyID != id {
		return nil, vigil.Errorf(vigil.ErrInvalid, "the resource id does not match the id in the URL")
	}
	if !validID(id) {
		return nil, vigil.Errorf(vigil.ErrInvalid, "invalid id")
	}
	want, err := parseETag(ifMatch)
	if err != nil {
		return nil, err
	}
	idx, err := s.model.Index(obj)
	if err != nil {
		return nil, err
	}
	var res *Result
	err = s.store.Write(ctx, func(ctx context.Context, tx vigil.ResourceTx) error {
		var err error
		res, err = s.putTx(ctx, tx, typ, id, obj, idx, want, "PUT")
		return err
	})
	if err != nil {
		return nil, err
	}
	s.notify(ctx, res.Resource)
	return res, nil
}

// putTx writes obj as the next version of typ/id inside tx. want > 0 is
// the If-Match version.
func (s *Service) putTx(ctx context.Context, tx vigil.ResourceTx, typ, id string, obj Object, idx []vigil.IndexEntry, want int64, method string) (*Result, error) {
	cur, err := tx.Read(ctx, typ, id)
	var next int64 = 1
	created := false
	switch {
	case err == nil:
		next = cur.Version + 1
	case errors.Is(err, vigil.ErrGone):
		next = cur.Version + 1
		created = true
	case errors.Is(err, vigil.ErrNotFound):
		created = true
	default:
		return nil, err
	}
	if want > 0 && (created || cur.Version != want) {
		return nil, vigil.Errorf(vigil.ErrPrecondition, "version %d is not the current version", want)
	}
	p, err := s.prepareIndexed(obj, idx, typ, id, next, method)
	if err != nil {
		return nil, err
	}
	if err := tx.Put(ctx, &p.res, p.index); err != nil {
		return nil, err
	}
	return &Result{Resource: &p.res, Created: created}, nil
}

// prepareIndexed is prepare with an index already extracted.
func (s *Service) prepareIndexed(obj Object, idx []vigil.IndexEntry, typ, id string, version int64, method string) (*prepared, error) {
	now := s.instant()
	obj["id"] = id
	setMeta(obj, version, now)
	data, err := Marshal(obj)
	if err != nil {
		return nil, err
	}
	return &prepared{res: vigil.Resource{Type: typ, ID: id, Version: version, LastUpdated: now, Method: method, JSON: data}, index: idx}, nil
}

// parseETag parses an If-Match value: W/"3", "3" or 3. Empty gives 0.
func parseETag(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	s = strings.TrimPrefix(s, "W/")
	s = strings.Trim(s, `"`)
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 1 {
		return 0, vigil.Errorf(vigil.ErrInvalid, "malformed If-Match version")
	}
	return v, nil
}

// ConditionalUpdate updates the one resource of typ matching query, creates
// one when none matches (with the body's id if it has one), and fails with
// ErrPrecondition when several match.
func (s *Service) ConditionalUpdate(ctx context.Context, typ, query string, body []byte, ifMatch string) (*Result, error) {
	if err := s.checkType(typ); err != nil {
		return nil, err
	}
	obj, err := s.decode(body, typ)
	if err != nil {
		return nil, err
	}
	return s.ConditionalUpdateObject(ctx, typ, query, obj, ifMatch)
}

// ConditionalUpdateObject is ConditionalUpdate for a decoded resource.
func (s *Service) ConditionalUpdateObject(ctx context.Context, typ, query string, obj Object, ifMatch string) (*Result, error) {
	defer s.track()() // history's horizon (horizon.go)
	if err := s.checkType(typ); err != nil {
		return nil, err
	}
	cond, err := s.conditionQuery(typ, query)
	if err != nil {
		return nil, err
	}
	want, err := parseETag(ifMatch)
	if err != nil {
		return nil, err
	}
	idx, err := s.model.Index(obj)
	if err != nil {
		return nil, err
	}
	var res *Result
	err = s.store.Write(ctx, func(ctx context.Context, tx vigil.ResourceTx) error {
		var err error
		res, err = s.conditionalPutTx(ctx, tx, typ, cond, obj, idx, want)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.notify(ctx, res.Resource)
	return res, nil
}

func (s *Service) conditionalPutTx(ctx context.Context, tx vigil.ResourceTx, typ string, cond *vigil.SearchQuery, obj Object, idx []vigil.IndexEntry, want int64) (*Result, error) {
	match, err := matchOne(ctx, tx, cond)
	if err != nil {
		return nil, err
	}
	bodyID, _ := obj["id"].(string)
	id := bodyID
	switch {
	case match != nil:
		if bodyID != "" && bodyID != match.ID {
			return nil, vigil.Errorf(vigil.ErrInvalid, "the resource id does not match the resource found by the condition")
		}
		id = match.ID
	case id == "":
		id = s.newID()
	case !validID(id):
		return nil, vigil.Errorf(vigil.ErrInvalid, "invalid id")
	}
	return s.putTx(ctx, tx, typ, id, obj, idx, want, "PUT")
}

// Patch applies a JSON Patch (RFC 6902) document to the current version of
// typ/id and writes the result as a new version, after validating it. The
// patch may not change resourceType or id.
func (s *Service) Patch(ctx context.Context, typ, id string, patch []byte, ifMatch string) (*Result, error) {
	defer s.track()() // history's horizon (horizon.go)
	if err := s.checkType(typ); err != nil {
		return nil, err
	}
	ops, err := ParsePatch(patch)
	if err != nil {
		return nil, err
	}
	want, err := parseETag(ifMatch)
	if err != nil {
		return nil, err
	}
	var res *Result
	err = s.store.Write(ctx, func(ctx context.Context, tx vigil.ResourceTx) error {
		var err error
		res, err = s.patchTx(ctx, tx, typ, id, ops, want)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.notify(ctx, res.Resource)
	return res, nil
}

func (s *Service) patchTx(ctx context.Context, tx vigil.ResourceTx, typ, id string, ops []PatchOp, want int64) (*Result, error) {
	cur, err := tx.Read(ctx, typ, id)
	if errors.Is(err, vigil.ErrNotFound) {
		return nil, &vigil.Error{Kind: vigil.ErrNotFound, Message: typ + "/" + id + " not found", Err: err}
	}
	if errors.Is(err, vigil.ErrGone) {
		return nil, vigil.Errorf(vigil.ErrGone, "%s/%s has been deleted", typ, id)
	}
	if err != nil {
		return nil, err
	}
	if want > 0 && cur.Version != want {
		return nil, vigil.Errorf(vigil.ErrPrecondition, "version %d is not the current version", want)
	}
	obj, err := unmarshal(cur.JSON)
	if err != nil {
		return nil, err
	}
	patched, err := ApplyPatch(obj, ops)
	if err != nil {
		return nil, err
	}
	out, ok := patched.(map[string]any)
	if !ok {
		return nil, vigil.Errorf(vigil.ErrUnprocessable, "the patch does not leave a resource")
	}
	if rt, _ := out["resourceType"].(string); rt != typ {
		return nil, vigil.Errorf(vigil.ErrUnprocessable, "a patch may not change resourceType")
	}
	if pid, _ := out["id"].(string); pid != id {
		return nil, vigil.Errorf(vigil.ErrUnprocessable, "a patch may not change id")
	}
	// meta.versionId and lastUpdated are the server's; restore before validating.
	setMeta(out, cur.Version, cur.LastUpdated)
	if err := s.validate(out); err != nil {
		return nil, err
	}
	idx, err := s.model.Index(out)
	if err != nil {
		return nil, err
	}
	p, err := s.prepareIndexed(out, idx, typ, id, cur.Version+1, "PATCH")
	if err != nil {
		return nil, err
	}
	if err := tx.Put(ctx, &p.res, p.index); err != nil {
		return nil, err
	}
	return &Result{Resource: &p.res}, nil
}

// Delete deletes typ/id. Deleting a resource that is already deleted or
// never existed succeeds and writes nothing (FHIR R4 delete is idempotent);
// the result's Resource is nil then.
func (s *Service) Delete(ctx context.Context, typ, id string) (*Result, error) {
	defer s.track()() // history's horizon (horizon.go)
	if err := s.checkType(typ); err != nil {
		return nil, err
	}
	var res *Result
	err := s.store.Write(ctx, func(ctx context.Context, tx vigil.ResourceTx) error {
		var err error
		res, err = s.deleteTx(ctx, tx, typ, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	if res.Resource != nil {
		s.notify(ctx, res.Resource)
	}
	return res, nil
}

func (s *Service) deleteTx(ctx context.Context, tx vigil.ResourceTx, typ, id string) (*Result, error) {
	cur, err := tx.Read(ctx, typ, id)
	if errors.Is(err, vigil.ErrNotFound) || errors.Is(err, vigil.ErrGone) {
		return &Result{}, nil
	}
	if err != nil {
		return nil, err
	}
	r := &vigil.Resource{Type: typ, ID: id, Version: cur.Version + 1, LastUpdated: s.instant(), Deleted: true, Method: "DELETE"}
	if err := tx.Put(ctx, r, nil); err != nil {
		return nil, err
	}
	return &Result{Resource: r}, nil
}

// maxConditionalDeletes bounds how many resources one conditional delete
// may remove.
const maxConditionalDeletes = 1000

// ConditionalDelete deletes every resource of typ matching query (at most
// 1000; more fails with ErrPrecondition). It returns the number deleted.
func (s *Service) ConditionalDelete(ctx context.Context, typ, query string) (int, error) {
	defer s.track()() // history's horizon (horizon.go)
	if err := s.checkType(typ); err != nil {
		return 0, err
	}
	cond, err := s.conditionQuery(typ, query)
	if err != nil {
		return 0, err
	}
	cond.Count = maxConditionalDeletes + 1
	var deleted []*vigil.Resource
	err = s.store.Write(ctx, func(ctx context.Context, tx vigil.ResourceTx) error {
		var err error
		deleted, err = s.conditionalDeleteTx(ctx, tx, cond)
		return err
	})
	if err != nil {
		return 0, err
	}
	s.notify(ctx, deleted...)
	return len(deleted), nil
}

func (s *Service) conditionalDeleteTx(ctx context.Context, tx vigil.ResourceTx, cond *vigil.SearchQuery) ([]*vigil.Resource, error) {
	if err := lockConditional(ctx, tx, cond.Type); err != nil {
		return nil, err
	}
	res, err := tx.Search(ctx, cond)
	if err != nil {
		return nil, err
	}
	if len(res.Matches) > maxConditionalDeletes || res.Next != "" {
		return nil, vigil.Errorf(vigil.ErrPrecondition, "the condition matches more than %d resources", maxConditionalDeletes)
	}
	var out []*vigil.Resource
	for _, m := range res.Matches {
		r, err := s.deleteTx(ctx, tx, m.Type, m.ID)
		if err != nil {
			return nil, err
		}
		if r.Resource != nil {
			out = append(out, r.Resource)
		}
	}
	return out, nil
}
