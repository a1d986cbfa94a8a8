package main

import (
	"context"
	"fmt"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/records"
)

// runReindex rebuilds the search index of every current resource with this
// version's index extraction (records.Service.Reindex).
func runReindex(ctx context.Context, env *Env, args []string) error {
	var cfg Config
	fs := newFlagSet(env, "reindex", "reindex [--data DIR | --db postgres://…]\n\nRebuilds the search index of every current resource with this version of\nVigil, in place (no new versions): run it after an upgrade that indexes\nmore, so that resources stored before it are found by the new searches.\nThe server may keep running; a resource changed meanwhile is skipped, its\nnew version being indexed already.")
	storeFlags(fs, &cfg, "./vigil-data", "data directory for the embedded SQLite store")
	quiet := fs.Bool("quiet", false, "no progress output")
	if done, err := parseFlags(fs, env, args); done {
		return err
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return errUsage
	}
	cfg.Logger = quietLogger(env)
	app, err := NewApp(ctx, cfg)
	if err != nil {
		return err
	}
	defer app.Close()
	start := time.Now()
	last := start
	st, err := app.Records.Reindex(ctx, func(s records.ReindexStats) {
		if !*quiet && time.Since(last) >= time.Second {
			last = time.Now()
			fmt.Fprintf(env.Stderr, "reindexed %d resources (%.0f/s)\n", s.Resources, float64(s.Resources)/time.Since(start).Seconds())
		}
	})
	// The operator's tool read every resource: one record in the trail.
	op := operator(env)
	rec := vigil.AuditRecord{ActorID: op.AccountID, ActorName: op.Username, Role: string(op.Role),
		Action: vigil.AuditReindex, Outcome: vigil.AuditSuccess, Source: "cli",
		Detail: fmt.Sprintf("vigil reindex: %d resources reindexed, %d skipped", st.Resources, st.Skipped)}
	if err != nil {
		rec.Outcome = vigil.AuditFailed
	}
	if aerr := app.Trail.Append(ctx, &rec); aerr != nil && err == nil {
		err = fmt.Errorf("record the reindex in the audit trail: %w", aerr)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "reindexed %d resources (%d skipped: changed meanwhile) in %s\n", st.Resources, st.Skipped, time.Since(start).Round(time.Millisecond))
	return nil
}
