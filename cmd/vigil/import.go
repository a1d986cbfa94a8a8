package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/vigilhealth/vigil/records"
)

func runImport(ctx context.Context, env *Env, args []string) error {
	var cfg Config
	fs := newFlagSet(env, "import", "import [--data DIR | --db postgres://…] FILE…\n\nLoads FHIR R4 JSON files: transaction or batch Bundles (processed as such),\ncollection Bundles, single resources, and NDJSON (Bulk Data) files.")
	storeFlags(fs, &cfg, "./vigil-data", "data directory for the embedded SQLite store")
	quiet := fs.Bool("quiet", false, "no progress bar")
	if done, err := parseFlags(fs, env, args); done {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return errUsage
	}
	cfg.Logger = slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	app, err := NewApp(ctx, cfg)
	if err != nil {
		return err
	}
	defer app.Close()
	start := time.Now()
	total := 0
	for _, name := range fs.Args() {
		n, err := importFile(ctx, env, app.Records, name, *quiet)
		total += n
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	el := time.Since(start)
	fmt.Fprintf(env.Stdout, "imported %d resources from %d files in %s (%.0f resources/s)\n",
		total, fs.NArg(), el.Round(time.Millisecond), float64(total)/el.Seconds())
	return nil
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
