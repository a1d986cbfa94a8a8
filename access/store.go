package access

import (
	"context"
	"errors"

	"github.com/vigilhealth/vigil"
)

// Store returns a vigil.ResourceStore that enforces the policy for the
// principal in the context of each call. Calls without a principal fail
// with ErrUnauthorized.
func (p *Policy) Store() vigil.ResourceStore { return &guarded{p: p, inner: p.inner} }

type guarded struct {
	p     *Policy
	inner vigil.ResourceStore
}

var _ vigil.ResourceStore = (*guarded)(nil)

type reader interface {
	vigil.ResourceReader
}

// check applies the read decision to a resource that was found.
func (p *Policy) check(v *view, r *vigil.Resource, err error) (*vigil.Resource, error) {
	if r == nil {
		return nil, err
	}
	if err != nil && !errors.Is(err, vigil.ErrGone) {
		return nil, err
	}
	if errors.Is(err, vigil.ErrGone) {
		// A deleted resource has no content to decide on: only callers who
		// see everything of its type learn that it was deleted.
		if v.all && vigil.Allows(v.p.Scopes, r.Type, false) {
			return r, err
		}
		return nil, hidden(r.Type, r.ID)
	}
	ok, cerr := p.canRead(v, r)
	if cerr != nil {
		return nil, cerr
	}
	if !ok {
		return nil, hidden(r.Type, r.ID)
	}
	p.note(v, r)
	return r, nil
}

// note records, for the audit trail, the patients of a resource the
// caller was given.
func (p *Policy) note(v *view, r *vigil.Resource) {
	if v.log == nil || r.Deleted || !p.inCompartmentType(r.Type) {
		return
	}
	if ps, err := p.patientsOfJSON(r, !v.inWrite); err == nil {
		v.log.Note(ps...)
	}
}

func read(ctx context.Context, p *Policy, in reader, typ, id string) (*vigil.Resource, error) {
	v, err := p.viewOf(ctx)
	if err != nil {
		return nil, err
	}
	if v.p.Role == vigil.RoleDevice {
		return nil, forbidden("a device may not read")
	}
	r, err := in.Read(ctx, typ, id)
	return p.check(v, r, err)
}

func readVersion(ctx context.Context, p *Policy, in reader, typ, id string, version int64) (*vigil.Resource, error) {
	v, err := p.viewOf(ctx)
	if err != nil {
		return nil, err
	}
	if v.p.Role == vigil.RoleDevice {
		return nil, forbidden("a device may not read")
	}
	r, err := in.ReadVersion(ctx, typ, id, version)
	if err != nil {
		return nil, err
	}
	if r.Deleted {
		if v.all && vigil.Allows(v.p.Scopes, r.Type, false) {
			return r, nil
		}
		return nil, hidden(typ, id)
	}
	return p.check(v, r, nil)
}

func history(ctx context.Context, p *Policy, in reader, q *vigil.HistoryQuery) (*vigil.HistoryResult, error) {
	v, err := p.viewOf(ctx)
	if err != nil {
		return nil, err
	}
	if v.p.Role == vigil.RoleDevice {
		return nil, forbidden("a device may not read")
	}
	if q.ID == "" {
		// Type and system history list every change of every patient:
		// only callers who see everything of the type get them.
		if !v.all || !vigil.Allows(v.p.Scopes, typOrAll(q.Type), false) {
			return nil, forbidden("type and system history need a service scope over the type")
		}
		return in.History(ctx, q)
	}
	res, err := in.History(ctx, q)
	if err != nil {
		return nil, err
	}
	if v.all && vigil.Allows(v.p.Scopes, q.Type, false) {
		return res, nil
	}
	out := &vigil.HistoryResult{Total: res.Total, Next: res.Next}
	for i := range res.Versions {
		r := &res.Versions[i]
		if r.Deleted {
			out.Versions = append(out.Versions, *r)
			continue
		}
		ok, err := p.canRead(v, r)
		if err != nil {
			return nil, err
		}
		if ok {
			p.note(v, r)
			out.Versions = append(out.Versions, *r)
		} else {
			out.Total = -1 // never reveal how many versions were hidden
		}
	}
	if len(out.Versions) == 0 || allDeleted(out.Versions) {
		return nil, hidden(q.Type, q.ID)
	}
	return out, nil
}

func allDeleted(rs []vigil.Resource) bool {
	for i := range rs {
		if !rs[i].Deleted {
			return false
		}
	}
	return true
}

func search(ctx context.Context, p *Policy, in reader, q *vigil.SearchQuery) (*vigil.SearchResult, error) {
	v, err := p.viewOf(ctx)
	if err != nil {
		return nil, err
	}
	nq, err := p.restrict(v, q)
	if err != nil {
		return nil, err
	}
	res, err := in.Search(ctx, nq)
	if err != nil {
		return nil, err
	}
	// Matches are already restricted by the store; check them again
	// (defence in depth: a resource outside the view never leaves).
	keep := res.Matches[:0]
	for i := range res.Matches {
		ok, err := p.canRead(v, &res.Matches[i])
		if err != nil {
			return nil, err
		}
		if ok {
			p.note(v, &res.Matches[i])
			keep = append(keep, res.Matches[i])
		}
	}
	res.Matches = keep
	inc := res.Included[:0]
	for i := range res.Included {
		ok, err := p.canRead(v, &res.Included[i])
		if err != nil {
			return nil, err
		}
		if ok {
			p.note(v, &res.Included[i])
			inc = append(inc, res.Included[i])
		}
	}
	res.Included = inc
	return res, nil
}

func (g *guarded) Read(ctx context.Context, typ, id string) (*vigil.Resource, error) {
	return read(ctx, g.p, g.inner, typ, id)
}

func (g *guarded) ReadVersion(ctx context.Context, typ, id string, version int64) (*vigil.Resource, error) {
	return readVersion(ctx, g.p, g.inner, typ, id, version)
}

func (g *guarded) History(ctx context.Context, q *vigil.HistoryQuery) (*vigil.HistoryResult, error) {
	return history(ctx, g.p, g.inner, q)
}

func (g *guarded) Search(ctx context.Context, q *vigil.SearchQuery) (*vigil.SearchResult, error) {
	return search(ctx, g.p, g.inner, q)
}

func (g *guarded) Write(ctx context.Context, fn func(ctx context.Context, tx vigil.ResourceTx) error) error {
	v, err := g.p.viewOf(ctx)
	if err != nil {
		return err
	}
	var written []string
	wv := *v
	wv.inWrite = true
	err = g.inner.Write(ctx, func(ctx context.Context, tx vigil.ResourceTx) error {
		gt := &guardedTx{p: g.p, v: &wv, inner: tx, written: &written}
		if l, ok := tx.(vigil.Locker); ok {
			return fn(ctx, &lockingTx{guardedTx: gt, l: l})
		}
		return fn(ctx, gt)
	})
	for _, t := range written {
		g.p.forget(t)
	}
	return err
}

func (g *guarded) Close() error { return g.inner.Close() }

// guardedTx checks every read and write of a transaction.
type guardedTx struct {
	p       *Policy
	v       *view
	inner   vigil.ResourceTx
	written *[]string
}

// lockingTx keeps the inner transaction's Locker visible.
type lockingTx struct {
	*guardedTx
	l vigil.Locker
}

func (t *lockingTx) Lock(ctx context.Context, name string) error { return t.l.Lock(ctx, name) }

func (t *guardedTx) Read(ctx context.Context, typ, id string) (*vigil.Resource, error) {
	r, err := t.inner.Read(ctx, typ, id)
	if t.v.p.Role == vigil.RoleDevice {
		// A device's create path reads to find the current version; it
		// learns nothing beyond "exists or not" — and not even that,
		// since the error it gets back is the same.
		if err != nil {
			return r, err
		}
		return nil, hidden(typ, id)
	}
	return t.p.check(t.v, r, err)
}

func (t *guardedTx) ReadVersion(ctx context.Context, typ, id string, version int64) (*vigil.Resource, error) {
	if t.v.p.Role == vigil.RoleDevice {
		return nil, forbidden("a device may not read")
	}
	r, err := t.inner.ReadVersion(ctx, typ, id, version)
	if err != nil {
		return nil, err
	}
	if r.Deleted {
		return nil, hidden(typ, id)
	}
	return t.p.check(t.v, r, nil)
}

func (t *guardedTx) History(ctx context.Context, q *vigil.HistoryQuery) (*vigil.HistoryResult, error) {
	return nil, forbidden("no history inside a write")
}

func (t *guardedTx) Search(ctx context.Context, q *vigil.SearchQuery) (*vigil.SearchResult, error) {
	nq, err := t.p.restrict(t.v, q)
	if err != nil {
		return nil, err
	}
	res, err := t.inner.Search(ctx, nq)
	if err != nil {
		return nil, err
	}
	for i := range res.Matches {
		t.p.note(t.v, &res.Matches[i])
	}
	inc := res.Included[:0]
	for i := range res.Included {
		if ok, err := t.p.canRead(t.v, &res.Included[i]); err != nil {
			return nil, err
		} else if ok {
			t.p.note(t.v, &res.Included[i])
			inc = append(inc, res.Included[i])
		}
	}
	res.Included = inc
	return res, nil
}

// PutBatch checks each new resource as Put does and hands them to the
// store in one batch when it can take one (vigil.BatchPutter); resources
// with earlier versions, whose current version Put must read, go one by
// one.
func (t *guardedTx) PutBatch(ctx context.Context, rs []*vigil.Resource, index [][]vigil.IndexEntry) error {
	bp, ok := t.inner.(vigil.BatchPutter)
	if !ok || len(rs) != len(index) {
		for i, r := range rs {
			if err := t.Put(ctx, r, index[i]); err != nil {
				return err
			}
		}
		return nil
	}
	var batch []*vigil.Resource
	var bidx [][]vigil.IndexEntry
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := bp.PutBatch(ctx, batch, bidx)
		batch, bidx = batch[:0], bidx[:0]
		return err
	}
	for i, r := range rs {
		if r.Version > 1 {
			if err := flush(); err != nil {
				return err
			}
			if err := t.Put(ctx, r, index[i]); err != nil {
				return err
			}
			continue
		}
		if err := t.admit(ctx, r, index[i], nil); err != nil {
			return err
		}
		batch, bidx = append(batch, r), append(bidx, index[i])
		t.wrote(r)
	}
	return flush()
}

// admit checks that v may write r over old (nil for a new resource) and
// notes the patients concerned for the audit trail.
func (t *guardedTx) admit(ctx context.Context, r *vigil.Resource, index []vigil.IndexEntry, old *vigil.Resource) error {
	if err := t.p.canWrite(ctx, t.v, r, index, old); err != nil {
		return err
	}
	t.v.log.Note(t.p.patientsOf(r.Type, r.ID, index)...)
	if old != nil {
		t.p.note(t.v, old)
	}
	return nil
}

// wrote remembers a write that changes who may see what (care teams,
// device bindings), for the policy's caches to forget after the Write.
func (t *guardedTx) wrote(r *vigil.Resource) {
	if r.Type == "CareTeam" || r.Type == "Device" {
		*t.written = append(*t.written, r.Type)
	}
}

func (t *guardedTx) Put(ctx context.Context, r *vigil.Resource, index []vigil.IndexEntry) error {
	var old *vigil.Resource
	if r.Version > 1 {
		cur, err := t.inner.Read(ctx, r.Type, r.ID)
		switch {
		case err == nil:
			old = cur
		case errors.Is(err, vigil.ErrGone):
			// re-creating over a delete: nothing to protect
		case errors.Is(err, vigil.ErrNotFound):
		default:
			return err
		}
	}
	if err := t.admit(ctx, r, index, old); err != nil {
		return err
	}
	if err := t.inner.Put(ctx, r, index); err != nil {
		return err
	}
	t.wrote(r)
	return nil
}
