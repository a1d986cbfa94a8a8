-- Device samples and waveform chunks (vigil.SampleStore, postgres/samples*.go).
--
-- sample_series interns (patient, code, device), so that a sample row holds
-- a bigint instead of two ids and a code. The idempotency key (patient,
-- code, time, device) is the primary key (series, t) of sample.
CREATE TABLE sample_series (
	id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	patient text NOT NULL,
	code    text NOT NULL,
	device  text NOT NULL,
	UNIQUE (patient, code, device)
);

-- One row per sample, partitioned by month of the effective time (native
-- declarative partitioning). The store creates the partition a sample
-- needs before inserting it (sample_pYYYYMM); there is no default
-- partition, so that creating one never has to move rows out of it.
CREATE TABLE sample (
	series   bigint NOT NULL,
	t        timestamptz NOT NULL,
	value    double precision NOT NULL,
	unit     text NOT NULL,
	received timestamptz,
	source   text NOT NULL,
	PRIMARY KEY (series, t)
) PARTITION BY RANGE (t);

-- Waveform chunks; data is packed by sampleobs.Pack (already compressed,
-- so TOAST is told not to try again).
CREATE TABLE waveform (
	series   bigint NOT NULL,
	start    timestamptz NOT NULL,
	stop     timestamptz NOT NULL,
	rate     double precision NOT NULL,
	gain     double precision NOT NULL,
	unit     text NOT NULL,
	received timestamptz,
	source   text NOT NULL,
	data     bytea NOT NULL,
	PRIMARY KEY (series, start)
);
ALTER TABLE waveform ALTER COLUMN data SET STORAGE EXTERNAL;
