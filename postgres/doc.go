// Package postgres is a vigil.ResourceStore on PostgreSQL (15 or later),
// using pgx and its connection pool.
//
// Open connects, applies the embedded schema migrations (under an advisory
// lock, so several Vigil nodes may start at once) and returns a *DB:
//
//	db, err := postgres.Open(ctx, "postgres://vigil@db/vigil?sslmode=disable")
//	if err != nil {
//		return err
//	}
//	defer db.Close()
//
// Each resource has one row in resources (with a stable creation key that
// gives the default search order), every version is kept in versions with
// the exact JSON bytes written, and the search index entries of the current
// version live in one table per parameter type (idx_string, idx_token,
// idx_ref, idx_date, idx_number, idx_quantity, idx_uri). Searches compile to
// one parameterised SQL statement with keyset paging; the matching rules are
// those of docs/store-contract.md and FHIR R4 search
// (https://hl7.org/fhir/R4/search.html).
//
// Writes are group-committed: the Write calls queued while a writer
// goroutine is busy run one after the other in one READ COMMITTED
// transaction, each in its own savepoint, and commit together. A failing fn
// rolls back to its savepoint only. Reading a resource inside fn locks it
// (SELECT … FOR UPDATE, or an advisory lock on the name of one that does
// not exist yet), so read-modify-write cycles on one resource serialise;
// within a group the lock is taken with NOWAIT and a fn that meets a locked
// row reruns alone after the group commits, which keeps groups from
// deadlocking each other. Serialization failures and deadlocks rerun fn a
// few times. Each Put is one statement: the resource row, the version row
// and all index entries (as arrays, unnested), guarded by the version
// check.
//
// Search statements run unprepared, so that PostgreSQL plans each for its
// actual values, and the store runs ANALYZE itself after 5,000, 10,000,
// 20,000… written versions, so that plans are sound right after a bulk
// load, before autovacuum has caught up.
//
// The schema lives in the first schema of the connection's search_path, so
// a "search_path=…" parameter in the URL selects it.
package postgres
