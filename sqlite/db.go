package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/vigilhealth/vigil"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

var _ vigil.ResourceStore = (*DB)(nil)

// FileName is the name of the database file Open creates in its directory.
const FileName = "vigil.db"

// Synchronous is a setting of SQLite's PRAGMA synchronous in WAL mode
// (https://www.sqlite.org/pragma.html#pragma_synchronous).
type Synchronous string

const (
	// SyncFull syncs the WAL on every commit: a committed Write survives
	// power loss. With group commit one fsync serves a whole batch of
	// concurrent Writes, so this is the default.
	SyncFull Synchronous = "FULL"
	// SyncNormal syncs only at WAL checkpoints: commits are atomic and
	// survive a crash of the process, but the last transactions before a
	// power loss or OS crash may roll back. Faster on slow disks.
	SyncNormal Synchronous = "NORMAL"
)

// Option configures Open.
type Option func(*config)

type config struct {
	sync     Synchronous
	readers  int
	batch    int
	busy     int // ms
	cacheKiB int
	// writerCacheKiB is the writer connection's page cache (see
	// writerPragmas).
	writerCacheKiB int
	mmapBytes      int64
	// auditIndexEvery is how often the writer indexes the trail's patient
	// rows (auditIndexEvery in audit.go; tests set it with
	// withAuditIndexEvery).
	auditIndexEvery time.Duration
	// mergeRows is how many rows the sample log holds before a merge
	// (WithSampleMerge).
	mergeRows int
	// logAll sends every batch of samples to the sample log (tests of the
	// log and its blocks through the conformance suite; withLogAll).
	logAll bool
	// noAuditCatchUp leaves the unindexed tail alone at open (tests of the
	// boundary between the index and the tail).
	noAuditCatchUp bool
}

// withAuditIndexEvery sets how often the writer indexes the audit trail's
// patient rows (tests: 0 for every commit, a long time for never); a
// positive interval also leaves the unindexed tail alone at open.
func withAuditIndexEvery(d time.Duration) Option {
	return func(c *config) { c.auditIndexEvery, c.noAuditCatchUp = d, d > 0 }
}

// withLogAll makes the sample store log every batch of samples, whatever
// its shape (tests).
func withLogAll() Option { return func(c *config) { c.logAll = true } }

// WithSynchronous sets the durability level (default SyncFull).
func WithSynchronous(s Synchronous) Option { return func(c *config) { c.sync = s } }

// WithReaders sets the number of read connections (default: GOMAXPROCS, at
// least 4).
func WithReaders(n int) Option { return func(c *config) { c.readers = n } }

// WithBatch sets how many concurrent Writes the writer commits in one
// database transaction at most (default 64).
func WithBatch(n int) Option { return func(c *config) { c.batch = n } }

// DB is a vigil.ResourceStore in one SQLite file. It is safe for concurrent
// use. Reads use a pool of connections and see committed data (WAL mode);
// all writes go through one connection owned by a writer goroutine, which
// groups the fns of concurrent Write calls into one transaction (group
// commit), each fn inside its own SAVEPOINT.
type DB struct {
	path   string
	read   *sql.DB
	write  *sql.DB
	conn   *sql.Conn
	stmts  *stmts
	rcache *stmtCache // statements on the read pool
	wcache *stmtCache // statements on the writer connection
	batch  int
	jobs   chan *job
	stop   chan struct{}
	done   chan struct{}
	closed sync.Once
	cerr   error

	// ckpt is a connection of its own that copies the WAL back into the
	// database file in the background (PASSIVE checkpoints), so that the
	// writer seldom stalls on a checkpoint (see writerCheckpointPages).
	// ckptStop/ckptDone stop its goroutine.
	ckpt     *sql.DB
	ckptStop chan struct{}
	ckptDone chan struct{}

	sync     Synchronous
	auditIns *auditIns // audit inserts on conn; owned by the writer goroutine
	// auditIndexEvery is how often the writer indexes the trail's patient
	// rows (audit.go).
	auditIndexEvery time.Duration
	// cacheKiB and writerCacheKiB are the page cache sizes of the
	// readers and of the writer (BulkLoad lends the writer the former).
	cacheKiB, writerCacheKiB int
}

// writerCheckpointPages bounds the WAL: when a commit leaves more pages
// than this in it, the writer checkpoints itself. The background
// checkpointer has usually copied those pages already, so this is cheap; it
// matters because a checkpoint that runs while the writer keeps appending
// never completes, and only a completed one lets the WAL restart from the
// beginning instead of growing without bound. 16,000 pages (64 MB) rather
// than SQLite's default of 1,000: a big import commits several thousand
// pages at a time, and a lower bound makes the writer do most of the
// copying itself (measured: 10 % fewer imports/s with 4,000).
const writerCheckpointPages = 16000

// checkpointEvery is how often the background checkpointer runs.
const checkpointEvery = 250 * time.Millisecond

// checkpointer runs PASSIVE checkpoints until stopped, then a final
// TRUNCATE checkpoint that leaves an empty WAL behind on Close
// (https://www.sqlite.org/wal.html#automatic_checkpoint).
func (db *DB) checkpointer() {
	defer close(db.ckptDone)
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	for {
		select {
		case <-db.ckptStop:
			return
		case <-t.C:
			// A busy or failed passive checkpoint is retried on the next tick;
			// the WAL only grows meanwhile, nothing is lost.
			_, _ = db.ckpt.ExecContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)")
		}
	}
}

// openFile applies opts over the defaults (batch being the default group
// size), checks them, creates dir, and returns the configuration, the path
// of file in dir and a function making its DSN: the pragmas every
// connection of a Vigil database file gets (WAL, the synchronous setting,
// page cache, busy timeout), then pragmas, then extra.
//
// Only the writer maps the file into memory (writerPragmas). A read
// connection that finds the database changed since its last transaction
// drops its page cache and, with a memory map, unmaps the whole file and
// faults every page it touches back in: with the commits of audited reads
// and device ingest arriving every millisecond or so, that made an audited
// read cost twice the CPU of one through the page cache (A/B in
// README #2).
func openFile(dir, file string, batch int, opts []Option, pragmas ...string) (config, string, func(extra ...string) string, error) {
	cfg := config{sync: SyncFull, readers: max(4, runtime.GOMAXPROCS(0)), batch: batch, busy: 5000, cacheKiB: 64 << 10, writerCacheKiB: 64 << 10, mmapBytes: 256 << 20,
		auditIndexEvery: auditIndexEvery, mergeRows: defaultMergeRows}
	for _, o := range opts {
		o(&cfg)
	}
	switch cfg.sync {
	case SyncFull, SyncNormal:
	default:
		return cfg, "", nil, vigil.Errorf(vigil.ErrInvalid, "unknown synchronous setting %q", cfg.sync)
	}
	if cfg.readers < 1 || cfg.batch < 1 || cfg.mergeRows < 1 {
		return cfg, "", nil, vigil.Errorf(vigil.ErrInvalid, "readers, batch and sample merge rows must be positive")
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return cfg, "", nil, fmt.Errorf("sqlite: create directory: %w", err)
	}
	path := filepath.Join(dir, file)
	base := append([]string{
		fmt.Sprintf("busy_timeout(%d)", cfg.busy),
		"journal_mode(WAL)",
		"synchronous(" + string(cfg.sync) + ")",
		fmt.Sprintf("cache_size(-%d)", cfg.cacheKiB),
		"temp_store(MEMORY)",
	}, pragmas...)
	dsn := func(extra ...string) string {
		q := url.Values{}
		for _, p := range append(slices.Clip(base), extra...) {
			q.Add("_pragma", p)
		}
		return "file:" + path + "?" + q.Encode()
	}
	return cfg, path, dsn, nil
}

// writerPragmas are the extra pragmas of a file's writer connection: its
// checkpoint threshold, the memory map and a page cache of its own size.
//
// The resource store's writer has a cache an eighth of the readers' (8 MB,
// Open): at every commit SQLite truncates the writer's page cache, and in
// our stores that walks the whole hash table of the cache (why the
// truncation is not the cheap partial one is not understood; a standalone
// test reproduces it once the database passes a few thousand pages). With
// 64 MB that walk was 5–10 % of the CPU of audited reads (one small commit
// per group of reads). Measured 2026-12-07, other work stopped, 64 MB
// against 8 MB alternated six times: audited reads +10 to +31 % in every
// pair (6,640–9,090 → 7,880–10,520/s), creates −7 to +36 %. The writer
// reads clean pages through the memory map, so it needs its cache mainly
// for pages in the WAL. A big import's transactions do want more (−11 %
// imports/s at 8 MB), so BulkLoad gives the writer the readers' size for
// the load. The sample store's writer keeps the readers' size: gateway
// ingest A/B pairs went both ways.
func (cfg config) writerPragmas() []string {
	return []string{fmt.Sprintf("wal_autocheckpoint(%d)", writerCheckpointPages), fmt.Sprintf("mmap_size(%d)", cfg.mmapBytes),
		fmt.Sprintf("cache_size(-%d)", cfg.writerCacheKiB)}
}

// Open opens (creating if needed) the store in dir/vigil.db and applies
// any pending migrations. The context bounds the opening only.
func Open(ctx context.Context, dir string, opts ...Option) (*DB, error) {
	cfg, path, dsn, err := openFile(dir, FileName, 64, opts, "foreign_keys(1)")
	if err != nil {
		return nil, err
	}
	cfg.writerCacheKiB = cfg.cacheKiB / 8 // see writerPragmas
	db := &DB{path: path, batch: cfg.batch, sync: cfg.sync, jobs: make(chan *job), stop: make(chan struct{}), done: make(chan struct{}),
		cacheKiB: cfg.cacheKiB, writerCacheKiB: cfg.writerCacheKiB, auditIndexEvery: cfg.auditIndexEvery}
	if db.write, err = sql.Open("sqlite", dsn(cfg.writerPragmas()...)); err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	db.write.SetMaxOpenConns(1)
	db.write.SetConnMaxIdleTime(0)
	db.write.SetConnMaxLifetime(0)
	if db.conn, err = db.write.Conn(ctx); err != nil {
		db.write.Close()
		return nil, fmt.Errorf("sqlite: connect: %w", err)
	}
	fail := func(err error) (*DB, error) {
		if db.stmts != nil {
			db.stmts.close()
		}
		db.conn.Close()
		db.write.Close()
		if db.read != nil {
			db.read.Close()
		}
		if db.ckpt != nil {
			db.ckpt.Close()
		}
		return nil, err
	}
	if err := migrate(ctx, db.conn); err != nil {
		return fail(err)
	}
	if err := moveLegacyAudit(ctx, db.conn, dir); err != nil {
		return fail(err)
	}
	if !cfg.noAuditCatchUp {
		if err := catchUpAuditIndex(ctx, db.conn); err != nil {
			return fail(err)
		}
	}
	if err := finishInterruptedLoad(ctx, db.conn); err != nil {
		return fail(fmt.Errorf("sqlite: finish an interrupted bulk load: %w", err))
	}
	if db.stmts, err = prepare(ctx, db.conn); err != nil {
		return fail(err)
	}
	if db.read, err = sql.Open("sqlite", dsn("query_only(1)")); err != nil {
		return fail(fmt.Errorf("sqlite: open readers: %w", err))
	}
	db.read.SetMaxOpenConns(cfg.readers)
	db.read.SetMaxIdleConns(cfg.readers)
	if err := db.read.PingContext(ctx); err != nil {
		return fail(fmt.Errorf("sqlite: connect reader: %w", err))
	}
	db.rcache = newStmtCache(db.read.PrepareContext)
	db.wcache = newStmtCache(db.conn.PrepareContext)
	if db.ckpt, err = sql.Open("sqlite", dsn()); err != nil {
		return fail(fmt.Errorf("sqlite: open checkpointer: %w", err))
	}
	db.ckpt.SetMaxOpenConns(1)
	db.ckptStop, db.ckptDone = make(chan struct{}), make(chan struct{})
	go db.checkpointer()
	go db.writer()
	return db, nil
}

// Close stops the writer (Writes already queued finish first) and closes
// the database. Calling Close more than once returns the first result.
func (db *DB) Close() error {
	db.closed.Do(func() {
		close(db.stop)
		<-db.done
		close(db.ckptStop)
		<-db.ckptDone
		// Refresh the planner's statistics where they have drifted
		// (https://www.sqlite.org/lang_analyze.html#periodically_run_pragma_optimize_).
		oerr := optimize(context.Background(), db.conn)
		db.stmts.close()
		var aerr error
		if db.auditIns != nil {
			aerr = db.auditIns.close()
		}
		db.rcache.close()
		db.wcache.close()
		_, cerr := db.ckpt.ExecContext(context.Background(), "PRAGMA wal_checkpoint(TRUNCATE)")
		db.cerr = errors.Join(oerr, aerr, cerr, db.ckpt.Close(), db.conn.Close(), db.write.Close(), db.read.Close())
		if db.cerr != nil {
			db.cerr = fmt.Errorf("sqlite: close: %w", db.cerr)
		}
	})
	return db.cerr
}

// smallTable is the row count under which a table's statistics are
// dropped (see optimize). Statistics of larger tables stay: they steer
// the date searches to the right index (TestPlanDate), and a table of a
// thousand rows or more already looks too large to scan for a lookup.
const smallTable = 1000

// optimize refreshes the planner's statistics (PRAGMA optimize), then
// drops those of tables smaller than smallTable. Statistics taken while a
// table was tiny make the planner prefer scans to indexes ("1 row: a scan
// is as cheap"), and they last until the next analysis, long after the
// table has grown: an import of 10,000 Observations into a store closed
// with one resource in it read every existing row for each new one
// (776/s instead of thousands). Without statistics SQLite assumes large
// tables and uses the indexes.
func optimize(ctx context.Context, conn *sql.Conn) error {
	if _, err := conn.ExecContext(ctx, "PRAGMA optimize"); err != nil {
		return err
	}
	var n int
	if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema WHERE name = 'sqlite_stat1'").Scan(&n); err != nil || n == 0 {
		return err
	}
	_, err := conn.ExecContext(ctx, "DELETE FROM sqlite_stat1 WHERE CAST(stat AS INTEGER) < ?", smallTable)
	return err
}

// querier is what the read paths need: the read pool, a read transaction or
// the writer connection inside a Write.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Read implements vigil.ResourceReader.
func (db *DB) Read(ctx context.Context, typ, id string) (*vigil.Resource, error) {
	return read(ctx, cachedDB{db.read, db.rcache}, typ, id)
}

// ReadVersion implements vigil.ResourceReader.
func (db *DB) ReadVersion(ctx context.Context, typ, id string, version int64) (*vigil.Resource, error) {
	return readVersion(ctx, cachedDB{db.read, db.rcache}, typ, id, version)
}

// History implements vigil.ResourceReader. Its queries run in one read
// transaction, so the page and its total agree.
func (db *DB) History(ctx context.Context, q *vigil.HistoryQuery) (*vigil.HistoryResult, error) {
	tx, err := db.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("sqlite: begin read: %w", err)
	}
	defer tx.Rollback()
	return history(ctx, cachedTx{tx, db.rcache}, q)
}

// Search implements vigil.ResourceReader. The page, its total and its
// includes are read in one read transaction (one snapshot).
func (db *DB) Search(ctx context.Context, q *vigil.SearchQuery) (*vigil.SearchResult, error) {
	tx, err := db.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("sqlite: begin read: %w", err)
	}
	defer tx.Rollback()
	return search(ctx, cachedTx{tx, db.rcache}, q)
}
