package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/vigilhealth/vigil"
)

var _ vigil.BeatLabelStore = (*Samples)(nil)

// AddBeatLabels implements vigil.BeatLabelStore: the labels are appended
// to samples.db's beat_label table (schema version 2) in one transaction,
// through the sample writer. Times are kept at millisecond precision. A
// batch that vigil.ValidateBeatLabels refuses fails with vigil.ErrInvalid
// and nothing of it is stored.
func (s *Samples) AddBeatLabels(ctx context.Context, labels []vigil.BeatLabel) error {
	if err := vigil.ValidateBeatLabels(labels); err != nil {
		return err
	}
	if len(labels) == 0 {
		return nil
	}
	return s.enqueue(&sampleJob{ctx: ctx, stored: make([]bool, 1), exec: func(ctx context.Context, conn *sql.Conn) error {
		for i := range labels {
			l := &labels[i]
			if _, err := conn.ExecContext(ctx, `INSERT INTO beat_label (patient, code, t, suggested, label, action, model, finding, answered_by, at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, l.Patient, l.Code, l.Time.UnixMilli(), l.Suggested, l.Label, l.Action,
				l.Model, l.Finding, l.By, l.At.UnixMilli()); err != nil {
				return fmt.Errorf("sqlite: insert beat label: %w", err)
			}
		}
		return nil
	}})
}

// BeatLabels implements vigil.BeatLabelStore: labels in the order they
// were given (At, then insertion).
func (s *Samples) BeatLabels(ctx context.Context, q vigil.BeatLabelQuery) ([]vigil.BeatLabel, error) {
	query := "SELECT patient, code, t, suggested, label, action, model, finding, answered_by, at FROM beat_label WHERE 1 = 1"
	var args []any
	if q.Patient != "" {
		query += " AND patient = ?"
		args = append(args, q.Patient)
	}
	if !q.Since.IsZero() {
		query += " AND at >= ?"
		args = append(args, ceilMillis(q.Since))
	}
	if !q.Until.IsZero() {
		query += " AND at < ?"
		args = append(args, ceilMillis(q.Until))
	}
	if q.Model != "" {
		query += " AND model = ?"
		args = append(args, q.Model)
	}
	query += " ORDER BY at, id"
	if q.Limit > 0 {
		query += " LIMIT ?"
		args = append(args, q.Limit)
	}
	rows, err := s.read.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: read beat labels: %w", err)
	}
	defer rows.Close()
	out := []vigil.BeatLabel{}
	for rows.Next() {
		var l vigil.BeatLabel
		var t, at int64
		if err := rows.Scan(&l.Patient, &l.Code, &t, &l.Suggested, &l.Label, &l.Action, &l.Model, &l.Finding, &l.By, &at); err != nil {
			return nil, fmt.Errorf("sqlite: read beat labels: %w", err)
		}
		l.Time, l.At = fromMillis(t), fromMillis(at)
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: read beat labels: %w", err)
	}
	return out, nil
}
