package postgres

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/internal/beatpack"
)

var _ vigil.BeatStore = (*Samples)(nil)

// Beat rows (migration 0004): at most maxBeatRow beats spanning at most
// maxBeatRowSpan, so that the rows overlapping a window are one key range.
const (
	maxBeatRow     = 1024
	maxBeatRowSpan = 10 * time.Minute
)

// open fails with ErrClosed after Close.
func (s *Samples) open() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	return nil
}

// AppendBeats implements vigil.BeatStore: the batch's leads and model are
// looked up (created in statements of their own when new), then its packed
// rows are inserted in one transaction. Beats are kept at millisecond
// precision. A row whose lead and first beat time are stored already is a
// re-sent batch and is skipped; beats of the same lead at the same time
// are answered once by QueryBeats.
func (s *Samples) AppendBeats(ctx context.Context, beats []vigil.Beat) error {
	if err := vigil.ValidateBeats(beats); err != nil {
		return err
	}
	if len(beats) == 0 {
		return nil
	}
	if err := s.open(); err != nil {
		return err
	}
	b := &pgx.Batch{}
	for _, g := range beatpack.GroupBeats(beats) {
		series, err := s.intern(ctx, `SELECT id FROM beat_series WHERE patient = $1 AND code = $2 AND device = $3`,
			`INSERT INTO beat_series (patient, code, device) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, g.Patient, g.Code, g.Device)
		if err != nil {
			return err
		}
		model, err := s.intern(ctx, `SELECT id FROM beat_model WHERE version = $1`,
			`INSERT INTO beat_model (version) VALUES ($1) ON CONFLICT DO NOTHING`, g.Model)
		if err != nil {
			return err
		}
		for _, r := range beatpack.Rows(g.Items, maxBeatRow, maxBeatRowSpan.Milliseconds()) {
			data, err := beatpack.Append(nil, r[0].T, r)
			if err != nil {
				return err
			}
			b.Queue(`INSERT INTO beat (series, start, stop, model, data) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
				series, time.UnixMilli(r[0].T).UTC(), time.UnixMilli(r[len(r)-1].T).UTC(), model, data)
		}
	}
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{}, func(tx pgx.Tx) error {
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return fmt.Errorf("postgres: insert beats: %w", err)
	}
	return nil
}

// intern returns the id the find statement reads, running create first
// when it reads none (each in its own statement, committed at once, so
// that concurrent callers all see the row afterwards).
func (s *Samples) intern(ctx context.Context, find, create string, args ...any) (int64, error) {
	var id int64
	err := s.pool.QueryRow(ctx, find, args...).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		if _, err = s.pool.Exec(ctx, create, args...); err == nil {
			err = s.pool.QueryRow(ctx, find, args...).Scan(&id)
		}
	}
	if err != nil {
		return 0, fmt.Errorf("postgres: beat lead or model: %w", err)
	}
	return id, nil
}

// QueryBeats implements vigil.BeatStore: the beats of the patient (of one
// lead with Code) in [From, To), in time order (then code and device), at
// most Limit (capped at vigil.BeatLimit), read by one statement. A query
// without a patient fails with vigil.ErrInvalid.
func (s *Samples) QueryBeats(ctx context.Context, q *vigil.BeatQuery) ([]vigil.Beat, error) {
	limit, err := q.Check()
	if err != nil {
		return nil, err
	}
	// Beats are at whole milliseconds: the one at m is in [From, To)
	// when ceil(From) <= m < ceil(To).
	// Unbounded: the years 1800 and 10000 (stored beats are in 1900–9999,
	// and PostgreSQL's timestamps end before ±300,000 years).
	from, to := int64(-5_364_662_400_000), int64(253_402_300_800_000)
	if !q.From.IsZero() {
		from = ceilMilli(q.From).UnixMilli()
	}
	if !q.To.IsZero() {
		to = ceilMilli(q.To).UnixMilli()
	}
	out := []vigil.Beat{}
	if from >= to {
		return out, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT s.code, s.device, b.start, m.version, b.data
		FROM beat_series s JOIN beat b ON b.series = s.id JOIN beat_model m ON m.id = b.model
		WHERE s.patient = $1 AND ($2 = '' OR s.code = $2) AND b.start >= $3 AND b.start < $4 AND b.stop >= $5
		ORDER BY s.code, s.device, b.start`,
		q.Patient, q.Code, time.UnixMilli(from-maxBeatRowSpan.Milliseconds()).UTC(), time.UnixMilli(to).UTC(), time.UnixMilli(from).UTC())
	if err != nil {
		return nil, fmt.Errorf("postgres: read beats: %w", err)
	}
	defer rows.Close()
	var items []beatpack.Item
	lead := func(b vigil.Beat) string { return b.Code + "\x00" + b.Device }
	n0 := 0
	// dedupe sorts the beats of the lead that ends and answers a beat of
	// overlapping rows (a lead analysed again) once.
	dedupe := func() {
		part := out[n0:]
		slices.SortStableFunc(part, func(a, b vigil.Beat) int { return a.Time.Compare(b.Time) })
		out = append(out[:n0], slices.CompactFunc(part, func(a, b vigil.Beat) bool { return a.Time.Equal(b.Time) })...)
		n0 = len(out)
	}
	for rows.Next() {
		var code, device, model string
		var start time.Time
		var data []byte
		if err := rows.Scan(&code, &device, &start, &model, &data); err != nil {
			return nil, fmt.Errorf("postgres: read beats: %w", err)
		}
		if n0 < len(out) && lead(out[n0]) != code+"\x00"+device {
			dedupe()
		}
		if items, err = beatpack.Decode(data, start.UnixMilli(), items[:0]); err != nil {
			return nil, fmt.Errorf("postgres: beats of a stored row: %w", err)
		}
		for _, it := range items {
			if it.T < from || it.T >= to {
				continue
			}
			out = append(out, vigil.Beat{Patient: q.Patient, Device: device, Code: code, Time: time.UnixMilli(it.T).UTC(),
				Class: string(it.Class), RR: time.Duration(it.RR) * time.Millisecond, Model: model})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: read beats: %w", err)
	}
	dedupe()
	slices.SortStableFunc(out, func(a, b vigil.Beat) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Code, b.Code); c != 0 {
			return c
		}
		return cmp.Compare(a.Device, b.Device)
	})
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// AddECGFindings implements vigil.BeatStore, in one transaction.
func (s *Samples) AddECGFindings(ctx context.Context, fs []vigil.ECGFinding) error {
	b := &pgx.Batch{}
	for i := range fs {
		if err := fs[i].Validate(); err != nil {
			return err
		}
		body, err := json.Marshal(&fs[i])
		if err != nil {
			return fmt.Errorf("postgres: encode finding: %w", err)
		}
		b.Queue(`INSERT INTO ecg_finding (id, patient, start, kind, body) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (id) DO UPDATE SET patient = EXCLUDED.patient, start = EXCLUDED.start, kind = EXCLUDED.kind, body = EXCLUDED.body`,
			fs[i].ID, fs[i].Patient, fs[i].Start.UTC(), fs[i].Kind, string(body))
	}
	if len(fs) == 0 {
		return nil
	}
	if err := s.open(); err != nil {
		return err
	}
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{}, func(tx pgx.Tx) error {
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return fmt.Errorf("postgres: insert findings: %w", err)
	}
	return nil
}

// ECGFindings implements vigil.BeatStore; the limit is capped at vigil.FindingLimit.
func (s *Samples) ECGFindings(ctx context.Context, q *vigil.ECGFindingQuery) ([]vigil.ECGFinding, error) {
	limit, err := q.Check()
	if err != nil {
		return nil, err
	}
	var from, to *time.Time
	if !q.From.IsZero() {
		t := q.From.UTC()
		from = &t
	}
	if !q.To.IsZero() {
		t := q.To.UTC()
		to = &t
	}
	rows, err := s.pool.Query(ctx, `SELECT body FROM ecg_finding
		WHERE patient = $1 AND ($2::timestamptz IS NULL OR start >= $2) AND ($3::timestamptz IS NULL OR start < $3) AND ($4 = '' OR kind = $4)
		ORDER BY start DESC, id LIMIT $5`, q.Patient, from, to, q.Kind, limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: read findings: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (vigil.ECGFinding, error) {
		var body []byte
		var f vigil.ECGFinding
		if err := r.Scan(&body); err != nil {
			return f, err
		}
		return f, json.Unmarshal(body, &f)
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: read findings: %w", err)
	}
	if out == nil {
		out = []vigil.ECGFinding{}
	}
	return out, nil
}

// ECGFinding implements vigil.BeatStore.
func (s *Samples) ECGFinding(ctx context.Context, patient, id string) (*vigil.ECGFinding, error) {
	var body []byte
	err := s.pool.QueryRow(ctx, `SELECT body FROM ecg_finding WHERE patient = $1 AND id = $2`, patient, id).Scan(&body)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, vigil.Errorf(vigil.ErrNotFound, "ECG finding not found")
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: read finding: %w", err)
	}
	var f vigil.ECGFinding
	if err := json.Unmarshal(body, &f); err != nil {
		return nil, fmt.Errorf("postgres: decode finding: %w", err)
	}
	return &f, nil
}
