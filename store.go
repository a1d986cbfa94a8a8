package vigil

import "context"

// ResourceReader reads and searches FHIR resources. Implementations are safe
// for concurrent use.
type ResourceReader interface {
	// Read returns the current version of a resource. It returns ErrNotFound
	// when the resource never existed and ErrGone when its current version is
	// a delete (the returned Resource then carries the deleted version).
	Read(ctx context.Context, typ, id string) (*Resource, error)
	// ReadVersion returns one version (vread). ErrNotFound when there is no
	// such version; a deleted version is returned with Deleted set.
	ReadVersion(ctx context.Context, typ, id string, version int64) (*Resource, error)
	// History lists versions, newest first.
	History(ctx context.Context, q *HistoryQuery) (*HistoryResult, error)
	// Search runs a search. It returns ErrInvalid for a query the store cannot
	// run (such as a stale or foreign cursor).
	Search(ctx context.Context, q *SearchQuery) (*SearchResult, error)
}

// ResourceTx is a write transaction over the resource store. Reads and
// searches inside it see the transaction's own writes.
type ResourceTx interface {
	ResourceReader
	// Put writes a new version of a resource together with its search index
	// entries. r.Version must be exactly one more than the current version
	// (1 for a resource that does not exist yet); otherwise Put returns
	// ErrConflict and writes nothing. For a delete, set r.Deleted and leave
	// JSON and index nil. r.LastUpdated and r.JSON are stored as given.
	Put(ctx context.Context, r *Resource, index []IndexEntry) error
}

// ResourceStore keeps FHIR resources, their history and search indexes.
type ResourceStore interface {
	ResourceReader
	// Write runs fn in a write transaction: either all of fn's writes are
	// committed or, when fn returns an error, none are, and Write returns that
	// error. fn must not keep tx after it returns and must not call Write.
	// Stores may group the fns of concurrent callers into one database
	// transaction (group commit); each fn is still atomic and isolated, and
	// Write returns only after fn's writes are durable.
	Write(ctx context.Context, fn func(ctx context.Context, tx ResourceTx) error) error
	// Close releases the store's resources.
	Close() error
}

// BatchPutter is implemented by the ResourceTx of stores that can send many
// Puts in one round trip (PostgreSQL). PutBatch is Put for each of rs in
// order, with index[i] the entries of rs[i], and returns the first error;
// after an error the transaction is unusable and the Write's fn must fail
// (the statements after the failed one may have run).
type BatchPutter interface {
	PutBatch(ctx context.Context, rs []*Resource, index [][]IndexEntry) error
}

// Reindexer is implemented by the ResourceTx of stores that can replace the
// search index entries of a resource's current version in place, without a
// new version (vigil reindex, after the index extraction changed).
type Reindexer interface {
	// Reindex replaces the index entries of typ/id, whose current version
	// must be version and not a delete: otherwise it returns ErrConflict
	// (ErrNotFound when typ/id does not exist) and changes nothing.
	Reindex(ctx context.Context, typ, id string, version int64, index []IndexEntry) error
}

// IndexRevisioner is implemented by the ResourceTx of stores that record
// which revision of the search index extraction their index entries were
// made by, so that a newer program knows to rebuild them
// (records.Service.ReindexIfStale). A store made before it records 0.
type IndexRevisioner interface {
	// IndexRevision returns the recorded revision.
	IndexRevision(ctx context.Context) (int, error)
	// SetIndexRevision records rev.
	SetIndexRevision(ctx context.Context, rev int) error
}

// Locker is implemented by the ResourceTx of stores whose write
// transactions can run concurrently (PostgreSQL). Lock takes an exclusive
// lock on name that is held until the transaction ends. The records service
// takes one on the search criteria of a conditional create, update or delete
// before it looks for matches, so that two such requests with the same
// criteria cannot both find nothing and both create. Stores that run one
// write transaction at a time (SQLite) need not implement it.
type Locker interface {
	Lock(ctx context.Context, name string) error
}
