// Package sqlite is Vigil's embedded resource store: a vigil.ResourceStore
// in one SQLite file (dir/vigil.db), using the pure-Go driver
// modernc.org/sqlite, so the server needs no cgo and no database server.
//
// Layout: a resources table (one row per logical resource; its INTEGER
// PRIMARY KEY is the stable creation key that orders default searches), a
// versions table (every version; its key is the store-wide commit sequence
// that orders history) and one index table per search parameter type
// (idx_string, idx_token, idx_ref, idx_date, idx_number, idx_quantity,
// idx_uri) holding the entries of current versions. Each index table is
// clustered (WITHOUT ROWID) on (key, param, n) and has one or two value
// indexes, kept few and value-ordered because every new resource pays a
// random B-tree insert (and a WAL page) for each. Times are unix
// microseconds; open range ends are the smallest and largest int64.
// One composite table, idx_ref_token (pairs.go), pairs a resource's
// subject/patient references with its codes, for the chart search by
// patient and code.
//
// Concurrency: WAL mode; a pool of read connections; one writer connection
// driven by one goroutine that commits the fns of concurrent Write calls
// together (group commit), each in its own SAVEPOINT. With the default
// SyncFull a batch costs one WAL fsync however many Writes it holds.
//
// Search builds one parameterised SQL statement per page (plus COUNT for
// totals and one per _include/_revinclude directive). The most selective
// parameter (or a reference and token pair idx_ref_token holds) drives the
// query as "key IN (subquery on its index)", the others
// are correlated EXISTS probes on the (key, param) primary keys. Paging is by
// keyset cursor (sort values + creation key + a hash of the query).
//
// Durability: WithSynchronous(SyncFull) (the default) fsyncs the WAL at every
// commit, so a Write that returned survives power loss; SyncNormal fsyncs
// only at checkpoints, so after an OS crash or power loss the last commits
// may be lost (never half-applied). Group commit makes FULL cheap: one fsync
// serves a whole batch.
//
// Schema migrations are embedded SQL files applied in order by a small
// runner keyed on PRAGMA user_version (see migrate.go for why not goose).
//
// The matching rules are those of docs/store-contract.md; package
// storetest checks them.
package sqlite
