-- Schema 6: index_state holds which revision of the search index
-- extraction (fhir.IndexRevision) the stored index entries were made by,
-- so that a newer Vigil knows to rebuild them (records.ReindexIfStale).
-- A store made before it starts at 0: unknown, rebuilt once.
CREATE TABLE IF NOT EXISTS index_state (
	id       INTEGER PRIMARY KEY CHECK (id = 1),
	revision INTEGER NOT NULL
);
INSERT OR IGNORE INTO index_state (id, revision) VALUES (1, 0);
