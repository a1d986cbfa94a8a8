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
// those of .notes/search-contract.md and FHIR R4 search
// (https://hl7.org/fhir/R4/search.html).
//
// The schema lives in the first schema of the connection's search_path, so
// a "search_path=…" parameter in the URL selects it.
package postgres
