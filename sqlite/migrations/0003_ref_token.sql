-- Schema 3: idx_ref_token, a composite index of reference and token
-- entries of the same resource, for searches such as
-- Observation?subject=Patient/x&code=http://loinc.org|8867-4 (search by
-- patient and code, the commonest clinical query). With only the
-- per-type tables such a search reads every index row of the patient
-- (1,000 Observations each at 1 million) and probes the token table for
-- each; here the rows of one (patient, code) pair are adjacent and in key
-- order. ref_param comes last: a search reads the rows of both
-- parameters (subject and patient name the same Patient in an
-- Observation) and keeps those of its own, and in exchange the rows a new
-- resource adds are adjacent, at the end of each (patient, code) range:
-- one B-tree page to write, not one per parameter.
--
-- It holds, for every current resource, the cross product of its
-- reference entries of the parameters subject and patient with a target
-- id, and its token entries of the parameter code with a code (pairRef
-- and pairToken in pairs.go must list the same parameters). Because it
-- is the full cross product, "some row matches the reference value and the
-- token value" is exactly "some reference entry matches and some token
-- entry matches", the meaning of the two parameters ANDed.
CREATE TABLE idx_ref_token (
	ref_id    TEXT    NOT NULL,
	ref_type  TEXT    NOT NULL,
	ref_param TEXT    NOT NULL,
	tok_param TEXT    NOT NULL,
	code      TEXT    NOT NULL,
	system    TEXT    NOT NULL,
	key       INTEGER NOT NULL,
	PRIMARY KEY (ref_id, ref_type, tok_param, code, system, key, ref_param)
) WITHOUT ROWID;

-- Backfill from the current index rows of an existing store.
INSERT OR IGNORE INTO idx_ref_token (ref_id, ref_type, ref_param, tok_param, code, system, key)
SELECT r.ref_id, r.ref_type, r.param, t.param, t.code, t.system, r.key
FROM idx_ref r JOIN idx_token t ON t.key = r.key
WHERE r.param IN ('subject', 'patient') AND r.ref_id <> ''
  AND t.param = 'code' AND t.code <> '';
