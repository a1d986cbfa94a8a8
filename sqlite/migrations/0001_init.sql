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

-- One table per search parameter type. Each is clustered (WITHOUT ROWID)
-- on (key, param, n), n being the entry's position in the resource's index:
-- the rows of one resource are adjacent, which serves the correlated
-- (key, param) probes of the non-driving parameters of a search, sort
-- values, and the clearing of a resource's rows on update, and appends at
-- the end for new resources. A secondary value index (param first) drives
-- searches; it holds the primary key too. grp and part place composite
-- components (grp 0 for plain entries).
CREATE TABLE idx_string (
	key   INTEGER NOT NULL,
	param TEXT    NOT NULL,
	n     INTEGER NOT NULL,
	grp   INTEGER NOT NULL,
	part  INTEGER NOT NULL,
	text  TEXT    NOT NULL,
	exact TEXT    NOT NULL,
	PRIMARY KEY (key, param, n)
) WITHOUT ROWID;
CREATE INDEX idx_string_value ON idx_string (param, text, key);

CREATE TABLE idx_token (
	key    INTEGER NOT NULL,
	param  TEXT    NOT NULL,
	n      INTEGER NOT NULL,
	grp    INTEGER NOT NULL,
	part   INTEGER NOT NULL,
	system TEXT    NOT NULL,
	code   TEXT    NOT NULL,
	text   TEXT    NOT NULL,
	PRIMARY KEY (key, param, n)
) WITHOUT ROWID;
CREATE INDEX idx_token_value ON idx_token (param, code, system, key);

CREATE TABLE idx_ref (
	key         INTEGER NOT NULL,
	param       TEXT    NOT NULL,
	n           INTEGER NOT NULL,
	grp         INTEGER NOT NULL,
	part        INTEGER NOT NULL,
	ref_type    TEXT    NOT NULL,
	ref_id      TEXT    NOT NULL,
	uri         TEXT    NOT NULL,
	ref_version TEXT    NOT NULL,
	PRIMARY KEY (key, param, n)
) WITHOUT ROWID;
CREATE INDEX idx_ref_target ON idx_ref (ref_id, ref_type, param, key);
CREATE INDEX idx_ref_uri ON idx_ref (uri, param, key) WHERE uri <> '';

CREATE TABLE idx_date (
	key    INTEGER NOT NULL,
	param  TEXT    NOT NULL,
	n      INTEGER NOT NULL,
	grp    INTEGER NOT NULL,
	part   INTEGER NOT NULL,
	dstart INTEGER NOT NULL,
	dend   INTEGER NOT NULL,
	PRIMARY KEY (key, param, n)
) WITHOUT ROWID;
CREATE INDEX idx_date_start ON idx_date (param, dstart, dend, key);
-- Only wide entries (longer than a day, or open-ended) need an index by
-- end: searches find narrow ones by start (see dateEntryCond). The literal
-- must match dateWide in where.go.
CREATE INDEX idx_date_wide ON idx_date (param, dend, dstart, key) WHERE dend - dstart > 86400000000;

CREATE TABLE idx_number (
	key   INTEGER NOT NULL,
	param TEXT    NOT NULL,
	n     INTEGER NOT NULL,
	grp   INTEGER NOT NULL,
	part  INTEGER NOT NULL,
	value REAL    NOT NULL,
	PRIMARY KEY (key, param, n)
) WITHOUT ROWID;
CREATE INDEX idx_number_value ON idx_number (param, value, key);

CREATE TABLE idx_quantity (
	key         INTEGER NOT NULL,
	param       TEXT    NOT NULL,
	n           INTEGER NOT NULL,
	grp         INTEGER NOT NULL,
	part        INTEGER NOT NULL,
	value       REAL    NOT NULL,
	system      TEXT    NOT NULL,
	code        TEXT    NOT NULL,
	canon_code  TEXT    NOT NULL,
	canon_value REAL    NOT NULL,
	PRIMARY KEY (key, param, n)
) WITHOUT ROWID;
-- The canonical index is value first: the entries one quantity gives to
-- several parameters (value-quantity, combo-value-quantity and the parts of
-- code-value-quantity, combo-code-value-quantity) are adjacent, so a new
-- Observation dirties one page of it instead of four.
CREATE INDEX idx_quantity_canon ON idx_quantity (canon_code, canon_value, param, key) WHERE canon_code <> '';
-- Entries with a canonical (UCUM) form are searched by it; the code index
-- serves only the others, which keeps it small for lab and vital signs data.
CREATE INDEX idx_quantity_code ON idx_quantity (param, code, value, key) WHERE canon_code = '';

CREATE TABLE idx_uri (
	key   INTEGER NOT NULL,
	param TEXT    NOT NULL,
	n     INTEGER NOT NULL,
	grp   INTEGER NOT NULL,
	part  INTEGER NOT NULL,
	uri   TEXT    NOT NULL,
	PRIMARY KEY (key, param, n)
) WITHOUT ROWID;
CREATE INDEX idx_uri_value ON idx_uri (param, uri, key);
