package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// Sample blocks (see SAMPLES.md, "Blocks"): the merge of the sample log
// packs each series' logged samples into rows of sample_block, up to
// maxBlockRows samples spanning at most maxBlockSpan each, instead of one
// row of the sample table per sample. A merge then inserts a few thousand
// rows rather than a hundred thousand (the B-tree inserts and the sort
// were most of its cost), and a sample takes about 8 bytes instead of 27.
const sampleBlockSchema = `
CREATE TABLE sample_block (
	series INTEGER NOT NULL,
	t0     INTEGER NOT NULL,
	t1     INTEGER NOT NULL,
	n      INTEGER NOT NULL,
	data   BLOB NOT NULL,
	PRIMARY KEY (series, t0)
) WITHOUT ROWID;
`

const (
	// maxBlockRows is the most samples one block holds.
	maxBlockRows = 256
	// maxBlockSpan bounds t1 − t0 of a block (ms), so that the blocks
	// overlapping a time range are found by one range of the key:
	// t0 ≥ from − maxBlockSpan.
	maxBlockSpan = int64(time.Hour / time.Millisecond)
)

// encodeBlock appends the packed form of rows (sorted by time, distinct
// times, all of one series, at most maxBlockRows) to dst:
//
//	uvarint n, then per sample:
//	  uvarint  t − previous t (the first: 0, its time is the block's t0)
//	  byte     flags: 1 the value is binary64, 2 the received time is known
//	  value    flag 1: 8 bytes of IEEE 754 binary64, little endian;
//	           else an integer, varint (zigzag)
//	  uvarint  attr
//	  varint   lag (received − t, ms), when flag 2
func encodeBlock(dst []byte, rows []logRow) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(rows)))
	prev := rows[0].t
	for _, r := range rows {
		dst = binary.AppendUvarint(dst, uint64(r.t-prev))
		prev = r.t
		v := r.value
		integer := v == math.Trunc(v) && math.Abs(v) <= 1<<53 && !(v == 0 && math.Signbit(v))
		var flags byte
		if !integer {
			flags |= blockFloat
		}
		if r.lag.Valid {
			flags |= blockLag
		}
		dst = append(dst, flags)
		if integer {
			dst = binary.AppendVarint(dst, int64(v))
		} else {
			dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(v))
		}
		dst = binary.AppendUvarint(dst, uint64(r.attr))
		if r.lag.Valid {
			dst = binary.AppendVarint(dst, r.lag.Int64)
		}
	}
	return dst
}

// The flags of a sample in a block.
const (
	blockFloat = 1 // the value is binary64
	blockLag   = 2 // a lag follows
)

// errBlock is the error of a block that cannot be decoded.
var errBlock = errors.New("sqlite: corrupt sample block")

// decodeBlock appends the samples of a block whose first time is t0 to
// dst (their id is 0). It fails on anything encodeBlock cannot have made.
func decodeBlock(dst []logRow, data []byte, t0 int64) ([]logRow, error) {
	n, k := binary.Uvarint(data)
	if k <= 0 || n == 0 || n > maxBlockRows {
		return dst, errBlock
	}
	data = data[k:]
	t := t0
	for i := uint64(0); i < n; i++ {
		var r logRow
		dt, k := binary.Uvarint(data)
		if k <= 0 || (i == 0) != (dt == 0) || dt > uint64(maxBlockSpan) {
			return dst, errBlock
		}
		data = data[k:]
		t += int64(dt)
		r.t = t
		if len(data) == 0 || data[0]&^(blockFloat|blockLag) != 0 {
			return dst, errBlock
		}
		flags := data[0]
		data = data[1:]
		if flags&blockFloat != 0 {
			if len(data) < 8 {
				return dst, errBlock
			}
			r.value, data = math.Float64frombits(binary.LittleEndian.Uint64(data)), data[8:]
		} else {
			v, k := binary.Varint(data)
			if k <= 0 {
				return dst, errBlock
			}
			r.value, data = float64(v), data[k:]
		}
		a, k := binary.Uvarint(data)
		if k <= 0 || a > math.MaxInt64 {
			return dst, errBlock
		}
		r.attr, data = int64(a), data[k:]
		if flags&blockLag != 0 {
			l, k := binary.Varint(data)
			if k <= 0 {
				return dst, errBlock
			}
			r.lag, data = sql.NullInt64{Int64: l, Valid: true}, data[k:]
		}
		dst = append(dst, r)
	}
	if len(data) != 0 || t-t0 > maxBlockSpan {
		return dst, errBlock
	}
	return dst, nil
}

// mergeBlocks packs rows (by series; each list in any order, times
// distinct) into sample_block rows, series by series. The lists are not
// changed.
func (w *sampleWriter) mergeBlocks(ctx context.Context, rows map[int64][]logRow) error {
	if w.insertBlock == nil {
		st, err := w.conn.PrepareContext(ctx, "INSERT INTO sample_block (series, t0, t1, n, data) VALUES (?, ?, ?, ?, ?)")
		if err != nil {
			return fmt.Errorf("sqlite: prepare sample block insert: %w", err)
		}
		w.insertBlock = st
	}
	ids := make([]int64, 0, len(rows))
	for id := range rows {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var list []logRow
	var buf []byte
	for _, id := range ids {
		list = append(list[:0], rows[id]...)
		slices.SortFunc(list, func(a, b logRow) int {
			if c := cmp.Compare(a.t, b.t); c != 0 {
				return c
			}
			return cmp.Compare(a.id, b.id)
		})
		// Two logged readings at one time (the duplicate checks keep that
		// from happening) would make a block no decoder accepts: the first
		// logged stays, as a duplicate is never stored twice.
		list = slices.CompactFunc(list, func(a, b logRow) bool { return a.t == b.t })
		if len(list) < smallMerge {
			appended, err := w.appendToLastBlock(ctx, id, list)
			if err != nil {
				return err
			}
			if appended {
				continue
			}
		}
		for rest := list; len(rest) > 0; {
			n := 1
			for n < len(rest) && n < maxBlockRows && rest[n].t-rest[0].t <= maxBlockSpan {
				n++
			}
			buf = encodeBlock(buf[:0], rest[:n])
			if _, err := w.insertBlock.ExecContext(ctx, id, rest[0].t, rest[n-1].t, n, buf); err != nil {
				return fmt.Errorf("sqlite: insert sample block: %w", err)
			}
			rest = rest[n:]
		}
	}
	return nil
}

// smallMerge is the fewest samples of a series a merge packs into blocks
// of their own; fewer (a light load, merged after each idle second) are
// appended to the series' last block when they fit (appendToLastBlock),
// so that a reading a second does not make a block a second.
const smallMerge = 16

// appendToLastBlock appends list (sorted, distinct times) to series id's
// last block when every sample of list is later than that block's and
// the result stays within maxBlockRows and maxBlockSpan, and reports
// whether it did.
func (w *sampleWriter) appendToLastBlock(ctx context.Context, id int64, list []logRow) (bool, error) {
	var t0, t1 int64
	var n int
	var data []byte
	st, err := w.stmt(ctx, "SELECT t0, t1, n, data FROM sample_block WHERE series = ? ORDER BY t0 DESC LIMIT 1")
	if err != nil {
		return false, err
	}
	err = st.QueryRowContext(ctx, id).Scan(&t0, &t1, &n, &data)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("sqlite: read last sample block: %w", err)
	}
	last := list[len(list)-1].t
	if list[0].t <= t1 || n+len(list) > maxBlockRows || last-t0 > maxBlockSpan {
		return false, nil
	}
	rows, err := decodeBlock(make([]logRow, 0, n+len(list)), data, t0)
	if err != nil {
		return false, fmt.Errorf("%w (series %d, t0 %d)", err, id, t0)
	}
	rows = append(rows, list...)
	up, err := w.stmt(ctx, "UPDATE sample_block SET t1 = ?, n = ?, data = ? WHERE series = ? AND t0 = ?")
	if err != nil {
		return false, err
	}
	if _, err := up.ExecContext(ctx,
		last, len(rows), encodeBlock(nil, rows), id, t0); err != nil {
		return false, fmt.Errorf("sqlite: append to sample block: %w", err)
	}
	return true, nil
}

// blockSamples returns the samples of series id in the blocks within
// [from, to), in time order (reversed with desc), at most limit. It reads
// the blocks that overlap the range in t0 order and stops once no further
// block can hold one of the first limit samples.
func blockSamples(ctx context.Context, q querier, id, from, to int64, limit int, desc bool) ([]logRow, error) {
	order := "ASC"
	if desc {
		order = "DESC"
	}
	lo := from
	if lo > math.MinInt64+maxBlockSpan {
		lo -= maxBlockSpan
	}
	rows, err := q.QueryContext(ctx, "SELECT t0, data FROM sample_block WHERE series = ? AND t0 >= ? AND t0 < ? AND t1 >= ? ORDER BY t0 "+order,
		id, lo, to, from)
	if err != nil {
		return nil, fmt.Errorf("sqlite: read sample blocks: %w", err)
	}
	defer rows.Close()
	var out, scratch []logRow
	less := func(a, b logRow) int {
		if desc {
			return cmp.Compare(b.t, a.t)
		}
		return cmp.Compare(a.t, b.t)
	}
	// out is sorted and cut to limit only once it holds limit samples, and
	// then only when a block added one that comes before its last (sorting
	// it after every block made a long read quadratic).
	sorted := true
	for rows.Next() {
		var t0 int64
		var data []byte
		if err := rows.Scan(&t0, &data); err != nil {
			return nil, fmt.Errorf("sqlite: read sample blocks: %w", err)
		}
		full := len(out) >= limit
		if full {
			if !sorted {
				slices.SortFunc(out, less)
				out, sorted = out[:limit], true
			}
			// out holds the first limit samples so far: a block can only
			// add earlier (later, with desc) ones.
			edge := out[limit-1].t
			if !desc && t0 > edge || desc && t0+maxBlockSpan < edge {
				break
			}
		}
		if scratch, err = decodeBlock(scratch[:0], data, t0); err != nil {
			return nil, fmt.Errorf("%w (series %d, t0 %d)", err, id, t0)
		}
		for _, r := range scratch {
			if r.t >= from && r.t < to && (!full || less(r, out[limit-1]) < 0) {
				out, sorted = append(out, r), false
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: read sample blocks: %w", err)
	}
	slices.SortFunc(out, less)
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// blockKey is where a sample is stored in a block.
type blockKey struct{ series, t0 int64 }

// lookupBlocks notes in found which keys of samples idx of j are in
// blocks, with the block of each (for claims). One range of blocks per
// series of the samples, split where two of its times are more than
// maxBlockSpan apart (one range from a week-old reading to today's read
// every block in between).
func (w *sampleWriter) lookupBlocks(ctx context.Context, j *sampleJob, idx []int, found map[sampleKey]blockKey) error {
	type span struct{ id, lo, hi int64 }
	keys := make([]sampleKey, len(idx))
	for n, i := range idx {
		keys[n] = sampleKey{j.ids[i], j.samples[i].Time.UnixMilli()}
	}
	slices.SortFunc(keys, func(a, b sampleKey) int {
		if c := cmp.Compare(a.series, b.series); c != 0 {
			return c
		}
		return cmp.Compare(a.t, b.t)
	})
	var spans []span
	for _, k := range keys {
		if n := len(spans); n > 0 && spans[n-1].id == k.series && k.t-spans[n-1].hi <= maxBlockSpan {
			spans[n-1].hi = k.t
			continue
		}
		spans = append(spans, span{k.series, k.t, k.t})
	}
	var scratch []logRow
	for _, s := range spans {
		id := s.id
		st, err := w.stmt(ctx, "SELECT t0, data FROM sample_block WHERE series = ? AND t0 >= ? AND t0 <= ? AND t1 >= ?")
		if err != nil {
			return err
		}
		rows, err := st.QueryContext(ctx, id, s.lo-maxBlockSpan, s.hi, s.lo)
		if err != nil {
			return fmt.Errorf("sqlite: look up sample blocks: %w", err)
		}
		for rows.Next() {
			var t0 int64
			var data []byte
			if err := rows.Scan(&t0, &data); err != nil {
				rows.Close()
				return fmt.Errorf("sqlite: look up sample blocks: %w", err)
			}
			if scratch, err = decodeBlock(scratch[:0], data, t0); err != nil {
				rows.Close()
				return fmt.Errorf("%w (series %d, t0 %d)", err, id, t0)
			}
			for _, r := range scratch {
				found[sampleKey{id, r.t}] = blockKey{id, t0}
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return fmt.Errorf("sqlite: look up sample blocks: %w", err)
		}
	}
	return nil
}

// claimBlock gives the sample at t of block b to a FHIR copy whose attr is
// a (see insertRow): the block is decoded, changed and written back.
func (w *sampleWriter) claimBlock(ctx context.Context, b blockKey, t, a int64) error {
	var data []byte
	if err := w.conn.QueryRowContext(ctx, "SELECT data FROM sample_block WHERE series = ? AND t0 = ?", b.series, b.t0).Scan(&data); err != nil {
		return fmt.Errorf("sqlite: read sample block to claim: %w", err)
	}
	rows, err := decodeBlock(nil, data, b.t0)
	if err != nil {
		return err
	}
	changed := false
	for i := range rows {
		if rows[i].t == t && rows[i].attr != a {
			rows[i].attr, changed = a, true
		}
	}
	if !changed {
		return nil
	}
	if _, err := w.conn.ExecContext(ctx, "UPDATE sample_block SET data = ? WHERE series = ? AND t0 = ?", encodeBlock(nil, rows), b.series, b.t0); err != nil {
		return fmt.Errorf("sqlite: mark block sample as a FHIR copy: %w", err)
	}
	return nil
}

// stmt returns the writer's prepared statement for query, preparing it
// the first time (a few fixed queries of the block paths).
func (w *sampleWriter) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := w.stmts[query]; ok {
		return st, nil
	}
	st, err := w.conn.PrepareContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("sqlite: prepare: %w", err)
	}
	if w.stmts == nil {
		w.stmts = make(map[string]*sql.Stmt)
	}
	w.stmts[query] = st
	return st, nil
}
