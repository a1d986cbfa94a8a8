-- Vigil resource store, schema version 1.
--
-- Times are unix microseconds (UTC). Open ends of date ranges are the
-- smallest and largest int64. Index rows belong to the current version of a
-- resource and are replaced on every write.

-- resources holds one row per logical resource. key is the stable creation
-- key (default search order); seq points at the current row of versions.
CREATE TABLE resources (
	key          INTEGER PRIMARY KEY,
	type         TEXT    NOT NULL,
	id           TEXT    NOT NULL,
	version      INTEGER NOT NULL,
	seq          INTEGER NOT NULL,
	last_updated INTEGER NOT NULL,
	deleted      INTEGER NOT NULL DEFAULT 0,
	UNIQUE (type, id)
);
CREATE INDEX resources_type ON resources (type, deleted);
CREATE INDEX resources_updated ON resources (type, last_updated);

-- versions holds every version; seq is the store-wide commit sequence.
CREATE TABLE versions (
	seq          INTEGER PRIMARY KEY,
	key          INTEGER NOT NULL REFERENCES resources (key),
	type         TEXT    NOT NULL,
	version      INTEGER NOT NULL,
	last_updated INTEGER NOT NULL,
	deleted      INTEGER NOT NULL,
	method       TEXT    NOT NULL,
	json         BLOB,
	UNIQUE (key, version)
);
CREATE INDEX versions_type ON versions (type, seq);

-- One table per search parameter type. grp and part place composite
-- components (grp 0 for plain entries). Each table has a value index that
-- drives searches (param first) and a covering (key, param, values…) index
-- for the correlated EXISTS probes of the other parameters of a search and
-- for sort values.
CREATE TABLE idx_string (
	key   INTEGER NOT NULL,
	param TEXT    NOT NULL,
	grp   INTEGER NOT NULL,
	part  INTEGER NOT NULL,
	text  TEXT    NOT NULL,
	exact TEXT    NOT NULL
);
CREATE INDEX idx_string_value ON idx_string (param, text, key);
CREATE INDEX idx_string_key ON idx_string (key, param, text);

CREATE TABLE idx_token (
	key    INTEGER NOT NULL,
	param  TEXT    NOT NULL,
	grp    INTEGER NOT NULL,
	part   INTEGER NOT NULL,
	system TEXT    NOT NULL,
	code   TEXT    NOT NULL,
	text   TEXT    NOT NULL
);
CREATE INDEX idx_token_value ON idx_token (param, code, system, key);
CREATE INDEX idx_token_key ON idx_token (key, param, code, system);

CREATE TABLE idx_ref (
	key         INTEGER NOT NULL,
	param       TEXT    NOT NULL,
	grp         INTEGER NOT NULL,
	part        INTEGER NOT NULL,
	ref_type    TEXT    NOT NULL,
	ref_id      TEXT    NOT NULL,
	uri         TEXT    NOT NULL,
	ref_version TEXT    NOT NULL
);
CREATE INDEX idx_ref_target ON idx_ref (ref_id, ref_type, param, key);
CREATE INDEX idx_ref_uri ON idx_ref (uri, param, key) WHERE uri <> '';
CREATE INDEX idx_ref_key ON idx_ref (key, param, ref_id, ref_type);

CREATE TABLE idx_date (
	key   INTEGER NOT NULL,
	param TEXT    NOT NULL,
	grp   INTEGER NOT NULL,
	part  INTEGER NOT NULL,
	dstart INTEGER NOT NULL,
	dend   INTEGER NOT NULL
);
CREATE INDEX idx_date_start ON idx_date (param, dstart, dend, key);
CREATE INDEX idx_date_end ON idx_date (param, dend, dstart, key);
CREATE INDEX idx_date_key ON idx_date (key, param, dstart, dend);

CREATE TABLE idx_number (
	key   INTEGER NOT NULL,
	param TEXT    NOT NULL,
	grp   INTEGER NOT NULL,
	part  INTEGER NOT NULL,
	value REAL    NOT NULL
);
CREATE INDEX idx_number_value ON idx_number (param, value, key);
CREATE INDEX idx_number_key ON idx_number (key, param, value);

CREATE TABLE idx_quantity (
	key         INTEGER NOT NULL,
	param       TEXT    NOT NULL,
	grp         INTEGER NOT NULL,
	part        INTEGER NOT NULL,
	value       REAL    NOT NULL,
	system      TEXT    NOT NULL,
	code        TEXT    NOT NULL,
	canon_code  TEXT    NOT NULL,
	canon_value REAL    NOT NULL
);
CREATE INDEX idx_quantity_canon ON idx_quantity (param, canon_code, canon_value, key);
CREATE INDEX idx_quantity_code ON idx_quantity (param, code, value, key);
CREATE INDEX idx_quantity_key ON idx_quantity (key, param, canon_code, canon_value, code, value, system);

CREATE TABLE idx_uri (
	key   INTEGER NOT NULL,
	param TEXT    NOT NULL,
	grp   INTEGER NOT NULL,
	part  INTEGER NOT NULL,
	uri   TEXT    NOT NULL
);
CREATE INDEX idx_uri_value ON idx_uri (param, uri, key);
CREATE INDEX idx_uri_key ON idx_uri (key, param, uri);
