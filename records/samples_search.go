package records

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/vigilhealth/vigil"
)

// sampleKey is a position in a sample stream: the order is time, code,
// device, kind (reversed for newest first).
type sampleKey struct {
	T      int64  `json:"t"` // Unix milliseconds
	Code   string `json:"c"`
	Device string `json:"d,omitempty"`
	Kind   byte   `json:"k"`
}

func compareKeys(a, b sampleKey) int {
	return cmp.Or(cmp.Compare(a.T, b.T), strings.Compare(a.Code, b.Code),
		strings.Compare(a.Device, b.Device), cmp.Compare(a.Kind, b.Kind))
}

// mergedCursor continues a search that merges stored resources with
// samples. Stores' cursors point at page starts, so it keeps the cursor
// of the store page being read and how far into it the search got.
type mergedCursor struct {
	Hash      string     `json:"h"`
	Store     string     `json:"s,omitempty"`  // cursor of the current store page ("" = first)
	StoreN    int        `json:"n,omitempty"`  // its resources already returned
	StoreLast string     `json:"l,omitempty"`  // id of the last one returned
	StoreDone bool       `json:"sd,omitempty"` // no stored resources left
	Pos       *sampleKey `json:"p,omitempty"`  // last sample returned
	Done      bool       `json:"pd,omitempty"` // no samples left
}

// cursorPrefix marks merged cursors.
const cursorPrefix = "m1."

func (c *mergedCursor) encode() string {
	b, _ := json.Marshal(c)
	return cursorPrefix + base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s, hash string) (*mergedCursor, error) {
	bad := vigil.Errorf(vigil.ErrInvalid, "the paging cursor is not valid for this search")
	raw, ok := strings.CutPrefix(s, cursorPrefix)
	if !ok {
		return nil, bad
	}
	b, err := base64.RawURLEncoding.DecodeString(raw)
	if err != nil {
		return nil, bad
	}
	var c mergedCursor
	if err := json.Unmarshal(b, &c); err != nil || c.Hash != hash || c.StoreN < 0 {
		return nil, bad
	}
	return &c, nil
}

// searchHash identifies a search for its cursors: what was asked, without
// the cursor.
func searchHash(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// queryHash is searchHash of a search request.
func queryHash(kind, typ, compartment string, params url.Values) string {
	p := cloneValues(params)
	p.Del(pagingParam)
	return searchHash(kind, typ, compartment, p.Encode())
}

// searchWithSamples runs q against the store and, when q names one
// patient that the caller may see, merges the patient's samples into the
// answer. hash identifies the search for its cursors. Issues say when
// samples were left out.
func (s *Service) searchWithSamples(ctx context.Context, q *vigil.SearchQuery, hash string) (*vigil.SearchResult, []vigil.Issue, error) {
	if s.samples == nil {
		res, err := s.store.Search(ctx, q)
		return res, nil, err
	}
	plan, issues := planSamples(q)
	if plan != nil {
		see, err := s.sees(ctx, plan.patient)
		if err != nil {
			return nil, nil, err
		}
		if !see {
			plan = nil
		}
	}
	if plan == nil || plan.none {
		if strings.HasPrefix(q.Cursor, cursorPrefix) {
			c, err := decodeCursor(q.Cursor, hash)
			if err != nil {
				return nil, nil, err
			}
			nq := *q
			nq.Cursor = c.Store
			q = &nq
		}
		res, err := s.store.Search(ctx, q)
		return res, issues, err
	}
	res, err := s.merge(ctx, q, plan, hash)
	return res, issues, err
}

// storeStream reads the stored matches page by page.
type storeStream struct {
	s      *Service
	q      vigil.SearchQuery
	cursor string // of the page in buf
	buf    []vigil.Resource
	i      int
	// headKey is the sort key of buf[keyAt], when keyOK.
	headKey storeKey
	keyAt   int
	keyOK   bool
	next    string
	done    bool // no page after buf
	loaded  bool
}

// storeKey is a stored resource's date sort key.
type storeKey struct {
	t   time.Time
	has bool
}

func (st *storeStream) load(ctx context.Context, cursor string, skip int, last string) error {
	st.q.Cursor = cursor
	res, err := st.s.store.Search(ctx, &st.q)
	if err != nil {
		return err
	}
	st.cursor, st.buf, st.next, st.loaded = cursor, res.Matches, res.Next, true
	st.done = res.Next == ""
	st.i = min(skip, len(st.buf))
	if last != "" {
		for j := range st.buf {
			if st.buf[j].ID == last {
				st.i = j + 1
				break
			}
		}
	}
	st.keyOK = false
	return nil
}

// head returns the next stored match, loading the next page when the
// current one is used up; nil at the end.
func (st *storeStream) head(ctx context.Context) (*vigil.Resource, error) {
	for st.i >= len(st.buf) {
		if st.done {
			return nil, nil
		}
		if err := st.load(ctx, st.next, 0, ""); err != nil {
			return nil, err
		}
	}
	return &st.buf[st.i], nil
}

// key returns the date sort key of the head, as the store sorts it: the
// smallest start of its date entries ascending, the largest descending.
func (st *storeStream) key(desc bool) (storeKey, error) {
	if st.keyAt == st.i && st.keyOK {
		return st.headKey, nil
	}
	k, err := st.computeKey(desc)
	if err != nil {
		return storeKey{}, err
	}
	st.headKey, st.keyAt, st.keyOK = k, st.i, true
	return k, nil
}

func (st *storeStream) computeKey(desc bool) (storeKey, error) {
	obj, err := unmarshal(st.buf[st.i].JSON)
	if err != nil {
		return storeKey{}, err
	}
	entries, err := st.s.model.IndexParams(obj, []string{"date"})
	if err != nil {
		return storeKey{}, err
	}
	var k storeKey
	for _, e := range entries {
		if e.Param != "date" || e.Start.IsZero() {
			continue
		}
		if !k.has || (!desc && e.Start.Before(k.t)) || (desc && e.Start.After(k.t)) {
			k = storeKey{t: e.Start, has: true}
		}
	}
	return k, nil
}

// sampleStream reads the plan's samples and chunks after a position.
type sampleStream struct {
	s    *Service
	p    *samplePlan
	pos  *sampleKey // last item taken
	buf  []sampleItem
	i    int
	done bool // nothing after buf
}

// after reports whether k comes after pos in the stream's order.
func (ss *sampleStream) after(pos *sampleKey, k sampleKey) bool {
	if pos == nil {
		return true
	}
	c := compareKeys(k, *pos)
	if ss.p.desc {
		return c < 0
	}
	return c > 0
}

// head returns the next item (fetching up to n more when needed), nil at
// the end.
func (ss *sampleStream) head(ctx context.Context, n int) (*sampleItem, error) {
	if ss.i < len(ss.buf) {
		return &ss.buf[ss.i], nil
	}
	if ss.done {
		return nil, nil
	}
	items, done, err := ss.s.fetchItems(ctx, ss.p, ss.pos, n)
	if err != nil {
		return nil, err
	}
	ss.buf, ss.i, ss.done = items, 0, done
	if len(items) == 0 {
		ss.done = true
		return nil, nil
	}
	return &ss.buf[0], nil
}

func (ss *sampleStream) take() *sampleItem {
	it := &ss.buf[ss.i]
	ss.i++
	k := it.key()
	ss.pos = &k
	return it
}

// exhausted reports that nothing is left after what was taken.
func (ss *sampleStream) exhausted() bool { return ss.done && ss.i >= len(ss.buf) }

// fetchItems returns up to n items of the plan after pos (nil: from the
// start), in stream order, and whether none are left after them.
func (s *Service) fetchItems(ctx context.Context, p *samplePlan, pos *sampleKey, n int) ([]sampleItem, bool, error) {
	ss := &sampleStream{p: p}
	var out []sampleItem
	extra := 16
	for {
		from, to := p.from, p.to
		if pos != nil {
			t := time.UnixMilli(pos.T).UTC()
			if p.desc {
				if to.IsZero() || t.Add(time.Millisecond).Before(to) {
					to = t.Add(time.Millisecond)
				}
			} else if from.IsZero() || t.After(from) {
				from = t
			}
		}
		if !from.IsZero() && !to.IsZero() && !from.Before(to) {
			return out, true, nil
		}
		limit := n - len(out) + extra
		var list []vigil.Sample
		if p.wantSamples {
			var err error
			list, err = s.samples.QuerySamples(ctx, &vigil.SampleQuery{Patient: p.patient, Codes: p.codes, From: from, To: to, Limit: limit, Desc: p.desc})
			if err != nil {
				return nil, false, err
			}
		}
		full := len(list) >= limit
		batch := make([]sampleItem, 0, len(list))
		for i := range list {
			batch = append(batch, sampleItem{s: &list[i]})
		}
		var last *sampleKey
		if full {
			k := batch[len(batch)-1].key()
			last = &k
		}
		if len(p.waveCodes) > 0 {
			wf, wt := from, to
			if last != nil {
				lt := time.UnixMilli(last.T).UTC()
				if p.desc {
					wf = lt
				} else {
					wt = lt.Add(time.Millisecond)
				}
			}
			if wf.IsZero() {
				wf = farPast
			}
			if wt.IsZero() {
				wt = farFuture
			}
			for _, code := range p.waveCodes {
				ws, err := s.samples.QueryWaveforms(ctx, p.patient, code, wf, wt)
				if err != nil {
					return nil, false, err
				}
				for i := range ws {
					it := sampleItem{w: &ws[i]}
					if last == nil || !ss.after(last, it.key()) {
						batch = append(batch, it)
					}
				}
			}
			slices.SortStableFunc(batch, func(a, b sampleItem) int {
				c := compareKeys(a.key(), b.key())
				if p.desc {
					return -c
				}
				return c
			})
		}
		for i := range batch {
			if ss.after(pos, batch[i].key()) && p.matches(&batch[i]) {
				out = append(out, batch[i])
			}
		}
		if !full {
			if len(out) > n {
				return out[:n], false, nil
			}
			return out, true, nil
		}
		if len(out) >= n {
			return out[:n], false, nil
		}
		if pos != nil && !ss.after(pos, *last) {
			extra *= 2 // more series share one millisecond than the batch held
			continue
		}
		pos = last
	}
}

// pageSize is the page size of q as stores apply it.
func pageSize(q *vigil.SearchQuery) int {
	switch {
	case q.Count <= 0:
		return 50
	case q.Count > 1000:
		return 1000
	}
	return q.Count
}

// merge answers one page of q: the stored matches and the plan's samples
// in one order, with a merged cursor.
func (s *Service) merge(ctx context.Context, q *vigil.SearchQuery, p *samplePlan, hash string) (*vigil.SearchResult, error) {
	c := &mergedCursor{Hash: hash}
	if q.Cursor != "" {
		var err error
		if c, err = decodeCursor(q.Cursor, hash); err != nil {
			return nil, err
		}
	}
	n := pageSize(q)
	res := &vigil.SearchResult{Total: -1}
	if q.Total || q.SummaryCount {
		total, err := s.countMerged(ctx, q, p)
		if err != nil {
			return nil, err
		}
		res.Total = total
	}
	if q.SummaryCount {
		return res, nil
	}
	st := &storeStream{s: s, q: *q, done: c.StoreDone}
	st.q.Count, st.q.Total, st.q.SummaryCount = n, false, false
	if !c.StoreDone {
		if err := st.load(ctx, c.Store, c.StoreN, c.StoreLast); err != nil {
			return nil, err
		}
	}
	ss := &sampleStream{s: s, p: p, pos: c.Pos, done: c.Done}
	sawSample := false
	for len(res.Matches) < n {
		r, err := st.head(ctx)
		if err != nil {
			return nil, err
		}
		var it *sampleItem
		if r == nil || p.sortDate {
			if it, err = ss.head(ctx, n-len(res.Matches)); err != nil {
				return nil, err
			}
		}
		if r == nil && it == nil {
			break
		}
		takeStore := it == nil
		if r != nil && it != nil { // sorted by date: compare
			k, err := st.key(p.desc)
			if err != nil {
				return nil, err
			}
			t, _ := it.effective()
			takeStore = k.has && (!p.desc && !k.t.After(t) || p.desc && !k.t.Before(t))
		}
		if takeStore {
			res.Matches = append(res.Matches, *r)
			st.i++
			continue
		}
		rr, err := ss.take().resource()
		if err != nil {
			return nil, err
		}
		sawSample = true
		res.Matches = append(res.Matches, *rr)
	}
	if sawSample {
		vigil.PatientLogFrom(ctx).Note(p.patient)
	}
	// Where the next page starts.
	next := &mergedCursor{Hash: hash, Pos: ss.pos}
	switch {
	case !st.loaded || st.i >= len(st.buf) && st.done:
		next.StoreDone = true
	case st.i >= len(st.buf):
		next.Store = st.next // the page is used up: start at the next one
	default:
		next.Store, next.StoreN = st.cursor, st.i
		if st.i > 0 {
			next.StoreLast = st.buf[st.i-1].ID
		}
	}
	if next.StoreDone || p.sortDate {
		// Peek, to know whether any samples are left.
		if _, err := ss.head(ctx, 1); err != nil {
			return nil, err
		}
		next.Done = ss.exhausted()
	}
	// In the default order samples follow the stored resources: while
	// those last, the samples are untouched (Pos and Done stay as they were).
	if next.StoreDone && next.Done {
		return res, nil
	}
	res.Next = next.encode()
	return res, nil
}

// countMerged counts the stored matches and the plan's samples.
func (s *Service) countMerged(ctx context.Context, q *vigil.SearchQuery, p *samplePlan) (int, error) {
	cq := *q
	cq.Cursor, cq.SummaryCount, cq.Total = "", true, true
	res, err := s.store.Search(ctx, &cq)
	if err != nil {
		return 0, err
	}
	total := res.Total
	var pos *sampleKey
	const batch = 10_000
	counted := 0
	for {
		items, done, err := s.fetchItems(ctx, p, pos, batch)
		if err != nil {
			return 0, err
		}
		counted += len(items)
		if done || len(items) == 0 {
			break
		}
		k := items[len(items)-1].key()
		pos = &k
	}
	if counted > 0 {
		vigil.PatientLogFrom(ctx).Note(p.patient)
	}
	return total + counted, nil
}
