package sqlite

import (
	"cmp"
	"database/sql"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
)

// sameRows reports whether a and b hold the same samples, bit for bit.
func sameRows(a, b []logRow) bool {
	return slices.EqualFunc(a, b, func(x, y logRow) bool {
		return x.t == y.t && math.Float64bits(x.value) == math.Float64bits(y.value) && x.attr == y.attr && x.lag == y.lag
	})
}

func TestBlockCodec(t *testing.T) {
	lag := func(v int64) sql.NullInt64 { return sql.NullInt64{Int64: v, Valid: true} }
	for _, tc := range []struct {
		name string
		rows []logRow
	}{
		{"one", []logRow{{t: 1767225600000, value: 72, attr: 1, lag: lag(2000)}}},
		{"integers and fractions", []logRow{{t: 0, value: 36.6, attr: 2}, {t: 1, value: -40, attr: 3, lag: lag(-5)}, {t: 1000, value: 1 << 53, attr: 1 << 40, lag: lag(math.MaxInt64)}}},
		{"beyond 2^53, tiny, negative zero", []logRow{{t: -5, value: 1<<53 + 2, attr: 1}, {t: 7, value: 5e-324, attr: 1}, {t: 9, value: math.Copysign(0, -1), attr: 1, lag: lag(math.MinInt64)}}},
		{"a full hour", []logRow{{t: 10, value: 1, attr: 1}, {t: 10 + maxBlockSpan, value: 2, attr: 1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := encodeBlock(nil, tc.rows)
			got, err := decodeBlock(nil, data, tc.rows[0].t)
			if err != nil {
				t.Fatalf("decodeBlock = %v", err)
			}
			if !sameRows(got, tc.rows) {
				t.Errorf("round trip = %+v, want %+v", got, tc.rows)
			}
		})
	}
	// A 256-sample block of integer readings one second apart takes
	// about 7 bytes a sample.
	var rows []logRow
	for i := range maxBlockRows {
		rows = append(rows, logRow{t: 1767225600000 + int64(i)*1000, value: float64(60 + i%40), attr: 1, lag: lag(1500)})
	}
	if n := len(encodeBlock(nil, rows)); n > 8*maxBlockRows {
		t.Errorf("a block of %d integer readings takes %d bytes", maxBlockRows, n)
	}
}

func TestBlockDecodeErrors(t *testing.T) {
	good := encodeBlock(nil, []logRow{{t: 100, value: 1, attr: 1}, {t: 200, value: 2.5, attr: 1}})
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"no samples", []byte{0}},
		{"too many samples", append([]byte{0x81, 0x02}, good[1:]...)},
		{"truncated", good[:len(good)-1]},
		{"trailing bytes", append(slices.Clone(good), 0)},
		{"first time not t0", []byte{1, 5, 0, 2, 1}},
		{"two samples at one time", []byte{2, 0, 0, 2, 1, 0, 0, 2, 1}},
		{"unknown flag", []byte{1, 0, 4, 2, 1}},
		{"lag missing", []byte{1, 0, 2, 2, 1}},
		{"longer than an hour", append([]byte{2, 0, 0, 2, 1}, append(binary.AppendUvarint(nil, uint64(maxBlockSpan+1)), 0, 2, 1)...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := decodeBlock(nil, tc.data, 100); err == nil {
				t.Errorf("decodeBlock(%x) succeeded", tc.data)
			}
		})
	}
}

func FuzzBlockDecode(f *testing.F) {
	f.Add(encodeBlock(nil, []logRow{{t: 100, value: 1, attr: 1}, {t: 200, value: 2.5, attr: 3, lag: sql.NullInt64{Int64: -7, Valid: true}}}), int64(100))
	f.Add([]byte{1, 0, 1, 0, 0, 0, 0, 0, 0, 0xf0, 0x7f, 1}, int64(0))
	f.Fuzz(func(t *testing.T, data []byte, t0 int64) {
		rows, err := decodeBlock(nil, data, t0)
		if err != nil {
			return
		}
		again, err := decodeBlock(nil, encodeBlock(nil, rows), t0)
		if err != nil || !sameRows(again, rows) {
			t.Fatalf("re-encoding %+v: %+v, %v", rows, again, err)
		}
	})
}

// TestBlockSamples stores one series' samples in overlapping blocks of
// random sizes and spans, and checks blockSamples against the samples
// themselves for random ranges, limits and orders.
func TestBlockSamples(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenSamples(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	db, err := sql.Open("sqlite", filepath.Join(dir, SamplesFileName))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	r := rand.New(rand.NewPCG(1, 2))
	// 2,000 distinct times over 6 hours, dealt into blocks in a random
	// order so that blocks overlap.
	const hours = 6
	seen := map[int64]bool{}
	var all []logRow
	for len(all) < 2000 {
		tm := r.Int64N(hours * maxBlockSpan)
		if !seen[tm] {
			seen[tm] = true
			all = append(all, logRow{t: tm, value: float64(r.IntN(200)), attr: 1})
		}
	}
	pool := slices.Clone(all)
	r.Shuffle(len(pool), func(i, j int) { pool[i], pool[j] = pool[j], pool[i] })
	for len(pool) > 0 {
		// A block: the next samples of the pool that fit one span.
		first := pool[0]
		var block, rest []logRow
		for _, x := range pool {
			if len(block) < 1+r.IntN(maxBlockRows) && x.t >= first.t && x.t-first.t <= maxBlockSpan/int64(1+r.IntN(4)) {
				block = append(block, x)
			} else {
				rest = append(rest, x)
			}
		}
		pool = rest
		slices.SortFunc(block, func(a, b logRow) int { return cmp.Compare(a.t, b.t) })
		if _, err := db.Exec("INSERT INTO sample_block (series, t0, t1, n, data) VALUES (1, ?, ?, ?, ?)",
			block[0].t, block[len(block)-1].t, len(block), encodeBlock(nil, block)); err != nil {
			t.Fatal(err)
		}
	}
	slices.SortFunc(all, func(a, b logRow) int { return cmp.Compare(a.t, b.t) })
	for range 300 {
		from, to := r.Int64N(hours*maxBlockSpan), r.Int64N(hours*maxBlockSpan)
		if r.IntN(4) == 0 {
			from = math.MinInt64
		}
		limit, desc := 1+r.IntN(300), r.IntN(2) == 0
		var want []logRow
		for _, x := range all {
			if x.t >= from && x.t < to {
				want = append(want, x)
			}
		}
		if desc {
			slices.Reverse(want)
		}
		if len(want) > limit {
			want = want[:limit]
		}
		got, err := blockSamples(t.Context(), s.read, 1, from, to, limit, desc)
		if err != nil {
			t.Fatal(err)
		}
		if !sameRows(got, want) {
			t.Fatalf("blockSamples(%d, %d, limit %d, desc %v): %d samples, want %d", from, to, limit, desc, len(got), len(want))
		}
	}
}

// TestBlockMergeDropsRepeatedTime merges a log with two readings of one
// series at one time (the duplicate checks keep that from happening): the
// block keeps the first logged and stays readable.
func TestBlockMergeDropsRepeatedTime(t *testing.T) {
	s, err := OpenSamples(t.Context(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	w := s.w
	if err := w.exec("BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	rows := map[int64][]logRow{7: {{id: 2, t: 1000, value: 2, attr: 1}, {id: 1, t: 1000, value: 1, attr: 1}, {id: 3, t: 2000, value: 3, attr: 1}}}
	if err := w.mergeBlocks(t.Context(), rows); err != nil {
		t.Fatal(err)
	}
	if err := w.exec("COMMIT"); err != nil {
		t.Fatal(err)
	}
	got, err := blockSamples(t.Context(), s.read, 7, math.MinInt64, math.MaxInt64, 10, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].value != 1 || got[1].value != 3 {
		t.Errorf("block samples = %+v, want the first logged at 1000 (value 1) and the one at 2000", got)
	}
	if rows[7][0].id != 2 {
		t.Error("mergeBlocks changed its input")
	}
}

// TestBlockMergeAppends merges a few readings at a time, as a light load
// does: they are appended to the series' last block while they fit, and
// start a block of their own when they come before its end, would pass
// maxBlockRows or maxBlockSpan, or are many.
func TestBlockMergeAppends(t *testing.T) {
	s, err := OpenSamples(t.Context(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	w := s.w
	merge := func(rows ...logRow) {
		t.Helper()
		if err := w.exec("BEGIN IMMEDIATE"); err != nil {
			t.Fatal(err)
		}
		if err := w.mergeBlocks(t.Context(), map[int64][]logRow{1: rows}); err != nil {
			t.Fatal(err)
		}
		if err := w.exec("COMMIT"); err != nil {
			t.Fatal(err)
		}
	}
	blocks := func() int {
		t.Helper()
		var n int
		if err := s.read.QueryRow("SELECT count(*) FROM sample_block WHERE series = 1").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	at := func(ms int64) logRow { return logRow{t: ms, value: float64(ms % 1000), attr: 1} }
	var all []logRow
	for i := range int64(300) { // one reading a second, merged one by one
		merge(at(i * 1000))
		all = append(all, at(i*1000))
	}
	if got := blocks(); got != 2 {
		t.Errorf("300 readings merged one at a time: %d blocks, want 2 (256 + 44)", got)
	}
	merge(at(500)) // before the last block's end: a block of its own
	all = append(all, at(500))
	if got := blocks(); got != 3 {
		t.Errorf("a late reading: %d blocks, want 3", got)
	}
	merge(at(299000 + 2*maxBlockSpan)) // beyond the span
	all = append(all, at(299000+2*maxBlockSpan))
	if got := blocks(); got != 4 {
		t.Errorf("a reading two hours on: %d blocks, want 4", got)
	}
	slices.SortFunc(all, func(a, b logRow) int { return cmp.Compare(a.t, b.t) })
	got, err := blockSamples(t.Context(), s.read, 1, math.MinInt64, math.MaxInt64, 1000, false)
	if err != nil {
		t.Fatal(err)
	}
	if !sameRows(got, all) {
		t.Errorf("blocks hold %d samples, want the %d merged", len(got), len(all))
	}
}
