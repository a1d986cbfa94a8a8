package postgres

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/vigilhealth/vigil"
)

var _ vigil.BeatLabelStore = (*Samples)(nil)

// AddBeatLabels implements vigil.BeatLabelStore: the labels are appended to
// beat_label (migration 0004) in one transaction. Times are kept at
// microsecond precision. A batch that vigil.ValidateBeatLabels refuses
// fails with vigil.ErrInvalid and nothing of it is stored.
func (s *Samples) AddBeatLabels(ctx context.Context, labels []vigil.BeatLabel) error {
	if err := vigil.ValidateBeatLabels(labels); err != nil {
		return err
	}
	if len(labels) == 0 {
		return nil
	}
	if err := s.open(); err != nil {
		return err
	}
	b := &pgx.Batch{}
	for i := range labels {
		l := &labels[i]
		b.Queue(`INSERT INTO beat_label (patient, code, t, suggested, label, action, model, finding, answered_by, at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`, l.Patient, l.Code, l.Time.UTC(), l.Suggested, l.Label, l.Action,
			l.Model, l.Finding, l.By, l.At.UTC())
	}
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{}, func(tx pgx.Tx) error {
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return fmt.Errorf("postgres: insert beat labels: %w", err)
	}
	return nil
}

// BeatLabels implements vigil.BeatLabelStore: labels in the order they were
// given (At, then insertion).
func (s *Samples) BeatLabels(ctx context.Context, q vigil.BeatLabelQuery) ([]vigil.BeatLabel, error) {
	query := `SELECT patient, code, t, suggested, label, action, model, finding, answered_by, at FROM beat_label WHERE true`
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if q.Patient != "" {
		query += " AND patient = " + arg(q.Patient)
	}
	if !q.Since.IsZero() {
		query += " AND at >= " + arg(q.Since.UTC())
	}
	if !q.Until.IsZero() {
		query += " AND at < " + arg(q.Until.UTC())
	}
	if q.Model != "" {
		query += " AND model = " + arg(q.Model)
	}
	query += " ORDER BY at, id"
	if q.Limit > 0 {
		query += " LIMIT " + arg(q.Limit)
	}
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: read beat labels: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (vigil.BeatLabel, error) {
		var l vigil.BeatLabel
		var t, at time.Time
		err := r.Scan(&l.Patient, &l.Code, &t, &l.Suggested, &l.Label, &l.Action, &l.Model, &l.Finding, &l.By, &at)
		l.Time, l.At = t.UTC(), at.UTC()
		return l, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: read beat labels: %w", err)
	}
	if out == nil {
		out = []vigil.BeatLabel{}
	}
	return out, nil
}
