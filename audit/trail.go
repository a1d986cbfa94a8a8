package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/vigilhealth/vigil"
)

// ErrTampered means the stored trail does not match its hashes, MACs,
// checkpoints or witness: records were changed, removed, inserted or
// reordered outside Vigil. Run Verify (vigil audit verify) to find the
// first broken record.
var ErrTampered = errors.New("audit trail tampered")

// ErrClosed is returned by Append after Close.
var ErrClosed = errors.New("audit trail closed")

// Options configure Open.
type Options struct {
	// Key signs checkpoints and keys the per-record MACs. Required. Keep it
	// outside the database (LoadOrCreateKey).
	Key ed25519.PrivateKey
	// WitnessFile, when set, receives every checkpoint the trail writes
	// (see WitnessPath). It lives outside the database, so that removing
	// the tail of the trail together with its checkpoints is detected.
	WitnessFile string
	// CheckpointEvery is how many records at most follow the last
	// checkpoint before the next one (default 1000).
	CheckpointEvery int
	// CheckpointInterval is how old the last checkpoint may get while
	// records follow it (default 1 s).
	CheckpointInterval time.Duration
	// MaxBatch bounds how many concurrent Appends share one transaction
	// (default 1024).
	MaxBatch int
	// GroupDelay bounds how long the writer waits for more records
	// before a commit, while it holds fewer than the previous commit did
	// (as many callers as were concurrent then); a lone caller is never
	// delayed. A commit costs far more than a record (the fsync, the
	// transaction, and every reader's page cache, which SQLite drops when
	// the file changes), so fewer, larger commits leave more CPU to the
	// requests, at the price of some latency. Default 1 ms; negative: no
	// wait (commit what is queued).
	GroupDelay time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger reports witness-file failures (default: discard).
	Logger *slog.Logger
}

// Trail appends to and queries one audit trail. It is safe for concurrent
// use. Concurrent Appends are grouped into one transaction by a single
// writer goroutine (group commit), which keeps the chain head in memory
// and writes a signed checkpoint every CheckpointEvery records or
// CheckpointInterval, and at Close.
type Trail struct {
	store vigil.AuditStore
	keys  *keys
	opt   Options

	reqs chan *appendReq
	stop chan struct{}
	done chan struct{}

	mu      sync.Mutex
	head    vigil.AuditHead // the chain head as this trail last saw it
	lastCkp time.Time       // time of the last checkpoint
	// pending maps the Seq of heads built but not yet known to be
	// committed to their hash: a store that writes several appends in one
	// transaction shows the later ones the uncommitted earlier ones.
	pending map[int64][]byte

	closeOnce sync.Once
	closeErr  error
}

type appendReq struct {
	rec  vigil.AuditRecord
	seq  int64
	err  error
	done chan struct{}
}

// Open checks the end of the stored trail and starts the writer. It
// verifies the last checkpoint's signature, the records after it (chain
// and MACs) and the witness file, and returns an error wrapping
// ErrTampered if any of them does not match: a trail whose tail was
// removed or rewritten is not appended to. It does not walk the whole
// trail (that is Verify). The store stays open after Close: its owner
// closes it.
func Open(ctx context.Context, store vigil.AuditStore, opt Options) (*Trail, error) {
	if len(opt.Key) != ed25519.PrivateKeySize {
		return nil, vigil.Errorf(vigil.ErrInvalid, "audit: a signing key is required")
	}
	if opt.CheckpointEvery <= 0 {
		opt.CheckpointEvery = 1000
	}
	if opt.CheckpointInterval <= 0 {
		opt.CheckpointInterval = time.Second
	}
	if opt.MaxBatch <= 0 {
		opt.MaxBatch = 1024
	}
	if opt.GroupDelay == 0 {
		opt.GroupDelay = defaultGroupDelay
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	t := &Trail{store: store, keys: newKeys(opt.Key), opt: opt,
		reqs: make(chan *appendReq), stop: make(chan struct{}), done: make(chan struct{}),
		pending: make(map[int64][]byte)}
	if err := t.load(ctx); err != nil {
		return nil, err
	}
	go t.run()
	return t, nil
}

// load reads and checks the stored head (see Open).
func (t *Trail) load(ctx context.Context) error {
	w, err := readWitness(t.opt.WitnessFile)
	if err != nil {
		return err
	}
	head, err := t.store.AuditHead(ctx)
	if err != nil {
		return fmt.Errorf("audit: read head: %w", err)
	}
	if w != nil {
		if w.KeyID != t.keys.id || !t.keys.verify(w.Seq, w.Hash, w.Time, w.Signature) {
			return fmt.Errorf("%w: witness %s is not signed by this key", ErrTampered, t.opt.WitnessFile)
		}
		if w.Seq > head.Seq {
			return fmt.Errorf("%w: the witness names record %d but the trail ends at %d (truncated)", ErrTampered, w.Seq, head.Seq)
		}
	}
	// The last checkpoint: signed by us and matching its record.
	var last *vigil.AuditCheckpoint
	if head.CheckpointSeq > 0 {
		err := t.store.ScanAuditCheckpoints(ctx, head.CheckpointSeq, func(c *vigil.AuditCheckpoint) error {
			cc := *c
			cc.Hash, cc.Signature = slices.Clone(c.Hash), slices.Clone(c.Signature)
			last = &cc
			return errStop
		})
		if err != nil && !errors.Is(err, errStop) {
			return fmt.Errorf("audit: read checkpoint: %w", err)
		}
		if last == nil || last.Seq != head.CheckpointSeq {
			return fmt.Errorf("%w: last checkpoint vanished while reading", ErrTampered)
		}
		if last.KeyID != t.keys.id || !t.keys.verify(last.Seq, last.Hash, last.Time, last.Signature) {
			return fmt.Errorf("%w: checkpoint at record %d has a bad signature", ErrTampered, last.Seq)
		}
		if last.Seq > head.Seq {
			return fmt.Errorf("%w: checkpoint at record %d but the trail ends at %d (truncated)", ErrTampered, last.Seq, head.Seq)
		}
		t.lastCkp = last.Time
	}
	if w != nil && (last == nil || w.Seq > last.Seq) {
		return fmt.Errorf("%w: checkpoint at record %d (in the witness) was removed from the database", ErrTampered, w.Seq)
	}
	// Walk from the last checkpoint (or the start) to the head, checking
	// the chain and the MACs, and the witness on the way.
	from := int64(1)
	prev := genesis[:]
	if last != nil {
		from, prev = last.Seq, nil // prev is checked against last.Hash below
	}
	if w != nil && w.Seq < from {
		from, prev = w.Seq, nil
	}
	if head.Seq == 0 {
		t.head = head
		t.lastCkp = t.opt.Now() // the first interval starts now
		return nil
	}
	next := from
	err = t.store.ScanAudit(ctx, from, head.Seq, func(e *vigil.AuditEntry) error {
		if e.Seq != next {
			return fmt.Errorf("%w: record %d missing", ErrTampered, next)
		}
		if err := t.checkEntry(e, prev); err != nil {
			return err
		}
		if w != nil && e.Seq == w.Seq && !bytes.Equal(e.Hash, w.Hash) {
			return fmt.Errorf("%w: record %d does not match the witness", ErrTampered, e.Seq)
		}
		if last != nil && e.Seq == last.Seq && !bytes.Equal(e.Hash, last.Hash) {
			return fmt.Errorf("%w: record %d does not match its checkpoint", ErrTampered, e.Seq)
		}
		prev = slices.Clone(e.Hash)
		next++
		return nil
	})
	if err != nil {
		return err
	}
	if next != head.Seq+1 {
		return fmt.Errorf("%w: records %d..%d missing", ErrTampered, next, head.Seq)
	}
	if !bytes.Equal(prev, head.Hash) {
		return fmt.Errorf("%w: head moved while opening", ErrTampered)
	}
	t.head = head
	return nil
}

// checkEntry checks one stored entry's sequence number, MAC and (when
// prev is not nil) its chain link.
func (t *Trail) checkEntry(e *vigil.AuditEntry, prev []byte) error {
	if !bytes.Equal(e.MAC, t.keys.recordMAC(e.Data)) {
		return fmt.Errorf("%w: record %d does not match its MAC", ErrTampered, e.Seq)
	}
	r, err := Decode(e.Data)
	if err != nil || r.Seq != e.Seq {
		return fmt.Errorf("%w: record %d is not the record stored there", ErrTampered, e.Seq)
	}
	if prev != nil {
		if h := chainHash(prev, e.Data); !bytes.Equal(h[:], e.Hash) {
			return fmt.Errorf("%w: record %d does not chain to record %d", ErrTampered, e.Seq, e.Seq-1)
		}
	}
	return nil
}

// Head returns the chain head as the trail last saw it.
func (t *Trail) Head() vigil.AuditHead {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.head
}

// PublicKey returns the key that verifies the trail's checkpoints.
func (t *Trail) PublicKey() ed25519.PublicKey { return t.keys.pub }

// Append adds rec to the trail and returns once it is durable (committed
// with the records of concurrent callers in one transaction). It sets
// rec.Seq and, when zero, rec.Time (to Now); Time is stored in UTC whole
// microseconds, Patients sorted without duplicates. Append returns an
// error wrapping vigil.ErrInvalid for a record that breaks the rules of
// Encode, ErrTampered when the stored head is not the one the trail wrote
// (the caller should stop serving health data), ErrClosed after Close.
// Once queued, the record is written even if ctx ends.
func (t *Trail) Append(ctx context.Context, rec *vigil.AuditRecord) error {
	r, err := t.normalise(rec)
	if err != nil {
		return err
	}
	req := &appendReq{rec: r, done: make(chan struct{})}
	select {
	case t.reqs <- req:
	case <-t.stop:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	<-req.done
	if req.err != nil {
		return req.err
	}
	rec.Seq, rec.Time = req.seq, r.Time
	return nil
}

// normalise returns a copy of rec with its time set (Now when zero) and
// truncated to UTC microseconds, and its patients sorted without
// duplicates, after checking it against the rules of Encode.
func (t *Trail) normalise(rec *vigil.AuditRecord) (vigil.AuditRecord, error) {
	r := *rec
	if r.Time.IsZero() {
		r.Time = t.opt.Now()
	}
	r.Time = r.Time.UTC().Truncate(time.Microsecond)
	r.Resources = slices.Clone(r.Resources)
	r.Patients = slices.Compact(slices.Sorted(slices.Values(r.Patients)))
	if err := validate(&r); err != nil {
		return r, err
	}
	return r, nil
}

// defaultGroupDelay is Options.GroupDelay by default.
const defaultGroupDelay = time.Millisecond

// run is the writer goroutine.
func (t *Trail) run() {
	defer close(t.done)
	tick := time.NewTicker(t.opt.CheckpointInterval)
	defer tick.Stop()
	wait := time.NewTimer(time.Hour)
	wait.Stop()
	batch := make([]*appendReq, 0, t.opt.MaxBatch)
	last := 0 // records in the previous commit
	for {
		select {
		case r := <-t.reqs:
			batch = append(batch[:0], r)
			t.gather(&batch, last, wait)
			last = len(batch)
			t.commit(batch)
			clear(batch)
		case <-tick.C:
			t.checkpointIfDue(false)
		case <-t.stop:
			t.closeErr = t.checkpointIfDue(true)
			return
		}
	}
}

// gather adds the queued requests to batch, up to MaxBatch, then waits
// up to GroupDelay for more while the batch is smaller than want (the size
// of the previous one: as many callers as were concurrent then). wait is
// a stopped timer, left stopped.
func (t *Trail) gather(batch *[]*appendReq, want int, wait *time.Timer) {
fill:
	for len(*batch) < t.opt.MaxBatch {
		select {
		case r := <-t.reqs:
			*batch = append(*batch, r)
		default:
			break fill
		}
	}
	want = min(want, t.opt.MaxBatch)
	if len(*batch) >= want || t.opt.GroupDelay < 0 {
		return
	}
	wait.Reset(t.opt.GroupDelay)
	defer wait.Stop()
	for len(*batch) < want {
		select {
		case r := <-t.reqs:
			*batch = append(*batch, r)
		case <-wait.C:
			return
		case <-t.stop:
			return
		}
	}
}

// errStop ends a scan early.
var errStop = errors.New("audit: stop scan")

// errBehind means the stored head is ahead of the trail's: another writer
// appended. The trail checks those records, then tries again.
var errBehind = errors.New("audit: stored head ahead of memory")

// commit writes batch in one transaction and reports to each caller.
func (t *Trail) commit(batch []*appendReq) {
	var newHead vigil.AuditHead
	var ckp *vigil.AuditCheckpoint
	recs := make([]vigil.AuditRecord, len(batch))
	for i, r := range batch {
		recs[i] = r.rec
	}
	err := t.write(func(head vigil.AuditHead) ([]vigil.AuditEntry, []vigil.AuditCheckpoint, error) {
		entries, h, c, err := t.build(head, recs)
		if err != nil {
			return nil, nil, err
		}
		newHead, ckp = h, c
		if c != nil {
			return entries, []vigil.AuditCheckpoint{*c}, nil
		}
		return entries, nil, nil
	})
	if err == nil {
		t.advance(newHead, ckp)
		for i, r := range batch {
			r.seq = newHead.Seq - int64(len(batch)-1-i)
		}
	}
	for _, r := range batch {
		r.err = err
		close(r.done)
	}
}

// build returns the entries that append recs (normalised and validated)
// after head, the new head, and a checkpoint at it when one is due. It
// remembers the new head as pending (see sameHead) until it is committed.
func (t *Trail) build(head vigil.AuditHead, recs []vigil.AuditRecord) ([]vigil.AuditEntry, vigil.AuditHead, *vigil.AuditCheckpoint, error) {
	entries := make([]vigil.AuditEntry, len(recs))
	prev := head.Hash
	if head.Seq == 0 {
		prev = genesis[:]
	}
	seq := head.Seq
	for i := range recs {
		seq++
		rec := recs[i]
		rec.Seq = seq
		data, err := Encode(&rec)
		if err != nil {
			return nil, head, nil, err
		}
		h := chainHash(prev, data)
		entries[i] = vigil.AuditEntry{Seq: seq, Data: data, Hash: h[:], MAC: t.keys.recordMAC(data),
			Time: rec.Time, Agent: rec.ActorID, Action: rec.Action, Patients: rec.Patients}
		prev = h[:]
	}
	newHead := vigil.AuditHead{Seq: seq, Hash: prev, CheckpointSeq: head.CheckpointSeq}
	var ckp *vigil.AuditCheckpoint
	t.mu.Lock()
	last := t.lastCkp
	t.pending[seq] = prev
	t.mu.Unlock()
	if now := t.opt.Now(); seq-head.CheckpointSeq >= int64(t.opt.CheckpointEvery) || now.Sub(last) >= t.opt.CheckpointInterval {
		ckp = t.checkpoint(seq, prev, now)
		newHead.CheckpointSeq = seq
	}
	return entries, newHead, ckp, nil
}

// ChainAudit implements vigil.AuditChain: it checks head as a write of
// the trail's own would (see sameHead) and builds the entries of recs,
// normalised as Append does.
func (t *Trail) ChainAudit(head vigil.AuditHead, recs []vigil.AuditRecord) ([]vigil.AuditEntry, []vigil.AuditCheckpoint, error) {
	select {
	case <-t.stop:
		return nil, nil, ErrClosed
	default:
	}
	norm := make([]vigil.AuditRecord, len(recs))
	for i := range recs {
		r, err := t.normalise(&recs[i])
		if err != nil {
			return nil, nil, err
		}
		norm[i] = r
	}
	if err := t.sameHead(head); err != nil {
		if errors.Is(err, errBehind) {
			// Another process appended: the trail's own next write checks
			// those records; this one is refused rather than built on
			// records not yet checked.
			return nil, nil, fmt.Errorf("audit: the trail moved under this writer; retry: %w", vigil.ErrUnavailable)
		}
		return nil, nil, err
	}
	entries, _, ckp, err := t.build(head, norm)
	if err != nil {
		return nil, nil, err
	}
	if ckp != nil {
		return entries, []vigil.AuditCheckpoint{*ckp}, nil
	}
	return entries, nil, nil
}

// AuditCommitted implements vigil.AuditChain.
func (t *Trail) AuditCommitted(head vigil.AuditHead, ckps []vigil.AuditCheckpoint) {
	var last *vigil.AuditCheckpoint
	for i := range ckps {
		if last == nil || ckps[i].Seq > last.Seq {
			last = &ckps[i]
		}
	}
	t.advance(head, last)
}

// maxCatchUps bounds how often one write lets other writers go first.
const maxCatchUps = 100

// write runs build in a store transaction on a head the trail has
// checked: when another writer appended meanwhile, it checks their records
// (catchUp) and tries again.
func (t *Trail) write(build func(head vigil.AuditHead) ([]vigil.AuditEntry, []vigil.AuditCheckpoint, error)) error {
	ctx := context.Background()
	for range maxCatchUps {
		err := t.store.AppendAudit(ctx, func(head vigil.AuditHead) ([]vigil.AuditEntry, []vigil.AuditCheckpoint, error) {
			if err := t.sameHead(head); err != nil {
				return nil, nil, err
			}
			return build(head)
		})
		if !errors.Is(err, errBehind) {
			return err
		}
		if err := t.catchUp(ctx); err != nil {
			return err
		}
	}
	return fmt.Errorf("audit: other writers kept appending %d times in a row", maxCatchUps)
}

// checkpointIfDue writes a checkpoint at the head when records follow the
// last one and it is older than CheckpointInterval (or always, at close).
func (t *Trail) checkpointIfDue(closing bool) error {
	t.mu.Lock()
	h, last := t.head, t.lastCkp
	t.mu.Unlock()
	now := t.opt.Now()
	if h.Seq == h.CheckpointSeq || (!closing && now.Sub(last) < t.opt.CheckpointInterval) {
		return nil
	}
	var newHead vigil.AuditHead
	var ckp *vigil.AuditCheckpoint
	err := t.write(func(head vigil.AuditHead) ([]vigil.AuditEntry, []vigil.AuditCheckpoint, error) {
		newHead, ckp = head, nil
		if head.Seq == head.CheckpointSeq {
			return nil, nil, nil
		}
		ckp = t.checkpoint(head.Seq, head.Hash, now)
		newHead.CheckpointSeq = head.Seq
		return nil, []vigil.AuditCheckpoint{*ckp}, nil
	})
	if err != nil {
		t.opt.Logger.Error("audit checkpoint", "err", err)
		return err
	}
	t.advance(newHead, ckp)
	return nil
}

func (t *Trail) checkpoint(seq int64, hash []byte, now time.Time) *vigil.AuditCheckpoint {
	now = now.UTC().Truncate(time.Microsecond)
	return &vigil.AuditCheckpoint{Seq: seq, Hash: slices.Clone(hash), Time: now, KeyID: t.keys.id, Signature: t.keys.sign(seq, hash, now)}
}

// sameHead checks the stored head against the one in memory: behind it or
// beside it means records were removed or rewritten.
func (t *Trail) sameHead(head vigil.AuditHead) error {
	t.mu.Lock()
	mem := t.head
	pend, isPending := t.pending[head.Seq]
	t.mu.Unlock()
	if head.Seq > mem.Seq && isPending && bytes.Equal(head.Hash, pend) {
		// Built by this trail in the store's open transaction (ChainAudit
		// or a write of its own in the same batch), not yet committed.
		return nil
	}
	switch {
	case head.Seq < mem.Seq:
		return fmt.Errorf("%w: the trail ends at record %d but %d were written (truncated)", ErrTampered, head.Seq, mem.Seq)
	case head.Seq == mem.Seq && !bytes.Equal(head.Hash, mem.Hash):
		return fmt.Errorf("%w: record %d was replaced", ErrTampered, head.Seq)
	case head.Seq > mem.Seq:
		return errBehind
	}
	return nil
}

// catchUp checks the records other writers appended after the trail's
// head (chain and MACs: they must come from a holder of the key) and
// moves the head to the stored one.
func (t *Trail) catchUp(ctx context.Context) error {
	head, err := t.store.AuditHead(ctx)
	if err != nil {
		return fmt.Errorf("audit: read head: %w", err)
	}
	t.mu.Lock()
	mem := t.head
	t.mu.Unlock()
	prev := mem.Hash
	if mem.Seq == 0 {
		prev = genesis[:]
	}
	next := mem.Seq + 1
	err = t.store.ScanAudit(ctx, next, head.Seq, func(e *vigil.AuditEntry) error {
		if e.Seq != next {
			return fmt.Errorf("%w: record %d missing", ErrTampered, next)
		}
		if err := t.checkEntry(e, prev); err != nil {
			return err
		}
		prev = slices.Clone(e.Hash)
		next++
		return nil
	})
	if err != nil {
		return err
	}
	if next != head.Seq+1 {
		return fmt.Errorf("%w: records %d..%d missing", ErrTampered, next, head.Seq)
	}
	t.mu.Lock()
	t.head = vigil.AuditHead{Seq: head.Seq, Hash: prev, CheckpointSeq: max(mem.CheckpointSeq, head.CheckpointSeq)}
	t.mu.Unlock()
	return nil
}

// advance records a committed head and writes the witness for a new
// checkpoint. A witness that cannot be written is logged: the records are
// durable already, and the next checkpoint tries again.
func (t *Trail) advance(h vigil.AuditHead, ckp *vigil.AuditCheckpoint) {
	t.mu.Lock()
	if h.Seq >= t.head.Seq {
		t.head = h
	}
	if ckp != nil && ckp.Time.After(t.lastCkp) {
		t.lastCkp = ckp.Time
	}
	for seq := range t.pending {
		if seq <= t.head.Seq {
			delete(t.pending, seq)
		}
	}
	t.mu.Unlock()
	if ckp != nil && t.opt.WitnessFile != "" {
		if err := writeWitness(t.opt.WitnessFile, ckp); err != nil {
			t.opt.Logger.Error("audit witness", "err", err)
		}
	}
}

// Close stops accepting records, waits for those queued, and writes a
// final checkpoint (and witness) at the head, so that a trail closed
// cleanly has no unsigned tail. It does not close the store.
func (t *Trail) Close() error {
	t.closeOnce.Do(func() {
		close(t.stop)
		<-t.done
	})
	return t.closeErr
}
