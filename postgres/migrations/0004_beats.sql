-- Beats and findings of the streaming ECG analysis, and clinicians' beat
-- labels (vigil.BeatStore, vigil.BeatLabelStore; postgres/beats.go,
-- postgres/beatlabels.go).
--
-- A beat row holds the beats of one lead (beat_series) and model
-- (beat_model) from one analysed batch, packed by internal/beatpack (about
-- four bytes a beat); start and stop are the times of its first and last
-- beat, and a row spans at most 10 minutes, so that the rows overlapping a
-- window are one range of the primary key.
CREATE TABLE beat_series (
	id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	patient text NOT NULL,
	code    text NOT NULL,
	device  text NOT NULL,
	UNIQUE (patient, code, device)
);
CREATE TABLE beat_model (
	id      integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	version text NOT NULL UNIQUE
);
CREATE TABLE beat (
	series bigint NOT NULL,
	start  timestamptz NOT NULL,
	stop   timestamptz NOT NULL,
	model  integer NOT NULL,
	data   bytea NOT NULL,
	PRIMARY KEY (series, start)
);
ALTER TABLE beat ALTER COLUMN data SET STORAGE EXTERNAL;

-- Findings are few; the whole finding is kept as JSON.
CREATE TABLE ecg_finding (
	id      text PRIMARY KEY,
	patient text NOT NULL,
	start   timestamptz NOT NULL,
	kind    text NOT NULL,
	body    jsonb NOT NULL
);
CREATE INDEX ecg_finding_patient ON ecg_finding (patient, start);

-- Labels are appended, never changed.
CREATE TABLE beat_label (
	id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	patient     text NOT NULL,
	code        text NOT NULL,
	t           timestamptz NOT NULL,
	suggested   text NOT NULL,
	label       text NOT NULL,
	action      text NOT NULL,
	model       text NOT NULL,
	finding     text NOT NULL,
	answered_by text NOT NULL,
	at          timestamptz NOT NULL
);
CREATE INDEX beat_label_patient ON beat_label (patient, at);
CREATE INDEX beat_label_at ON beat_label (at);
