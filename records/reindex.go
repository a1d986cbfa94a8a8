package records

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/fhir"
)

// ReindexStats counts what Reindex did.
type ReindexStats struct {
	// Resources is the number of current resources reindexed.
	Resources int
	// Skipped counts resources changed or deleted while Reindex ran: their
	// new version was indexed when it was written.
	Skipped int
}

// reindexBatch is how many resources one Reindex transaction rewrites.
const reindexBatch = 500

// Reindex extracts the search index entries of every current resource anew
// with the model and replaces the stored ones in place (vigil.Reindexer),
// without new versions. After an upgrade that indexes more, such as
// Reference.identifier for :identifier, older resources become findable.
// It pages through the store in creation order; progress, when set, is
// called after each batch. Deleted resources have no entries and are left
// alone.
func (s *Service) Reindex(ctx context.Context, progress func(ReindexStats)) (ReindexStats, error) {
	var st ReindexStats
	q := &vigil.SearchQuery{Count: reindexBatch}
	for {
		res, err := s.store.Search(ctx, q)
		if err != nil {
			return st, fmt.Errorf("reindex: list resources: %w", err)
		}
		type item struct {
			r   *vigil.Resource
			idx []vigil.IndexEntry
		}
		items := make([]item, 0, len(res.Matches))
		for i := range res.Matches {
			r := &res.Matches[i]
			obj, err := unmarshal(r.JSON)
			if err != nil {
				return st, fmt.Errorf("reindex %s/%s: %w", r.Type, r.ID, err)
			}
			idx, err := s.model.Index(obj)
			if err != nil {
				return st, fmt.Errorf("reindex %s/%s: %w", r.Type, r.ID, err)
			}
			items = append(items, item{r, idx})
		}
		var done, skipped int
		err = s.store.Write(ctx, func(ctx context.Context, tx vigil.ResourceTx) error {
			rx, ok := tx.(vigil.Reindexer)
			if !ok {
				return vigil.Errorf(vigil.ErrUnsupported, "this store cannot reindex in place")
			}
			done, skipped = 0, 0
			for _, it := range items {
				err := rx.Reindex(ctx, it.r.Type, it.r.ID, it.r.Version, it.idx)
				switch {
				case err == nil:
					done++
				case errors.Is(err, vigil.ErrConflict), errors.Is(err, vigil.ErrNotFound):
					skipped++
				default:
					return err
				}
			}
			return nil
		})
		if err != nil {
			return st, fmt.Errorf("reindex: %w", err)
		}
		st.Resources += done
		st.Skipped += skipped
		if progress != nil {
			progress(st)
		}
		if res.Next == "" {
			if err := s.setIndexRevision(ctx); err != nil {
				return st, err
			}
			s.index.set(false)
			return st, nil
		}
		q.Cursor = res.Next
	}
}

// IndexState tells the Services of a process whether the store's index
// entries are an older program's (fhir.IndexRevision), not yet rebuilt.
// While they are, token terminology searches (:in, :not-in, :above,
// :below) also match codes without a system, as revisions before 3 indexed
// code elements (status, gender…) without the system their binding
// implies; once the rebuild is done they match system and code only (a
// Coding without a system is then not taken for a release code).
type IndexState struct{ stale atomic.Bool }

// Stale reports whether the index may still hold an older program's
// entries.
func (st *IndexState) Stale() bool { return st != nil && st.stale.Load() }

// set records whether the index is stale; a nil state records nothing.
func (st *IndexState) set(stale bool) {
	if st != nil {
		st.stale.Store(stale)
	}
}

// ReindexIfStale runs Reindex when the store records an older revision of
// the index extraction than this program's (fhir.IndexRevision; a store
// made before revisions were recorded has 0), and reports whether it ran.
// A complete Reindex records the current revision. Stores that record no
// revision are left alone. A store found current (another process, vigil
// reindex, may have rebuilt it since AdoptIndexRevision looked) is no
// longer searched as stale.
func (s *Service) ReindexIfStale(ctx context.Context, progress func(ReindexStats)) (ReindexStats, bool, error) {
	rev, ok, err := s.indexRevision(ctx)
	if err != nil {
		return ReindexStats{}, false, err
	}
	if !ok || rev >= fhir.IndexRevision {
		s.index.set(false)
		return ReindexStats{}, false, nil
	}
	s.index.set(true)
	st, err := s.Reindex(ctx, progress) // a complete one clears the state
	return st, true, err
}

// AdoptIndexRevision records the current index revision in a store that
// holds no resource yet (a new store, or one made by an older program and
// left empty), so that nothing is reindexed later for no reason. Resources
// written after it looked are indexed by this program's extraction anyway.
// A store that records a newer revision (a newer program's, after a
// rollback) is marked as this program's too: what this program writes is
// indexed its way, and the newer program, back, must rebuild it.
func (s *Service) AdoptIndexRevision(ctx context.Context) error {
	rev, ok, err := s.indexRevision(ctx)
	if err != nil || !ok || rev == fhir.IndexRevision {
		return err
	}
	if rev < fhir.IndexRevision {
		res, err := s.store.Search(ctx, &vigil.SearchQuery{Count: 1})
		if err != nil {
			return fmt.Errorf("index revision: %w", err)
		}
		if len(res.Matches) > 0 {
			s.index.set(true) // until ReindexIfStale has rebuilt it
			return nil
		}
	}
	return s.setIndexRevision(ctx)
}

// indexRevision reads the store's index revision; ok is false when the
// store records none.
func (s *Service) indexRevision(ctx context.Context) (rev int, ok bool, err error) {
	err = s.store.Write(ctx, func(ctx context.Context, tx vigil.ResourceTx) error {
		r, is := tx.(vigil.IndexRevisioner)
		if !is {
			return nil
		}
		ok = true
		rev, err = r.IndexRevision(ctx)
		return err
	})
	if err != nil {
		return 0, false, fmt.Errorf("index revision: %w", err)
	}
	return rev, ok, nil
}

// setIndexRevision records fhir.IndexRevision in stores that keep one.
func (s *Service) setIndexRevision(ctx context.Context) error {
	err := s.store.Write(ctx, func(ctx context.Context, tx vigil.ResourceTx) error {
		if r, ok := tx.(vigil.IndexRevisioner); ok {
			return r.SetIndexRevision(ctx, fhir.IndexRevision)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record the index revision: %w", err)
	}
	return nil
}
