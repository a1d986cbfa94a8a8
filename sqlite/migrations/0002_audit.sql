-- The audit trail (package audit), in vigil.db since schema 2 (before, in
-- its own audit.db, which Open moves in): in the same file as the
-- resources, so that a change and its audit record commit together.
-- Rows are only ever inserted: the triggers refuse UPDATE and DELETE from
-- any code path (someone with write access to the file can drop them,
-- which is what the hash chain, MACs and signed checkpoints are for).

-- One row per record. data is the canonical encoding (authoritative);
-- time (Unix microseconds), agent and action are copies for queries.
CREATE TABLE audit_log (
	seq    INTEGER PRIMARY KEY,
	time   INTEGER NOT NULL,
	agent  TEXT NOT NULL,
	action TEXT NOT NULL,
	data   BLOB NOT NULL,
	hash   BLOB NOT NULL,
	mac    BLOB NOT NULL
);
CREATE INDEX audit_log_agent ON audit_log (agent, seq);

-- The patients each record involves, for "who accessed my record".
-- Ordered by seq first so that verification reads it in one pass beside
-- audit_log; the second index serves patient queries newest first.
CREATE TABLE audit_patient (
	seq     INTEGER NOT NULL,
	patient TEXT NOT NULL,
	PRIMARY KEY (seq, patient)
) WITHOUT ROWID;
CREATE INDEX audit_patient_patient ON audit_patient (patient, seq);

-- Signed checkpoints over (seq, hash, time).
CREATE TABLE audit_checkpoint (
	seq    INTEGER PRIMARY KEY,
	time   INTEGER NOT NULL,
	hash   BLOB NOT NULL,
	key_id TEXT NOT NULL,
	sig    BLOB NOT NULL
);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit trail is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit trail is append-only'); END;
CREATE TRIGGER audit_patient_no_update BEFORE UPDATE ON audit_patient
BEGIN SELECT RAISE(ABORT, 'audit trail is append-only'); END;
CREATE TRIGGER audit_patient_no_delete BEFORE DELETE ON audit_patient
BEGIN SELECT RAISE(ABORT, 'audit trail is append-only'); END;
CREATE TRIGGER audit_checkpoint_no_update BEFORE UPDATE ON audit_checkpoint
BEGIN SELECT RAISE(ABORT, 'audit trail is append-only'); END;
CREATE TRIGGER audit_checkpoint_no_delete BEFORE DELETE ON audit_checkpoint
BEGIN SELECT RAISE(ABORT, 'audit trail is append-only'); END;
