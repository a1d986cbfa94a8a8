package records

import (
	"context"
	"errors"
	"fmt"

	"github.com/vigilhealth/vigil"
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
			return st, nil
		}
		q.Cursor = res.Next
	}
}
