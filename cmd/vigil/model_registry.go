package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vigilhealth/vigil/modelreg"
)

// registryFlags are the flags that locate the model registry.
type registryFlags struct {
	data, registry string
}

func (f *registryFlags) add(fs *flag.FlagSet) {
	fs.StringVar(&f.data, "data", "", "SQLite data directory (the registry is DIR/models)")
	fs.StringVar(&f.registry, "registry", "", "model registry directory (overrides DIR/models; required with --db)")
}

// open returns the registry: --registry, else DIR/models.
func (f *registryFlags) open() (*modelreg.Registry, error) {
	switch {
	case f.registry != "":
		return modelreg.Open(f.registry)
	case f.data != "":
		return modelreg.Open(modelreg.DefaultDir(f.data))
	}
	return nil, errors.New("--data DIR or --registry DIR is required")
}

// runModelRegistry runs vigil model registry list|show|promote|rollback|log.
func runModelRegistry(ctx context.Context, env *Env, args []string) error {
	const usage = `Usage: vigil model registry SUBCOMMAND (--data DIR | --registry DIR) [flags]

Subcommands:
  list                 the registered versions of the beat model, with status and metrics
  show VERSION         one version: training data, metrics, comparison with the champion, events
  promote VERSION      make VERSION the active model: --by NAME --reason TEXT
  rollback [--to V]    make the previously active version (or V) active again: --by NAME --reason TEXT
  log                  the event log (registered, promoted, rejected, rolled back)`
	if len(args) == 0 {
		fmt.Fprintln(env.Stderr, usage)
		return errUsage
	}
	switch args[0] {
	case "list":
		return registryList(ctx, env, args[1:])
	case "show":
		return registryShow(ctx, env, args[1:])
	case "promote":
		return registryPromote(ctx, env, args[1:])
	case "rollback":
		return registryRollback(ctx, env, args[1:])
	case "log":
		return registryLog(ctx, env, args[1:])
	case "help", "-h", "-help", "--help":
		fmt.Fprintln(env.Stdout, usage)
		return nil
	}
	fmt.Fprintln(env.Stderr, usage)
	return fmt.Errorf("model registry: unknown subcommand %q", args[0])
}

func registryList(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "model registry list", "model registry list (--data DIR | --registry DIR)")
	var rf registryFlags
	rf.add(fs)
	if done, err := parseFlags(fs, env, args); done {
		return err
	}
	reg, err := rf.open()
	if err != nil {
		fs.Usage()
		return err
	}
	list, err := reg.List(ctx)
	if err != nil {
		return err
	}
	if len(list) == 0 {
		fmt.Fprintf(env.Stdout, "no model versions in %s: the embedded default model is in use (run vigil model retrain)\n", reg.Dir())
		return nil
	}
	w := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "VERSION\tSTATUS\tMODEL\tREGISTERED\tBY\tLABELS\tHELD-OUT ACC\tV Se/+P\tS Se/+P\tRECENT ACC\tDECIDED")
	for _, e := range list {
		decided := "-"
		if e.Decided != nil {
			decided = string(e.Decided.Kind) + " by " + e.Decided.By + " " + e.Decided.At.Format("2006-01-02 15:04")
		}
		if e.Activated != nil && e.Activated.Kind == modelreg.EventRolledBack {
			decided = "rolled back to by " + e.Activated.By + " " + e.Activated.At.Format("2006-01-02 15:04")
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", e.ID, e.Status, e.Model, e.Registered.Format("2006-01-02 15:04"),
			e.RegisteredBy, e.Data.Labels, accOf(e.HeldOut), sePP(e.HeldOut, "V"), sePP(e.HeldOut, "S"), accOf(e.Recent), decided)
	}
	return w.Flush()
}

// accOf formats an accuracy in per cent ("-" when there is none).
func accOf(m *modelreg.Metrics) string {
	if m == nil || m.Beats == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", 100*m.Accuracy)
}

func sePP(m *modelreg.Metrics, class string) string {
	if m == nil || m.Beats == 0 {
		return "-"
	}
	f := func(v float64, ok bool) string {
		if !ok {
			return "-"
		}
		return fmt.Sprintf("%.1f", 100*v)
	}
	se, okSe := m.Se[class]
	pp, okPP := m.PP[class]
	return f(se, okSe) + "/" + f(pp, okPP)
}

func registryShow(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "model registry show", "model registry show VERSION (--data DIR | --registry DIR)\n\nVERSION is v3, 3, or the model version (beatclass-…); \"active\" shows the active one.")
	var rf registryFlags
	rf.add(fs)
	pos, done, err := parseInterleaved(fs, env, args)
	if done {
		return err
	}
	if len(pos) != 1 {
		fs.Usage()
		return errUsage
	}
	reg, err := rf.open()
	if err != nil {
		return err
	}
	var e modelreg.Entry
	if pos[0] == "active" {
		e, err = reg.Active(ctx)
	} else {
		e, err = reg.Get(ctx, pos[0])
	}
	if err != nil {
		return err
	}
	evs, err := reg.Events(ctx)
	if err != nil {
		return err
	}
	printVersion(env.Stdout, &e, evs)
	return nil
}

// printVersion writes everything the registry knows about a version.
func printVersion(w io.Writer, e *modelreg.Entry, evs []modelreg.Event) {
	v, d := e.Version, &e.Version.Data
	fmt.Fprintf(w, "version   %s (%s)\nstatus    %s\nmodel     %s\nsha256    %s\nregistered %s by %s", v.ID, v.Task, e.Status, v.Model, v.SHA256,
		v.Registered.Format(time.RFC3339), v.RegisteredBy)
	if v.Parent != "" {
		fmt.Fprintf(w, ", trained while %s was active", v.Parent)
	}
	fmt.Fprintf(w, "\n\ntraining data\n  DS1 records (%d beats): %s\n  held out for evaluation: %s\n", d.RecordBeats, strings.Join(d.Records, ","), strings.Join(d.HeldOut, ","))
	fmt.Fprintf(w, "  clinician labels: %d beats of %d patients", d.Labels, d.LabelPatients)
	if d.Labels > 0 {
		var by []string
		for _, k := range []string{"N", "S", "V", "F"} {
			if n := d.LabelClasses[k]; n > 0 {
				by = append(by, fmt.Sprintf("%s %d", k, n))
			}
		}
		fmt.Fprintf(w, " (%s), answered %s … %s", strings.Join(by, ", "), d.LabelsFrom.Format(time.RFC3339), d.LabelsUntil.Format(time.RFC3339))
	}
	fmt.Fprintf(w, "\n  recent labels kept for evaluation: %d", d.RecentLabels)
	if d.RecentLabels > 0 {
		fmt.Fprintf(w, ", answered %s … %s", d.RecentFrom.Format(time.RFC3339), d.RecentUntil.Format(time.RFC3339))
	}
	fmt.Fprintln(w)
	for reason, n := range d.LabelsSkipped {
		fmt.Fprintf(w, "  not used: %d — %s\n", n, reason)
	}
	c := d.Config
	fmt.Fprintf(w, "  seed %d; %d training beats; %d rounds (max %d, learning rate %g, %d leaves, depth %d, min leaf %d, L2 %g, early stop %d, validation %g, refit %v); temperature %.3f\n",
		d.Seed, d.TrainBeats, d.Rounds, c.Rounds, c.LearningRate, c.MaxLeaves, c.MaxDepth, c.MinLeaf, c.L2, c.EarlyStop, c.ValidFraction, c.Refit, d.Temperature)
	if v.Summary != nil {
		fmt.Fprintf(w, "  training summary for drift reports: %d beats (DS1 beats at %s positions)\n", v.Summary.Beats, d.SummaryAt)
	}
	printMetrics := func(title string, m *modelreg.Metrics) {
		if m == nil {
			return
		}
		fmt.Fprintf(w, "\n%s\n", title)
		m.Confusion.Print(w)
	}
	printMetrics("held-out DS1 records", v.HeldOut)
	printMetrics("recent clinician labels", v.Recent)
	if v.Champion != nil {
		printMetrics("champion "+v.Champion.ID+" on the held-out records", v.Champion.HeldOut)
		printMetrics("champion "+v.Champion.ID+" on the recent labels", v.Champion.Recent)
	}
	if v.Decision != nil {
		verdict := "not worse than the champion: promote"
		if !v.Decision.Promote {
			verdict = "worse than the champion: reject"
		}
		fmt.Fprintf(w, "\nrule: %s\n", verdict)
		for _, r := range v.Decision.Reasons {
			fmt.Fprintf(w, "  failed: %s\n", r)
		}
		for _, n := range v.Decision.Notes {
			fmt.Fprintf(w, "  note: %s\n", n)
		}
	}
	fmt.Fprintln(w, "\nevents")
	for _, ev := range evs {
		if ev.Version == v.ID || ev.Previous == v.ID {
			printEvent(w, &ev)
		}
	}
}

func printEvent(w io.Writer, ev *modelreg.Event) {
	fmt.Fprintf(w, "  #%d %s %-11s %s by %s", ev.Seq, ev.At.Format(time.RFC3339), ev.Kind, ev.Version, ev.By)
	if ev.Previous != "" {
		fmt.Fprintf(w, " (was %s)", ev.Previous)
	}
	if ev.Reason != "" {
		fmt.Fprintf(w, ": %s", ev.Reason)
	}
	fmt.Fprintln(w)
}

func registryLog(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "model registry log", "model registry log (--data DIR | --registry DIR)\n\nPrints the event log after checking its hash chain.")
	var rf registryFlags
	rf.add(fs)
	if done, err := parseFlags(fs, env, args); done {
		return err
	}
	reg, err := rf.open()
	if err != nil {
		return err
	}
	evs, err := reg.Events(ctx)
	if err != nil {
		return err
	}
	for _, ev := range evs {
		printEvent(env.Stdout, &ev)
	}
	return nil
}

// decisionFlags are who and why, required to change the active model.
type decisionFlags struct{ by, reason string }

func (f *decisionFlags) add(fs *flag.FlagSet) {
	fs.StringVar(&f.by, "by", "", "who decides (required; logged)")
	fs.StringVar(&f.reason, "reason", "", "why (required; logged)")
}

func registryPromote(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "model registry promote", "model registry promote VERSION --by NAME --reason TEXT (--data DIR | --registry DIR)\n\nMakes VERSION the active model, whatever the retraining rule said of it\n(an override is logged like any promotion).")
	var rf registryFlags
	var df decisionFlags
	rf.add(fs)
	df.add(fs)
	pos, done, err := parseInterleaved(fs, env, args)
	if done {
		return err
	}
	if len(pos) != 1 || df.by == "" || df.reason == "" {
		fs.Usage()
		return errUsage
	}
	reg, err := rf.open()
	if err != nil {
		return err
	}
	e, err := reg.Promote(ctx, pos[0], df.by, df.reason)
	if err != nil {
		return err
	}
	prev := e.Activated.Previous
	if prev == "" {
		prev = "the embedded default model"
	}
	fmt.Fprintf(env.Stdout, "%s (%s) is now the active model, replacing %s; promoted by %s: %s\n", e.ID, e.Model, prev, e.Activated.By, e.Activated.Reason)
	return nil
}

func registryRollback(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "model registry rollback", "model registry rollback [--to VERSION] --by NAME --reason TEXT (--data DIR | --registry DIR)\n\nMakes the version that was active before the current one active again\n(repeat to walk further back), or VERSION, which must have been active before.")
	var rf registryFlags
	var df decisionFlags
	rf.add(fs)
	df.add(fs)
	to := fs.String("to", "", "version to roll back to (default: the previously active one)")
	if done, err := parseFlags(fs, env, args); done {
		return err
	}
	if fs.NArg() > 0 || df.by == "" || df.reason == "" {
		fs.Usage()
		return errUsage
	}
	reg, err := rf.open()
	if err != nil {
		return err
	}
	e, err := reg.Rollback(ctx, *to, df.by, df.reason)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "%s (%s) is the active model again, replacing %s; rolled back by %s: %s\n", e.ID, e.Model, e.Activated.Previous, e.Activated.By, e.Activated.Reason)
	return nil
}

// defaultDS1 is where vigil model retrain looks for MIT-BIH DS1 without
// --ds1: $VIGIL_DS1, else the repository's shared data directory.
func defaultDS1(env *Env) string {
	if d := env.Getenv("VIGIL_DS1"); d != "" {
		return d
	}
	return filepath.Join("..", "shared", "data", "mitdb-ds1")
}

// pctNaN formats a fraction in per cent, "-" for NaN.
func pctNaN(v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	return fmt.Sprintf("%.1f", 100*v)
}

// dirExists reports whether path is a directory.
func dirExists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.IsDir()
}
