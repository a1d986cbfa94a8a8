package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/sampleobs"
)

// sampleJob is one AppendSamples or AppendWaveform call waiting for the
// writer. Exactly one of samples, wave and exec is set.
type sampleJob struct {
	ctx     context.Context
	samples []vigil.Sample
	wave    *vigil.Waveform
	packed  []byte  // wave's samples, packed by the caller
	stored  []bool  // the outcome per sample; for a waveform, one flag
	ids     []int64 // the series of each sample, or of the chunk
	attrs   []int64 // the attr of each sample
	err     error
	done    chan struct{}

	// exec writes other tables of samples.db (beats.go) in the job's
	// savepoint, on the writer's connection.
	exec func(ctx context.Context, conn *sql.Conn) error
}

// AppendSamples implements vigil.SampleStore. A batch with an invalid
// sample (no patient or code; no time, or one outside the years 1900 to
// 9999; a NaN or infinite value) fails with vigil.ErrInvalid and nothing
// of it is stored. Times are stored at
// millisecond precision. It returns after the commit (durable as
// WithSynchronous says); a batch shares its transaction with those of
// concurrent callers but is rolled back alone if it fails. Canceling ctx
// while the batch waits in the queue abandons it.
func (s *Samples) AppendSamples(ctx context.Context, batch []vigil.Sample) ([]bool, error) {
	if err := vigil.ValidateSamples(batch); err != nil {
		return nil, err
	}
	if len(batch) == 0 {
		return []bool{}, nil
	}
	j := &sampleJob{ctx: ctx, samples: batch, stored: make([]bool, len(batch))}
	if err := s.enqueue(j); err != nil {
		return nil, err
	}
	return j.stored, nil
}

// AppendWaveform implements vigil.SampleStore. The chunk's samples are
// packed (sampleobs.Pack) before it queues for the writer. A chunk with no
// patient or code, no start (or one outside the years 1900 to 9999), a
// rate that is not positive, a gain that is not finite or that lasts longer
// than MaxWaveformDuration fails with vigil.ErrInvalid.
func (s *Samples) AppendWaveform(ctx context.Context, w *vigil.Waveform) (bool, error) {
	if err := w.Validate(); err != nil {
		return false, err
	}
	p, _ := s.packers.Get().(*sampleobs.Packer)
	if p == nil {
		p = new(sampleobs.Packer)
	}
	j := &sampleJob{ctx: ctx, wave: w, packed: p.Pack(w.Samples), stored: make([]bool, 1)}
	s.packers.Put(p)
	if err := s.enqueue(j); err != nil {
		return false, err
	}
	return j.stored[0], nil
}

// enqueue hands j to the writer and waits for its outcome.
func (s *Samples) enqueue(j *sampleJob) error {
	if err := j.ctx.Err(); err != nil {
		return err
	}
	j.done = make(chan struct{})
	select {
	case s.jobs <- j:
	case <-s.stop:
		return errClosed
	case <-j.ctx.Done():
		return j.ctx.Err()
	}
	<-j.done // once queued, the outcome is reported even if ctx ends
	return j.err
}

// maxGroupSamples bounds the samples of one transaction, so that one
// commit (and the wait of its first caller) stays short.
const maxGroupSamples = 50_000

// writer is the writer goroutine: it takes the jobs waiting (up to batch
// jobs or maxGroupSamples samples), runs them in one transaction and
// commits once.
func (s *Samples) writer(batch int) {
	defer close(s.done)
	group := make([]*sampleJob, 0, batch)
	for {
		select {
		case j := <-s.jobs:
			group = append(group[:0], j)
		case <-s.stop:
			return
		}
		n := len(group[0].samples)
	fill:
		for len(group) < batch && n < maxGroupSamples {
			select {
			case j := <-s.jobs:
				group = append(group, j)
				n += len(j.samples)
			default:
				break fill
			}
		}
		s.w.commit(group)
		for _, j := range group {
			close(j.done)
		}
		clear(group)
	}
}

// seriesKey names a series: one patient's readings of one code from one
// device.
type seriesKey struct{ patient, code, device string }

// attrKey names an attr: a unit and a source.
type attrKey struct{ unit, source string }

// sampleWriter is the state of the writer goroutine; only it uses it.
type sampleWriter struct {
	conn *sql.Conn
	// series and attrs cache the ids of committed series and attrs.
	series map[seriesKey]int64
	attrs  map[attrKey]int64
	// created and createdAttrs list what the current transaction created:
	// it leaves the caches if the transaction rolls back.
	created      []seriesKey
	createdAttrs []attrKey

	findSeries, newSeries, findAttr, newAttr, insertOne, insertWave, claim *sql.Stmt
	inserts                                                                map[int]*sql.Stmt // multi-row INSERTs by row count
	args                                                                   []any
}

func (w *sampleWriter) prepare(ctx context.Context) error {
	var err error
	p := func(q string) *sql.Stmt {
		if err != nil {
			return nil
		}
		var st *sql.Stmt
		st, err = w.conn.PrepareContext(ctx, q)
		return st
	}
	w.findSeries = p("SELECT id FROM series WHERE patient = ? AND code = ? AND device = ?")
	w.newSeries = p("INSERT INTO series (patient, code, device) VALUES (?, ?, ?) RETURNING id")
	w.findAttr = p("SELECT id FROM attr WHERE unit = ? AND source = ?")
	w.newAttr = p("INSERT INTO attr (unit, source) VALUES (?, ?) RETURNING id")
	w.insertOne = p("INSERT OR IGNORE INTO sample (series, t, value, attr, lag) VALUES (?, ?, ?, ?, ?)")
	w.claim = p("UPDATE sample SET attr = ? WHERE series = ? AND t = ? AND attr <> ?")
	w.insertWave = p("INSERT OR IGNORE INTO waveform (series, start, end, rate, gain, unit, received, source, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
	if err != nil {
		w.close()
		return fmt.Errorf("sqlite: prepare samples: %w", err)
	}
	return nil
}

func (w *sampleWriter) close() {
	for _, st := range []*sql.Stmt{w.findSeries, w.newSeries, w.findAttr, w.newAttr, w.insertOne, w.insertWave, w.claim} {
		if st != nil {
			st.Close()
		}
	}
	for _, st := range w.inserts {
		st.Close()
	}
}

// maxSampleRows is the most rows of one multi-row INSERT; statements are
// prepared for the powers of two up to it.
const maxSampleRows = 256

// sampleCols is the number of columns (parameters) of a sample row.
const sampleCols = 5

// insertN returns the prepared INSERT of n rows (n a power of two).
func (w *sampleWriter) insertN(ctx context.Context, n int) (*sql.Stmt, error) {
	if st, ok := w.inserts[n]; ok {
		return st, nil
	}
	q := "INSERT OR IGNORE INTO sample (series, t, value, attr, lag) VALUES " +
		strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?), ", n), ", ")
	st, err := w.conn.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	w.inserts[n] = st
	return st, nil
}

func (w *sampleWriter) exec(q string) error {
	_, err := w.conn.ExecContext(context.Background(), q)
	return err
}

// commit runs group in one transaction; each job's err is set, and stored
// on success.
func (w *sampleWriter) commit(group []*sampleJob) {
	fail := func(err error) {
		for _, j := range group {
			if j.err == nil {
				j.err = err
			}
		}
	}
	if err := w.exec("BEGIN IMMEDIATE"); err != nil {
		fail(fmt.Errorf("sqlite: begin: %w", err))
		return
	}
	ok := 0
	for _, j := range group {
		if j.err = j.ctx.Err(); j.err != nil {
			continue
		}
		// Series are created outside the job's savepoint, so that rolling
		// it back (for the duplicates, below) keeps them; see seriesID.
		if j.err = w.resolve(j); j.err != nil {
			continue
		}
		if err := w.exec("SAVEPOINT j"); err != nil {
			j.err = fmt.Errorf("sqlite: savepoint: %w", err)
			continue
		}
		j.err = w.run(j)
		if j.err == nil {
			if j.err = w.exec("RELEASE j"); j.err == nil {
				ok++
				continue
			}
		}
		if err := errors.Join(w.exec("ROLLBACK TO j"), w.exec("RELEASE j")); err != nil {
			// The transaction is unusable: abort the whole group.
			w.rollback()
			fail(fmt.Errorf("sqlite: samples batch aborted: %w", err))
			return
		}
	}
	if ok == 0 && len(w.created) == 0 && len(w.createdAttrs) == 0 {
		w.rollback()
		return
	}
	if err := w.exec("COMMIT"); err != nil {
		w.rollback()
		fail(fmt.Errorf("sqlite: commit: %w", err))
		for _, j := range group {
			clear(j.stored)
		}
		return
	}
	w.created, w.createdAttrs = w.created[:0], w.createdAttrs[:0]
}

// rollback ends the transaction and forgets the series and attrs it
// created.
func (w *sampleWriter) rollback() {
	w.exec("ROLLBACK")
	for _, k := range w.created {
		delete(w.series, k)
	}
	for _, k := range w.createdAttrs {
		delete(w.attrs, k)
	}
	w.created, w.createdAttrs = w.created[:0], w.createdAttrs[:0]
}

// resolve sets j.ids.
func (w *sampleWriter) resolve(j *sampleJob) error {
	ctx := context.Background()
	if j.exec != nil {
		return nil
	}
	if j.wave != nil {
		id, err := w.seriesID(ctx, j.wave.Patient, j.wave.Code, j.wave.Device)
		j.ids = []int64{id}
		return err
	}
	j.ids = make([]int64, len(j.samples))
	j.attrs = make([]int64, len(j.samples))
	for i := range j.samples {
		s := &j.samples[i]
		id, err := w.seriesID(ctx, s.Patient, s.Code, s.Device)
		if err != nil {
			return err
		}
		a, err := w.attrID(ctx, s.Unit, s.Source)
		if err != nil {
			return err
		}
		j.ids[i], j.attrs[i] = id, a
	}
	return nil
}

// run writes one job inside its savepoint.
func (w *sampleWriter) run(j *sampleJob) error {
	ctx := context.Background() // a statement is never canceled midway
	if j.exec != nil {
		return j.exec(ctx, w.conn)
	}
	if j.wave != nil {
		return w.runWave(ctx, j)
	}
	// Fast path: multi-row INSERT OR IGNOREs. When every row was inserted
	// all samples are new; otherwise some are duplicates, and the job is
	// rolled back and inserted again row by row to learn which.
	all := true
	for rest := 0; rest < len(j.samples) && all; {
		n := maxSampleRows
		for n > len(j.samples)-rest {
			n /= 2
		}
		st, err := w.insertN(ctx, n)
		if err != nil {
			return fmt.Errorf("sqlite: prepare sample insert: %w", err)
		}
		w.args = w.args[:0]
		for i := rest; i < rest+n; i++ {
			s := &j.samples[i]
			t := s.Time.UnixMilli()
			w.args = append(w.args, j.ids[i], t, s.Value, j.attrs[i], lag(t, s.Received))
		}
		res, err := st.ExecContext(ctx, w.args...)
		if err != nil {
			return fmt.Errorf("sqlite: insert samples: %w", err)
		}
		got, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("sqlite: insert samples: %w", err)
		}
		all = got == int64(n)
		rest += n
	}
	clear(w.args)
	if all {
		for i := range j.stored {
			j.stored[i] = true
		}
		return nil
	}
	if err := w.exec("ROLLBACK TO j"); err != nil {
		return fmt.Errorf("sqlite: roll back to find duplicates: %w", err)
	}
	for i := range j.samples {
		if err := w.insertRow(ctx, j, i); err != nil {
			return err
		}
	}
	return nil
}

// insertRow inserts sample i of j on its own and records whether it was
// stored.
func (w *sampleWriter) insertRow(ctx context.Context, j *sampleJob, i int) error {
	s := &j.samples[i]
	t := s.Time.UnixMilli()
	res, err := w.insertOne.ExecContext(ctx, j.ids[i], t, s.Value, j.attrs[i], lag(t, s.Received))
	if err != nil {
		return fmt.Errorf("sqlite: insert sample: %w", err)
	}
	got, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sqlite: insert sample: %w", err)
	}
	j.stored[i] = got == 1
	if got == 0 && s.Source == fhirSource {
		// An Observation stored through FHIR carries a reading that came
		// by another path first: it is now that Observation's.
		if _, err := w.claim.ExecContext(ctx, j.attrs[i], j.ids[i], t, j.attrs[i]); err != nil {
			return fmt.Errorf("sqlite: mark sample as a FHIR copy: %w", err)
		}
	}
	return nil
}

// fhirSource is the Source of samples copied from Observations stored
// through the FHIR API (see vigil.SampleStore.AppendSamples).
const fhirSource = "fhir"

// runWave writes a waveform chunk.
func (w *sampleWriter) runWave(ctx context.Context, j *sampleJob) error {
	c := j.wave
	res, err := w.insertWave.ExecContext(ctx, j.ids[0], c.Start.UnixMicro(), c.End().UnixMicro(), c.RateHz, c.Gain, c.Unit,
		millis(c.Received), c.Source, j.packed)
	if err != nil {
		return fmt.Errorf("sqlite: insert waveform: %w", err)
	}
	got, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sqlite: insert waveform: %w", err)
	}
	j.stored[0] = got == 1
	return nil
}

// seriesID returns the id of a series, creating it if needed. A series
// created here belongs to the transaction (it is created before the job's
// savepoint) and is forgotten if the transaction rolls back.
func (w *sampleWriter) seriesID(ctx context.Context, patient, code, device string) (int64, error) {
	k := seriesKey{patient, code, device}
	if id, ok := w.series[k]; ok {
		return id, nil
	}
	var id int64
	err := w.findSeries.QueryRowContext(ctx, patient, code, device).Scan(&id)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if err := w.newSeries.QueryRowContext(ctx, patient, code, device).Scan(&id); err != nil {
			return 0, fmt.Errorf("sqlite: create series: %w", err)
		}
		w.created = append(w.created, k)
	case err != nil:
		return 0, fmt.Errorf("sqlite: find series: %w", err)
	}
	w.series[k] = id
	return id, nil
}

// attrID returns the id of a (unit, source) pair, creating it if needed,
// under the same rules as seriesID.
func (w *sampleWriter) attrID(ctx context.Context, unit, source string) (int64, error) {
	k := attrKey{unit, source}
	if id, ok := w.attrs[k]; ok {
		return id, nil
	}
	var id int64
	err := w.findAttr.QueryRowContext(ctx, unit, source).Scan(&id)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if err := w.newAttr.QueryRowContext(ctx, unit, source).Scan(&id); err != nil {
			return 0, fmt.Errorf("sqlite: create attr: %w", err)
		}
		w.createdAttrs = append(w.createdAttrs, k)
	case err != nil:
		return 0, fmt.Errorf("sqlite: find attr: %w", err)
	}
	w.attrs[k] = id
	return id, nil
}
