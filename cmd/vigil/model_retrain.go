package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/ecg/beatclass"
	"github.com/vigilhealth/vigil/ml"
	"github.com/vigilhealth/vigil/modelreg"
	"github.com/vigilhealth/vigil/postgres"
	"github.com/vigilhealth/vigil/sqlite"
)

// modelStores are the stores the model tools read: stored waveforms,
// clinicians' beat labels and the beats the server classified.
type modelStores interface {
	vigil.SampleStore
	vigil.BeatLabelStore
	vigil.BeatStore
}

// openModelStores opens the sample store of a deployment: PostgreSQL with
// db, else samples.db in the SQLite data directory.
func openModelStores(ctx context.Context, data, db string) (modelStores, error) {
	if db != "" {
		if !strings.HasPrefix(db, "postgres://") && !strings.HasPrefix(db, "postgresql://") {
			return nil, errors.New("--db must be a postgres:// URL")
		}
		s, err := postgres.OpenSamples(ctx, db)
		if err != nil {
			return nil, fmt.Errorf("open samples: %w", err)
		}
		return s, nil
	}
	if data == "" {
		return nil, errors.New("--data DIR (or --db URL) is required")
	}
	if !dirExists(data) {
		return nil, fmt.Errorf("data directory %s does not exist", data)
	}
	s, err := sqlite.OpenSamples(ctx, filepath.Clean(data))
	if err != nil {
		return nil, fmt.Errorf("open samples: %w", err)
	}
	return s, nil
}

func modelRetrain(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "model retrain", `model retrain (--data DIR | --db URL --registry DIR) [--ds1 PATH] [--by NAME]

Champion/challenger retraining of the beat classifier. The candidate is
trained on the MIT-BIH DS1 records except the fixed held-out records
(`+strings.Join(modelreg.HeldOutRecords, ", ")+`) plus the clinicians' beat labels stored
in the data directory (the newest 20 % kept apart); it is scored with the
active model on the held-out records and on those recent labels, registered,
and promoted only when it is not worse: accuracy not lower by more than 0.5
points, V and S sensitivity and positive predictivity not lower by more than
2 points each. When no version is active yet, a base model trained on DS1
without the held-out records is registered and activated first. The DS1
records are taken at the beats vigil's QRS detector finds, as the default
model is trained and as the server classifies.`)
	var rf registryFlags
	rf.add(fs)
	db := fs.String("db", "", "PostgreSQL URL (postgres://…) of the deployment's stores; needs --registry")
	ds1 := fs.String("ds1", defaultDS1(env), "directory of the MIT-BIH DS1 records (.hea, .dat, .atr); default $VIGIL_DS1")
	by := fs.String("by", env.Getenv("USER"), "who retrains (logged with the registration and the decision); default $USER")
	seed := fs.Uint64("seed", beatclass.DefaultSeed, "seed (selects the early-stopping records)")
	quiet := fs.Bool("quiet", false, "no per-round progress")
	records := fs.String("records", "", "experiments and tests: the DS1 records to use (default: all)")
	heldOut := fs.String("held-out", "", "experiments and tests: held-out records instead of the fixed set")
	rounds := fs.Int("rounds", 0, "experiments and tests: maximum boosting rounds")
	if done, err := parseFlags(fs, env, args); done {
		return err
	}
	if fs.NArg() > 0 || (rf.data == "" && *db == "") {
		fs.Usage()
		return errUsage
	}
	if *db != "" && rf.registry == "" {
		return errors.New("with --db, --registry DIR names the model registry directory")
	}
	if strings.TrimSpace(*by) == "" {
		return errors.New("--by NAME is required ($USER is not set)")
	}
	reg, err := rf.open()
	if err != nil {
		return err
	}
	start := time.Now()
	store, err := openModelStores(ctx, rf.data, *db)
	if err != nil {
		return err
	}
	defer store.Close()
	if !dirExists(*ds1) {
		return fmt.Errorf("MIT-BIH DS1 not found at %s: pass --ds1 PATH", *ds1)
	}
	// The DS1 records at the beats the default model is trained on (the
	// detector's), so that base models and candidates are trained and
	// scored on held-out records as the shipped model is.
	base, err := loadRecordingsAt(ctx, env, *ds1, *records, beatclass.DefaultPositions)
	if err != nil {
		return err
	}
	labels, err := store.BeatLabels(ctx, vigil.BeatLabelQuery{})
	if err != nil {
		return fmt.Errorf("read beat labels: %w", err)
	}
	fmt.Fprintf(env.Stderr, "%d clinician answers in the label store\n", len(labels))
	cfg := modelreg.RetrainConfig{Base: base, Labels: labels, Samples: store, DS1: os.DirFS(*ds1), Seed: *seed, By: *by,
		Log: func(msg string) { fmt.Fprintf(env.Stderr, "%s (%s)\n", msg, time.Since(start).Round(time.Millisecond)) }}
	if *heldOut != "" {
		cfg.HeldOut = splitList(*heldOut)
	}
	if *rounds > 0 {
		mc := beatclass.ModelConfig(*seed)
		mc.Rounds = *rounds
		cfg.Model = &mc
	}
	if !*quiet {
		cfg.Round = func(p ml.Progress) {
			fmt.Fprintf(env.Stderr, "round %3d  train loss %.4f  validation loss %.4f  (%s)\n", p.Round, p.TrainLoss, p.ValidLoss, time.Since(start).Round(time.Second))
		}
	}
	res, err := reg.Retrain(ctx, cfg)
	if err != nil {
		return err
	}
	printRetrain(env.Stdout, res)
	fmt.Fprintf(env.Stdout, "total time %s\n", time.Since(start).Round(time.Millisecond))
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, n := range strings.Split(s, ",") {
		if n = strings.TrimSpace(n); n != "" {
			out = append(out, n)
		}
	}
	return out
}

// printRetrain writes what a retraining did and why.
func printRetrain(w io.Writer, res *modelreg.RetrainResult) {
	if b := res.Base; b != nil {
		fmt.Fprintf(w, "bootstrap: registered and activated %s (%s), trained on %d DS1 records without the held-out %s; held-out accuracy %s %%\n",
			b.ID, b.Model, len(b.Data.Records), strings.Join(b.Data.HeldOut, ","), accOf(b.HeldOut))
	}
	if res.Identical != "" {
		fmt.Fprintf(w, "the candidate is byte-identical to %s (no new labels since it was trained): nothing registered; the active model is still %s\n",
			res.Identical, res.Champion.ID)
		return
	}
	c := res.Candidate
	d := &c.Data
	fmt.Fprintf(w, "candidate %s (%s): %d DS1 records (%d beats) + %d labelled beats of %d patients; %d recent labels kept for evaluation\n",
		c.ID, c.Model, len(d.Records), d.RecordBeats, d.Labels, d.LabelPatients, d.RecentLabels)
	for reason, n := range d.LabelsSkipped {
		fmt.Fprintf(w, "  answers not used: %d — %s\n", n, reason)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	heldN, recentN := 0, 0
	if c.HeldOut != nil {
		heldN = c.HeldOut.Beats
	}
	if c.Recent != nil {
		recentN = c.Recent.Beats
	}
	fmt.Fprintf(tw, "\theld-out (%d beats)\t\trecent labels (%d beats)\t\t\n", heldN, recentN)
	fmt.Fprintf(tw, "\tchampion %s\tcandidate %s\tchampion %s\tcandidate %s\t\n", res.Champion.ID, c.ID, res.Champion.ID, c.ID)
	var champRecent *modelreg.Metrics
	if c.Champion != nil {
		champRecent = c.Champion.Recent
	}
	fmt.Fprintf(tw, "accuracy %%\t%s\t%s\t%s\t%s\t\n", accOf(c.Champion.HeldOut), accOf(c.HeldOut), accOf(champRecent), accOf(c.Recent))
	for _, k := range []string{"V", "S", "F", "N"} {
		fmt.Fprintf(tw, "%s Se/+P %%\t%s\t%s\t%s\t%s\t\n", k, sePP(c.Champion.HeldOut, k), sePP(c.HeldOut, k), sePP(champRecent, k), sePP(c.Recent, k))
	}
	tw.Flush()
	for _, r := range res.Decision.Reasons {
		fmt.Fprintf(w, "  failed: %s\n", r)
	}
	for _, n := range res.Decision.Notes {
		fmt.Fprintf(w, "  note: %s\n", n)
	}
	if res.Promoted {
		fmt.Fprintf(w, "promoted: %s is now the active model (was %s)\n", c.ID, res.Champion.ID)
	} else {
		fmt.Fprintf(w, "rejected: %s is registered as rejected; %s stays active\n", c.ID, res.Champion.ID)
	}
}
