package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/internal/beatpack"
)

var _ vigil.BeatStore = (*Samples)(nil)

// beatsSchema is version 2 of samples.db: the beats and findings of the
// streaming ECG analysis and the clinicians' beat labels.
//
// Beats are packed (internal/beatpack, about 4 bytes a beat): one beat row
// holds the beats of one lead (beat_series) and model (beat_model) from
// one analysed batch, keyed by the time of its first beat (ms); stop is
// the time of its last. A row spans at most maxBeatRowSpan, so that the
// rows overlapping a window are one key range. Findings are few and kept
// as JSON. Labels are appended, never changed.
const beatsSchema = `
CREATE TABLE beat_series (
	id      INTEGER PRIMARY KEY,
	patient TEXT NOT NULL,
	code    TEXT NOT NULL,
	device  TEXT NOT NULL,
	UNIQUE (patient, code, device)
);
CREATE TABLE beat_model (
	id      INTEGER PRIMARY KEY,
	version TEXT NOT NULL UNIQUE
);
CREATE TABLE beat (
	series INTEGER NOT NULL,
	start  INTEGER NOT NULL,
	stop   INTEGER NOT NULL,
	model  INTEGER NOT NULL,
	data   BLOB NOT NULL,
	PRIMARY KEY (series, start)
) WITHOUT ROWID;
CREATE TABLE ecg_finding (
	id      TEXT PRIMARY KEY,
	patient TEXT NOT NULL,
	start   INTEGER NOT NULL,
	kind    TEXT NOT NULL,
	body    TEXT NOT NULL
);
CREATE INDEX ecg_finding_patient ON ecg_finding (patient, start);
CREATE TABLE beat_label (
	id          INTEGER PRIMARY KEY,
	patient     TEXT NOT NULL,
	code        TEXT NOT NULL,
	t           INTEGER NOT NULL,
	suggested   TEXT NOT NULL,
	label       TEXT NOT NULL,
	action      TEXT NOT NULL,
	model       TEXT NOT NULL,
	finding     TEXT NOT NULL,
	answered_by TEXT NOT NULL,
	at          INTEGER NOT NULL
);
CREATE INDEX beat_label_patient ON beat_label (patient, at);
CREATE INDEX beat_label_at ON beat_label (at);
`

// Beat rows: at most maxBeatRow beats spanning at most maxBeatRowSpan.
const (
	maxBeatRow     = 1024
	maxBeatRowSpan = 10 * time.Minute
)

// AppendBeats implements vigil.BeatStore. Beats are stored at millisecond
// precision; a batch goes through the sample writer (one transaction with
// the samples and waveforms waiting then). A row whose lead and first beat
// time are stored already is a re-sent batch and is skipped; beats of the
// same lead at the same time are answered once by QueryBeats.
func (s *Samples) AppendBeats(ctx context.Context, beats []vigil.Beat) error {
	if err := vigil.ValidateBeats(beats); err != nil {
		return err
	}
	if len(beats) == 0 {
		return nil
	}
	groups := beatpack.GroupBeats(beats)
	type row struct {
		g           *beatpack.Group
		start, stop int64
		data        []byte
	}
	var rows []row
	for i := range groups {
		g := &groups[i]
		for _, r := range beatpack.Rows(g.Items, maxBeatRow, maxBeatRowSpan.Milliseconds()) {
			data, err := beatpack.Append(nil, r[0].T, r)
			if err != nil {
				return err
			}
			rows = append(rows, row{g, r[0].T, r[len(r)-1].T, data})
		}
	}
	j := &sampleJob{ctx: ctx, stored: make([]bool, 1), exec: func(ctx context.Context, conn *sql.Conn) error {
		for _, r := range rows {
			series, err := internBeatSeries(ctx, conn, r.g.Patient, r.g.Code, r.g.Device)
			if err != nil {
				return err
			}
			model, err := internBeatModel(ctx, conn, r.g.Model)
			if err != nil {
				return err
			}
			if _, err := conn.ExecContext(ctx, "INSERT OR IGNORE INTO beat (series, start, stop, model, data) VALUES (?, ?, ?, ?, ?)",
				series, r.start, r.stop, model, r.data); err != nil {
				return fmt.Errorf("sqlite: insert beats: %w", err)
			}
		}
		return nil
	}}
	return s.enqueue(j)
}

// internBeatSeries returns the id of a lead's beat_series row, creating
// it if needed (in the caller's savepoint: rolled back with it).
func internBeatSeries(ctx context.Context, conn *sql.Conn, patient, code, device string) (int64, error) {
	if _, err := conn.ExecContext(ctx, "INSERT INTO beat_series (patient, code, device) VALUES (?, ?, ?) ON CONFLICT DO NOTHING", patient, code, device); err != nil {
		return 0, fmt.Errorf("sqlite: create beat series: %w", err)
	}
	var id int64
	if err := conn.QueryRowContext(ctx, "SELECT id FROM beat_series WHERE patient = ? AND code = ? AND device = ?", patient, code, device).Scan(&id); err != nil {
		return 0, fmt.Errorf("sqlite: find beat series: %w", err)
	}
	return id, nil
}

// internBeatModel is internBeatSeries for a model version.
func internBeatModel(ctx context.Context, conn *sql.Conn, version string) (int64, error) {
	if _, err := conn.ExecContext(ctx, "INSERT INTO beat_model (version) VALUES (?) ON CONFLICT DO NOTHING", version); err != nil {
		return 0, fmt.Errorf("sqlite: create beat model: %w", err)
	}
	var id int64
	if err := conn.QueryRowContext(ctx, "SELECT id FROM beat_model WHERE version = ?", version).Scan(&id); err != nil {
		return 0, fmt.Errorf("sqlite: find beat model: %w", err)
	}
	return id, nil
}

// QueryBeats implements vigil.BeatStore: the beats of the patient (of one
// lead with Code) in [From, To), in time order (then code and device), at
// most Limit (capped at vigil.BeatLimit), read in one read transaction. A
// query without a patient fails with vigil.ErrInvalid.
func (s *Samples) QueryBeats(ctx context.Context, q *vigil.BeatQuery) ([]vigil.Beat, error) {
	limit, err := q.Check()
	if err != nil {
		return nil, err
	}
	from, to := int64(math.MinInt64/2), int64(math.MaxInt64/2)
	if !q.From.IsZero() {
		from = ceilMillis(q.From)
	}
	if !q.To.IsZero() {
		to = ceilMillis(q.To)
	}
	out := []vigil.Beat{}
	if from >= to {
		return out, nil
	}
	tx, err := s.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("sqlite: begin read: %w", err)
	}
	defer tx.Rollback()
	models := map[int64]string{}
	mrows, err := tx.QueryContext(ctx, "SELECT id, version FROM beat_model")
	if err != nil {
		return nil, fmt.Errorf("sqlite: read beat models: %w", err)
	}
	for mrows.Next() {
		var id int64
		var v string
		if err := mrows.Scan(&id, &v); err != nil {
			mrows.Close()
			return nil, fmt.Errorf("sqlite: read beat models: %w", err)
		}
		models[id] = v
	}
	mrows.Close()
	type series struct {
		id           int64
		code, device string
	}
	var ss []series
	srows, err := tx.QueryContext(ctx, "SELECT id, code, device FROM beat_series WHERE patient = ? ORDER BY code, device", q.Patient)
	if err != nil {
		return nil, fmt.Errorf("sqlite: read beat series: %w", err)
	}
	for srows.Next() {
		var r series
		if err := srows.Scan(&r.id, &r.code, &r.device); err != nil {
			srows.Close()
			return nil, fmt.Errorf("sqlite: read beat series: %w", err)
		}
		if q.Code == "" || q.Code == r.code {
			ss = append(ss, r)
		}
	}
	srows.Close()
	var items []beatpack.Item
	for _, sr := range ss {
		rows, err := tx.QueryContext(ctx, "SELECT start, model, data FROM beat WHERE series = ? AND start >= ? AND start < ? AND stop >= ? ORDER BY start",
			sr.id, from-maxBeatRowSpan.Milliseconds(), to, from)
		if err != nil {
			return nil, fmt.Errorf("sqlite: read beats: %w", err)
		}
		n0 := len(out)
		for rows.Next() {
			var start, model int64
			var data []byte
			if err := rows.Scan(&start, &model, &data); err != nil {
				rows.Close()
				return nil, fmt.Errorf("sqlite: read beats: %w", err)
			}
			if items, err = beatpack.Decode(data, start, items[:0]); err != nil {
				rows.Close()
				return nil, fmt.Errorf("sqlite: beats of a stored row: %w", err)
			}
			for _, it := range items {
				if it.T < from || it.T >= to {
					continue
				}
				out = append(out, vigil.Beat{Patient: q.Patient, Device: sr.device, Code: sr.code, Time: time.UnixMilli(it.T).UTC(),
					Class: string(it.Class), RR: time.Duration(it.RR) * time.Millisecond, Model: models[model]})
			}
		}
		if err := rows.Err(); err != nil {
			rows.Close()
			return nil, fmt.Errorf("sqlite: read beats: %w", err)
		}
		rows.Close()
		// Overlapping rows (a lead analysed again) answer a beat once.
		part := out[n0:]
		slices.SortStableFunc(part, func(a, b vigil.Beat) int { return a.Time.Compare(b.Time) })
		out = append(out[:n0], slices.CompactFunc(part, func(a, b vigil.Beat) bool { return a.Time.Equal(b.Time) })...)
	}
	sortBeats(out)
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// sortBeats orders beats by time, then code and device.
func sortBeats(bs []vigil.Beat) {
	slices.SortStableFunc(bs, func(a, b vigil.Beat) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Code, b.Code); c != 0 {
			return c
		}
		return cmp.Compare(a.Device, b.Device)
	})
}

// AddECGFindings implements vigil.BeatStore (through the sample writer).
func (s *Samples) AddECGFindings(ctx context.Context, fs []vigil.ECGFinding) error {
	bodies := make([][]byte, len(fs))
	for i := range fs {
		if err := fs[i].Validate(); err != nil {
			return err
		}
		b, err := json.Marshal(&fs[i])
		if err != nil {
			return fmt.Errorf("sqlite: encode finding: %w", err)
		}
		bodies[i] = b
	}
	if len(fs) == 0 {
		return nil
	}
	return s.enqueue(&sampleJob{ctx: ctx, stored: make([]bool, 1), exec: func(ctx context.Context, conn *sql.Conn) error {
		for i := range fs {
			if _, err := conn.ExecContext(ctx, "INSERT OR REPLACE INTO ecg_finding (id, patient, start, kind, body) VALUES (?, ?, ?, ?, ?)",
				fs[i].ID, fs[i].Patient, fs[i].Start.UnixMilli(), fs[i].Kind, string(bodies[i])); err != nil {
				return fmt.Errorf("sqlite: insert finding: %w", err)
			}
		}
		return nil
	}})
}

// ECGFindings implements vigil.BeatStore; the limit is capped at vigil.FindingLimit.
func (s *Samples) ECGFindings(ctx context.Context, q *vigil.ECGFindingQuery) ([]vigil.ECGFinding, error) {
	limit, err := q.Check()
	if err != nil {
		return nil, err
	}
	from, to := int64(math.MinInt64), int64(math.MaxInt64)
	if !q.From.IsZero() {
		from = ceilMillis(q.From)
	}
	if !q.To.IsZero() {
		to = ceilMillis(q.To)
	}
	query := "SELECT body FROM ecg_finding WHERE patient = ? AND start >= ? AND start < ?"
	args := []any{q.Patient, from, to}
	if q.Kind != "" {
		query += " AND kind = ?"
		args = append(args, q.Kind)
	}
	rows, err := s.read.QueryContext(ctx, query+" ORDER BY start DESC, id LIMIT ?", append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: read findings: %w", err)
	}
	defer rows.Close()
	out := []vigil.ECGFinding{}
	for rows.Next() {
		var body string
		if err := rows.Scan(&body); err != nil {
			return nil, fmt.Errorf("sqlite: read findings: %w", err)
		}
		var f vigil.ECGFinding
		if err := json.Unmarshal([]byte(body), &f); err != nil {
			return nil, fmt.Errorf("sqlite: decode finding: %w", err)
		}
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: read findings: %w", err)
	}
	return out, nil
}

// ECGFinding implements vigil.BeatStore.
func (s *Samples) ECGFinding(ctx context.Context, patient, id string) (*vigil.ECGFinding, error) {
	var body string
	err := s.read.QueryRowContext(ctx, "SELECT body FROM ecg_finding WHERE patient = ? AND id = ?", patient, id).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, vigil.Errorf(vigil.ErrNotFound, "ECG finding not found")
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: read finding: %w", err)
	}
	var f vigil.ECGFinding
	if err := json.Unmarshal([]byte(body), &f); err != nil {
		return nil, fmt.Errorf("sqlite: decode finding: %w", err)
	}
	return &f, nil
}
