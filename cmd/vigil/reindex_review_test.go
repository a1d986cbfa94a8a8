package main

import (
	"context"
	"testing"

	"github.com/vigilhealth/vigil"
)

// TestServeStoppedAtOnceReview stops the server's background reindex
// before it has even read the store's index revision (a server stopped
// right after it started, on a store that is current): nothing was
// reindexed, so the audit trail must not record a failed reindex.
func TestServeStoppedAtOnceReview(t *testing.T) {
	eachConfig(t, func(t *testing.T, cfg Config) {
		env, _, _ := testEnv()
		cfg.Logger = quietLogger(env)
		app, err := NewApp(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer app.Close()
		stopped, cancel := context.WithCancel(context.Background())
		cancel()
		app.reindexIfStale(stopped)
		page, err := app.Trail.Query(context.Background(), &vigil.AuditQuery{Actions: []vigil.AuditAction{vigil.AuditReindex}})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page.Records {
			t.Errorf("audit record %q (%s) for a reindex that never ran", r.Detail, r.Outcome)
		}
	})
}
