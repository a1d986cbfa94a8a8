-- Schema 4: bulk_load holds what a bulk load into an empty store
-- (DB.BulkLoad, sqlite/bulk.go) deferred: the CREATE INDEX statements of
-- the value indexes it dropped. They run when the load finishes, or when
-- the store is opened after a load that did not finish (a crash), so that
-- no store is used without its indexes for long.
CREATE TABLE IF NOT EXISTS bulk_load (
	name TEXT PRIMARY KEY,
	sql  TEXT NOT NULL
);
