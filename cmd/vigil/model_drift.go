package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/ecg/beatclass"
	"github.com/vigilhealth/vigil/modelreg"
	"github.com/vigilhealth/vigil/postgres"
	"github.com/vigilhealth/vigil/sqlite"
)

// parseSince parses a look-back such as "7d", "36h" or "90m".
func parseSince(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseFloat(d, 64)
		if err != nil || !(n > 0) {
			return 0, fmt.Errorf("--since %q: want a positive duration such as 7d or 36h", s)
		}
		return time.Duration(n * 24 * float64(time.Hour)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("--since %q: want a positive duration such as 7d or 36h", s)
	}
	return d, nil
}

// patientIDs lists the ids of the Patient resources of the deployment's
// FHIR store, page by page.
func patientIDs(ctx context.Context, data, db string) ([]string, error) {
	var store vigil.ResourceStore
	var err error
	if db != "" {
		store, err = postgres.Open(ctx, db)
	} else {
		store, err = sqlite.Open(ctx, filepath.Clean(data))
	}
	if err != nil {
		return nil, fmt.Errorf("open the resource store: %w", err)
	}
	defer store.Close()
	var ids []string
	q := &vigil.SearchQuery{Type: "Patient", Count: 1000}
	for {
		res, err := store.Search(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("list patients: %w", err)
		}
		for _, r := range res.Matches {
			ids = append(ids, r.ID)
		}
		if res.Next == "" {
			return ids, nil
		}
		q.Cursor = res.Next
	}
}

func modelDrift(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "model drift", `model drift (--data DIR | --db URL --registry DIR) [--since 7d] [--patients ID,…]

Compares the beats of the ECG waveforms stored in the window with the
training beats of the active registry version: the class mix the active
model gives them (and, when the server stored its beats, the class mix it
served) and each feature's distribution, by the population stability index
(PSI) against the training deciles. A PSI of 0.1 or more is "moderate",
0.25 or more "major"; it is flagged only when it also exceeds what as many
training recordings as there are patient leads reach against the rest of
the training data (95th percentile of 200 random draws): patients differ,
and a few of them always stray from any population.`)
	var rf registryFlags
	rf.add(fs)
	db := fs.String("db", "", "PostgreSQL URL (postgres://…) of the deployment's stores; needs --registry")
	since := fs.String("since", "7d", "look back this far (7d, 36h, 90m)")
	until := fs.String("until", "", "end of the window, RFC 3339 (default: now)")
	patients := fs.String("patients", "", "comma-separated Patient ids (default: every Patient in the FHIR store)")
	maxBeats := fs.Int("max-beats", 2_000_000, "stop reading after this many beats (0: no limit)")
	all := fs.Bool("all", false, "list every feature, not only the flagged ones")
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
	look, err := parseSince(*since)
	if err != nil {
		return err
	}
	to := time.Now().UTC()
	if *until != "" {
		if to, err = time.Parse(time.RFC3339, *until); err != nil {
			return fmt.Errorf("--until: %w", err)
		}
	}
	reg, err := rf.open()
	if err != nil {
		return err
	}
	e, err := reg.Active(ctx)
	if errors.Is(err, vigil.ErrNotFound) {
		return errors.New("no active registry version, so no training summary to compare with: run vigil model retrain first")
	}
	if err != nil {
		return err
	}
	if e.Summary == nil {
		return fmt.Errorf("active version %s has no training summary", e.ID)
	}
	c, err := reg.Classifier(ctx, e.Version)
	if err != nil {
		return err
	}
	ids := splitList(*patients)
	if len(ids) == 0 {
		if ids, err = patientIDs(ctx, rf.data, *db); err != nil {
			return err
		}
	}
	store, err := openModelStores(ctx, rf.data, *db)
	if err != nil {
		return err
	}
	defer store.Close()
	start := time.Now()
	res, err := modelreg.DriftReport(ctx, modelreg.DriftConfig{Samples: store, Beats: store, Patients: ids, From: to.Add(-look), To: to,
		Classifier: c, Summary: e.Summary, MaxBeats: *maxBeats,
		Log: func(msg string) { fmt.Fprintf(env.Stderr, "%s (%s)\n", msg, time.Since(start).Round(time.Millisecond)) }})
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "drift of %s (%s) from %s to %s\n", e.ID, e.Model, to.Add(-look).Format(time.RFC3339), to.Format(time.RFC3339))
	printDrift(env.Stdout, res, e.Summary, *all)
	return nil
}

// printDrift writes a drift report.
func printDrift(w io.Writer, r *modelreg.DriftResult, s *beatclass.Summary, all bool) {
	fmt.Fprintf(w, "%d beats from %d patient leads (%.1f h of signal)", r.Beats, r.Series, r.Hours)
	if r.Truncated {
		fmt.Fprint(w, " — stopped at --max-beats")
	}
	fmt.Fprintf(w, "; training summary: %d beats\n", s.Beats)
	if r.Beats == 0 {
		fmt.Fprintln(w, "no stored ECG in the window: nothing to compare")
		return
	}
	fmt.Fprintf(w, "\nclass mix (active model's labels)  PSI %.3f, patient-variation baseline %s for %d patient leads: %s\n",
		r.ClassPSI, num3(r.ClassBaseline), r.Groups, levelMark(r.ClassFlag))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "class\ttraining %\trecent %\tPSI term\t")
	for _, c := range r.Classes {
		fmt.Fprintf(tw, "%c\t%.2f\t%.2f\t%.3f\t\n", c.Class, 100*c.Train, 100*c.Recent, c.PSI)
	}
	tw.Flush()
	served := 0
	for _, n := range r.Served {
		served += n
	}
	if served > 0 {
		fmt.Fprintf(w, "served by the server with this model: %d beats, N %d S %d V %d F %d Q %d; PSI %.3f %s", served,
			r.Served[0], r.Served[1], r.Served[2], r.Served[3], r.Served[4], r.ServedPSI, levelMark(r.ServedLevel))
		if r.ServedOther > 0 {
			fmt.Fprintf(w, " (and %d by other model versions)", r.ServedOther)
		}
		fmt.Fprintln(w)
	} else if r.ServedOther > 0 {
		fmt.Fprintf(w, "served beats in the window: %d, all by other model versions\n", r.ServedOther)
	}
	flagged, byPSI := 0, 0
	for _, f := range r.Features {
		if f.Flag != "stable" && f.Flag != "" {
			flagged++
		}
		if f.Level != "stable" && f.Level != "" {
			byPSI++
		}
	}
	fmt.Fprintf(w, "\nfeatures: %d of %d flagged: PSI ≥ %.2f (moderate) or ≥ %.2f (major) and above the patient-variation baseline\n",
		flagged, len(r.Features), beatclass.PSIModerate, beatclass.PSIMajor)
	fmt.Fprintf(w, "(%d reach the PSI thresholds; the baseline is the 95th percentile of the PSI of %d training recordings drawn at random against the others)\n",
		byPSI, r.Groups)
	if flagged == 0 && !all {
		return
	}
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "feature\tPSI\tbaseline\tKS\tmissing train %\tmissing recent %\t\t")
	for _, f := range r.Features {
		if !all && (f.Flag == "stable" || f.Flag == "") {
			continue
		}
		fmt.Fprintf(tw, "%s\t%.3f\t%s\t%.3f\t%s\t%s\t%s\t\n", f.Name, f.PSI, num3(f.Baseline), f.KS, pctNaN(f.MissingTrain), pctNaN(f.MissingRecent), levelMark(f.Flag))
	}
	tw.Flush()
}

// num3 formats a PSI, "-" for NaN.
func num3(v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	return fmt.Sprintf("%.3f", v)
}

// levelMark marks a drift level for the eye.
func levelMark(level string) string {
	switch level {
	case "major":
		return "MAJOR"
	case "moderate":
		return "moderate"
	case "":
		return "-"
	}
	return "stable"
}
