package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vigilhealth/vigil"
)

// The sample log (see SAMPLES.md, "Append, then merge").
//
// A batch of readings from many devices used to land each reading on a
// page of its own in the clustered sample table, so a commit wrote
// thousands of pages to the WAL for a batch of a thousand readings. New
// samples of such batches now go to sample_log instead, a rowid table whose
// rows are appended in arrival order (a few pages per batch), and the
// writer merges the log into the sample table in key order once it holds
// enough rows (or the writer is idle): each series' last page is then
// written once per merge instead of once per commit.
//
// One process owns the log (an exclusive flock on samples.db-log.lock): it
// alone appends to it and merges it, and it keeps the committed log rows
// in memory by series, so that its readers find a series' logged samples
// without an index on the log. A reader holds the log's lock shared across
// its read transaction, and a merge commits holding it exclusively, so a
// reader sees each sample either in the log or in the table, never in both
// or neither. Another process opening the same directory (a command-line
// tool beside a running server) does not own the log: its appends go to
// the sample table directly, and its reads and duplicate checks scan the
// log table.
const sampleLogSchema = `
CREATE TABLE sample_log (
	id     INTEGER PRIMARY KEY,
	series INTEGER NOT NULL,
	t      INTEGER NOT NULL,
	value  REAL NOT NULL,
	attr   INTEGER NOT NULL,
	lag    INTEGER
);
`

// Defaults of when the owner merges the log into the sample table.
const (
	// defaultMergeRows is how many rows the log holds before a merge.
	defaultMergeRows = 1 << 17
	// mergeIdle is how long the writer waits for work before it merges a
	// log that holds any rows.
	mergeIdle = time.Second
	// mergeAge is the longest a row stays in the log under a load that
	// never lets the writer idle.
	mergeAge = 30 * time.Second
)

// WithSampleMerge sets how many rows the sample log holds before the
// writer merges it into the sample table (default 131,072; see SAMPLES.md).
// Fewer rows merge more often (more page writes per sample); 1 merges
// after every commit that logged samples.
func WithSampleMerge(rows int) Option { return func(c *config) { c.mergeRows = rows } }

// logRow is a sample in the log.
type logRow struct {
	id, t int64
	value float64
	attr  int64
	lag   sql.NullInt64
}

// sampleLog is the log's state shared by the writer and the readers.
type sampleLog struct {
	// owner: this process owns the log (see above). Fixed at open.
	owner  bool
	unlock func() // releases the ownership lock

	// mu is held shared by a reader across its read transaction and
	// exclusively by a merge around its COMMIT (owner only).
	mu sync.RWMutex
	// rows are the log's committed rows by series, in log order, and n
	// their number (owner only; guarded by mu).
	rows map[int64][]logRow
	n    int
	// blocked holds the series with blocks (owner only; guarded by mu;
	// filled at open, added to by merges), so that readers query the
	// blocks of those series only: most series have none.
	blocked map[int64]struct{}
}

// hasBlocks reports whether series id may have blocks. The caller holds
// readLock.
func (l *sampleLog) hasBlocks(id int64) bool {
	if !l.owner {
		return true
	}
	_, ok := l.blocked[id]
	return ok
}

// loadBlocked fills l.blocked from the blocks table (owner, at open).
func (l *sampleLog) loadBlocked(ctx context.Context, q querier) error {
	// One probe of the blocks' key per series: far fewer than the blocks.
	rows, err := q.QueryContext(ctx, "SELECT id FROM series s WHERE EXISTS (SELECT 1 FROM sample_block b WHERE b.series = s.id)")
	if err != nil {
		return fmt.Errorf("sqlite: read series with blocks: %w", err)
	}
	defer rows.Close()
	l.blocked = make(map[int64]struct{})
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return fmt.Errorf("sqlite: read series with blocks: %w", err)
		}
		l.blocked[id] = struct{}{}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlite: read series with blocks: %w", err)
	}
	return nil
}

// readLock returns what a reader calls when its read transaction is over;
// for the owner it holds mu shared until then.
func (l *sampleLog) readLock() func() {
	if !l.owner {
		return func() {}
	}
	l.mu.RLock()
	return l.mu.RUnlock
}

// series returns the logged samples of series id in [from, to), in time
// order (reversed with desc), at most limit. The caller holds readLock and
// tx is its read transaction (scanned when the process does not own the
// log).
func (l *sampleLog) series(ctx context.Context, tx querier, id, from, to int64, limit int, desc bool) ([]logRow, error) {
	if !l.owner {
		order := "ASC"
		if desc {
			order = "DESC"
		}
		return scanLog(tx.QueryContext(ctx, "SELECT id, t, value, attr, lag FROM sample_log WHERE series = ? AND t >= ? AND t < ? ORDER BY t "+order+" LIMIT ?",
			id, from, to, limit))
	}
	var out []logRow
	for _, r := range l.rows[id] {
		if r.t >= from && r.t < to {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b logRow) int {
		if desc {
			return cmp.Compare(b.t, a.t)
		}
		return cmp.Compare(a.t, b.t)
	})
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// scanLog reads the rows of a query of the log's columns.
func scanLog(rows *sql.Rows, err error) ([]logRow, error) {
	if err != nil {
		return nil, fmt.Errorf("sqlite: read sample log: %w", err)
	}
	defer rows.Close()
	var out []logRow
	for rows.Next() {
		var r logRow
		if err := rows.Scan(&r.id, &r.t, &r.value, &r.attr, &r.lag); err != nil {
			return nil, fmt.Errorf("sqlite: read sample log: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: read sample log: %w", err)
	}
	return out, nil
}

// seriesJSON returns, for the owner, the ids of the series with logged
// samples as a JSON array (for json_each); "" for another process, whose
// queries test the log table instead. The caller holds readLock.
func (l *sampleLog) seriesJSON() string {
	if !l.owner {
		return ""
	}
	ids := make([]int64, 0, len(l.rows))
	for id := range l.rows {
		ids = append(ids, id)
	}
	b, _ := json.Marshal(ids) // int64s always marshal
	return string(b)
}

// sample turns a logged row of series sr into a Sample of patient.
func (r *logRow) sample(patient string, sr seriesRow, attrs map[int64]attr) (vigil.Sample, error) {
	at, ok := attrs[r.attr]
	if !ok {
		return vigil.Sample{}, fmt.Errorf("sqlite: logged sample refers to missing attr %d", r.attr)
	}
	return vigil.Sample{Patient: patient, Code: sr.code, Device: sr.device, Time: time.UnixMilli(r.t).UTC(), Value: r.value,
		Received: receivedAt(r.t, r.lag), Unit: at.unit, Source: at.source}, nil
}

// mergeSorted merges two lists of one series sorted by time (reversed with
// desc; no time in both) and keeps the first limit.
func mergeSorted(a, b []vigil.Sample, limit int, desc bool) []vigil.Sample {
	if len(b) == 0 {
		return a
	}
	out := make([]vigil.Sample, 0, min(len(a)+len(b), limit))
	for len(out) < limit && (len(a) > 0 || len(b) > 0) {
		takeA := len(b) == 0 || len(a) > 0 && (a[0].Time.Before(b[0].Time) != desc)
		if takeA {
			out, a = append(out, a[0]), a[1:]
		} else {
			out, b = append(out, b[0]), b[1:]
		}
	}
	return out
}

// loggedRow is a row the writer's open transaction added to the log.
type loggedRow struct {
	series int64
	row    logRow
}

// logClaim is a logged sample the open transaction gave to a FHIR copy
// (its attr changed).
type logClaim struct{ series, id, attr int64 }

// logState is the writer's side of the log.
type logState struct {
	log *sampleLog
	// keys maps the key of every row in the log, committed or not, to its
	// id; top holds, per series, a time at or after its latest logged
	// sample (owner only).
	keys map[sampleKey]int64
	top  map[int64]int64
	// pending and claims are the open transaction's changes to the log,
	// published to the readers when it commits.
	pending []loggedRow
	claims  []logClaim
	// nextID is the next row's id; beginID its value when the open
	// transaction began.
	nextID, beginID int64
	// mergeRows is the owner's merge threshold; oldest is when the log's
	// oldest row was appended (zero when empty); failed is set after a
	// merge failed, until the log grows by mergeRows again.
	mergeRows int
	oldest    time.Time
	retryAt   int
	inserts   map[int]*sql.Stmt // multi-row log INSERTs by row count
	lookups   map[int]*sql.Stmt // log look-ups by key count (another process's)
	claimByID *sql.Stmt
}

// begin notes the start of a write transaction.
func (s *logState) begin() { s.beginID = s.nextID }

// publish hands the committed transaction's log changes to the readers.
func (s *logState) publish() {
	if len(s.pending) == 0 && len(s.claims) == 0 {
		return
	}
	l := s.log
	l.mu.Lock()
	if l.rows == nil {
		l.rows = make(map[int64][]logRow)
	}
	for _, p := range s.pending {
		l.rows[p.series] = append(l.rows[p.series], p.row)
	}
	l.n += len(s.pending)
	for _, c := range s.claims {
		rows := l.rows[c.series]
		for i := range rows {
			if rows[i].id == c.id {
				rows[i].attr = c.attr
			}
		}
	}
	l.mu.Unlock()
	if len(s.pending) > 0 && s.oldest.IsZero() {
		s.oldest = time.Now()
	}
	s.pending, s.claims = s.pending[:0], s.claims[:0]
}

// discard forgets the rolled-back transaction's log changes.
func (s *logState) discard() {
	for _, p := range s.pending {
		delete(s.keys, sampleKey{p.series, p.row.t})
	}
	s.pending, s.claims = s.pending[:0], s.claims[:0]
	s.nextID = s.beginID
}

// logged looks up which keys of samples idx of j are in the log, noting
// their ids in found.
func (w *sampleWriter) logged(ctx context.Context, j *sampleJob, idx []int, found map[sampleKey]int64) error {
	s := &w.log
	if s.log.owner {
		if len(s.keys) == 0 {
			return nil
		}
		for _, i := range idx {
			k := sampleKey{j.ids[i], j.samples[i].Time.UnixMilli()}
			if id, ok := s.keys[k]; ok {
				found[k] = id
			}
		}
		return nil
	}
	for rest := idx; len(rest) > 0; {
		n := min(len(rest), maxSampleRows)
		st, ok := s.lookups[n]
		if !ok {
			q := "SELECT series, t, id FROM sample_log WHERE (series, t) IN (VALUES " +
				strings.TrimSuffix(strings.Repeat("(?, ?), ", n), ", ") + ")"
			var err error
			if st, err = w.conn.PrepareContext(ctx, q); err != nil {
				return fmt.Errorf("sqlite: prepare sample log look-up: %w", err)
			}
			if s.lookups == nil {
				s.lookups = make(map[int]*sql.Stmt)
			}
			s.lookups[n] = st
		}
		w.args = w.args[:0]
		for _, i := range rest[:n] {
			w.args = append(w.args, j.ids[i], j.samples[i].Time.UnixMilli())
		}
		rows, err := st.QueryContext(ctx, w.args...)
		clear(w.args)
		if err != nil {
			return fmt.Errorf("sqlite: look up sample log: %w", err)
		}
		for rows.Next() {
			var k sampleKey
			var id int64
			if err := rows.Scan(&k.series, &k.t, &id); err != nil {
				rows.Close()
				return fmt.Errorf("sqlite: look up sample log: %w", err)
			}
			found[k] = id
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return fmt.Errorf("sqlite: look up sample log: %w", err)
		}
		rest = rest[n:]
	}
	return nil
}

// claimLogged gives the logged sample (k, id) to a FHIR copy whose attr is
// a (see insertRow).
func (w *sampleWriter) claimLogged(ctx context.Context, k sampleKey, id, a int64) error {
	s := &w.log
	if _, err := s.claimByID.ExecContext(ctx, a, id, a); err != nil {
		return fmt.Errorf("sqlite: mark logged sample as a FHIR copy: %w", err)
	}
	if s.log.owner {
		s.claims = append(s.claims, logClaim{k.series, id, a})
	}
	return nil
}

// reclaim hands the readers the FHIR claims another process made on
// logged samples since the owner's last transaction: that process marks
// them in sample_log only (claimLogged), and the owner's readers read the
// attrs of logged samples from its memory. Called by begin when another
// process has committed; it scans the log (no index on attr).
func (w *sampleWriter) reclaim(ctx context.Context) error {
	s := &w.log
	if len(s.keys) == 0 {
		return nil
	}
	rows, err := w.conn.QueryContext(ctx, "SELECT series, id, attr FROM sample_log WHERE attr IN (SELECT id FROM attr WHERE source = ?)", fhirSource)
	if err != nil {
		return fmt.Errorf("sqlite: read sample log claims: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var c logClaim
		if err := rows.Scan(&c.series, &c.id, &c.attr); err != nil {
			return fmt.Errorf("sqlite: read sample log claims: %w", err)
		}
		s.claims = append(s.claims, c)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlite: read sample log claims: %w", err) // begin's rollback drops the claims read
	}
	s.publish() // committed already; nothing is pending at begin
	return nil
}

// insertLog appends samples idx of j, all new, to the log (owner only).
func (w *sampleWriter) insertLog(ctx context.Context, j *sampleJob, idx []int) error {
	s := &w.log
	if s.keys == nil {
		s.keys, s.top = make(map[sampleKey]int64), make(map[int64]int64)
	}
	defer clear(w.args)
	for len(idx) > 0 {
		n := min(len(idx), maxSampleRows)
		st, ok := s.inserts[n]
		if !ok {
			q := "INSERT INTO sample_log (id, series, t, value, attr, lag) VALUES " +
				strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?, ?), ", n), ", ")
			var err error
			if st, err = w.conn.PrepareContext(ctx, q); err != nil {
				return fmt.Errorf("sqlite: prepare sample log insert: %w", err)
			}
			if s.inserts == nil {
				s.inserts = make(map[int]*sql.Stmt)
			}
			s.inserts[n] = st
		}
		w.args = w.args[:0]
		first := len(s.pending)
		for _, i := range idx[:n] {
			x := &j.samples[i]
			t := x.Time.UnixMilli()
			r := logRow{id: s.nextID, t: t, value: x.Value, attr: j.attrs[i]}
			if !x.Received.IsZero() {
				r.lag = sql.NullInt64{Int64: x.Received.UnixMilli() - t, Valid: true}
			}
			s.nextID++
			var lagArg any
			if r.lag.Valid {
				lagArg = r.lag.Int64
			}
			w.args = append(w.args, r.id, j.ids[i], t, r.value, r.attr, lagArg)
			s.pending = append(s.pending, loggedRow{j.ids[i], r})
		}
		if _, err := st.ExecContext(ctx, w.args...); err != nil {
			// The statement inserted nothing: its rows leave the pending
			// list (the caller's rollback resets the ids).
			s.pending = s.pending[:first]
			return fmt.Errorf("sqlite: append to sample log: %w", err)
		}
		for _, p := range s.pending[first:] {
			s.keys[sampleKey{p.series, p.row.t}] = p.row.id
			if top, ok := s.top[p.series]; !ok || p.row.t > top {
				s.top[p.series] = p.row.t
			}
		}
		idx = idx[n:]
	}
	return nil
}

// mergeDue reports whether the owner should merge the log now, after a
// commit.
func (w *sampleWriter) mergeDue() bool {
	s := &w.log
	if !s.log.owner || len(s.keys) == 0 {
		return false
	}
	n := len(s.keys)
	if n >= s.retryAt && n >= s.mergeRows {
		return true
	}
	return !s.oldest.IsZero() && time.Since(s.oldest) >= mergeAge && n >= s.retryAt
}

// merge moves the log's rows into the sample table in key order, in one
// transaction, and empties the log. Readers are held off (mu) only while
// it commits. A failed merge leaves the log as it was (its rows stay
// readable and are merged later).
func (w *sampleWriter) merge(ctx context.Context) error {
	s := &w.log
	// begin, not a bare BEGIN: the FHIR claims another process made on
	// logged samples since the owner's last transaction are in the log
	// table only, and must reach the copy in memory merged below.
	if err := w.begin(); err != nil {
		return fmt.Errorf("sqlite: begin sample log merge: %w", err)
	}
	fail := func(err error) error {
		w.exec("ROLLBACK")
		s.retryAt = len(s.keys) + s.mergeRows
		return fmt.Errorf("sqlite: merge sample log: %w", err)
	}
	rows, err := w.logContents(ctx)
	if err != nil {
		return fail(err)
	}
	if err := w.mergeBlocks(ctx, rows); err != nil {
		// A block with the same first time: a logged reading is stored
		// already (the duplicate checks keep that from happening; a
		// reading put into the table by hand could). The merge starts
		// again in a transaction of its own (some errors, a full disk or
		// I/O, roll back the whole transaction, and what follows must not
		// commit by itself) and leaves out the logged readings stored in
		// the table or a block: the stored copy stays.
		w.exec("ROLLBACK")
		if err := w.begin(); err != nil {
			s.retryAt = len(s.keys) + s.mergeRows
			return fmt.Errorf("sqlite: merge sample log: %w", err)
		}
		if rows, err = w.logContents(ctx); err != nil {
			return fail(err)
		}
		kept, err := w.unstored(ctx, rows)
		if err != nil {
			return fail(err)
		}
		if err := w.mergeBlocks(ctx, kept); err != nil {
			return fail(err)
		}
	}
	if _, err := w.conn.ExecContext(ctx, "DELETE FROM sample_log"); err != nil {
		return fail(err)
	}
	if s.log.owner {
		s.log.mu.Lock()
	}
	err = w.exec("COMMIT")
	if err == nil {
		s.log.rows, s.log.n = nil, 0
		if s.log.blocked != nil {
			for id := range rows {
				s.log.blocked[id] = struct{}{}
			}
		}
	}
	if s.log.owner {
		s.log.mu.Unlock()
	}
	if err != nil {
		return fail(err)
	}
	for id, t := range s.top {
		if top, ok := w.tableTop[id]; ok && t > top {
			w.tableTop[id] = t
		}
		if top, ok := w.blockTop[id]; ok && t > top {
			w.blockTop[id] = t
		}
	}
	clear(s.keys)
	clear(s.top)
	s.nextID, s.beginID, s.oldest, s.retryAt = 1, 1, time.Time{}, 0
	return nil
}

// logContents returns the log's rows by series: the owner's copy in
// memory when it holds every row of the table, else the table's (the merge
// at open, or after a failure left them apart).
func (w *sampleWriter) logContents(ctx context.Context) (map[int64][]logRow, error) {
	l := w.log.log
	var n int
	if err := w.conn.QueryRowContext(ctx, "SELECT count(*) FROM sample_log").Scan(&n); err != nil {
		return nil, fmt.Errorf("sqlite: count sample log: %w", err)
	}
	if l.owner && l.n == n {
		return l.rows, nil
	}
	rows, err := w.conn.QueryContext(ctx, "SELECT series, id, t, value, attr, lag FROM sample_log")
	if err != nil {
		return nil, fmt.Errorf("sqlite: read sample log: %w", err)
	}
	defer rows.Close()
	out := make(map[int64][]logRow)
	for rows.Next() {
		var id int64
		var r logRow
		if err := rows.Scan(&id, &r.id, &r.t, &r.value, &r.attr, &r.lag); err != nil {
			return nil, fmt.Errorf("sqlite: read sample log: %w", err)
		}
		out[id] = append(out[id], r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: read sample log: %w", err)
	}
	return out, nil
}

// unstored returns rows without the readings stored in the sample table
// or in a block (a slow path: one look-up of each series' time range in
// both).
func (w *sampleWriter) unstored(ctx context.Context, rows map[int64][]logRow) (map[int64][]logRow, error) {
	out := make(map[int64][]logRow, len(rows))
	for id, list := range rows {
		lo, hi := list[0].t, list[0].t
		for _, r := range list {
			lo, hi = min(lo, r.t), max(hi, r.t)
		}
		stored := make(map[int64]bool)
		in, err := w.conn.QueryContext(ctx, "SELECT t FROM sample WHERE series = ? AND t >= ? AND t <= ?", id, lo, hi)
		if err != nil {
			return nil, fmt.Errorf("sqlite: read stored samples: %w", err)
		}
		for in.Next() {
			var t int64
			if err := in.Scan(&t); err != nil {
				in.Close()
				return nil, fmt.Errorf("sqlite: read stored samples: %w", err)
			}
			stored[t] = true
		}
		err = in.Err()
		in.Close()
		if err != nil {
			return nil, fmt.Errorf("sqlite: read stored samples: %w", err)
		}
		blocked, err := blockSamples(ctx, w.conn, id, lo, hi+1, math.MaxInt, false)
		if err != nil {
			return nil, err
		}
		for _, r := range blocked {
			stored[r.t] = true
		}
		for _, r := range list {
			if !stored[r.t] {
				out[id] = append(out[id], r)
			}
		}
	}
	return out, nil
}

// closeLog closes the log's statements.
func (s *logState) close() {
	for _, st := range s.inserts {
		st.Close()
	}
	for _, st := range s.lookups {
		st.Close()
	}
	if s.claimByID != nil {
		s.claimByID.Close()
	}
}
