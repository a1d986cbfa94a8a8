package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/pprof"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/records"
)

func runImport(ctx context.Context, env *Env, args []string) error {
	var cfg Config
	fs := newFlagSet(env, "import", "import [--data DIR | --db postgres://…] FILE…\n\nLoads FHIR R4 JSON files: transaction or batch Bundles (processed as such),\ncollection Bundles, single resources, and NDJSON (Bulk Data) files.")
	storeFlags(fs, &cfg, "./vigil-data", "data directory for the embedded SQLite store")
	quiet := fs.Bool("quiet", false, "no progress bar")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the import to this file")
	if done, err := parseFlags(fs, env, args); done {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return errUsage
	}
	cfg.Logger = quietLogger(env)
	app, err := NewApp(ctx, cfg)
	if err != nil {
		return err
	}
	defer app.Close()
	// The import runs through the access policy as the operator (a
	// service principal with every scope), so that the patients of what it
	// writes are noted, and each file is recorded in the audit trail.
	op := operator(env)
	guarded := records.New(app.Policy.Store(), app.Model, records.WithHorizon(app.Horizon))
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	start := time.Now()
	// Into an empty SQLite store, the value indexes are built after the
	// load (sqlite.DB.BulkLoad); finish runs even when a file fails, and a
	// load cut short is finished when the store is next opened.
	finish := func(context.Context) error { return nil }
	if bl, ok := app.Store.(bulkLoader); ok {
		if finish, err = bl.BulkLoad(ctx); err != nil {
			return err
		}
	}
	total, err := importFiles(ctx, env, app, guarded, op, fs.Args(), *quiet)
	if !*quiet {
		fmt.Fprintln(env.Stderr, "building indexes…")
	}
	if ferr := finish(ctx); ferr != nil {
		return errors.Join(err, ferr)
	}
	if err != nil {
		return err
	}
	el := time.Since(start)
	fmt.Fprintf(env.Stdout, "imported %d resources from %d files in %s (%.0f resources/s)\n",
		total, fs.NArg(), el.Round(time.Millisecond), float64(total)/el.Seconds())
	return nil
}

// bulkLoader is a store that loads faster with some of its indexes built
// after the load (sqlite.DB).
type bulkLoader interface {
	BulkLoad(ctx context.Context) (finish func(context.Context) error, err error)
}

// importFiles imports the files in turn, each recorded in the audit
// trail, and returns how many resources they held.
func importFiles(ctx context.Context, env *Env, app *App, guarded *records.Service, op *vigil.Principal, names []string, quiet bool) (int, error) {
	total := 0
	for _, name := range names {
		fctx, log := vigil.WithPatientLog(vigil.WithPrincipal(ctx, op))
		n, err := importFile(fctx, env, guarded, name, quiet)
		total += n
		if aerr := auditImport(ctx, app, op, n, log, err); aerr != nil {
			return total, fmt.Errorf("%s: %d resources imported but not audited: %w", name, n, aerr)
		}
		if err != nil {
			return total, fmt.Errorf("%s: %w", name, err)
		}
	}
	return total, nil
}

func importFile(ctx context.Context, env *Env, rec *records.Service, name string, quiet bool) (int, error) {
	f, err := os.Open(name)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	var bar *progressbar.ProgressBar
	if !quiet {
		bar = progressbar.NewOptions64(st.Size(),
			progressbar.OptionSetWriter(env.Stderr),
			progressbar.OptionSetDescription(name),
			progressbar.OptionShowBytes(true),
			progressbar.OptionShowCount(),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(env.Stderr) }),
		)
	}
	res, err := rec.Import(ctx, f, records.ImportOptions{
		Progress: func(s records.ImportStats) {
			if bar != nil {
				_ = bar.Set64(s.Bytes)
			}
		},
	})
	if bar != nil && err == nil {
		_ = bar.Finish()
	}
	return res.Resources, err
}

// operator is the principal of an operator's command-line tool run on the
// server (cli:$USER): a service with every scope.
func operator(env *Env) *vigil.Principal {
	user := env.Getenv("USER")
	if user == "" {
		user = "unknown"
	}
	return &vigil.Principal{AccountID: "cli:" + user, Username: user, Role: vigil.RoleService, Method: "cli",
		Scopes: []vigil.Scope{{Type: "*", Read: true, Write: true}}}
}

// auditImport records one imported file: who ran the import, how many
// resources it wrote and the patients they belong to. An import that
// failed part-way is recorded as failed with what it wrote before.
func auditImport(ctx context.Context, app *App, op *vigil.Principal, n int, log *vigil.PatientLog, err error) error {
	rec := vigil.AuditRecord{ActorID: op.AccountID, ActorName: op.Username, Role: string(op.Role),
		Action: vigil.AuditImport, Outcome: vigil.AuditSuccess, Source: "cli",
		Detail: fmt.Sprintf("vigil import: %d resources written from one file", n)}
	if err != nil {
		rec.Outcome = vigil.AuditFailed
	}
	for _, id := range log.Patients() {
		rec.Patients = append(rec.Patients, "Patient/"+id)
	}
	return app.Trail.Append(ctx, &rec)
}
