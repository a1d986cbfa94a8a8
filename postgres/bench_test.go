package postgres_test

import (
	"testing"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/storetest"
)

// BenchmarkStore runs the shared store benchmarks (storetest.Bench):
// parallel creates, reads by id and the subject+code+date search over
// storetest.DefaultBenchRows Observations (VIGIL_BENCH_ROWS to change).
// BenchCreate runs 8×GOMAXPROCS clients; -cpu 4 gives 32.
func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, func(b *testing.B) vigil.ResourceStore { return openTest(b) })
}
