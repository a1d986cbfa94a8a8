-- The audit trail (package audit). Rows are only ever inserted: the
-- triggers refuse UPDATE, DELETE and TRUNCATE from any code path (an owner
-- of the tables can drop them, which is what the hash chain, MACs and
-- signed checkpoints are for).

-- One row per record. data is the canonical encoding (authoritative);
-- time, agent, action and patients are copies for queries, which the
-- verifier compares with data.
CREATE TABLE audit_log (
	seq      bigint PRIMARY KEY,
	time     timestamptz NOT NULL,
	agent    text NOT NULL,
	action   text NOT NULL,
	patients text[] NOT NULL,
	data     bytea NOT NULL,
	hash     bytea NOT NULL,
	mac      bytea NOT NULL
);
CREATE INDEX audit_log_agent ON audit_log (agent, seq);
CREATE INDEX audit_log_patients ON audit_log USING gin (patients);

-- Signed checkpoints over (seq, hash, time).
CREATE TABLE audit_checkpoint (
	seq    bigint PRIMARY KEY,
	time   timestamptz NOT NULL,
	hash   bytea NOT NULL,
	key_id text NOT NULL,
	sig    bytea NOT NULL
);

CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'audit trail is append-only';
END
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
	FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
	FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_checkpoint_append_only BEFORE UPDATE OR DELETE ON audit_checkpoint
	FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_checkpoint_no_truncate BEFORE TRUNCATE ON audit_checkpoint
	FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
