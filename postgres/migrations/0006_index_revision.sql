-- Schema 6: index_state holds which revision of the search index
-- extraction (fhir.IndexRevision) the stored index entries were made by,
-- so that a newer Vigil knows to rebuild them (records.ReindexIfStale).
-- A store made before it starts at 0: unknown, rebuilt once.
CREATE TABLE IF NOT EXISTS index_state (
    id       integer PRIMARY KEY CHECK (id = 1),
    revision integer NOT NULL
);
INSERT INTO index_state (id, revision) VALUES (1, 0) ON CONFLICT DO NOTHING;
