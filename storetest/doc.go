// Package storetest is the conformance suite every vigil.ResourceStore must
// pass, in the manner of testing/slogtest: one shared set of tests that the
// SQLite and PostgreSQL stores (and any future store) run against a fresh,
// empty store.
//
// A store's test file calls Run:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) vigil.ResourceStore {
//			db, err := sqlite.Open(t.Context(), t.TempDir())
//			if err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(func() { db.Close() })
//			return db
//		})
//	}
//
// The suite builds vigil.IndexEntry and vigil.SearchQuery values by hand, so
// it checks the store against the contract in docs/store-contract.md
// independently of the FHIR indexer and search parser. Subtests are named
// after the rule they check, so "go test -run Conformance/Search/date" runs
// one group.
//
// Bench and its parts (BenchCreate, BenchRead, BenchSearch) are the shared
// benchmarks: parallel creates (which show group commit at work), reads by
// id, and the typical clinical search subject+code+date on a preloaded set.
package storetest
