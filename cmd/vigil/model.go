package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vigilhealth/vigil/ecg/beatclass"
	"github.com/vigilhealth/vigil/ml"
)

// runModel runs the model tools (vigil model train|eval|cv|info|features|retrain|registry|drift).
func runModel(ctx context.Context, env *Env, args []string) error {
	const usage = `Usage: vigil model SUBCOMMAND [flags]

Subcommands:
  train   train a model: vigil model train --task ecg-beats --data DIR --out FILE [--seed N] [--positions detector|reference]
  eval    evaluate a model on annotated records: vigil model eval [--model FILE] --data DIR [--records 100,101] [--positions reference|detector]
  cv      leave-patients-out cross-validation: vigil model cv --data DIR [--folds N] [--adapt-minutes 5] [--positions reference|detector] [--train-positions …]
  info    print a model file's metadata: vigil model info [--model FILE]
  features  write the beat features as CSV (for external tools): vigil model features --data DIR
  retrain   champion/challenger retraining from clinicians' labels: vigil model retrain --data DIR [--ds1 PATH] [--by NAME]
  registry  model versions: vigil model registry list|show VERSION|promote VERSION|rollback [--to VERSION]|log --data DIR
  drift     recent beats against the active model's training data: vigil model drift --data DIR [--since 7d]`
	if len(args) == 0 {
		fmt.Fprintln(env.Stderr, usage)
		return errUsage
	}
	switch args[0] {
	case "train":
		return modelTrain(ctx, env, args[1:])
	case "eval":
		return modelEval(ctx, env, args[1:])
	case "cv":
		return modelCV(ctx, env, args[1:])
	case "info":
		return modelInfo(ctx, env, args[1:])
	case "features":
		return modelFeatures(ctx, env, args[1:])
	case "retrain":
		return modelRetrain(ctx, env, args[1:])
	case "registry":
		return runModelRegistry(ctx, env, args[1:])
	case "drift":
		return modelDrift(ctx, env, args[1:])
	case "help", "-h", "-help", "--help":
		fmt.Fprintln(env.Stdout, usage)
		return nil
	}
	fmt.Fprintln(env.Stderr, usage)
	return fmt.Errorf("model: unknown subcommand %q", args[0])
}

// loadRecordings reads and featurises the records of dir (all annotated
// records, or the comma-separated list) at their reference beats.
func loadRecordings(ctx context.Context, env *Env, dir, list string) ([]*beatclass.Recording, error) {
	return loadRecordingsAt(ctx, env, dir, list, beatclass.PositionsReference)
}

// loadRecordingsAt reads and featurises the records of dir (all annotated
// records, or the comma-separated list) at beat positions pos, as many at
// a time as GOMAXPROCS.
func loadRecordingsAt(ctx context.Context, env *Env, dir, list string, pos beatclass.Positions) ([]*beatclass.Recording, error) {
	fsys := os.DirFS(dir)
	var names []string
	if list != "" {
		for _, n := range strings.Split(list, ",") {
			if n = strings.TrimSpace(n); n != "" {
				names = append(names, n)
			}
		}
	} else {
		var err error
		if names, err = beatclass.RecordNames(fsys); err != nil {
			return nil, fmt.Errorf("%s: %w", dir, err)
		}
	}
	recs := make([]*beatclass.Recording, len(names))
	errs := make([]error, len(names))
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for i, n := range names {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			recs[i], errs[i] = beatclass.LoadRecordingAt(fsys, n, pos)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("record %s: %w", names[i], err)
		}
	}
	beats, noRef, flutter, missed := 0, 0, 0, 0
	for _, r := range recs {
		beats += r.Features.Len()
		noRef += bytes.Count(r.Labels, []byte{beatclass.NoReference})
		flutter += bytes.Count(r.Labels, []byte{beatclass.InFlutter})
		for _, n := range r.Missed {
			missed += n
		}
	}
	if pos == beatclass.PositionsDetector {
		fmt.Fprintf(env.Stderr, "loaded %d records at the detector's beats: %d beats (%d without reference, %d inside ventricular flutter, not counted), %d reference beats missed\n",
			len(recs), beats, noRef, flutter, missed)
	} else {
		fmt.Fprintf(env.Stderr, "loaded %d records, %d beats\n", len(recs), beats)
	}
	return recs, nil
}

// positionsFlag registers --NAME (reference|detector) on fs.
func positionsFlag(fs *flag.FlagSet, name string, def beatclass.Positions, usage string) *string {
	return fs.String(name, string(def), usage+" (reference: the .atr annotations; detector: the beats vigil's QRS detector finds in channel 0, as vigil ecg annotate sees them)")
}

func modelTrain(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "model train", "model train --task ecg-beats --data DIR --out FILE [--seed N] [--records LIST] [--positions detector|reference]\n\nTrains the AAMI beat classifier on the annotated WFDB records in DIR, by\ndefault at the beats vigil's QRS detector finds (labelled with the\nannotated beat within 150 ms; detections without one are skipped).\nThe output depends only on the data, the positions and the seed.")
	task := fs.String("task", "ecg-beats", "what to learn (only ecg-beats)")
	data := fs.String("data", "", "directory of WFDB records with .atr reference annotations")
	out := fs.String("out", "", "model file to write")
	seed := fs.Uint64("seed", beatclass.DefaultSeed, "seed (selects the early-stopping records)")
	records := fs.String("records", "", "comma-separated records to use (default: all)")
	quiet := fs.Bool("quiet", false, "no per-round progress")
	positions := positionsFlag(fs, "positions", beatclass.DefaultPositions, "training beats")
	if done, err := parseFlags(fs, env, args); done {
		return err
	}
	pos, err := beatclass.ParsePositions(*positions)
	if err != nil {
		return fmt.Errorf("model train: --positions: %w", err)
	}
	if *task != "ecg-beats" {
		return fmt.Errorf("model train: unknown task %q (known: ecg-beats)", *task)
	}
	if *data == "" || *out == "" || fs.NArg() > 0 {
		fs.Usage()
		return errUsage
	}
	start := time.Now()
	recs, err := loadRecordingsAt(ctx, env, *data, *records, pos)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stderr, "features in %s\n", time.Since(start).Round(time.Millisecond))
	cfg := beatclass.TrainConfig{Seed: *seed}
	if !*quiet {
		cfg.Progress = func(p ml.Progress) {
			fmt.Fprintf(env.Stderr, "round %3d  train loss %.4f  validation loss %.4f  (%s)\n",
				p.Round, p.TrainLoss, p.ValidLoss, time.Since(start).Round(time.Second))
		}
	}
	c, rep, err := beatclass.Train(ctx, recs, cfg)
	if err != nil {
		return err
	}
	tmp := *out + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if err := c.Write(f); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, *out); err != nil {
		return err
	}
	cal := rep.Calibration
	fmt.Fprintf(env.Stdout, "wrote %s (%s): %d rounds, %d training beats at %s positions, rounds chosen and calibration fitted on records held out by seed %d (%d beats), then refitted on all\n",
		*out, c.Version(), rep.Rounds, rep.TrainRows, pos, *seed, rep.ValidRows)
	fmt.Fprintf(env.Stdout, "calibration: temperature %.3f, log-loss %.4f → %.4f, ECE %.4f → %.4f\n",
		cal.Temperature, cal.LogLossBefore, cal.LogLossAfter, cal.ECEBefore, cal.ECEAfter)
	fmt.Fprintf(env.Stdout, "total time %s\n", time.Since(start).Round(time.Millisecond))
	return nil
}

func loadClassifier(path string) (*beatclass.Classifier, error) {
	if path == "" {
		return beatclass.Default()
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	c, err := beatclass.Load(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	return c, nil
}

func modelEval(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "model eval", "model eval [--model FILE] --data DIR [--records LIST] [--adapt-minutes M] [--positions reference|detector]\n\nLabels the beats of each record and prints the AAMI confusion matrix with\nper-class sensitivity (Se) and positive predictivity (+P). At detector\npositions, annotated beats no detection matched (within 150 ms) count\nagainst Se and detections without an annotated beat against +P.")
	model := fs.String("model", "", "model file (default: the embedded default model)")
	data := fs.String("data", "", "directory of WFDB records with .atr reference annotations")
	records := fs.String("records", "", "comma-separated records (default: all annotated records in DIR)")
	adapt := fs.Float64("adapt-minutes", 0, "patient-adaptive: use the first M minutes' reference labels as feedback; score only the rest")
	perRecord := fs.Bool("per-record", false, "also print each record's matrix")
	positions := positionsFlag(fs, "positions", beatclass.PositionsReference, "beats to label")
	if done, err := parseFlags(fs, env, args); done {
		return err
	}
	if *data == "" || fs.NArg() > 0 {
		fs.Usage()
		return errUsage
	}
	pos, err := beatclass.ParsePositions(*positions)
	if err != nil {
		return fmt.Errorf("model eval: --positions: %w", err)
	}
	c, err := loadClassifier(*model)
	if err != nil {
		return err
	}
	recs, err := loadRecordingsAt(ctx, env, *data, *records, pos)
	if err != nil {
		return err
	}
	var total, base beatclass.Confusion
	start := time.Now()
	for _, r := range recs {
		var rc beatclass.Confusion
		pred := c.Label(r.Features)
		n := 0
		if *adapt > 0 {
			n = beatclass.WindowBeats(r.Features, *adapt)
			a, err := c.Adapt(ctx, r.Features, beatclass.Feedback(r.Labels[:n]))
			if err != nil {
				return fmt.Errorf("record %s: %w", r.Name, err)
			}
			base.AddAll(r.Labels[n:], pred[n:])
			pred = a.Label(r.Features)
			rc.AddAll(r.Labels[n:], pred[n:])
		} else {
			rc.AddRecording(r, pred)
		}
		total.Merge(rc)
		if *perRecord {
			fmt.Fprintf(env.Stdout, "record %s\n", r.Name)
			rc.Print(env.Stdout)
		}
	}
	fmt.Fprintf(env.Stdout, "model %s on %d records at %s positions (%s)\n", c.Version(), len(recs), pos, time.Since(start).Round(time.Millisecond))
	if *adapt > 0 {
		fmt.Fprintf(env.Stdout, "global model, beats after the first %g minutes:\n", *adapt)
		base.Print(env.Stdout)
		fmt.Fprintf(env.Stdout, "patient-adapted with the first %g minutes of reference labels, same beats:\n", *adapt)
	}
	total.Print(env.Stdout)
	return nil
}

func modelCV(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "model cv", "model cv --data DIR [--folds N] [--seed N] [--adapt-minutes M [--adapt-boost]] [--positions reference|detector] [--train-positions reference|detector]\n\nLeave-patients-out cross-validation: each record is labelled by a model\ntrained (with early stopping and calibration) on the other folds' records.\n--positions sets the beats scored (and, unless --train-positions says\notherwise, the training beats).")
	data := fs.String("data", "", "directory of WFDB records with .atr reference annotations")
	records := fs.String("records", "", "comma-separated records (default: all)")
	folds := fs.Int("folds", 0, "folds by record (default: leave one record out)")
	seed := fs.Uint64("seed", beatclass.DefaultSeed, "seed")
	adapt := fs.Float64("adapt-minutes", 0, "also evaluate patient adaptation with the first M minutes of labels (scores the rest only)")
	adaptBoost := fs.Bool("adapt-boost", false, "adapt by boosting rounds (the earlier method) instead of the local nearest-neighbour expert")
	rounds := fs.Int("rounds", 0, "override the maximum boosting rounds (experiments)")
	early := fs.Int("early-stop", -1, "override early-stopping patience, 0 = off (experiments)")
	lr := fs.Float64("learning-rate", 0, "override the learning rate (experiments)")
	leaves := fs.Int("leaves", 0, "override the leaves per tree (experiments)")
	minLeaf := fs.Int("min-leaf", 0, "override the minimum beats per leaf (experiments)")
	logreg := fs.Bool("logreg", false, "evaluate the logistic-regression baseline instead of boosted trees")
	sCurve := fs.Bool("s-curve", false, "also print accuracy and S, V Se/+P for thresholds on P(S) (a beat is S when P(S) ≥ t)")
	positions := positionsFlag(fs, "positions", beatclass.PositionsReference, "beats scored")
	trainPositions := positionsFlag(fs, "train-positions", "", "training beats (default: as --positions)")
	if done, err := parseFlags(fs, env, args); done {
		return err
	}
	if *data == "" || fs.NArg() > 0 || (*sCurve && *logreg) {
		fs.Usage()
		return errUsage
	}
	pos, err := beatclass.ParsePositions(*positions)
	if err != nil {
		return fmt.Errorf("model cv: --positions: %w", err)
	}
	trainPos := pos
	if *trainPositions != "" {
		if trainPos, err = beatclass.ParsePositions(*trainPositions); err != nil {
			return fmt.Errorf("model cv: --train-positions: %w", err)
		}
	}
	start := time.Now()
	recs, err := loadRecordingsAt(ctx, env, *data, *records, trainPos)
	if err != nil {
		return err
	}
	var test []*beatclass.Recording
	if trainPos != pos {
		if test, err = loadRecordingsAt(ctx, env, *data, *records, pos); err != nil {
			return err
		}
	}
	mc := beatclass.ModelConfig(*seed)
	if *rounds > 0 {
		mc.Rounds = *rounds
	}
	if *early >= 0 {
		mc.EarlyStop = *early
	}
	if *lr > 0 {
		mc.LearningRate = *lr
	}
	if *leaves > 0 {
		mc.MaxLeaves = *leaves
	}
	if *minLeaf > 0 {
		mc.MinLeaf = *minLeaf
	}
	res, err := beatclass.CrossValidate(ctx, recs, beatclass.CVConfig{
		Folds: *folds, Seed: *seed, AdaptMinutes: *adapt, AdaptBoost: *adaptBoost, Model: &mc, LogReg: *logreg, Test: test,
		Probabilities: *sCurve,
		Progress: func(f beatclass.Fold) {
			c := &f.Confusion
			fmt.Fprintf(env.Stderr, "fold %v: %d rounds, accuracy %.2f %%, S %d/%d (+%d false), V %d/%d (+%d false) (%s)\n", f.Test, f.Rounds,
				100*c.Accuracy(), c.Counts[1][1], c.Row(1), c.Col(1)-c.Counts[1][1], c.Counts[2][2], c.Row(2), c.Col(2)-c.Counts[2][2],
				time.Since(start).Round(time.Second))
			if a := &f.Adapted; *adapt > 0 {
				fmt.Fprintf(env.Stderr, "fold %v adapted: accuracy %.2f %%, S %d/%d (+%d false), V %d/%d (+%d false)\n", f.Test,
					100*a.Accuracy(), a.Counts[1][1], a.Row(1), a.Col(1)-a.Counts[1][1], a.Counts[2][2], a.Row(2), a.Col(2)-a.Counts[2][2])
			}
		},
	})
	if err != nil {
		return err
	}
	var total, adapted beatclass.Confusion
	for _, f := range res {
		total.Merge(f.Confusion)
		adapted.Merge(f.Adapted)
	}
	fmt.Fprintf(env.Stdout, "%d-fold leave-patients-out cross-validation on %d records, trained at %s positions, scored at %s positions (%s)\n",
		len(res), len(recs), trainPos, pos, time.Since(start).Round(time.Second))
	if *adapt > 0 {
		fmt.Fprintf(env.Stdout, "global models, beats after the first %g minutes:\n", *adapt)
	}
	total.Print(env.Stdout)
	if *adapt > 0 {
		fmt.Fprintf(env.Stdout, "patient-adapted with the first %g minutes of reference labels, same beats:\n", *adapt)
		adapted.Print(env.Stdout)
	}
	if *sCurve {
		scored := test
		if scored == nil {
			scored = recs
		}
		curve, err := beatclass.CVCurve(res, scored, []float64{0.02, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9})
		if err != nil {
			return err
		}
		fmt.Fprintln(env.Stdout, "global models, all beats, a beat called S when P(S) ≥ t (after the AF and prematurity rules), otherwise the likeliest of N, V, F:")
		beatclass.PrintCurve(env.Stdout, curve)
	}
	fmt.Fprintln(env.Stdout, "published inter-patient results (DS1→DS2): de Chazal 2004 accuracy 86.2 %; Mar 2011 89.9 %; Zhang 2014 86.7 % (S Se 79.1 / +P 36.0, V Se 85.5 / +P 92.7); Mondéjar-Guerra 2019 94.5 %")
	return nil
}

func modelInfo(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "model info", "model info [--model FILE]")
	model := fs.String("model", "", "model file (default: the embedded default model)")
	if done, err := parseFlags(fs, env, args); done {
		return err
	}
	c, err := loadClassifier(*model)
	if err != nil {
		return err
	}
	m := c.Model()
	fmt.Fprintf(env.Stdout, "version %s\nformat %s v%d\ntrees %d (%d rounds × %d classes)\nfeatures %d\ntemperature %.4f\n",
		c.Version(), ml.Magic, ml.FormatVersion, len(m.Trees()), m.Rounds(), m.NumClasses(), m.NumFeatures(), m.Temperature())
	keys := make([]string, 0, len(c.Info()))
	for k := range c.Info() {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(env.Stdout, "%s: %s\n", k, c.Info()[k])
	}
	return nil
}

func modelFeatures(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "model features", "model features --data DIR [--records LIST] [--positions reference|detector]\n\nWrites one CSV line per beat: record, sample, AAMI class (- for a detected\nbeat without reference, ! inside ventricular flutter) and the beat features (NaN where undefined), for\ncomparisons with other learners.")
	data := fs.String("data", "", "directory of WFDB records with .atr reference annotations")
	records := fs.String("records", "", "comma-separated records (default: all)")
	positions := positionsFlag(fs, "positions", beatclass.PositionsReference, "beats")
	if done, err := parseFlags(fs, env, args); done {
		return err
	}
	if *data == "" || fs.NArg() > 0 {
		fs.Usage()
		return errUsage
	}
	pos, err := beatclass.ParsePositions(*positions)
	if err != nil {
		return fmt.Errorf("model features: --positions: %w", err)
	}
	recs, err := loadRecordingsAt(ctx, env, *data, *records, pos)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(env.Stdout)
	fmt.Fprintf(w, "record,sample,class,%s\n", strings.Join(beatclass.FeatureNames(), ","))
	for _, r := range recs {
		for i := range r.Features.Len() {
			fmt.Fprintf(w, "%s,%d,%c", r.Name, r.Features.Beats[i], r.Labels[i])
			for _, v := range r.Features.Row(i) {
				w.WriteByte(',')
				w.WriteString(strconv.FormatFloat(float64(v), 'g', -1, 32))
			}
			w.WriteByte('\n')
		}
	}
	return w.Flush()
}
