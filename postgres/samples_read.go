package postgres

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/sampleobs"
)

// seriesRow is one series of a patient, as read.
type seriesRow struct {
	id           int64
	code, device string
}

// patientSeries returns the series of patient (of the given codes only,
// when codes is not empty).
func patientSeries(ctx context.Context, q querier, patient string, codes []string) ([]seriesRow, error) {
	var rows pgx.Rows
	var err error
	if len(codes) == 0 {
		rows, err = q.Query(ctx, `SELECT id, code, device FROM sample_series WHERE patient = $1 ORDER BY code, device`, patient)
	} else {
		rows, err = q.Query(ctx, `SELECT id, code, device FROM sample_series WHERE patient = $1 AND code = ANY($2) ORDER BY code, device`, patient, codes)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: read series: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (seriesRow, error) {
		var s seriesRow
		err := r.Scan(&s.id, &s.code, &s.device)
		return s, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: read series: %w", err)
	}
	return out, nil
}

// seriesIndex maps series ids to their place in a list.
func seriesIndex(series []seriesRow) (map[int64]int, []int64) {
	idx := make(map[int64]int, len(series))
	ids := make([]int64, len(series))
	for i, s := range series {
		idx[s.id], ids[i] = i, s.id
	}
	return idx, ids
}

// querySamplesSQL reads at most $4 samples in [$2, $3) of each series in
// $1, by a range scan of each series' key; querySamplesDescSQL the newest.
const (
	querySamplesSQL = `SELECT s.id, x.t, x.value, x.unit, x.received, x.source
		FROM unnest($1::bigint[]) AS s(id) CROSS JOIN LATERAL (
			SELECT t, value, unit, received, source FROM sample
			WHERE series = s.id AND t >= $2 AND t < $3
			ORDER BY t LIMIT $4) x`
	querySamplesDescSQL = `SELECT s.id, x.t, x.value, x.unit, x.received, x.source
		FROM unnest($1::bigint[]) AS s(id) CROSS JOIN LATERAL (
			SELECT t, value, unit, received, source FROM sample
			WHERE series = s.id AND t >= $2 AND t < $3
			ORDER BY t DESC LIMIT $4) x`
)

// QuerySamples implements vigil.SampleStore. Samples come in time order,
// equal times by code and device (all reversed with Desc). The limit is
// capped at SampleLimit. A query without a patient fails with
// vigil.ErrInvalid.
//
// One statement reads, for each selected series of the patient, at most
// Limit rows by a range scan of its primary key (LATERAL), on the monthly
// partitions the bounds leave; the series are merged here.
func (s *Samples) QuerySamples(ctx context.Context, q *vigil.SampleQuery) ([]vigil.Sample, error) {
	if q.Patient == "" {
		return nil, vigil.Errorf(vigil.ErrInvalid, "sample query: patient is required")
	}
	limit := q.Limit
	if limit <= 0 || limit > SampleLimit {
		limit = SampleLimit
	}
	// Samples are at whole milliseconds: the one at m is in [From, To)
	// when ceil(From) <= m < ceil(To). Open ends are ±infinity, so that the
	// bounds are plain index conditions that also prune partitions.
	from := pgtype.Timestamptz{InfinityModifier: pgtype.NegativeInfinity, Valid: true}
	to := pgtype.Timestamptz{InfinityModifier: pgtype.Infinity, Valid: true}
	if !q.From.IsZero() {
		from = pgtype.Timestamptz{Time: ceilMilli(q.From), Valid: true}
	}
	if !q.To.IsZero() {
		to = pgtype.Timestamptz{Time: ceilMilli(q.To), Valid: true}
	}
	if !q.From.IsZero() && !q.To.IsZero() && !from.Time.Before(to.Time) {
		return []vigil.Sample{}, nil
	}
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly, IsoLevel: pgx.RepeatableRead})
	if err != nil {
		return nil, fmt.Errorf("postgres: begin read: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	series, err := patientSeries(ctx, tx, q.Patient, q.Codes)
	if err != nil || len(series) == 0 {
		return []vigil.Sample{}, err
	}
	idx, ids := seriesIndex(series)
	query := querySamplesSQL
	if q.Desc {
		query = querySamplesDescSQL
	}
	rows, err := tx.Query(ctx, query, ids, from, to, limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: query samples: %w", err)
	}
	lists := make([][]vigil.Sample, len(series))
	for rows.Next() {
		var id int64
		var t time.Time
		var received pgtype.Timestamptz
		var x vigil.Sample
		if err := rows.Scan(&id, &t, &x.Value, &x.Unit, &received, &x.Source); err != nil {
			rows.Close()
			return nil, fmt.Errorf("postgres: read samples: %w", err)
		}
		sr := series[idx[id]]
		x.Patient, x.Code, x.Device, x.Time = q.Patient, sr.code, sr.device, t.UTC()
		if received.Valid {
			x.Received = received.Time.UTC()
		}
		lists[idx[id]] = append(lists[idx[id]], x)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: read samples: %w", err)
	}
	return vigil.MergeSamples(lists, limit, q.Desc), nil
}

// ceilMilli rounds t up to a whole millisecond.
func ceilMilli(t time.Time) time.Time {
	if r := t.Truncate(time.Millisecond); !r.Equal(t) {
		return r.Add(time.Millisecond)
	}
	return t
}

// LatestSamples implements vigil.SampleStore: the newest sample of each
// code (over all devices; at equal times the greater device id), in code
// order. One statement reads the newest row of each series of the patient
// (a backward scan of each partition's primary key, merged).
func (s *Samples) LatestSamples(ctx context.Context, patient string) ([]vigil.Sample, error) {
	if patient == "" {
		return nil, vigil.Errorf(vigil.ErrInvalid, "latest samples: patient is required")
	}
	rows, err := s.pool.Query(ctx, `SELECT ss.code, ss.device, x.t, x.value, x.unit, x.received, x.source
		FROM sample_series ss CROSS JOIN LATERAL (
			SELECT t, value, unit, received, source FROM sample WHERE series = ss.id ORDER BY t DESC LIMIT 1) x
		WHERE ss.patient = $1
		ORDER BY ss.code, ss.device`, patient)
	if err != nil {
		return nil, fmt.Errorf("postgres: read latest samples: %w", err)
	}
	defer rows.Close()
	var out []vigil.Sample
	for rows.Next() {
		var t time.Time
		var received pgtype.Timestamptz
		x := vigil.Sample{Patient: patient}
		if err := rows.Scan(&x.Code, &x.Device, &t, &x.Value, &x.Unit, &received, &x.Source); err != nil {
			return nil, fmt.Errorf("postgres: read latest samples: %w", err)
		}
		x.Time = t.UTC()
		if received.Valid {
			x.Received = received.Time.UTC()
		}
		if n := len(out); n > 0 && out[n-1].Code == x.Code {
			if vigil.CompareSamples(&x, &out[n-1]) > 0 {
				out[n-1] = x
			}
			continue
		}
		out = append(out, x)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: read latest samples: %w", err)
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
	rows, err := s.pool.Query(ctx, `SELECT ss.device, w.start, w.rate, w.gain, w.unit, w.received, w.source, w.data
		FROM sample_series ss JOIN waveform w ON w.series = ss.id
		WHERE ss.patient = $1 AND ss.code = $2 AND w.start >= $3 AND w.start < $4 AND w.stop > $5
		ORDER BY w.start, ss.device`, patient, code, from.Add(-MaxWaveformDuration), to, from)
	if err != nil {
		return nil, fmt.Errorf("postgres: query waveforms: %w", err)
	}
	defer rows.Close()
	var out []vigil.Waveform
	for rows.Next() {
		var start time.Time
		var received pgtype.Timestamptz
		var data []byte
		w := vigil.Waveform{Patient: patient, Code: code}
		if err := rows.Scan(&w.Device, &start, &w.RateHz, &w.Gain, &w.Unit, &received, &w.Source, &data); err != nil {
			return nil, fmt.Errorf("postgres: read waveforms: %w", err)
		}
		if w.Samples, err = sampleobs.Unpack(data); err != nil {
			return nil, fmt.Errorf("postgres: stored waveform chunk: %w", err)
		}
		w.Start = start.UTC()
		if received.Valid {
			w.Received = received.Time.UTC()
		}
		out = append(out, w)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: read waveforms: %w", err)
	}
	return slices.Clip(out), nil
}

// SamplePatients returns the patients who have samples or waveform chunks
// of any of codes, sorted (records uses it for _has on device readings).
// It reads the series table and probes each series' rows.
func (s *Samples) SamplePatients(ctx context.Context, codes []string) ([]string, error) {
	if len(codes) == 0 {
		return nil, nil
	}
	// A series is interned in its own statement before its rows are
	// written (samples_write.go), so one may exist without any: it counts
	// only with a sample or a chunk.
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT ss.patient FROM sample_series ss WHERE ss.code = ANY($1)
		AND (EXISTS (SELECT 1 FROM sample x WHERE x.series = ss.id) OR EXISTS (SELECT 1 FROM waveform w WHERE w.series = ss.id))
		ORDER BY ss.patient`, codes)
	if err != nil {
		return nil, fmt.Errorf("postgres: sample patients: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("postgres: sample patients: %w", err)
	}
	return out, nil
}
