package vigil

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"
)

// AuditAction is what an audited event did. Actions outside the constants
// below are rejected when a record is appended (fail closed): add a
// constant, and its FHIR mapping in package audit, to audit something new.
type AuditAction string

// The audited actions. The first group are FHIR interactions on health
// data (https://hl7.org/fhir/R4/http.html), the second security events.
const (
	AuditRead       AuditAction = "read"
	AuditVRead      AuditAction = "vread"
	AuditSearch     AuditAction = "search"
	AuditHistory    AuditAction = "history"
	AuditCreate     AuditAction = "create"
	AuditUpdate     AuditAction = "update"
	AuditPatch      AuditAction = "patch"
	AuditDelete     AuditAction = "delete"
	AuditImport     AuditAction = "import"
	AuditExport     AuditAction = "export"
	AuditReindex    AuditAction = "reindex"    // vigil reindex: every resource read to rebuild the search index
	AuditEverything AuditAction = "everything" // Patient/$everything

	AuditLogin            AuditAction = "login"
	AuditLoginFailed      AuditAction = "login-failed"
	AuditLogout           AuditAction = "logout"
	Audit2FAEnrol         AuditAction = "2fa-enrol"
	Audit2FADisable       AuditAction = "2fa-disable"
	AuditTokenIssue       AuditAction = "token-issue"
	AuditTokenRevoke      AuditAction = "token-revoke"
	AuditPermissionDenied AuditAction = "permission-denied"
	AuditBreakGlass       AuditAction = "break-glass"
	AuditAccountCreate    AuditAction = "account-create"
	AuditAccountUpdate    AuditAction = "account-update"
	AuditAccountLock      AuditAction = "account-lock"
)

// AuditOutcome is how an audited event ended.
type AuditOutcome string

// The outcomes. Denied is a refusal by the access policy or by
// authentication; Failed is an error while doing what was allowed.
const (
	AuditSuccess AuditOutcome = "success"
	AuditDenied  AuditOutcome = "denied"
	AuditFailed  AuditOutcome = "failed"
)

// AuditRecord is one entry of the audit trail: who did what to which
// health data, when, from where, and how it ended (HIPAA 45 CFR
// 164.312(b) audit controls). It never holds passwords, tokens, cookies or
// resource contents: only opaque ids.
//
// Records are immutable once appended; the trail assigns Seq and truncates
// Time to whole microseconds in UTC.
type AuditRecord struct {
	// Seq is the record's position in the trail, from 1, dense. Set by the
	// trail on Append; ignored when given.
	Seq int64
	// Time is when the event happened; the zero value means "now" on Append.
	Time time.Time
	// ActorID is the acting account's opaque id; empty for an anonymous
	// caller (such as a failed login for an unknown user).
	ActorID string
	// ActorName is the account's username (or the name tried at a failed
	// login), for people reading the trail.
	ActorName string
	// Role is the actor's role (a Role value such as "clinician"); empty
	// when anonymous.
	Role string
	// Action is what was done.
	Action AuditAction
	// Outcome is how it ended.
	Outcome AuditOutcome
	// Resources lists the resources involved, as "Type/id" (optionally
	// "Type/id/_history/N"), in the order given.
	Resources []string
	// Patients lists the patients whose data was involved, as
	// "Patient/id": the subject of each resource touched, for searches all
	// patients whose data the result revealed.
	Patients []string
	// Source is the network address the request came from.
	Source string
	// RequestID identifies the request (for correlation with logs).
	RequestID string
	// Detail is an optional short free text, such as a break-the-glass
	// reason or the kind of failure. Never secrets, never clinical data.
	Detail string
}

// AuditQuery selects records of the trail, newest first. Zero fields do not
// filter.
type AuditQuery struct {
	// Patient keeps records involving this patient ("Patient/id").
	Patient string
	// Agent keeps records whose actor is this account id.
	Agent string
	// Since and Until keep records with Since <= Time < Until.
	Since, Until time.Time
	// Actions keeps records with one of these actions.
	Actions []AuditAction
	// Before continues a previous page: only records with Seq < Before.
	Before int64
	// Count is the page size (default 50, at most 1000).
	Count int
}

// AuditPage is one page of query results, newest first.
type AuditPage struct {
	Records []AuditRecord
	// Next is the Before of the next page, 0 when this is the last one.
	Next int64
}

// AuditEntry is one stored record of the hash chain: its canonical
// encoding, which is authoritative, its chain hash, and the fields that
// stores index for queries (copies of what Data holds; the verifier checks
// that they agree).
type AuditEntry struct {
	Seq  int64
	Data []byte // canonical encoding of the record (package audit)
	Hash []byte // SHA-256 chain hash ending at this record
	MAC  []byte // HMAC of Data with a key kept outside the database

	Time     time.Time // record time, microseconds, UTC
	Agent    string    // actor account id
	Action   AuditAction
	Patients []string
}

// AuditCheckpoint is a signature over the chain head at Seq, made with a
// key kept outside the database.
type AuditCheckpoint struct {
	Seq       int64
	Hash      []byte // chain hash of record Seq
	Time      time.Time
	KeyID     string // identifies the signing key (package audit)
	Signature []byte
}

// AuditHead is the end of the stored chain: the last record's Seq and Hash
// (0 and nil when empty) and the Seq of the last checkpoint (0 when none).
type AuditHead struct {
	Seq           int64
	Hash          []byte
	CheckpointSeq int64
}

// AuditIndexChecker is implemented by audit stores that keep a query index
// apart from their records (the SQLite store's patient index, filled in
// batches): CheckAuditIndex returns the first record, up to upTo, that the
// index misfiles (a patient missing from it, or listed for a record that
// does not name them), with a description, or 0 when it agrees.
type AuditIndexChecker interface {
	CheckAuditIndex(ctx context.Context, upTo int64) (seq int64, detail string, err error)
}

// AuditStore keeps the audit trail's entries and checkpoints. It does not
// compute or check hashes: package audit does. Implementations are safe for
// concurrent use and never update or delete entries.
type AuditStore interface {
	// AppendAudit runs one write transaction: it locks the chain against
	// other writers (other processes or nodes included), reads the head,
	// calls fn with it and stores the entries and checkpoints fn returns.
	// It returns after they are durable. If fn returns an error nothing is
	// written and AppendAudit returns it.
	AppendAudit(ctx context.Context, fn func(head AuditHead) ([]AuditEntry, []AuditCheckpoint, error)) error
	// AuditHead returns the current head.
	AuditHead(ctx context.Context) (AuditHead, error)
	// ScanAudit calls fn for each entry with from <= Seq <= to, in Seq
	// order, streaming (entries are not all held in memory). fn must not
	// keep e or its slices. Patients come from the store's patient index,
	// so that the verifier sees what patient queries see.
	ScanAudit(ctx context.Context, from, to int64, fn func(e *AuditEntry) error) error
	// ScanAuditCheckpoints calls fn for each checkpoint with Seq >= from,
	// in Seq order. fn must not keep c or its slices.
	ScanAuditCheckpoints(ctx context.Context, from int64, fn func(c *AuditCheckpoint) error) error
	// QueryAudit returns up to q.Count (already defaulted by the caller)
	// entries matching q, newest first. Callers re-check each decoded
	// record against q: the index columns are not authoritative.
	QueryAudit(ctx context.Context, q *AuditQuery) ([]AuditEntry, error)
}

// AuditChain builds the entries that append records to the audit trail,
// for a store that writes them inside its own transaction (see
// CommitAudit). It is implemented by audit.Trail.
type AuditChain interface {
	// ChainAudit returns the entries, and a checkpoint when one is due,
	// that append recs after head. head is the stored head as the store's
	// transaction sees it. Nothing is durable until the store commits and
	// calls AuditCommitted; a store that rolls back simply drops them.
	ChainAudit(head AuditHead, recs []AuditRecord) ([]AuditEntry, []AuditCheckpoint, error)
	// AuditCommitted reports that the trail up to head is durable, with
	// the checkpoints committed since the last call.
	AuditCommitted(head AuditHead, ckps []AuditCheckpoint)
}

// CommitAudit asks a resource store to append the audit record of a Write
// in the same transaction as the Write itself, so that the change and its
// record are committed (and made durable) together: one commit instead of
// two, and no change without its record. Stores that cannot (PostgreSQL
// today) ignore it, and the caller appends the record afterwards; Appended
// tells the caller which happened.
type CommitAudit struct {
	// Chain builds the entries (the audit trail).
	Chain AuditChain
	// Record returns the record of a Write whose fn succeeded; written
	// lists the resources it stored, as "Type/id", in order. It is called
	// on the store's writer, while the Write's caller waits.
	Record func(written []string) AuditRecord

	appended atomic.Bool
}

type commitAuditKey struct{}

// WithCommitAudit returns a context under which Writes append c's record
// in their own transaction (stores that support it).
func WithCommitAudit(ctx context.Context, c *CommitAudit) context.Context {
	return context.WithValue(ctx, commitAuditKey{}, c)
}

// CommitAuditFrom returns the CommitAudit of ctx, or nil.
func CommitAuditFrom(ctx context.Context) *CommitAudit {
	c, _ := ctx.Value(commitAuditKey{}).(*CommitAudit)
	return c
}

// MarkAppended is called by a store after it committed c's record.
func (c *CommitAudit) MarkAppended() { c.appended.Store(true) }

// Appended reports whether a store committed c's record with a Write.
func (c *CommitAudit) Appended() bool { return c != nil && c.appended.Load() }

// CommitAuditBatch gathers the CommitAudits of the Writes a store commits
// in one transaction, and appends their records in it: Add each Write that
// stored something, call Append before the commit and Committed after it.
// The zero value is empty and ready to use.
type CommitAuditBatch struct {
	items []commitAuditItem
	done  []committedChain
}

type commitAuditItem struct {
	ca      *CommitAudit
	written []string
}

// committedChain is what Append added to one chain.
type committedChain struct {
	chain AuditChain
	head  AuditHead
	ckps  []AuditCheckpoint
}

// Add queues the record of ca for a Write that stored written.
func (b *CommitAuditBatch) Add(ca *CommitAudit, written []string) {
	b.items = append(b.items, commitAuditItem{ca, written})
}

// Len is how many records are queued.
func (b *CommitAuditBatch) Len() int { return len(b.items) }

// Append builds the queued records (grouped by chain; in practice there
// is one: the trail) and writes them in the store's open transaction:
// head reads the stored head as the transaction sees it, insert writes the
// entries and checkpoints. An error leaves the transaction to be rolled
// back.
func (b *CommitAuditBatch) Append(head func() (AuditHead, error), insert func([]AuditEntry, []AuditCheckpoint) error) error {
	b.done = b.done[:0]
	for _, first := range b.items {
		chain := first.ca.Chain
		if b.appended(chain) {
			continue
		}
		var recs []AuditRecord
		for _, it := range b.items {
			if it.ca.Chain == chain {
				recs = append(recs, it.ca.Record(it.written))
			}
		}
		h, err := head()
		if err != nil {
			return err
		}
		entries, ckps, err := chain.ChainAudit(h, recs)
		if err != nil {
			return fmt.Errorf("audit records: %w", err)
		}
		if err := insert(entries, ckps); err != nil {
			return err
		}
		if n := len(entries); n > 0 {
			h.Seq, h.Hash = entries[n-1].Seq, entries[n-1].Hash
		}
		for _, c := range ckps {
			h.CheckpointSeq = max(h.CheckpointSeq, c.Seq)
		}
		b.done = append(b.done, committedChain{chain, h, ckps})
	}
	return nil
}

func (b *CommitAuditBatch) appended(c AuditChain) bool {
	for _, d := range b.done {
		if d.chain == c {
			return true
		}
	}
	return false
}

// Committed marks the records appended and tells their chains the new
// head; call it once the transaction committed.
func (b *CommitAuditBatch) Committed() {
	for _, it := range b.items {
		it.ca.MarkAppended()
	}
	for _, d := range b.done {
		d.chain.AuditCommitted(d.head, d.ckps)
	}
}
