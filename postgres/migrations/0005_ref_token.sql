-- Schema 5: idx_ref_token, as in the SQLite store (its schema 3): for
-- every current resource, the cross product of its reference entries of
-- the parameters subject and patient that name an id and its token
-- entries of the parameter code that have a code, so that a search by
-- patient and code (Observation?subject=Patient/x&code=…|8867-4, the
-- commonest clinical query) reads the rows of one (patient, type, code)
-- range instead of intersecting every index row of the patient with every
-- row of the code. Because it is the full cross product, "some row
-- matches the reference value and the token value" is exactly "some
-- reference entry matches and some token entry matches", the meaning of
-- the two parameters ANDed. Put statements maintain it from the same
-- index arrays (put.go); pairs.go lists the same parameters. The three
-- texts are cut to 200 characters (left(), as put.go does), so that the
-- key stays within a btree row (2,704 bytes) whatever the values; a search
-- uses the table only with values shorter than that (pairs.go).
CREATE TABLE idx_ref_token (
    ref_id    text COLLATE "C" NOT NULL,
    ref_type  text COLLATE "C" NOT NULL,
    rtype     text COLLATE "C" NOT NULL,
    tok_param text COLLATE "C" NOT NULL,
    code      text COLLATE "C" NOT NULL,
    system    text COLLATE "C" NOT NULL,
    key       bigint NOT NULL,
    ref_param text COLLATE "C" NOT NULL,
    PRIMARY KEY (ref_id, ref_type, rtype, tok_param, code, system, key, ref_param)
);

-- Backfill from the current index rows of an existing store.
INSERT INTO idx_ref_token (ref_id, ref_type, rtype, tok_param, code, system, key, ref_param)
SELECT left(r.ref_id, 200), r.ref_type, r.rtype, t.param, left(t.code, 200), left(t.system, 200), r.key, r.param
FROM idx_ref r JOIN idx_token t ON t.key = r.key
WHERE r.param IN ('subject', 'patient') AND r.ref_id <> ''
  AND t.param = 'code' AND t.code <> ''
ON CONFLICT DO NOTHING;
