-- Vigil resource store, initial schema.
--
-- resources holds one row per logical resource: its stable creation key
-- (the default search order) and a pointer to its current version.
-- versions holds every version with the exact JSON bytes written, in commit
-- sequence order (seq). The idx_* tables hold the search index entries of
-- each resource's current version, one table per parameter type, keyed by
-- the resource key. Text columns use the "C" collation so that prefix
-- searches can use plain btree ranges.
--
-- Each index table has two indexes: one by value (rtype, param, value…,
-- key), from which a search can start, and one by (key, param) that
-- covers the usual value columns, so that checking a further parameter of
-- a candidate resource is an index-only probe.

CREATE TABLE resources (
    key          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    type         text COLLATE "C" NOT NULL,
    id           text COLLATE "C" NOT NULL,
    version      bigint NOT NULL,
    last_updated timestamptz NOT NULL,
    deleted      boolean NOT NULL,
    CONSTRAINT resources_type_id UNIQUE (type, id)
);
CREATE INDEX resources_type_key ON resources (type, key) WHERE NOT deleted;
CREATE INDEX resources_type_last_updated ON resources (type, last_updated);

CREATE TABLE versions (
    seq          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key          bigint NOT NULL,
    type         text COLLATE "C" NOT NULL,
    id           text COLLATE "C" NOT NULL,
    version      bigint NOT NULL,
    last_updated timestamptz NOT NULL,
    deleted      boolean NOT NULL,
    method       text NOT NULL,
    json         bytea,
    CONSTRAINT versions_key_version UNIQUE (key, version)
);
CREATE INDEX versions_type_seq ON versions (type, seq);

CREATE TABLE idx_string (
    key   bigint NOT NULL,
    rtype text COLLATE "C" NOT NULL,
    param text COLLATE "C" NOT NULL,
    grp   integer NOT NULL,
    part  integer NOT NULL,
    text  text COLLATE "C" NOT NULL,
    exact text COLLATE "C" NOT NULL
);
CREATE INDEX idx_string_key ON idx_string (key, param) INCLUDE (rtype);
CREATE INDEX idx_string_text ON idx_string (rtype, param, text, key);

CREATE TABLE idx_token (
    key    bigint NOT NULL,
    rtype  text COLLATE "C" NOT NULL,
    param  text COLLATE "C" NOT NULL,
    grp    integer NOT NULL,
    part   integer NOT NULL,
    system text COLLATE "C" NOT NULL,
    code   text COLLATE "C" NOT NULL,
    text   text COLLATE "C" NOT NULL
);
CREATE INDEX idx_token_key ON idx_token (key, param) INCLUDE (rtype, code, system);
CREATE INDEX idx_token_code ON idx_token (rtype, param, code, system, key);

CREATE TABLE idx_ref (
    key         bigint NOT NULL,
    rtype       text COLLATE "C" NOT NULL,
    param       text COLLATE "C" NOT NULL,
    grp         integer NOT NULL,
    part        integer NOT NULL,
    ref_type    text COLLATE "C" NOT NULL,
    ref_id      text COLLATE "C" NOT NULL,
    ref_version text COLLATE "C" NOT NULL,
    uri         text COLLATE "C" NOT NULL
);
CREATE INDEX idx_ref_key ON idx_ref (key, param) INCLUDE (rtype, ref_type, ref_id);
CREATE INDEX idx_ref_target ON idx_ref (ref_id, ref_type, rtype, param, key);
CREATE INDEX idx_ref_uri ON idx_ref (uri, rtype, param, key) WHERE uri <> '';

CREATE TABLE idx_date (
    key     bigint NOT NULL,
    rtype   text COLLATE "C" NOT NULL,
    param   text COLLATE "C" NOT NULL,
    grp     integer NOT NULL,
    part    integer NOT NULL,
    start_t timestamptz NOT NULL,
    end_t   timestamptz NOT NULL
);
CREATE INDEX idx_date_key ON idx_date (key, param) INCLUDE (rtype, start_t, end_t);
CREATE INDEX idx_date_start ON idx_date (rtype, param, start_t, key);

CREATE TABLE idx_number (
    key   bigint NOT NULL,
    rtype text COLLATE "C" NOT NULL,
    param text COLLATE "C" NOT NULL,
    grp   integer NOT NULL,
    part  integer NOT NULL,
    value double precision NOT NULL,
    low   double precision NOT NULL,
    high  double precision NOT NULL
);
CREATE INDEX idx_number_key ON idx_number (key, param) INCLUDE (rtype, value, low, high);
CREATE INDEX idx_number_value ON idx_number (rtype, param, value, key);

CREATE TABLE idx_quantity (
    key         bigint NOT NULL,
    rtype       text COLLATE "C" NOT NULL,
    param       text COLLATE "C" NOT NULL,
    grp         integer NOT NULL,
    part        integer NOT NULL,
    value       double precision NOT NULL,
    low         double precision NOT NULL,
    high        double precision NOT NULL,
    system      text COLLATE "C" NOT NULL,
    code        text COLLATE "C" NOT NULL,
    canon_code  text COLLATE "C" NOT NULL,
    canon_value double precision NOT NULL,
    canon_low   double precision NOT NULL,
    canon_high  double precision NOT NULL
);
CREATE INDEX idx_quantity_key ON idx_quantity (key, param) INCLUDE (rtype, value, code, system, canon_code, canon_value);
CREATE INDEX idx_quantity_value ON idx_quantity (rtype, param, value, key);

CREATE TABLE idx_uri (
    key   bigint NOT NULL,
    rtype text COLLATE "C" NOT NULL,
    param text COLLATE "C" NOT NULL,
    grp   integer NOT NULL,
    part  integer NOT NULL,
    uri   text COLLATE "C" NOT NULL
);
CREATE INDEX idx_uri_key ON idx_uri (key, param) INCLUDE (rtype);
CREATE INDEX idx_uri_uri ON idx_uri (rtype, param, uri, key);
