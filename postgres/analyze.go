package postgres

import (
	"context"
	"time"
)

// firstAnalyze is the number of written versions after which the store
// first refreshes the planner statistics itself; the threshold then
// doubles each time.
//
// Autovacuum analyzes tables too, but only once a minute at best: after a
// bulk load into a new database the planner would otherwise guess (and
// choose, for instance, to scan a date index per candidate row) until it
// catches up. Doubling keeps the extra work logarithmic in the data size.
const firstAnalyze = 5000

// wrote counts n written versions and starts an ANALYZE in the background
// when the count crosses the current threshold.
func (db *DB) wrote(n int) {
	if n == 0 {
		return
	}
	total := db.written.Add(int64(n))
	if total < db.nextAnalyze.Load() || !db.analyzing.CompareAndSwap(false, true) {
		return
	}
	db.nextAnalyze.Store(2 * total)
	db.background.Add(1)
	go func() {
		defer db.background.Done()
		defer db.analyzing.Store(false)
		ctx, cancel := context.WithTimeout(db.bgCtx, 5*time.Minute)
		defer cancel()
		start := time.Now()
		_, err := db.pool.Exec(ctx, `ANALYZE resources, versions, idx_string, idx_token, idx_ref, idx_date, idx_number, idx_quantity, idx_uri, idx_ref_token`)
		if err != nil {
			db.log.Warn("analyze after bulk writes failed", "err", err)
			return
		}
		db.log.Debug("analyzed tables after bulk writes", "versions", total, "took", time.Since(start))
	}()
}
