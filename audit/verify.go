package audit

import (
	"bytes"
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigilhealth/vigil"
)

// VerifyKey is what Verify checks the trail with. Public is required;
// with Private also set (the signing key file) every record's MAC is
// checked too, which names a changed or inserted record exactly even when
// the attacker recomputed the hash chain after it.
type VerifyKey struct {
	Public  ed25519.PublicKey
	Private ed25519.PrivateKey
}

// VerifyOptions configure Verify.
type VerifyOptions struct {
	// WitnessFile is the witness written by the trail (Options.WitnessFile);
	// "" skips the witness check, which leaves a removed tail undetected.
	WitnessFile string
	// Progress, when set, is called every 1<<20 records with the number
	// checked so far, from Verify's goroutines (it must be safe for
	// concurrent use).
	Progress func(records int64)
	// Parallel is how many ranges of the trail are checked at once; 0
	// means one per core (GOMAXPROCS) for trails of 100,000 records or
	// more, one range for smaller ones.
	Parallel int
}

// ProblemKind says what is wrong with the first broken record.
type ProblemKind string

// The kinds of problem Verify reports.
const (
	// Changed: the record's content, hash or MAC is not what was written.
	Changed ProblemKind = "changed"
	// Missing: records were removed (a gap in sequence numbers, or later
	// records renumbered down to hide it).
	Missing ProblemKind = "missing"
	// Inserted: a record that was never written sits at this position
	// (later records renumbered up, or forged at the end).
	Inserted ProblemKind = "inserted"
	// Reordered: the record at this position was written at another one.
	Reordered ProblemKind = "reordered"
	// Truncated: a checkpoint or the witness names records past the end.
	Truncated ProblemKind = "truncated"
	// BadSignature: a checkpoint (or the witness) is not signed by the key.
	BadSignature ProblemKind = "bad-signature"
	// Rewritten: the chain is self-consistent but differs from a signed
	// checkpoint: records up to it were rewritten and re-chained. Without
	// the private key the first rewritten record can only be placed after
	// the previous checkpoint.
	Rewritten ProblemKind = "rewritten"
	// CheckpointRemoved: the checkpoint in the witness file is no longer in
	// the database.
	CheckpointRemoved ProblemKind = "checkpoint-removed"
	// Index: the store's query columns (time, agent, action, patients)
	// disagree with the record, so queries would hide or misfile it.
	Index ProblemKind = "index"
)

// Problem is the first broken record Verify found.
type Problem struct {
	Seq    int64 // the first record (or checkpoint position) that is wrong
	Kind   ProblemKind
	Detail string
}

// String formats the problem as "record N: kind: detail".
func (p *Problem) String() string {
	return fmt.Sprintf("record %d: %s: %s", p.Seq, p.Kind, p.Detail)
}

// Report is the result of Verify.
type Report struct {
	Records     int64 // records checked
	Checkpoints int   // checkpoint signatures checked
	Head        vigil.AuditHead
	// Unsigned is how many records follow the last checkpoint: they are
	// protected by the chain (and MACs) but not yet by a signature.
	Unsigned int64
	MACs     bool                   // whether record MACs were checked
	Witness  *vigil.AuditCheckpoint // the witness checkpoint, if any
	Problem  *Problem               // nil when the trail verifies
	Elapsed  time.Duration
}

// OK reports whether the trail verified.
func (r *Report) OK() bool { return r.Problem == nil }

// Verify walks the whole trail in sequence order, streaming, and checks
// every record against the previous one (hash chain), its MAC (with a
// private key), its index columns and the signed checkpoints, then the
// witness file, then a query index kept apart from the records
// (vigil.AuditIndexChecker). It stops at the first broken record and describes it in
// Report.Problem; the error is for failures to read the store or the
// witness. Memory is bounded by the number of checkpoints (about 150
// bytes each).
//
// Records appended while Verify runs are not checked: it reads the head
// first and walks up to it.
func Verify(ctx context.Context, store vigil.AuditStore, key VerifyKey, opt VerifyOptions) (*Report, error) {
	start := time.Now()
	if len(key.Public) != ed25519.PublicKeySize {
		return nil, vigil.Errorf(vigil.ErrInvalid, "audit: verify needs a public key")
	}
	k := publicKeys(key.Public)
	if key.Private != nil && !bytes.Equal(key.Private.Public().(ed25519.PublicKey), key.Public) {
		return nil, vigil.Errorf(vigil.ErrInvalid, "audit: private and public key do not match")
	}
	// The witness first, then the head: the witness is written after its
	// checkpoint commits, so it never names records past that head.
	w, err := readWitness(opt.WitnessFile)
	if err != nil {
		return nil, err
	}
	head, err := store.AuditHead(ctx)
	if err != nil {
		return nil, fmt.Errorf("audit: read head: %w", err)
	}
	var ckps []vigil.AuditCheckpoint
	err = store.ScanAuditCheckpoints(ctx, 1, func(c *vigil.AuditCheckpoint) error {
		cc := *c
		cc.Hash, cc.Signature = slices.Clone(c.Hash), slices.Clone(c.Signature)
		ckps = append(ckps, cc)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("audit: read checkpoints: %w", err)
	}
	rep := &Report{Head: head, MACs: key.Private != nil, Witness: w}
	// The chain can be checked in ranges at once: record n is checked
	// against the stored hash of record n-1, and the stored hashes of a
	// range's ends are checked by the neighbouring ranges, so all ranges
	// passing means the whole chain does. One range per core.
	parts := opt.Parallel
	if parts <= 0 {
		parts = 1
		if head.Seq >= 2*minRange {
			parts = min(runtime.GOMAXPROCS(0), int(head.Seq/minRange))
		}
	}
	parts = int(max(1, min(int64(parts), head.Seq)))
	walkers := make([]*walker, parts)
	var count atomic.Int64
	for i := range walkers {
		from := 1 + head.Seq*int64(i)/int64(parts)
		to := head.Seq * int64(i+1) / int64(parts)
		var m hash.Hash
		if key.Private != nil {
			m = hmac.New(sha256.New, newKeys(key.Private).mac)
		}
		walkers[i] = &walker{store: store, keys: k, mac: m, ckps: ckps, witness: w, headSeq: head.Seq,
			from: from, to: to, rep: &Report{}, progress: opt.Progress, count: &count}
	}
	errs := make([]error, parts)
	var wg sync.WaitGroup
	for i, v := range walkers {
		wg.Go(func() { errs[i] = v.walk(ctx) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for _, v := range walkers {
		rep.Records += v.rep.Records
		rep.Checkpoints += v.rep.Checkpoints
		if v.rep.Problem != nil {
			rep.Problem = v.rep.Problem
			break
		}
	}
	if rep.Problem == nil {
		last := walkers[len(walkers)-1]
		last.tail(head)
		rep.Problem, rep.Unsigned = last.rep.Problem, last.rep.Unsigned
	}
	// A query index kept apart from the records (vigil.AuditIndexChecker)
	// must list exactly the patients the records name.
	if ic, ok := store.(vigil.AuditIndexChecker); ok && rep.Problem == nil {
		seq, detail, err := ic.CheckAuditIndex(ctx, head.Seq)
		if err != nil {
			return nil, fmt.Errorf("audit: check the index: %w", err)
		}
		if seq > 0 {
			rep.Problem = &Problem{Seq: seq, Kind: Index, Detail: detail}
		}
	}
	rep.Elapsed = time.Since(start)
	return rep, nil
}

// minRange is the smallest range of records worth a goroutine of its own.
const minRange = 50_000

// walker holds the state of one range of Verify's walk.
type walker struct {
	store    vigil.AuditStore
	keys     *keys
	mac      hash.Hash // nil without the private key
	macBuf   [sha256.Size]byte
	ckps     []vigil.AuditCheckpoint
	ci       int // next checkpoint to check
	witness  *vigil.AuditCheckpoint
	headSeq  int64
	from, to int64   // the range
	rep      *Report // this range's findings
	progress func(int64)
	count    *atomic.Int64 // records checked by all walkers

	next    int64 // expected sequence number
	prev    [HashSize]byte
	lastCkp int64 // last checkpoint that matched (or precedes the range)
	view    view
	pats    []string
}

// errFound stops the scan at the first problem.
var errFound = errors.New("audit: problem found")

func (v *walker) fail(seq int64, kind ProblemKind, format string, args ...any) error {
	v.rep.Problem = &Problem{Seq: seq, Kind: kind, Detail: fmt.Sprintf(format, args...)}
	return errFound
}

// chunkSize is how many records the scanning goroutine hands to the
// checking goroutine at a time.
const chunkSize = 1024

// chunk is a batch of entries copied out of the scan, their bytes in
// arenas that are reused once the chunk is checked.
type chunk struct {
	entries []vigil.AuditEntry
	buf     []byte
	pats    []string
}

// add copies e into the chunk. When an arena is full a new one is started
// rather than grown, so that earlier entries keep pointing at valid bytes.
func (c *chunk) add(e *vigil.AuditEntry) {
	need := len(e.Data) + len(e.Hash) + len(e.MAC) + len(e.Agent)
	if cap(c.buf)-len(c.buf) < need {
		c.buf = make([]byte, 0, max(1<<20, need))
	}
	take := func(b []byte) []byte {
		off := len(c.buf)
		c.buf = append(c.buf, b...)
		return c.buf[off:len(c.buf):len(c.buf)]
	}
	if cap(c.pats)-len(c.pats) < len(e.Patients) {
		c.pats = make([]string, 0, max(4096, len(e.Patients)))
	}
	off := len(c.pats)
	c.pats = append(c.pats, e.Patients...)
	c.entries = append(c.entries, vigil.AuditEntry{Seq: e.Seq, Data: take(e.Data), Hash: take(e.Hash), MAC: take(e.MAC),
		Time: e.Time, Agent: e.Agent, Action: e.Action, Patients: c.pats[off:len(c.pats):len(c.pats)]})
}

func (c *chunk) reset() {
	clear(c.entries)
	c.entries, c.buf, c.pats = c.entries[:0], c.buf[:0], c.pats[:0]
}

// walk streams records 1..to from the store on one goroutine and checks
// them on another, so that reading rows and hashing use both cores.
func (v *walker) walk(ctx context.Context) error {
	to := v.to
	if to < v.from {
		return nil
	}
	v.next, v.prev = v.from, genesis
	if v.from > 1 {
		// Start from the stored hash of the record before the range; the
		// range before checks that one. If it is missing, that range
		// reports it, and this one has nothing to add.
		found := false
		err := v.store.ScanAudit(ctx, v.from-1, v.from-1, func(e *vigil.AuditEntry) error {
			found = len(e.Hash) == HashSize
			copy(v.prev[:], e.Hash)
			return nil
		})
		if err != nil {
			return fmt.Errorf("audit: read records: %w", err)
		}
		if !found {
			return nil
		}
	}
	v.ci, _ = slices.BinarySearchFunc(v.ckps, v.from, func(c vigil.AuditCheckpoint, s int64) int { return cmp.Compare(c.Seq, s) })
	if v.ci > 0 {
		v.lastCkp = v.ckps[v.ci-1].Seq
	}
	const nchunks = 4
	full := make(chan *chunk, nchunks)
	free := make(chan *chunk, nchunks+1)
	for range nchunks + 1 {
		free <- &chunk{entries: make([]vigil.AuditEntry, 0, chunkSize)}
	}
	var stop atomic.Bool
	checked := make(chan error, 1)
	go func() {
		var err error
		for c := range full {
			for i := 0; i < len(c.entries) && err == nil; i++ {
				if err = v.entry(ctx, &c.entries[i]); err != nil {
					stop.Store(true)
				}
			}
			c.reset()
			free <- c
		}
		checked <- err
	}()
	cur := <-free
	scanErr := v.store.ScanAudit(ctx, v.from, to, func(e *vigil.AuditEntry) error {
		if stop.Load() {
			return errFound
		}
		cur.add(e)
		if len(cur.entries) == chunkSize {
			full <- cur
			cur = <-free
		}
		return nil
	})
	if len(cur.entries) > 0 {
		full <- cur
	}
	close(full)
	err := <-checked
	switch {
	case errors.Is(err, errFound):
		return nil
	case err != nil:
		return err
	case scanErr != nil && !errors.Is(scanErr, errFound):
		return fmt.Errorf("audit: read records: %w", scanErr)
	}
	if v.next <= to {
		return v.fail(v.next, Missing, "records %d..%d missing (the head says %d)", v.next, to, to)
	}
	return nil
}

// entry checks one record. The order of the checks decides which kind of
// problem is reported when several apply.
func (v *walker) entry(ctx context.Context, e *vigil.AuditEntry) error {
	if e.Seq != v.next {
		if e.Seq == v.next+1 {
			return v.fail(v.next, Missing, "record %d missing", v.next)
		}
		return v.fail(v.next, Missing, "records %d..%d missing", v.next, e.Seq-1)
	}
	if err := v.view.parse(e.Data); err != nil {
		return v.fail(e.Seq, Changed, "record does not decode")
	}
	if got := v.view.seq; got != e.Seq {
		next := v.recordAt(ctx, e.Seq+1)
		switch {
		case got == e.Seq+1 && next == e.Seq+2:
			return v.fail(e.Seq, Missing, "record %d removed and later records renumbered", e.Seq)
		case got == e.Seq-1:
			return v.fail(e.Seq-1, Inserted, "a record that was never written sits at %d and later records are renumbered", e.Seq-1)
		}
		return v.fail(e.Seq, Reordered, "position %d holds record %d", e.Seq, got)
	}
	if v.mac != nil {
		v.mac.Reset()
		v.mac.Write(e.Data)
		if !hmac.Equal(v.mac.Sum(v.macBuf[:0]), e.MAC) {
			if v.recordAt(ctx, e.Seq+1) == e.Seq {
				return v.fail(e.Seq, Inserted, "a record that was never written sits at %d and later records are renumbered", e.Seq)
			}
			if e.Seq == v.headSeq && v.lastCkp < e.Seq {
				return v.fail(e.Seq, Changed, "record does not match its MAC (changed, or forged at the end)")
			}
			return v.fail(e.Seq, Changed, "record does not match its MAC")
		}
	}
	h := chainHash(v.prev[:], e.Data)
	if !bytes.Equal(h[:], e.Hash) {
		return v.fail(e.Seq, Changed, "record does not hash to its stored chain hash")
	}
	if err := v.index(e); err != nil {
		return err
	}
	for v.ci < len(v.ckps) && v.ckps[v.ci].Seq <= e.Seq {
		c := &v.ckps[v.ci]
		v.ci++
		if c.Seq < e.Seq { // cannot happen with a dense walk
			continue
		}
		if c.KeyID != v.keys.id || !v.keys.verify(c.Seq, c.Hash, c.Time, c.Signature) {
			return v.fail(c.Seq, BadSignature, "checkpoint at record %d is not signed by key %s", c.Seq, v.keys.id)
		}
		if !bytes.Equal(c.Hash, h[:]) {
			return v.fail(v.lastCkp+1, Rewritten, "records %d..%d were rewritten: the chain does not match the signed checkpoint at %d", v.lastCkp+1, c.Seq, c.Seq)
		}
		v.lastCkp = c.Seq
		v.rep.Checkpoints++
	}
	if v.witness != nil && e.Seq == v.witness.Seq && !bytes.Equal(v.witness.Hash, h[:]) {
		return v.fail(v.lastCkp+1, Rewritten, "records %d..%d were rewritten: the chain does not match the witness", v.lastCkp+1, e.Seq)
	}
	v.prev = h
	v.next++
	v.rep.Records++
	if n := v.count.Add(1); v.progress != nil && n%(1<<20) == 0 {
		v.progress(n)
	}
	return nil
}

// index compares the store's query columns with the record.
func (v *walker) index(e *vigil.AuditEntry) error {
	r := &v.view
	switch {
	case e.Time.UnixMicro() != r.us:
		return v.fail(e.Seq, Index, "stored time column differs from the record")
	case e.Agent != string(r.actorID):
		return v.fail(e.Seq, Index, "stored agent column differs from the record")
	case string(e.Action) != string(r.action):
		return v.fail(e.Seq, Index, "stored action column differs from the record")
	}
	v.pats = append(v.pats[:0], e.Patients...)
	slices.Sort(v.pats)
	if len(v.pats) != len(r.patients) {
		return v.fail(e.Seq, Index, "stored patient index differs from the record")
	}
	for i, p := range v.pats {
		if p != string(r.patients[i]) {
			return v.fail(e.Seq, Index, "stored patient index differs from the record")
		}
	}
	return nil
}

// recordAt returns the sequence number written inside the record stored
// at position seq, or 0: a look-ahead that tells a removal or insertion
// (later records renumbered) from a swap.
func (v *walker) recordAt(ctx context.Context, seq int64) int64 {
	var n int64
	_ = v.store.ScanAudit(ctx, seq, seq, func(e *vigil.AuditEntry) error {
		if r, err := Decode(e.Data); err == nil {
			n = r.Seq
		}
		return nil
	})
	return n
}

// tail checks what lies past the walked records: checkpoints and the
// witness naming records beyond the head, and the witness's signature.
func (v *walker) tail(head vigil.AuditHead) {
	for ; v.ci < len(v.ckps); v.ci++ {
		c := &v.ckps[v.ci]
		if c.KeyID != v.keys.id || !v.keys.verify(c.Seq, c.Hash, c.Time, c.Signature) {
			v.fail(c.Seq, BadSignature, "checkpoint at record %d (past the end) is not signed by key %s", c.Seq, v.keys.id)
			return
		}
		v.fail(head.Seq+1, Truncated, "a checkpoint names record %d but the trail ends at %d", c.Seq, head.Seq)
		return
	}
	v.rep.Unsigned = head.Seq - v.lastCkp
	w := v.witness
	if w == nil {
		return
	}
	if w.KeyID != v.keys.id || !v.keys.verify(w.Seq, w.Hash, w.Time, w.Signature) {
		v.fail(w.Seq, BadSignature, "the witness file is not signed by key %s", v.keys.id)
		return
	}
	if w.Seq > head.Seq {
		v.fail(head.Seq+1, Truncated, "the witness names record %d but the trail ends at %d", w.Seq, head.Seq)
		return
	}
	if _, ok := slices.BinarySearchFunc(v.ckps, w.Seq, func(c vigil.AuditCheckpoint, s int64) int { return cmp.Compare(c.Seq, s) }); !ok {
		v.fail(w.Seq, CheckpointRemoved, "the checkpoint at record %d in the witness is missing from the database", w.Seq)
	}
}
