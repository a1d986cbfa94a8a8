package modelreg

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/ecg/beatclass"
)

// Status is where a version stands, derived from the event log.
type Status string

// The statuses of a version. Exactly one version is active once any has
// been promoted.
const (
	// StatusCandidate: registered, neither promoted nor rejected.
	StatusCandidate Status = "candidate"
	// StatusActive: the model the server and annotate use.
	StatusActive Status = "active"
	// StatusRejected: the promotion rule (or a person) refused it; it was
	// never active.
	StatusRejected Status = "rejected"
	// StatusRetired: it was active once and another version replaced it.
	StatusRetired Status = "retired"
)

// EventKind names what happened to a version.
type EventKind string

// The events of the log.
const (
	EventRegistered EventKind = "registered"
	EventPromoted   EventKind = "promoted"
	EventRejected   EventKind = "rejected"
	EventRolledBack EventKind = "rolled_back"
)

// Event is one line of the append-only event log.
type Event struct {
	Seq     int       `json:"seq"` // 1, 2, … in order
	At      time.Time `json:"at"`  // UTC
	Kind    EventKind `json:"kind"`
	Version string    `json:"version"`
	// Previous is the version that was active before a promotion or
	// rollback ("" when none was).
	Previous string `json:"previous,omitempty"`
	By       string `json:"by"`
	Reason   string `json:"reason,omitempty"`
	// Chain is the hex SHA-256 of the previous line of the log ("" for the
	// first), so that an edited or truncated log is detected.
	Chain string `json:"chain"`
}

// Entry is a version with its current status.
type Entry struct {
	*Version
	Status Status
	// Activated is the event that last made it active (a promotion or a
	// rollback to it), Decided the last promotion or rejection; nil when
	// there was none.
	Activated *Event
	Decided   *Event
}

// File names inside the registry directory.
const (
	eventsFile  = "events.jsonl"
	lockFile    = ".lock"
	versionsDir = "versions"
	modelFile   = "model.vgml"
	versionFile = "version.json"
)

// Limits on who and why, which end up in the log and on screens.
const (
	maxBy     = 200
	maxReason = 2000
)

// Registry is a model registry in a directory. Reads take no lock and are
// safe while another process writes; writes from any number of processes
// serialise on a lock file. A Registry is safe for concurrent use.
type Registry struct {
	dir string
	now func() time.Time
}

// Option configures Open.
type Option func(*Registry)

// WithClock sets the clock that stamps registrations and events (default
// time.Now).
func WithClock(now func() time.Time) Option { return func(r *Registry) { r.now = now } }

// DefaultDir returns the registry directory inside a SQLite data directory.
func DefaultDir(dataDir string) string { return filepath.Join(dataDir, "models") }

// Open returns the registry in dir. It creates nothing: a registry that
// does not exist yet is empty, and the first write creates it.
func Open(dir string, opts ...Option) (*Registry, error) {
	if dir == "" {
		return nil, vigil.Errorf(vigil.ErrInvalid, "model registry directory is required")
	}
	r := &Registry{dir: filepath.Clean(dir), now: time.Now}
	for _, o := range opts {
		o(r)
	}
	return r, nil
}

// Dir returns the registry directory.
func (r *Registry) Dir() string { return r.dir }

// writeLock creates the registry directory if needed and takes the writer
// lock.
func (r *Registry) writeLock(ctx context.Context) (func(), error) {
	if err := os.MkdirAll(filepath.Join(r.dir, versionsDir), 0o750); err != nil {
		return nil, fmt.Errorf("create model registry: %w", err)
	}
	return lock(ctx, filepath.Join(r.dir, lockFile))
}

// checkWho validates who and why: a name is required, a reason where
// required; neither may hold control characters (they are printed and
// logged).
func checkWho(by, reason string, needReason bool) error {
	by = strings.TrimSpace(by)
	switch {
	case by == "":
		return vigil.Errorf(vigil.ErrInvalid, "who (--by) is required")
	case len(by) > maxBy:
		return vigil.Errorf(vigil.ErrInvalid, "who (--by) is longer than %d bytes", maxBy)
	case needReason && strings.TrimSpace(reason) == "":
		return vigil.Errorf(vigil.ErrInvalid, "a reason (--reason) is required")
	case len(reason) > maxReason:
		return vigil.Errorf(vigil.ErrInvalid, "the reason is longer than %d bytes", maxReason)
	}
	if strings.ContainsFunc(by+reason, unicode.IsControl) {
		return vigil.Errorf(vigil.ErrInvalid, "who and reason must not contain control characters")
	}
	return nil
}

// readEvents reads and verifies the event log; a missing log is empty. It
// returns the log's bytes too, for appending.
func (r *Registry) readEvents() ([]Event, []byte, error) {
	b, err := os.ReadFile(filepath.Join(r.dir, eventsFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read model registry events: %w", err)
	}
	var evs []Event
	chain := ""
	for n, line := range bytes.SplitAfter(b, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		if line[len(line)-1] != '\n' {
			return nil, nil, fmt.Errorf("%w: model registry event log: line %d is incomplete", vigil.ErrInvalid, n+1)
		}
		line = line[:len(line)-1]
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		var e Event
		if err := dec.Decode(&e); err != nil {
			return nil, nil, fmt.Errorf("%w: model registry event log line %d: %v", vigil.ErrInvalid, n+1, err)
		}
		if e.Seq != len(evs)+1 || e.Chain != chain {
			return nil, nil, fmt.Errorf("%w: model registry event log broken at line %d (sequence or hash chain)", vigil.ErrInvalid, n+1)
		}
		sum := sha256.Sum256(line)
		chain = hex.EncodeToString(sum[:])
		evs = append(evs, e)
	}
	return evs, b, nil
}

// appendEvents appends events to the log (under the writer lock), filling
// in their sequence numbers, times and hash chain, by rewriting the log
// atomically.
func (r *Registry) appendEvents(evs []Event, old []Event, raw []byte) error {
	buf := bytes.Clone(raw)
	chain := ""
	if len(raw) > 0 {
		lines := bytes.Split(bytes.TrimSuffix(raw, []byte("\n")), []byte("\n"))
		sum := sha256.Sum256(lines[len(lines)-1])
		chain = hex.EncodeToString(sum[:])
	}
	now := r.now().UTC()
	for i := range evs {
		e := &evs[i]
		e.Seq, e.At, e.Chain = len(old)+i+1, now, chain
		line, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("encode event: %w", err)
		}
		sum := sha256.Sum256(line)
		chain = hex.EncodeToString(sum[:])
		buf = append(append(buf, line...), '\n')
	}
	return writeFileAtomic(filepath.Join(r.dir, eventsFile), buf)
}

// current reads the event log and replays it: the registry's state now.
func (r *Registry) current(ctx context.Context) (*state, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	evs, _, err := r.readEvents()
	if err != nil {
		return nil, err
	}
	return replay(evs), nil
}

// state is the registry's state replayed from the log.
type state struct {
	registered []string          // in order
	stack      []string          // activation history; the top is active
	everActive map[string]bool   // ever active
	rejected   map[string]bool   // last decision was a rejection
	activated  map[string]*Event // last event making it active
	decided    map[string]*Event // last promotion or rejection
}

func replay(evs []Event) *state {
	s := &state{everActive: map[string]bool{}, rejected: map[string]bool{}, activated: map[string]*Event{}, decided: map[string]*Event{}}
	for i := range evs {
		e := &evs[i]
		switch e.Kind {
		case EventRegistered:
			s.registered = append(s.registered, e.Version)
		case EventPromoted:
			s.stack = append(s.stack, e.Version)
			s.everActive[e.Version] = true
			s.rejected[e.Version] = false
			s.activated[e.Version], s.decided[e.Version] = e, e
		case EventRejected:
			s.rejected[e.Version] = true
			s.decided[e.Version] = e
		case EventRolledBack:
			if k := slices.Index(s.stack, e.Version); k >= 0 {
				s.stack = s.stack[:k+1]
			} else {
				s.stack = append(s.stack, e.Version)
			}
			s.activated[e.Version] = e
		}
	}
	return s
}

func (s *state) active() string {
	if len(s.stack) == 0 {
		return ""
	}
	return s.stack[len(s.stack)-1]
}

func (s *state) status(id string) Status {
	switch {
	case id == s.active():
		return StatusActive
	case s.everActive[id]:
		return StatusRetired
	case s.rejected[id]:
		return StatusRejected
	}
	return StatusCandidate
}

func (r *Registry) versionDir(id string) string { return filepath.Join(r.dir, versionsDir, id) }

// readVersion reads a version's metadata.
func (r *Registry) readVersion(id string) (*Version, error) {
	b, err := os.ReadFile(filepath.Join(r.versionDir(id), versionFile))
	if err != nil {
		return nil, fmt.Errorf("read model version %s: %w", id, err)
	}
	var v Version
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("%w: model version %s: %v", vigil.ErrInvalid, id, err)
	}
	if v.ID != id {
		return nil, fmt.Errorf("%w: model version %s names itself %q", vigil.ErrInvalid, id, v.ID)
	}
	if v.Summary != nil {
		if err := v.Summary.Check(); err != nil {
			return nil, fmt.Errorf("model version %s summary: %w", id, err)
		}
	}
	return &v, nil
}

func (r *Registry) entry(s *state, id string) (Entry, error) {
	v, err := r.readVersion(id)
	if err != nil {
		return Entry{}, err
	}
	return Entry{Version: v, Status: s.status(id), Activated: s.activated[id], Decided: s.decided[id]}, nil
}

// List returns every registered version in registration order with its
// status.
func (r *Registry) List(ctx context.Context) ([]Entry, error) {
	s, err := r.current(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Entry, 0, len(s.registered))
	for _, id := range s.registered {
		e, err := r.entry(s, id)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// Events returns the event log, oldest first, after checking its hash chain.
func (r *Registry) Events(ctx context.Context) ([]Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	evs, _, err := r.readEvents()
	return evs, err
}

// resolve finds a registered version by its ID ("v3"), its number ("3") or
// its model version ("beatclass-…"); ErrNotFound otherwise.
func (r *Registry) resolve(s *state, ref string) (string, error) {
	ref = strings.TrimSpace(ref)
	if n, err := strconv.Atoi(ref); err == nil {
		ref = "v" + strconv.Itoa(n)
	}
	if slices.Contains(s.registered, ref) {
		return ref, nil
	}
	if strings.HasPrefix(ref, "beatclass-") {
		for _, id := range s.registered {
			if v, err := r.readVersion(id); err == nil && v.Model == ref {
				return id, nil
			}
		}
	}
	return "", vigil.Errorf(vigil.ErrNotFound, "model version %q is not registered", ref)
}

// Get returns one version by its ID ("v3"), number ("3") or model version
// ("beatclass-…"). It returns an error wrapping vigil.ErrNotFound when no
// version matches.
func (r *Registry) Get(ctx context.Context, ref string) (Entry, error) {
	s, err := r.current(ctx)
	if err != nil {
		return Entry{}, err
	}
	id, err := r.resolve(s, ref)
	if err != nil {
		return Entry{}, err
	}
	return r.entry(s, id)
}

// Active returns the active version; an error wrapping vigil.ErrNotFound
// when none has been promoted yet. It reads one small file and one version
// file, so a server may call it every minute to notice a promotion.
func (r *Registry) Active(ctx context.Context) (Entry, error) {
	s, err := r.current(ctx)
	if err != nil {
		return Entry{}, err
	}
	if s.active() == "" {
		return Entry{}, vigil.Errorf(vigil.ErrNotFound, "no active model version in the registry")
	}
	return r.entry(s, s.active())
}

// Classifier loads the model of a registered version, checking the file
// against the SHA-256 recorded at registration.
func (r *Registry) Classifier(ctx context.Context, v *Version) (*beatclass.Classifier, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(r.versionDir(v.ID), modelFile))
	if err != nil {
		return nil, fmt.Errorf("read model %s: %w", v.ID, err)
	}
	sum := sha256.Sum256(b)
	if hex.EncodeToString(sum[:]) != v.SHA256 {
		return nil, fmt.Errorf("%w: model file of %s does not match its recorded SHA-256", vigil.ErrInvalid, v.ID)
	}
	c, err := beatclass.Load(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", v.ID, err)
	}
	return c, nil
}

// Register stores a model file with its metadata as a new candidate
// version and logs the registration. It fills in v's ID, Model, SHA256,
// Task, Registered and RegisteredBy. The model must load as a beat
// classifier. A model byte-identical to a registered version is not stored
// twice: the error wraps vigil.ErrConflict and names that version.
func (r *Registry) Register(ctx context.Context, model []byte, v *Version, by string) error {
	unlock, err := r.writeLock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	return r.register(ctx, model, v, by)
}

// register is Register under the writer lock.
func (r *Registry) register(ctx context.Context, model []byte, v *Version, by string) error {
	if err := checkWho(by, "", false); err != nil {
		return err
	}
	c, err := beatclass.Load(bytes.NewReader(model))
	if err != nil {
		return fmt.Errorf("register model: %w", err)
	}
	evs, raw, err := r.readEvents()
	if err != nil {
		return err
	}
	s := replay(evs)
	sum := sha256.Sum256(model)
	hexSum := hex.EncodeToString(sum[:])
	if id := r.findSHA(s, hexSum); id != "" {
		return vigil.Errorf(vigil.ErrConflict, "this model is already registered as %s", id)
	}
	id, err := r.nextID()
	if err != nil {
		return err
	}
	v.ID, v.Model, v.SHA256, v.Task = id, c.Version(), hexSum, "ecg-beats"
	v.Registered, v.RegisteredBy = r.now().UTC(), strings.TrimSpace(by)
	meta, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode model version: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// Write the version into a temporary directory, then rename it into
	// place: a crash leaves no half-written version.
	parent := filepath.Join(r.dir, versionsDir)
	tmp, err := os.MkdirTemp(parent, ".tmp-"+id+"-")
	if err != nil {
		return fmt.Errorf("create model version: %w", err)
	}
	if err := writeFileSync(filepath.Join(tmp, modelFile), model); err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("write model: %w", err)
	}
	if err := writeFileSync(filepath.Join(tmp, versionFile), append(meta, '\n')); err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("write model version: %w", err)
	}
	if err := syncDir(tmp); err != nil {
		os.RemoveAll(tmp)
		return err
	}
	if err := os.Rename(tmp, r.versionDir(id)); err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("store model version: %w", err)
	}
	if err := syncDir(parent); err != nil {
		return err
	}
	return r.appendEvents([]Event{{Kind: EventRegistered, Version: id, By: v.RegisteredBy}}, evs, raw)
}

// findSHA returns the registered version with the given file hash, or "".
func (r *Registry) findSHA(s *state, sum string) string {
	for _, id := range s.registered {
		if v, err := r.readVersion(id); err == nil && v.SHA256 == sum {
			return id
		}
	}
	return ""
}

// nextID returns the next free version ID: one more than the largest
// "vN" directory, so that a version directory left by a crash before its
// registration event is never reused.
func (r *Registry) nextID() (string, error) {
	ents, err := os.ReadDir(filepath.Join(r.dir, versionsDir))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("list model versions: %w", err)
	}
	n := 0
	for _, e := range ents {
		if k, err := strconv.Atoi(strings.TrimPrefix(e.Name(), "v")); err == nil && strings.HasPrefix(e.Name(), "v") {
			n = max(n, k)
		}
	}
	return "v" + strconv.Itoa(n+1), nil
}

// Promote makes a registered version the active one. by (who) and reason
// are required and logged. Promoting a rejected or retired version is
// allowed — a person overriding the rule — and logged the same way.
// Promoting the active version is an error wrapping vigil.ErrConflict.
func (r *Registry) Promote(ctx context.Context, ref, by, reason string) (Entry, error) {
	unlock, err := r.writeLock(ctx)
	if err != nil {
		return Entry{}, err
	}
	defer unlock()
	return r.decide(ctx, ref, EventPromoted, by, reason)
}

// Reject records that a candidate was refused. by and reason are required.
// Only a candidate (never active, not yet rejected) can be rejected; other
// versions give an error wrapping vigil.ErrConflict.
func (r *Registry) Reject(ctx context.Context, ref, by, reason string) (Entry, error) {
	unlock, err := r.writeLock(ctx)
	if err != nil {
		return Entry{}, err
	}
	defer unlock()
	return r.decide(ctx, ref, EventRejected, by, reason)
}

// decide is Promote and Reject under the writer lock.
func (r *Registry) decide(ctx context.Context, ref string, kind EventKind, by, reason string) (Entry, error) {
	if err := checkWho(by, reason, true); err != nil {
		return Entry{}, err
	}
	if err := ctx.Err(); err != nil {
		return Entry{}, err
	}
	evs, raw, err := r.readEvents()
	if err != nil {
		return Entry{}, err
	}
	s := replay(evs)
	id, err := r.resolve(s, ref)
	if err != nil {
		return Entry{}, err
	}
	switch st := s.status(id); {
	case kind == EventPromoted && st == StatusActive:
		return Entry{}, vigil.Errorf(vigil.ErrConflict, "%s is already the active version", id)
	case kind == EventRejected && st != StatusCandidate:
		return Entry{}, vigil.Errorf(vigil.ErrConflict, "%s is %s; only a candidate can be rejected", id, st)
	}
	if kind == EventPromoted {
		// The model must load before it can serve.
		v, err := r.readVersion(id)
		if err != nil {
			return Entry{}, err
		}
		if _, err := r.Classifier(ctx, v); err != nil {
			return Entry{}, err
		}
	}
	ev := Event{Kind: kind, Version: id, By: strings.TrimSpace(by), Reason: strings.TrimSpace(reason)}
	if kind == EventPromoted {
		ev.Previous = s.active()
	}
	if err := r.appendEvents([]Event{ev}, evs, raw); err != nil {
		return Entry{}, err
	}
	evs, _, err = r.readEvents()
	if err != nil {
		return Entry{}, err
	}
	return r.entry(replay(evs), id)
}

// Rollback makes an earlier active version active again: by default the
// one that was active before the current one (repeated rollbacks walk
// further back), or to, which must have been active before (status
// retired). by and reason are required. It returns the version now active,
// and an error wrapping vigil.ErrConflict when there is nothing to roll
// back to.
func (r *Registry) Rollback(ctx context.Context, to, by, reason string) (Entry, error) {
	if err := checkWho(by, reason, true); err != nil {
		return Entry{}, err
	}
	unlock, err := r.writeLock(ctx)
	if err != nil {
		return Entry{}, err
	}
	defer unlock()
	evs, raw, err := r.readEvents()
	if err != nil {
		return Entry{}, err
	}
	s := replay(evs)
	cur := s.active()
	var id string
	if to == "" {
		if len(s.stack) < 2 {
			return Entry{}, vigil.Errorf(vigil.ErrConflict, "no earlier active version to roll back to")
		}
		id = s.stack[len(s.stack)-2]
	} else {
		if id, err = r.resolve(s, to); err != nil {
			return Entry{}, err
		}
		switch st := s.status(id); st {
		case StatusActive:
			return Entry{}, vigil.Errorf(vigil.ErrConflict, "%s is already the active version", id)
		case StatusRetired:
		default:
			return Entry{}, vigil.Errorf(vigil.ErrConflict, "%s was never active (%s); promote it instead", id, st)
		}
	}
	v, err := r.readVersion(id)
	if err != nil {
		return Entry{}, err
	}
	if _, err := r.Classifier(ctx, v); err != nil {
		return Entry{}, err
	}
	ev := Event{Kind: EventRolledBack, Version: id, Previous: cur, By: strings.TrimSpace(by), Reason: strings.TrimSpace(reason)}
	if err := r.appendEvents([]Event{ev}, evs, raw); err != nil {
		return Entry{}, err
	}
	evs, _, err = r.readEvents()
	if err != nil {
		return Entry{}, err
	}
	return r.entry(replay(evs), id)
}
