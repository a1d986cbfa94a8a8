package modelreg

import (
	"context"
	"errors"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/ecg/beatclass"
)

// LoadActive returns the beat classifier that Vigil should serve: the
// active version of the registry in dir, or, when the registry is empty,
// missing or has no active version yet, the default model embedded in the
// binary (beatclass.Default) with a nil entry. A registry that exists but
// cannot be read, or whose active model file does not match its recorded
// hash, is an error: the caller should keep the model it has rather than
// silently fall back.
//
// The server calls it at start and may call Registry.Active every minute or
// so to notice a promotion or rollback (compare Entry.ID) and then swap the
// classifier of its beat streams (beatclass.Stream.SetClassifier).
func LoadActive(ctx context.Context, dir string) (*beatclass.Classifier, *Entry, error) {
	r, err := Open(dir)
	if err != nil {
		return nil, nil, err
	}
	e, err := r.Active(ctx)
	if errors.Is(err, vigil.ErrNotFound) {
		c, err := beatclass.Default()
		return c, nil, err
	}
	if err != nil {
		return nil, nil, err
	}
	c, err := r.Classifier(ctx, e.Version)
	if err != nil {
		return nil, nil, err
	}
	return c, &e, nil
}
