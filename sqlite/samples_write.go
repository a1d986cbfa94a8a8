package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

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
//
// The owner of the sample log merges it after a commit that leaves it due
// (WithSampleMerge, mergeAge), when no job has come for mergeIdle, and
// when the store closes.
func (s *Samples) writer(batch int) {
	defer close(s.done)
	group := make([]*sampleJob, 0, batch)
	merge := func() { s.mergeErr = s.w.merge(context.Background()) }
	idle := time.NewTimer(mergeIdle)
	defer idle.Stop()
	for {
		var wake <-chan time.Time
		if s.log.owner && len(s.w.log.keys) > 0 {
			idle.Reset(mergeIdle)
			wake = idle.C
		}
		select {
		case j := <-s.jobs:
			group = append(group[:0], j)
		case <-wake:
			merge()
			continue
		case <-s.stop:
			if s.log.owner && len(s.w.log.keys) > 0 {
				merge()
			}
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
		if s.w.mergeDue() {
			merge()
		}
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

	findSeries, newSeries, findAttr, newAttr, insertWave, claim *sql.Stmt
	latest, insertOne, dataVersion, insertBlock                 *sql.Stmt
	lookups                                                     map[int]*sql.Stmt // look-ups of n keys
	inserts                                                     map[int]*sql.Stmt // multi-row INSERTs by row count
	args                                                        []any
	// top maps a series to a time at or after its latest stored sample
	// (see runSamples). It may only err late: a time too late costs a
	// look-up, one too early would take a duplicate for a new sample.
	top map[int64]int64
	// tableTop is, per series, a time at or after its latest sample in
	// the sample table itself (filled with top, kept by the writes to the
	// table and by merges; it too may only err late): a late sample after
	// it can only be in the log, so the owner does not look the table up.
	tableTop map[int64]int64
	// blockTop is, per series, a time at or after its latest sample in
	// blocks (math.MinInt64: none), kept like tableTop: a sample after it
	// is not looked for in blocks (most series have none).
	blockTop    map[int64]int64
	table       []int              // runSamples' scratch
	seen        map[int64]struct{} // scattered's scratch
	fresh, late []int              // runSamples' scratch
	// log is the writer's side of the sample log (samples_log.go).
	log logState
	// logAll sends every batch to the log (withLogAll).
	logAll bool
	// stmts are the block paths' prepared statements (stmt).
	stmts map[string]*sql.Stmt
	// version is samples.db's PRAGMA data_version when the owner's last
	// transaction began: it changes when another process commits, whose
	// samples in the table top and tableTop do not know of (see begin).
	version int64
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
	// A block's t1 is at most maxBlockSpan after its t0: only the blocks
	// that start within that of the last one are read (max(t1) of all of
	// them scanned every block of the series).
	w.latest = p("SELECT (SELECT max(t) FROM sample WHERE series = ?1), (SELECT max(t1) FROM sample_block" +
		" WHERE series = ?1 AND t0 >= (SELECT max(t0) FROM sample_block WHERE series = ?1) - " + strconv.FormatInt(maxBlockSpan, 10) + ")")
	w.dataVersion = p("PRAGMA data_version")
	w.insertOne = p("INSERT OR IGNORE INTO sample (series, t, value, attr, lag) VALUES (?, ?, ?, ?, ?)")
	w.claim = p("UPDATE sample SET attr = ? WHERE series = ? AND t = ? AND attr <> ?")
	w.log.claimByID = p("UPDATE sample_log SET attr = ? WHERE id = ? AND attr <> ?")
	w.insertWave = p("INSERT OR IGNORE INTO waveform (series, start, end, rate, gain, unit, received, source, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
	if err != nil {
		w.close()
		return fmt.Errorf("sqlite: prepare samples: %w", err)
	}
	return nil
}

func (w *sampleWriter) close() {
	for _, st := range []*sql.Stmt{w.findSeries, w.newSeries, w.findAttr, w.newAttr, w.insertWave, w.claim, w.latest, w.insertOne, w.dataVersion, w.insertBlock} {
		if st != nil {
			st.Close()
		}
	}
	for _, st := range w.inserts {
		st.Close()
	}
	for _, st := range w.lookups {
		st.Close()
	}
	for _, st := range w.stmts {
		st.Close()
	}
	w.log.close()
}

// maxSampleRows is the most rows of one multi-row INSERT or look-up;
// statements are prepared for the row counts met, up to it.
const maxSampleRows = 256

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
	if err := w.begin(); err != nil {
		fail(err)
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
		if j.exec == nil && j.wave == nil && (w.logAll || !fewSeries(j.ids)) {
			// Samples of many series need no savepoint (see runSamples): a
			// failed insert aborts the group, whose jobs are then retried
			// one by one.
			wrote, err := w.runSamples(j)
			if err == nil {
				ok++
				continue
			}
			if !wrote {
				j.err = err
				continue
			}
			w.rollback()
			if len(group) == 1 {
				j.err = err
				clear(j.stored)
				return
			}
			w.retryAlone(group)
			return
		}
		if err := w.exec("SAVEPOINT j"); err != nil {
			j.err = fmt.Errorf("sqlite: savepoint: %w", err)
			continue
		}
		claims := len(w.log.claims)
		j.err = w.run(j)
		if j.err == nil {
			if j.err = w.exec("RELEASE j"); j.err == nil {
				ok++
				continue
			}
		}
		w.log.claims = w.log.claims[:claims]
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
	w.log.publish()
}

// begin starts a write transaction. For the owner of the sample log it
// forgets top and tableTop when another process (which writes to the
// sample table) has committed since the owner's last transaction: a
// sample it stored may be after them, and the owner would log a second
// copy of it. It then also reads the FHIR claims that process made on
// logged samples (reclaim).
func (w *sampleWriter) begin() error {
	if err := w.exec("BEGIN IMMEDIATE"); err != nil {
		return fmt.Errorf("sqlite: begin: %w", err)
	}
	w.log.begin()
	if !w.log.log.owner {
		return nil // another process does not trust top (runSamples)
	}
	var v int64
	if err := w.dataVersion.QueryRowContext(context.Background()).Scan(&v); err != nil {
		w.rollback()
		return fmt.Errorf("sqlite: read data version: %w", err)
	}
	if v != w.version {
		w.top, w.tableTop, w.blockTop = nil, nil, nil
		if err := w.reclaim(context.Background()); err != nil {
			w.rollback()
			return err
		}
		// Only now: had reclaim failed, the next transaction must read
		// the other process's claims again.
		w.version = v
	}
	return nil
}

// retryAlone commits each job of group in a transaction of its own, after
// the group's transaction failed and was rolled back: only the job at
// fault then fails.
func (w *sampleWriter) retryAlone(group []*sampleJob) {
	for _, j := range group {
		j.err = nil
		clear(j.stored)
		w.commit([]*sampleJob{j})
	}
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
	w.log.discard()
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

// fewSeriesMax is the most series a batch of samples may touch and still
// be written in a savepoint (see fewSeries).
const fewSeriesMax = 16

// fewSeries reports whether ids name at most fewSeriesMax series. Such a
// batch (one device's message, a short upload) touches a few pages, so
// its savepoint copies little, and an INSERT of all its rows costs less
// than runSamples' look-ups of its late samples (a device's messages
// whose times interleave are common).
func fewSeries(ids []int64) bool {
	var seen [fewSeriesMax]int64
	n := 0
next:
	for _, id := range ids {
		for _, s := range seen[:n] {
			if s == id {
				continue next
			}
		}
		if n == fewSeriesMax {
			return false
		}
		seen[n] = id
		n++
	}
	return true
}

// run writes a job inside its savepoint: samples of few series, a waveform
// chunk, or other tables.
func (w *sampleWriter) run(j *sampleJob) error {
	ctx := context.Background() // a statement is never canceled midway
	if j.exec != nil {
		return j.exec(ctx, w.conn)
	}
	if j.wave != nil {
		return w.runWave(ctx, j)
	}
	// Samples whose keys are in the log or in a block are duplicates (the
	// table's INSERT OR IGNORE cannot see them). The owner looks in blocks
	// for samples not after the series' latest time in the table and
	// blocks; another process, whose tableTop the owner's merges leave
	// behind, for every sample.
	owner := w.log.log.owner
	idx := w.late[:0] // scratch: runSamples is not running
	var inBlocks []int
	for i := range j.samples {
		idx = append(idx, i)
		if !owner {
			inBlocks = append(inBlocks, i)
			continue
		}
		if _, err := w.topOf(ctx, j.ids[i]); err != nil {
			return err
		}
		if j.samples[i].Time.UnixMilli() <= w.blockTop[j.ids[i]] {
			inBlocks = append(inBlocks, i)
		}
	}
	defer func() { w.late = idx[:0] }()
	var claim []int // FHIR copies of samples in the log or in blocks
	var logged map[sampleKey]int64
	var blocked map[sampleKey]blockKey
	if !owner || len(w.log.keys) > 0 {
		logged = make(map[sampleKey]int64)
		if err := w.logged(ctx, j, idx, logged); err != nil {
			return err
		}
	}
	if len(inBlocks) > 0 {
		blocked = make(map[sampleKey]blockKey)
		if err := w.lookupBlocks(ctx, j, inBlocks, blocked); err != nil {
			return err
		}
	}
	if len(logged) > 0 || len(blocked) > 0 {
		idx = idx[:0]
		for i := range j.samples {
			k := sampleKey{j.ids[i], j.samples[i].Time.UnixMilli()}
			_, inLog := logged[k]
			_, inBlock := blocked[k]
			if !inLog && !inBlock {
				idx = append(idx, i)
			} else if j.samples[i].Source == fhirSource {
				claim = append(claim, i)
			}
		}
	}
	if err := w.runSavepoint(ctx, j, idx); err != nil {
		return err
	}
	for _, i := range claim {
		k := sampleKey{j.ids[i], j.samples[i].Time.UnixMilli()}
		if id, ok := logged[k]; ok {
			if err := w.claimLogged(ctx, k, id, j.attrs[i]); err != nil {
				return err
			}
		} else if err := w.claimBlock(ctx, blocked[k], k.t, j.attrs[i]); err != nil {
			return err
		}
	}
	// Keep every top at or after the latest stored sample (too late if
	// the savepoint is rolled back: that only costs look-ups).
	for i, ok := range j.stored {
		if !ok {
			continue
		}
		top, err := w.topOf(ctx, j.ids[i]) // read before it is moved: never guessed
		if err != nil {
			return err
		}
		t := j.samples[i].Time.UnixMilli()
		if t > top {
			w.top[j.ids[i]] = t
		}
		if t > w.tableTop[j.ids[i]] {
			w.tableTop[j.ids[i]] = t
		}
	}
	return nil
}

// runSavepoint writes samples idx of j inside the job's savepoint:
// multi-row INSERT OR IGNOREs; when every row went in all samples were
// new, otherwise the job is rolled back to its savepoint and inserted
// again row by row to learn which were duplicates. A claim of a logged
// sample (run) comes after the roll-back: it must not be rolled back.
func (w *sampleWriter) runSavepoint(ctx context.Context, j *sampleJob, idx []int) error {
	all := true
	for rest := idx; len(rest) > 0 && all; {
		n := min(len(rest), maxSampleRows)
		got, err := w.insertChunk(ctx, j, rest[:n])
		if err != nil {
			return err
		}
		all = got == int64(n)
		rest = rest[n:]
	}
	if all {
		for _, i := range idx {
			j.stored[i] = true
		}
		return nil
	}
	if err := w.exec("ROLLBACK TO j"); err != nil {
		return fmt.Errorf("sqlite: roll back to find duplicates: %w", err)
	}
	for _, i := range idx {
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

// runSamples writes the samples of j outside any savepoint. A savepoint
// per batch made SQLite copy every page the batch touched into its
// statement journal, which for readings from many devices (each on
// another page) cost more than the inserts. So the writer tells new
// samples from duplicates without rolling back:
//
//   - w.top holds, per series, a time at or after its latest stored sample
//     (read once per series, then kept up to date). A sample after it is
//     new: it goes into multi-row INSERTs, which must then insert every
//     row.
//   - The others (late data, a device's retry, a second copy in the batch,
//     two messages of one device whose times interleave) are looked up
//     together once the new ones are in, one query per 256 keys
//     (`(series, t) IN (VALUES …)` on the primary key); those not found
//     are inserted, the first copy of a key in the batch only.
//
// If an INSERT does not insert all its rows the bookkeeping was wrong: the
// batch fails (the group is retried batch by batch) and w.top is read
// again. wrote reports whether a statement that writes ran, so that an
// error may have left part of j written.
func (w *sampleWriter) runSamples(j *sampleJob) (wrote bool, err error) {
	ctx := context.Background() // a statement is never canceled midway
	fresh, late := w.fresh[:0], w.late[:0]
	defer func() { w.fresh, w.late = fresh[:0], late[:0] }()
	owner := w.log.log.owner
	for i := range j.samples {
		id, t := j.ids[i], j.samples[i].Time.UnixMilli()
		top, err := w.topOf(ctx, id)
		if err != nil {
			return false, err
		}
		// A process that does not own the log cannot know the log's
		// latest times: every sample is looked up.
		if t > top && owner {
			w.top[id] = t
			fresh = append(fresh, i)
		} else {
			late = append(late, i)
		}
	}
	if len(late) > 0 {
		// Which keys of the late samples are stored, in the table or in
		// the log? Which come earlier in the batch? (The owner looks in
		// the table only for samples not after the table's top.)
		table := late
		if owner {
			table = w.table[:0]
			for _, i := range late {
				if j.samples[i].Time.UnixMilli() <= w.tableTop[j.ids[i]] {
					table = append(table, i)
				}
			}
			defer func() { w.table = table[:0] }()
		}
		blocked := make(map[sampleKey]blockKey)
		inBlocks := table
		if owner {
			inBlocks = nil
			for _, i := range table {
				if j.samples[i].Time.UnixMilli() <= w.blockTop[j.ids[i]] {
					inBlocks = append(inBlocks, i)
				}
			}
		}
		if len(inBlocks) > 0 {
			if err := w.lookupBlocks(ctx, j, inBlocks, blocked); err != nil {
				return false, err
			}
		}
		stored := make(map[sampleKey]bool, len(table))
		for rest := table; len(rest) > 0; {
			n := min(len(rest), maxSampleRows)
			if err := w.lookup(ctx, j, rest[:n], stored); err != nil {
				return false, err
			}
			rest = rest[n:]
		}
		logged := make(map[sampleKey]int64)
		if err := w.logged(ctx, j, late, logged); err != nil {
			return false, err
		}
		queued := make(map[sampleKey]bool, len(fresh)+len(late))
		for _, i := range fresh {
			queued[sampleKey{j.ids[i], j.samples[i].Time.UnixMilli()}] = true
		}
		for _, i := range late {
			s := &j.samples[i]
			k := sampleKey{j.ids[i], s.Time.UnixMilli()}
			switch {
			case stored[k]:
				if s.Source == fhirSource {
					// An Observation stored through FHIR carries a reading
					// that came by another path first: it is now that
					// Observation's.
					if _, err := w.claim.ExecContext(ctx, j.attrs[i], k.series, k.t, j.attrs[i]); err != nil {
						return true, fmt.Errorf("sqlite: mark sample as a FHIR copy: %w", err)
					}
					wrote = true
				}
			case blocked[k] != (blockKey{}):
				if s.Source == fhirSource {
					wrote = true
					if err := w.claimBlock(ctx, blocked[k], k.t, j.attrs[i]); err != nil {
						return true, err
					}
				}
			case logged[k] != 0:
				if s.Source == fhirSource {
					wrote = true
					if err := w.claimLogged(ctx, k, logged[k], j.attrs[i]); err != nil {
						return true, err
					}
				}
			case !queued[k]:
				queued[k] = true
				fresh = append(fresh, i)
			}
		}
	}
	if len(fresh) > 0 {
		wrote = true
		if owner && w.scattered(j, fresh) {
			if err := w.insertLog(ctx, j, fresh); err != nil {
				return true, err
			}
		} else {
			if err := w.insertRows(ctx, j, fresh); err != nil {
				return true, err
			}
			if owner {
				for _, i := range fresh {
					if t := j.samples[i].Time.UnixMilli(); t > w.tableTop[j.ids[i]] {
						w.tableTop[j.ids[i]] = t
					}
				}
			}
		}
	}
	for _, i := range fresh {
		j.stored[i] = true
	}
	return wrote, nil
}

// logRunMin is the fewest new samples per series, on average, for which
// a batch goes into the sample table directly rather than into the log.
// A gateway's upload (runs of readings of a few devices) touches a few
// pages per series and costs less inserted at once than logged and merged;
// readings of many devices, one or two each, land on a page each and
// cost less logged (SAMPLES.md).
const logRunMin = 4

// scattered reports whether samples idx of j are spread over so many
// series (fewer than logRunMin each on average) that they go to the log.
func (w *sampleWriter) scattered(j *sampleJob, idx []int) bool {
	if w.logAll {
		return true
	}
	if w.seen == nil {
		w.seen = make(map[int64]struct{})
	}
	defer clear(w.seen)
	for _, i := range idx {
		w.seen[j.ids[i]] = struct{}{}
		if len(w.seen)*logRunMin > len(idx) {
			return true
		}
	}
	return false
}

// sampleKey is the stored key of a sample.
type sampleKey struct{ series, t int64 }

// insertRows inserts samples idx of j, all new, with multi-row INSERT OR
// IGNOREs that must each insert every row.
func (w *sampleWriter) insertRows(ctx context.Context, j *sampleJob, idx []int) error {
	for len(idx) > 0 {
		n := min(len(idx), maxSampleRows)
		got, err := w.insertChunk(ctx, j, idx[:n])
		if err != nil {
			return err
		}
		if got != int64(n) {
			w.top, w.tableTop, w.blockTop = nil, nil, nil
			return fmt.Errorf("sqlite: insert samples: %d of %d rows inserted", got, n)
		}
		idx = idx[n:]
	}
	return nil
}

// insertChunk inserts samples idx of j (at most maxSampleRows) with one
// multi-row INSERT OR IGNORE and returns how many rows went in.
func (w *sampleWriter) insertChunk(ctx context.Context, j *sampleJob, idx []int) (int64, error) {
	defer clear(w.args)
	st, err := w.insertN(ctx, len(idx))
	if err != nil {
		return 0, fmt.Errorf("sqlite: prepare sample insert: %w", err)
	}
	w.args = w.args[:0]
	for _, i := range idx {
		s := &j.samples[i]
		t := s.Time.UnixMilli()
		w.args = append(w.args, j.ids[i], t, s.Value, j.attrs[i], lag(t, s.Received))
	}
	res, err := st.ExecContext(ctx, w.args...)
	if err != nil {
		return 0, fmt.Errorf("sqlite: insert samples: %w", err)
	}
	got, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sqlite: insert samples: %w", err)
	}
	return got, nil
}

// lookup notes in stored which keys of samples idx of j (at most
// maxSampleRows) are stored.
func (w *sampleWriter) lookup(ctx context.Context, j *sampleJob, idx []int, stored map[sampleKey]bool) error {
	st, ok := w.lookups[len(idx)]
	if !ok {
		q := "SELECT series, t FROM sample WHERE (series, t) IN (VALUES " +
			strings.TrimSuffix(strings.Repeat("(?, ?), ", len(idx)), ", ") + ")"
		var err error
		if st, err = w.conn.PrepareContext(ctx, q); err != nil {
			return fmt.Errorf("sqlite: prepare sample look-up: %w", err)
		}
		if w.lookups == nil {
			w.lookups = make(map[int]*sql.Stmt)
		}
		w.lookups[len(idx)] = st
	}
	defer clear(w.args)
	w.args = w.args[:0]
	for _, i := range idx {
		w.args = append(w.args, j.ids[i], j.samples[i].Time.UnixMilli())
	}
	rows, err := st.QueryContext(ctx, w.args...)
	if err != nil {
		return fmt.Errorf("sqlite: look up samples: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k sampleKey
		if err := rows.Scan(&k.series, &k.t); err != nil {
			return fmt.Errorf("sqlite: look up samples: %w", err)
		}
		stored[k] = true
	}
	return rows.Err()
}

// topOf returns w.top's time for series id, reading the series' latest
// sample time when w.top has none (math.MinInt64 for a series without
// samples).
func (w *sampleWriter) topOf(ctx context.Context, id int64) (int64, error) {
	if top, ok := w.top[id]; ok {
		return top, nil
	}
	if w.top == nil {
		w.top, w.tableTop, w.blockTop = make(map[int64]int64), make(map[int64]int64), make(map[int64]int64)
	}
	var t, b sql.NullInt64
	if err := w.latest.QueryRowContext(ctx, id).Scan(&t, &b); err != nil {
		return 0, fmt.Errorf("sqlite: latest sample of series: %w", err)
	}
	top, inBlocks := int64(math.MinInt64), int64(math.MinInt64)
	if t.Valid {
		top = t.Int64
	}
	if b.Valid {
		inBlocks = b.Int64
	}
	top = max(top, inBlocks)
	w.tableTop[id], w.blockTop[id] = top, inBlocks
	if lt, ok := w.log.top[id]; ok && lt > top { // the log's latest (owner only)
		top = lt
	}
	w.top[id] = top
	return top, nil
}

// insertN returns the prepared INSERT OR IGNORE of n rows (n at most
// maxSampleRows: that many statement shapes at most).
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
	if w.inserts == nil {
		w.inserts = make(map[int]*sql.Stmt)
	}
	w.inserts[n] = st
	return st, nil
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
