-- Schema 5: the trail's (patient, seq) index leaves the commit path.
--
-- Schema 2 indexed audit_patient by (patient, seq) for "who accessed my
-- record" queries. Nearly every record lands on a different page of that
-- index (the patients of consecutive reads differ), so each audited read
-- added a random B-tree insert and a 4 KB WAL frame to the commit it waits
-- for, and a gateway batch of 500 patients 500 of each. Now the index is
-- a table of its own, audit_patient_index, that the writer fills in
-- batches about once a second from the rows audit_patient (keyed by seq:
-- appended in order) got since audit_index_state.indexed, sorted by
-- patient, so that each page of it is written once per batch. A patient
-- query reads the index for seq <= indexed and the rows of audit_patient
-- after it (sqlite/audit.go), so answers are exact at once. (Written to
-- run again harmlessly, as tests re-run migrations on a newer store.)
CREATE TABLE IF NOT EXISTS audit_patient_index (
	patient TEXT NOT NULL,
	seq     INTEGER NOT NULL,
	PRIMARY KEY (patient, seq)
) WITHOUT ROWID;
INSERT OR IGNORE INTO audit_patient_index (patient, seq) SELECT patient, seq FROM audit_patient;
DROP INDEX IF EXISTS audit_patient_patient;

CREATE TABLE IF NOT EXISTS audit_index_state (
	id      INTEGER PRIMARY KEY CHECK (id = 1),
	indexed INTEGER NOT NULL
);
INSERT OR IGNORE INTO audit_index_state (id, indexed) VALUES (1, IFNULL((SELECT MAX(seq) FROM audit_log), 0));

CREATE TRIGGER IF NOT EXISTS audit_patient_index_no_update BEFORE UPDATE ON audit_patient_index
BEGIN SELECT RAISE(ABORT, 'audit trail is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_patient_index_no_delete BEFORE DELETE ON audit_patient_index
BEGIN SELECT RAISE(ABORT, 'audit trail is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_index_state_no_delete BEFORE DELETE ON audit_index_state
BEGIN SELECT RAISE(ABORT, 'audit trail is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_index_state_forward BEFORE UPDATE ON audit_index_state
WHEN NEW.indexed < OLD.indexed OR NEW.id <> OLD.id
BEGIN SELECT RAISE(ABORT, 'audit trail is append-only'); END;
