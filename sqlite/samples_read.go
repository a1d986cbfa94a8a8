package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/sampleobs"
)

// seriesRow is one series of a patient, as read.
type seriesRow struct {
	id           int64
	code, device string
}

// patientSeries returns the series of patient, those of the given codes
// only when codes is not empty.
func patientSeries(ctx context.Context, tx querier, patient string, codes []string) ([]seriesRow, error) {
	rows, err := tx.QueryContext(ctx, "SELECT id, code, device FROM series WHERE patient = ? ORDER BY code, device", patient)
	if err != nil {
		return nil, fmt.Errorf("sqlite: read series: %w", err)
	}
	defer rows.Close()
	var out []seriesRow
	for rows.Next() {
		var r seriesRow
		if err := rows.Scan(&r.id, &r.code, &r.device); err != nil {
			return nil, fmt.Errorf("sqlite: read series: %w", err)
		}
		if len(codes) == 0 || slices.Contains(codes, r.code) {
			out = append(out, r)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: read series: %w", err)
	}
	return out, nil
}

// QuerySamples implements vigil.SampleStore. Samples come in time order,
// equal times by code and device (all reversed with Desc). The limit is
// capped at SampleLimit. The answer is read in one read transaction. A
// query without a patient fails with vigil.ErrInvalid.
//
// Each of the patient's series (code and device) that the query selects is
// read with one range scan of the sample table's primary key, at most
// Limit rows each, with the series' samples still in the log
// (samples_log.go), and the lists are merged.
func (s *Samples) QuerySamples(ctx context.Context, q *vigil.SampleQuery) ([]vigil.Sample, error) {
	if q.Patient == "" {
		return nil, vigil.Errorf(vigil.ErrInvalid, "sample query: patient is required")
	}
	limit := q.Limit
	if limit <= 0 || limit > SampleLimit {
		limit = SampleLimit
	}
	// Samples are at whole milliseconds: the one at m is in [From, To)
	// when ceil(From) <= m < ceil(To).
	from, to := int64(math.MinInt64), int64(math.MaxInt64)
	if !q.From.IsZero() {
		from = ceilMillis(q.From)
	}
	if !q.To.IsZero() {
		to = ceilMillis(q.To)
	}
	if from >= to {
		return []vigil.Sample{}, nil
	}
	defer s.log.readLock()()
	rtx, err := s.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("sqlite: begin read: %w", err)
	}
	defer rtx.Rollback()
	tx := cachedTx{rtx, s.rcache}
	series, err := patientSeries(ctx, tx, q.Patient, q.Codes)
	if err != nil {
		return nil, err
	}
	order := "ASC"
	if q.Desc {
		order = "DESC"
	}
	attrs, err := readAttrs(ctx, tx)
	if err != nil {
		return nil, err
	}
	query := "SELECT t, value, attr, lag FROM sample WHERE series = ? AND t >= ? AND t < ? ORDER BY t " + order + " LIMIT ?"
	lists := make([][]vigil.Sample, 0, len(series))
	for _, sr := range series {
		rows, err := tx.QueryContext(ctx, query, sr.id, from, to, limit)
		if err != nil {
			return nil, fmt.Errorf("sqlite: query samples: %w", err)
		}
		var list []vigil.Sample
		for rows.Next() {
			x := vigil.Sample{Patient: q.Patient, Code: sr.code, Device: sr.device}
			if err := scanSample(rows, &x, attrs); err != nil {
				rows.Close()
				return nil, err
			}
			list = append(list, x)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("sqlite: read samples: %w", err)
		}
		logged, err := s.log.series(ctx, tx, sr.id, from, to, limit, q.Desc)
		if err != nil {
			return nil, err
		}
		var blocked []logRow
		if s.log.hasBlocks(sr.id) {
			if blocked, err = blockSamples(ctx, tx, sr.id, from, to, limit, q.Desc); err != nil {
				return nil, err
			}
		}
		logged = append(logged, blocked...)
		if len(blocked) > 0 && len(logged) > len(blocked) {
			slices.SortFunc(logged, func(a, b logRow) int {
				if q.Desc {
					return cmp.Compare(b.t, a.t)
				}
				return cmp.Compare(a.t, b.t)
			})
		}
		if len(logged) > 0 {
			more := make([]vigil.Sample, len(logged))
			for i := range logged {
				if more[i], err = logged[i].sample(q.Patient, sr, attrs); err != nil {
					return nil, err
				}
			}
			list = mergeSorted(list, more, limit, q.Desc)
		}
		if len(list) > 0 {
			lists = append(lists, list)
		}
	}
	return vigil.MergeSamples(lists, limit, q.Desc), nil
}

// attr is a (unit, source) pair as read.
type attr struct{ unit, source string }

// readAttrs reads the attr table (a few rows: one per unit and source).
func readAttrs(ctx context.Context, tx querier) (map[int64]attr, error) {
	rows, err := tx.QueryContext(ctx, "SELECT id, unit, source FROM attr")
	if err != nil {
		return nil, fmt.Errorf("sqlite: read attrs: %w", err)
	}
	defer rows.Close()
	m := make(map[int64]attr)
	for rows.Next() {
		var id int64
		var a attr
		if err := rows.Scan(&id, &a.unit, &a.source); err != nil {
			return nil, fmt.Errorf("sqlite: read attrs: %w", err)
		}
		m[id] = a
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: read attrs: %w", err)
	}
	return m, nil
}

// scanSample reads the columns t, value, attr, lag into x.
func scanSample(row interface{ Scan(...any) error }, x *vigil.Sample, attrs map[int64]attr) error {
	var t, a int64
	var lag sql.NullInt64
	if err := row.Scan(&t, &x.Value, &a, &lag); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return err
		}
		return fmt.Errorf("sqlite: read samples: %w", err)
	}
	at, ok := attrs[a]
	if !ok {
		return fmt.Errorf("sqlite: sample refers to missing attr %d", a)
	}
	x.Time, x.Received, x.Unit, x.Source = time.UnixMilli(t).UTC(), receivedAt(t, lag), at.unit, at.source
	return nil
}

// LatestSamples implements vigil.SampleStore: the newest sample of each
// code (over all devices; at equal times the greater device id), in code
// order. It costs one primary-key lookup per series of the patient, and a
// look at the series' samples still in the log.
func (s *Samples) LatestSamples(ctx context.Context, patient string) ([]vigil.Sample, error) {
	if patient == "" {
		return nil, vigil.Errorf(vigil.ErrInvalid, "latest samples: patient is required")
	}
	defer s.log.readLock()()
	rtx, err := s.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("sqlite: begin read: %w", err)
	}
	defer rtx.Rollback()
	tx := cachedTx{rtx, s.rcache}
	series, err := patientSeries(ctx, tx, patient, nil)
	if err != nil {
		return nil, err
	}
	attrs, err := readAttrs(ctx, tx)
	if err != nil {
		return nil, err
	}
	var out []vigil.Sample
	for _, sr := range series {
		x := vigil.Sample{Patient: patient, Code: sr.code, Device: sr.device}
		err := scanSample(tx.QueryRowContext(ctx, "SELECT t, value, attr, lag FROM sample WHERE series = ? ORDER BY t DESC LIMIT 1", sr.id), &x, attrs)
		found := err == nil
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return nil, err
		}
		logged, err := s.log.series(ctx, tx, sr.id, math.MinInt64, math.MaxInt64, 1, true)
		if err != nil {
			return nil, err
		}
		var blocked []logRow
		if s.log.hasBlocks(sr.id) {
			if blocked, err = blockSamples(ctx, tx, sr.id, math.MinInt64, math.MaxInt64, 1, true); err != nil {
				return nil, err
			}
		}
		if len(blocked) > 0 && (len(logged) == 0 || blocked[0].t > logged[0].t) {
			logged = blocked
		}
		if len(logged) > 0 && (!found || logged[0].t > x.Time.UnixMilli()) {
			if x, err = logged[0].sample(patient, sr, attrs); err != nil {
				return nil, err
			}
			found = true
		}
		if !found {
			continue // a series with no samples: its batch was rejected
		}
		// Series come in (code, device) order: the code's best so far is last.
		if n := len(out); n > 0 && out[n-1].Code == x.Code {
			if vigil.CompareSamples(&x, &out[n-1]) > 0 {
				out[n-1] = x
			}
			continue
		}
		out = append(out, x)
	}
	return out, nil
}

// QueryWaveforms implements vigil.SampleStore: the chunks of the patient
// and code (from any device) that overlap [from, to), by start and device.
// Since no chunk lasts longer than MaxWaveformDuration, one range of the
// (series, start) key per device finds them.
func (s *Samples) QueryWaveforms(ctx context.Context, patient, code string, from, to time.Time) ([]vigil.Waveform, error) {
	if patient == "" || code == "" {
		return nil, vigil.Errorf(vigil.ErrInvalid, "waveform query: patient and code are required")
	}
	if !from.Before(to) {
		return []vigil.Waveform{}, nil
	}
	rtx, err := s.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("sqlite: begin read: %w", err)
	}
	defer rtx.Rollback()
	tx := cachedTx{rtx, s.rcache}
	series, err := patientSeries(ctx, tx, patient, []string{code})
	if err != nil {
		return nil, err
	}
	f, t := from.UnixMicro(), to.UnixMicro()
	var out []vigil.Waveform
	for _, sr := range series {
		rows, err := tx.QueryContext(ctx, `SELECT start, rate, gain, unit, received, source, data FROM waveform
			WHERE series = ? AND start >= ? AND start < ? AND end > ? ORDER BY start`, sr.id, f-MaxWaveformDuration.Microseconds(), t, f)
		if err != nil {
			return nil, fmt.Errorf("sqlite: query waveforms: %w", err)
		}
		for rows.Next() {
			var start, received int64
			var data []byte
			w := vigil.Waveform{Patient: patient, Code: code, Device: sr.device}
			if err := rows.Scan(&start, &w.RateHz, &w.Gain, &w.Unit, &received, &w.Source, &data); err != nil {
				rows.Close()
				return nil, fmt.Errorf("sqlite: read waveforms: %w", err)
			}
			if w.Samples, err = sampleobs.Unpack(data); err != nil {
				rows.Close()
				return nil, fmt.Errorf("sqlite: stored waveform chunk: %w", err)
			}
			w.Start, w.Received = time.UnixMicro(start).UTC(), fromMillis(received)
			out = append(out, w)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("sqlite: read waveforms: %w", err)
		}
	}
	slices.SortStableFunc(out, func(a, b vigil.Waveform) int {
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		return strings.Compare(a.Device, b.Device)
	})
	return out, nil
}

// ceilMillis returns t in Unix milliseconds, rounded up.
func ceilMillis(t time.Time) int64 {
	ms := t.UnixMilli() // rounded down
	if t.Nanosecond()%int(time.Millisecond) != 0 {
		ms++
	}
	return ms
}

// SamplePatients returns the patients who have samples or waveform chunks
// of any of codes, sorted (records uses it for _has on device readings).
// It reads the series table and probes each series' rows (a series with
// none counts for nothing), in the table, the log and the waveforms.
func (s *Samples) SamplePatients(ctx context.Context, codes []string) ([]string, error) {
	if len(codes) == 0 {
		return nil, nil
	}
	args := make([]any, len(codes), len(codes)+1)
	for i, c := range codes {
		args[i] = c
	}
	defer s.log.readLock()()
	logged := "EXISTS (SELECT 1 FROM sample_log l WHERE l.series = s.id)" // scanned: another process's view
	if ids := s.log.seriesJSON(); ids != "" {
		logged = "s.id IN (SELECT value FROM json_each(?))"
		args = append(args, ids)
	}
	rows, err := s.read.QueryContext(ctx, "SELECT DISTINCT s.patient FROM series s WHERE s.code IN ("+placeholders(len(codes))+")"+
		" AND (EXISTS (SELECT 1 FROM sample x WHERE x.series = s.id) OR EXISTS (SELECT 1 FROM sample_block b WHERE b.series = s.id)"+
		" OR EXISTS (SELECT 1 FROM waveform w WHERE w.series = s.id) OR "+logged+")"+
		" ORDER BY s.patient", args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: sample patients: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return nil, fmt.Errorf("sqlite: sample patients: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: sample patients: %w", err)
	}
	return out, nil
}
