package postgres

import (
	"context"
	"log/slog"
	"runtime"
	"sync"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/vigilhealth/vigil"
)

var _ vigil.SampleStore = (*Samples)(nil)

// SampleLimit caps the samples one QuerySamples returns (and is the limit
// when the query sets none); callers page by time for more.
const SampleLimit = 100_000

// MaxWaveformDuration is the longest waveform chunk AppendWaveform accepts.
const MaxWaveformDuration = vigil.MaxWaveformDuration

// Samples is a vigil.SampleStore on PostgreSQL (tables sample_series,
// sample and waveform of migration 0003). It is safe for concurrent use.
//
// Appends are group-committed: a few writer goroutines each take the
// AppendSamples calls waiting (up to maxGroupSamples samples), and insert
// them all with one INSERT … SELECT FROM unnest(arrays) ON CONFLICT DO
// NOTHING RETURNING, one statement and one commit for the group. The rows
// are sorted by key first, so that two groups inserting the same readings
// lock them in the same order and cannot deadlock. Series ids and monthly
// partitions are made before a batch queues, each in its own short
// transaction, by the caller's goroutine.
type Samples struct {
	pool *pgxpool.Pool
	log  *slog.Logger

	jobs    chan *sampleJob
	writers sync.WaitGroup
	mu      sync.RWMutex // guards closed against sends on jobs
	closed  bool

	smu    sync.Mutex
	series map[seriesKey]int64 // committed series ids
	parts  map[int]bool        // months (year*12+month-1) whose partition exists

	// packers keeps waveform packers (each holds a DEFLATE compressor of
	// about 1 MB) for reuse by AppendWaveform.
	packers sync.Pool
}

// OpenSamples connects to the PostgreSQL database at url, applies pending
// migrations (all of them: the sample tables live beside the resource
// store's) and returns the sample store. Of the options WithMaxConns,
// WithLogger and WithWriters (default 2×GOMAXPROCS, at least 4: the number
// of group commits in flight) apply. Close it when done.
func OpenSamples(ctx context.Context, url string, opts ...Option) (*Samples, error) {
	o := options{}
	for _, opt := range opts {
		opt(&o)
	}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	pool, err := openPool(ctx, url, &o)
	if err != nil {
		return nil, err
	}
	if o.writers <= 0 {
		o.writers = max(4, 2*runtime.GOMAXPROCS(0))
	}
	o.writers = min(o.writers, int(pool.Config().MaxConns)/2)
	s := &Samples{pool: pool, log: o.log, jobs: make(chan *sampleJob, 4*o.writers),
		series: make(map[seriesKey]int64), parts: make(map[int]bool)}
	for range max(1, o.writers) {
		s.writers.Add(1)
		go s.writer()
	}
	return s, nil
}

// Close waits for queued appends to finish, then closes the connection
// pool. Appends after Close fail with ErrClosed.
func (s *Samples) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.jobs)
	s.mu.Unlock()
	s.writers.Wait()
	s.pool.Close()
	return nil
}
