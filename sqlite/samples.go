package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/vigilhealth/vigil"
)

var _ vigil.SampleStore = (*Samples)(nil)

// SamplesFileName is the name of the device-sample database file in the data
// directory.
const SamplesFileName = "samples.db"

// SampleLimit caps the samples one QuerySamples returns (and is the limit
// when the query sets none); callers page by time for more.
const SampleLimit = 100_000

// MaxWaveformDuration is the longest waveform chunk AppendWaveform accepts.
const MaxWaveformDuration = vigil.MaxWaveformDuration

// samplesSchema is the layout of samples.db (see SAMPLES.md).
//
// series interns (patient, code, device) and attr (unit, source) to small
// integers, and received is kept as its lag after the effective time, so
// that a sample row is (series, t, value, attr, lag): about 20 bytes
// instead of the 100 that two UUIDs, a code, a unit and a source would
// take. The idempotency key (patient, code, time, device) is the primary
// key (series, t) of the clustered sample table. Times are Unix
// milliseconds (waveform starts and ends microseconds); lag is NULL when
// the received time is unknown. A REAL with no fraction is stored as a
// 1 to 8 byte integer by SQLite.
const samplesSchema = `
CREATE TABLE series (
	id      INTEGER PRIMARY KEY,
	patient TEXT NOT NULL,
	code    TEXT NOT NULL,
	device  TEXT NOT NULL,
	UNIQUE (patient, code, device)
);
CREATE TABLE attr (
	id     INTEGER PRIMARY KEY,
	unit   TEXT NOT NULL,
	source TEXT NOT NULL,
	UNIQUE (unit, source)
);
CREATE TABLE sample (
	series INTEGER NOT NULL,
	t      INTEGER NOT NULL,
	value  REAL NOT NULL,
	attr   INTEGER NOT NULL,
	lag    INTEGER,
	PRIMARY KEY (series, t)
) WITHOUT ROWID;
CREATE TABLE waveform (
	series   INTEGER NOT NULL,
	start    INTEGER NOT NULL,
	end      INTEGER NOT NULL,
	rate     REAL NOT NULL,
	gain     REAL NOT NULL,
	unit     TEXT NOT NULL,
	received INTEGER NOT NULL,
	source   TEXT NOT NULL,
	data     BLOB NOT NULL,
	PRIMARY KEY (series, start)
);
`

// samplesSchemaVersion is the PRAGMA user_version of a samples.db with the
// current schema.
const samplesSchemaVersion = 4

// samplesStep returns the schema change that takes samples.db from PRAGMA
// user_version v to v+1. Add a step for a change; never edit one that has
// shipped.
func samplesStep(v int) string {
	switch v {
	case 0:
		return samplesSchema
	case 1:
		return beatsSchema // beats.go
	case 2:
		return sampleLogSchema // samples_log.go
	case 3:
		return sampleBlockSchema // samples_block.go
	}
	panic("sqlite: no samples schema step from version " + strconv.Itoa(v))
}

// Samples is a vigil.SampleStore in its own SQLite file (dir/samples.db),
// apart from the resource store's vigil.db: SQLite allows one writer per
// file, so device ingest commits beside FHIR writes instead of waiting for
// their writer. It is safe for concurrent use. Reads use a pool of
// connections; appends are group-committed by one writer goroutine: the
// AppendSamples and AppendWaveform calls waiting when it is free go into
// one transaction, with one WAL fsync (see SAMPLES.md for how a batch
// fails alone without a savepoint each).
type Samples struct {
	path  string
	read  *sql.DB
	write *sql.DB
	conn  *sql.Conn
	w     *sampleWriter
	log   *sampleLog
	// rcache keeps the readers' prepared statements (a few shapes).
	rcache *stmtCache
	jobs   chan *sampleJob
	stop   chan struct{}
	done   chan struct{}

	ckpt             *sql.DB
	ckptStop, ckptOK chan struct{}

	// packers keeps waveform packers (each holds a DEFLATE compressor of
	// about 1 MB) for reuse by AppendWaveform.
	packers sync.Pool

	closed sync.Once
	cerr   error
	// mergeErr is the last failed merge of the sample log, reported by
	// Close (the rows stay in the log; the next owner merges them).
	mergeErr error
}

// OpenSamples opens (creating if needed) the sample store dir/samples.db.
// Of the options WithSynchronous (default SyncFull: an acknowledged sample
// survives power loss), WithReaders, WithBatch (the most calls one
// transaction groups, default 256) and WithSampleMerge apply. The first
// process to open a directory owns its sample log (samples_log.go) until
// it closes the store; it merges what a previous owner left in the log
// before it returns. The context bounds the opening only.
func OpenSamples(ctx context.Context, dir string, opts ...Option) (*Samples, error) {
	cfg, path, dsn, err := openFile(dir, SamplesFileName, 256, opts)
	if err != nil {
		return nil, err
	}
	s := &Samples{path: path, jobs: make(chan *sampleJob), stop: make(chan struct{}), done: make(chan struct{})}
	if s.write, err = sql.Open("sqlite", dsn(cfg.writerPragmas()...)); err != nil {
		return nil, fmt.Errorf("sqlite: open samples: %w", err)
	}
	s.write.SetMaxOpenConns(1)
	s.write.SetConnMaxIdleTime(0)
	s.write.SetConnMaxLifetime(0)
	s.log = &sampleLog{}
	fail := func(err error) (*Samples, error) {
		if s.w != nil {
			s.w.close()
		}
		if s.log.unlock != nil {
			s.log.unlock()
		}
		if s.conn != nil {
			s.conn.Close()
		}
		s.write.Close()
		if s.read != nil {
			s.read.Close()
		}
		if s.ckpt != nil {
			s.ckpt.Close()
		}
		return nil, err
	}
	if s.conn, err = s.write.Conn(ctx); err != nil {
		return fail(fmt.Errorf("sqlite: connect samples: %w", err))
	}
	if err := migrateSamples(ctx, s.conn); err != nil {
		return fail(err)
	}
	if s.log.unlock, err = ownLog(path + "-log.lock"); err != nil {
		return fail(err)
	}
	s.log.owner = s.log.unlock != nil
	s.w = &sampleWriter{conn: s.conn, series: make(map[seriesKey]int64), attrs: make(map[attrKey]int64),
		log: logState{log: s.log, nextID: 1, beginID: 1, mergeRows: cfg.mergeRows}, logAll: cfg.logAll}
	if err := s.w.prepare(ctx); err != nil {
		return fail(err)
	}
	if s.log.owner {
		var left bool
		if err := s.conn.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM sample_log)").Scan(&left); err != nil {
			return fail(fmt.Errorf("sqlite: read sample log: %w", err))
		}
		if left {
			if err := s.w.merge(ctx); err != nil {
				return fail(err)
			}
		}
		if err := s.log.loadBlocked(ctx, s.conn); err != nil {
			return fail(err)
		}
	}
	if s.read, err = sql.Open("sqlite", dsn("query_only(1)")); err != nil {
		return fail(fmt.Errorf("sqlite: open sample readers: %w", err))
	}
	s.read.SetMaxOpenConns(cfg.readers)
	s.read.SetMaxIdleConns(cfg.readers)
	if err := s.read.PingContext(ctx); err != nil {
		return fail(fmt.Errorf("sqlite: connect sample reader: %w", err))
	}
	s.rcache = newStmtCache(s.read.PrepareContext)
	if s.ckpt, err = sql.Open("sqlite", dsn()); err != nil {
		return fail(fmt.Errorf("sqlite: open sample checkpointer: %w", err))
	}
	s.ckpt.SetMaxOpenConns(1)
	s.ckptStop, s.ckptOK = make(chan struct{}), make(chan struct{})
	go s.checkpointer()
	go s.writer(cfg.batch)
	return s, nil
}

// migrateSamples brings samples.db to the current schema, one step of
// samplesSchemas at a time (each in its own transaction with its version
// bump), and refuses a file written by a newer Vigil.
func migrateSamples(ctx context.Context, conn *sql.Conn) error {
	var v int
	if err := conn.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return fmt.Errorf("sqlite: read samples schema version: %w", err)
	}
	if v > samplesSchemaVersion {
		return fmt.Errorf("sqlite: samples.db has schema version %d, newer than this program's %d", v, samplesSchemaVersion)
	}
	for ; v < samplesSchemaVersion; v++ {
		if err := apply(ctx, conn, samplesStep(v), v+1); err != nil {
			return fmt.Errorf("sqlite: samples schema version %d: %w", v+1, err)
		}
	}
	return nil
}

// checkpointer copies the WAL back into samples.db in the background, as
// DB's does (see writerCheckpointPages).
func (s *Samples) checkpointer() {
	defer close(s.ckptOK)
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	for {
		select {
		case <-s.ckptStop:
			return
		case <-t.C:
			_, _ = s.ckpt.ExecContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)")
		}
	}
}

// Close stops the writer (appends already queued finish first) and closes
// the database. Calling Close more than once returns the first result.
func (s *Samples) Close() error {
	s.closed.Do(func() {
		close(s.stop)
		<-s.done
		close(s.ckptStop)
		<-s.ckptOK
		s.rcache.close()
		_, oerr := s.conn.ExecContext(context.Background(), "PRAGMA optimize")
		s.w.close()
		_, cerr := s.ckpt.ExecContext(context.Background(), "PRAGMA wal_checkpoint(TRUNCATE)")
		s.cerr = errors.Join(s.mergeErr, oerr, cerr, s.ckpt.Close(), s.conn.Close(), s.write.Close(), s.read.Close())
		if s.log.unlock != nil {
			s.log.unlock()
		}
		if s.cerr != nil {
			s.cerr = fmt.Errorf("sqlite: close samples: %w", s.cerr)
		}
	})
	return s.cerr
}

// millis maps a time to Unix milliseconds, the zero time to 0.
func millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// lag returns the column value for a sample's received time: its lag in
// milliseconds after the effective time t (ms), nil when unknown.
func lag(t int64, received time.Time) any {
	if received.IsZero() {
		return nil
	}
	return received.UnixMilli() - t
}

// receivedAt is the inverse of lag.
func receivedAt(t int64, lag sql.NullInt64) time.Time {
	if !lag.Valid {
		return time.Time{}
	}
	return time.UnixMilli(t + lag.Int64).UTC()
}

// fromMillis is the inverse of millis, in UTC.
func fromMillis(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}
