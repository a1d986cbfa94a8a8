package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/vigilhealth/vigil/ecg"
	"github.com/vigilhealth/vigil/ecg/beatclass"
)

// runECG runs the ECG tools (vigil ecg annotate|eval).
func runECG(ctx context.Context, env *Env, args []string) error {
	const usage = "Usage: vigil ecg COMMAND [flags]\n\nCommands:\n" +
		"  annotate  detect beats in a WFDB record and print them as CSV\n" +
		"  eval      score the beat detector on a WFDB database (ANSI/AAMI EC57)\n"
	if len(args) == 0 {
		fmt.Fprint(env.Stderr, usage)
		return errUsage
	}
	switch args[0] {
	case "annotate":
		return runECGAnnotate(ctx, env, args[1:])
	case "eval":
		return runECGEval(ctx, env, args[1:])
	case "-h", "-help", "--help", "help":
		fmt.Fprint(env.Stdout, usage)
		return nil
	}
	fmt.Fprint(env.Stderr, usage)
	return fmt.Errorf("ecg: unknown command %q", args[0])
}

// parseInterleaved parses flags that may come before or after positional
// arguments and returns the positional ones.
func parseInterleaved(fs *flag.FlagSet, env *Env, args []string) (pos []string, done bool, err error) {
	if done, err := parseFlags(fs, env, args); done {
		return nil, true, err
	}
	for fs.NArg() > 0 {
		pos = append(pos, fs.Arg(0))
		if err := fs.Parse(fs.Args()[1:]); err != nil {
			return nil, true, errUsage
		}
	}
	return pos, false, nil
}

// openRecord reads the WFDB record at path (without extension).
func openRecord(path string) (*ecg.Record, fs.FS, string, error) {
	dir, name := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	fsys := os.DirFS(dir)
	rec, err := ecg.ReadRecord(fsys, name)
	if err != nil {
		return nil, nil, "", fmt.Errorf("record %s: %w", path, err)
	}
	return rec, fsys, name, nil
}

func runECGAnnotate(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "ecg annotate", "ecg annotate RECORD [--channel N] [--model FILE] [--adapt-minutes M]\n\n"+
		"Detects heartbeats in channel N of the WFDB record RECORD (path without\n"+
		"extension), labels each with its AAMI class (N, S, V, F, Q) by the beat\n"+
		"classifier, and writes CSV to stdout: sample,time,label (one line per beat;\n"+
		"sample at the record's rate, time in seconds). With --adapt-minutes, the\n"+
		"record's reference labels (RECORD.atr) of the first M minutes are the\n"+
		"clinician's feedback that adapts the classifier to the patient.")
	channel := fs.Int("channel", 0, "signal number to analyse")
	modelFile := fs.String("model", "", "beat classifier model file (default: the model built into vigil)")
	adapt := fs.Float64("adapt-minutes", 0, "adapt to the patient with the reference labels of the first M minutes")
	pos, done, err := parseInterleaved(fs, env, args)
	if done {
		return err
	}
	if len(pos) != 1 {
		fs.Usage()
		return errUsage
	}
	rec, fsys, name, err := openRecord(pos[0])
	if err != nil {
		return err
	}
	if *channel < 0 || *channel >= len(rec.Signals) {
		return fmt.Errorf("record %s has %d signals; no channel %d", pos[0], len(rec.Signals), *channel)
	}
	s := rec.Signals[*channel]
	beats, err := ecg.DetectBeats(s.Samples, rec.Fs, s.Gain)
	if err != nil {
		return fmt.Errorf("record %s: %w", pos[0], err)
	}
	labels, err := labelBeats(ctx, rec, *channel, beats, *modelFile, *adapt, fsys, name)
	if err != nil {
		return fmt.Errorf("record %s: %w", pos[0], err)
	}
	w := bufio.NewWriter(env.Stdout)
	fmt.Fprintln(w, "sample,time,label")
	for i, b := range beats {
		fmt.Fprintf(w, "%d,%.3f,%c\n", b.Sample, float64(b.Sample)/rec.Fs, labels[i])
	}
	return w.Flush()
}

// labelBeats classifies detected beats with the model (the built-in one
// when file is ""), adapted to the patient with the reference labels of
// the first adaptMinutes when asked.
func labelBeats(ctx context.Context, rec *ecg.Record, channel int, beats []ecg.Beat, file string, adaptMinutes float64, fsys fs.FS, name string) ([]byte, error) {
	var c *beatclass.Classifier
	var err error
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			return nil, err
		}
		c, err = beatclass.Load(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("model %s: %w", file, err)
		}
	} else if c, err = beatclass.Default(); err != nil {
		return nil, err
	}
	x, err := beatclass.Signal(rec, channel)
	if err != nil {
		return nil, err
	}
	pos := make([]int, len(beats))
	for i, b := range beats {
		pos[i] = int(b.Sample)
	}
	feat, err := beatclass.Extract(x, rec.Fs, pos)
	if err != nil {
		return nil, err
	}
	if adaptMinutes > 0 {
		// The clinician's feedback: the reference label of each detected
		// beat within the window (matched within 150 ms), in order.
		f, err := fsys.Open(name + ".atr")
		if err != nil {
			return nil, fmt.Errorf("--adapt-minutes needs the reference annotations: %w", err)
		}
		anns, err := ecg.ReadAnnotations(f)
		f.Close()
		if err != nil {
			return nil, err
		}
		window := int(adaptMinutes * 60 * rec.Fs)
		tol := int(0.15 * rec.Fs)
		var labels []byte
		k := 0
		for _, p := range pos {
			if p >= window {
				break
			}
			label := byte('Q')
			for k < len(anns) && anns[k].Sample < p-tol {
				k++
			}
			for j := k; j < len(anns) && anns[j].Sample <= p+tol; j++ {
				if cl, ok := ecg.AAMIClass(anns[j].Symbol); ok {
					label = cl
					break
				}
			}
			labels = append(labels, label)
		}
		if c, err = c.Adapt(ctx, feat, labels); err != nil {
			return nil, err
		}
	}
	return c.Label(feat), nil
}

func runECGEval(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "ecg eval", "ecg eval --db DIR [--records 101,106,…] [--noise DIR --snr 12,6,0]\n\n"+
		"Scores the beat detector against the reference annotations (.atr) beat by\n"+
		"beat as ANSI/AAMI EC57 prescribes (150 ms match window, scoring from minute 5,\n"+
		"ventricular flutter excluded) and prints per-record and gross Se and +P.\n"+
		"With --noise, also scores with the nstdb noise records bw and ma added at\n"+
		"each SNR following PhysioNet nst's definitions and standard protocol.")
	db := fs.String("db", "", "directory of WFDB records with .atr reference annotations")
	recList := fs.String("records", "", "comma-separated record names (default: every .hea in --db)")
	noiseDir := fs.String("noise", "", "directory holding the nstdb noise records bw and ma")
	snrList := fs.String("snr", "12,6,0", "signal-to-noise ratios in dB, with --noise")
	channel := fs.Int("channel", 0, "signal number to analyse")
	fuse := fs.Bool("fuse", false, "fuse channels 0 and 1 by signal quality (two-lead detection)")
	if done, err := parseFlags(fs, env, args); done {
		return err
	}
	if *db == "" || fs.NArg() > 0 {
		fs.Usage()
		return errUsage
	}
	dbFS := os.DirFS(*db)
	var names []string
	if *recList != "" {
		names = strings.Split(*recList, ",")
	} else {
		heads, err := fsGlob(dbFS, "*.hea")
		if err != nil {
			return err
		}
		for _, h := range heads {
			names = append(names, strings.TrimSuffix(h, ".hea"))
		}
	}
	if len(names) == 0 {
		return fmt.Errorf("no records in %s", *db)
	}
	var snrs []float64
	type noiseRec struct {
		name    string
		samples []int16
	}
	var noises []noiseRec
	if *noiseDir != "" {
		for _, f := range strings.Split(*snrList, ",") {
			v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
			if err != nil {
				return fmt.Errorf("--snr: bad value %q", f)
			}
			snrs = append(snrs, v)
		}
		for _, n := range []string{"bw", "ma"} {
			r, err := ecg.ReadRecord(os.DirFS(*noiseDir), n)
			if err != nil {
				return fmt.Errorf("noise record %s: %w", n, err)
			}
			noises = append(noises, noiseRec{n, r.Signals[min(*channel, len(r.Signals)-1)].Samples})
		}
	}

	type row struct {
		name  string
		clean ecg.BeatStats
		af    ecg.EpisodeStats
		noisy [][]ecg.BeatStats // [noise][snr]
	}
	rows := make([]row, 0, len(names))
	start := time.Now()
	var samples int64
	var detectTime time.Duration
	for i, name := range names {
		if err := ctx.Err(); err != nil {
			return err
		}
		fmt.Fprintf(env.Stderr, "[%d/%d] %s\n", i+1, len(names), name)
		rec, err := ecg.ReadRecord(dbFS, name)
		if err != nil {
			return fmt.Errorf("record %s: %w", name, err)
		}
		if *channel < 0 || *channel >= len(rec.Signals) {
			return fmt.Errorf("record %s has no channel %d", name, *channel)
		}
		ann, err := readAnnotationFile(dbFS, name+".atr")
		if err != nil {
			return fmt.Errorf("record %s: %w", name, err)
		}
		ref, vf := ecg.ReferenceBeats(ann)
		sig := rec.Signals[*channel]
		var lastBeats []ecg.Beat
		score := func(x []int16) (ecg.BeatStats, error) {
			t0 := time.Now()
			beats, err := ecg.DetectBeats(x, rec.Fs, sig.Gain)
			detectTime += time.Since(t0)
			samples += int64(len(x))
			if err != nil {
				return ecg.BeatStats{}, err
			}
			if *fuse && len(rec.Signals) > 1 && &x[0] == &sig.Samples[0] {
				if beats, err = fuseLeads(rec, beats, *channel); err != nil {
					return ecg.BeatStats{}, err
				}
			}
			lastBeats = beats
			test := make([]int, len(beats))
			for j, b := range beats {
				test[j] = int(b.Sample)
			}
			return ecg.CompareBeats(ref, test, int(ecg.MatchWindow*rec.Fs), int(ecg.ScoreStart*rec.Fs), vf), nil
		}
		r := row{name: name}
		if r.clean, err = score(sig.Samples); err != nil {
			return fmt.Errorf("record %s: %w", name, err)
		}
		// Atrial fibrillation from the detected beats (no beat labels yet).
		idx := make([]int64, len(lastBeats))
		for j, b := range lastBeats {
			idx[j] = b.Sample
		}
		var af []ecg.Episode
		for _, e := range ecg.DetectRhythms(ecg.Intervals(idx, nil, rec.Fs), ecg.RhythmConfig{}) {
			if e.Kind == ecg.AtrialFibrillation {
				af = append(af, e)
			}
		}
		end := float64(rec.Len) / rec.Fs
		r.af = ecg.CompareEpisodes(ecg.ReferenceRhythm(ann, "(AFIB", rec.Fs, end), af, ecg.ScoreStart, end)
		for _, nz := range noises {
			var line []ecg.BeatStats
			for _, snr := range snrs {
				st, err := score(ecg.AddNoise(sig.Samples, ann, nz.samples, rec.Fs, snr))
				if err != nil {
					return err
				}
				line = append(line, st)
			}
			r.noisy = append(r.noisy, line)
		}
		rows = append(rows, r)
	}

	w := bufio.NewWriter(env.Stdout)
	defer w.Flush()
	pct := func(v float64) string {
		if math.IsNaN(v) {
			return "-"
		}
		return fmt.Sprintf("%.2f", 100*v)
	}
	fmt.Fprintf(w, "Beat detection, channel %d, EC57 (150 ms window, from minute 5)\n", *channel)
	fmt.Fprintf(w, "%-8s %7s %5s %5s %7s %7s\n", "record", "TP", "FN", "FP", "Se%", "+P%")
	var gross ecg.BeatStats
	for _, r := range rows {
		c := r.clean
		gross = gross.Add(c)
		fmt.Fprintf(w, "%-8s %7d %5d %5d %7s %7s\n", r.name, c.TP, c.FN, c.FP, pct(c.Se()), pct(c.PPV()))
	}
	fmt.Fprintf(w, "%-8s %7d %5d %5d %7s %7s\n", "gross", gross.TP, gross.FN, gross.FP, pct(gross.Se()), pct(gross.PPV()))

	fmt.Fprintf(w, "\nAtrial fibrillation (reference \"(AFIB\" rhythm), records with reference or detected AF\n")
	fmt.Fprintf(w, "%-8s %5s %5s %7s %7s %8s %8s %7s %7s\n", "record", "refEp", "detEp", "ESe%", "E+P%", "refDur", "detDur", "DSe%", "D+P%")
	var afg ecg.EpisodeStats
	afLine := func(name string, a ecg.EpisodeStats) {
		fmt.Fprintf(w, "%-8s %5d %5d %7s %7s %7.0fs %7.0fs %7s %7s\n", name, a.RefEpisodes, a.TestEpisodes,
			pct(a.EpisodeSe()), pct(a.EpisodePPV()), a.RefDuration, a.TestDuration, pct(a.DurationSe()), pct(a.DurationPPV()))
	}
	for _, r := range rows {
		afg = afg.Add(r.af)
		if r.af.RefEpisodes+r.af.TestEpisodes > 0 {
			afLine(r.name, r.af)
		}
	}
	afLine("gross", afg)
	if len(noises) > 0 {
		fmt.Fprintf(w, "\nWith nstdb noise (nst standard protocol: noise in alternate 2-min segments after minute 5)\n")
		fmt.Fprintf(w, "%-6s %6s %7s %5s %5s %7s %7s\n", "noise", "SNR", "TP", "FN", "FP", "Se%", "+P%")
		for k, nz := range noises {
			for j, snr := range snrs {
				var g ecg.BeatStats
				for _, r := range rows {
					g = g.Add(r.noisy[k][j])
				}
				fmt.Fprintf(w, "%-6s %6g %7d %5d %5d %7s %7s\n", nz.name, snr, g.TP, g.FN, g.FP, pct(g.Se()), pct(g.PPV()))
			}
		}
	}
	fmt.Fprintf(env.Stderr, "%d records, %d samples through the detector in %s (%.1f M samples/s); total %s\n",
		len(rows), samples, detectTime.Round(time.Millisecond), float64(samples)/detectTime.Seconds()/1e6, time.Since(start).Round(time.Millisecond))
	return nil
}

// fuseLeads detects beats on the other of the first two channels and
// fuses both by signal quality.
func fuseLeads(rec *ecg.Record, primary []ecg.Beat, channel int) ([]ecg.Beat, error) {
	other := 1 - min(channel, 1)
	s := rec.Signals[other]
	second, err := ecg.DetectBeats(s.Samples, rec.Fs, s.Gain)
	if err != nil {
		return nil, err
	}
	var q [2][]ecg.Quality
	for i, c := range []int{channel, other} {
		m, err := ecg.NewQualityMonitor(ecg.QualityConfig{Fs: rec.Fs, Gain: rec.Signals[c].Gain})
		if err != nil {
			return nil, err
		}
		q[i] = m.Flush(m.Process(rec.Signals[c].Samples, nil))
	}
	return ecg.FuseLeads([2][]ecg.Beat{primary, second}, q, rec.Fs), nil
}

func fsGlob(fsys fs.FS, pattern string) ([]string, error) {
	m, err := fs.Glob(fsys, pattern)
	if err != nil {
		return nil, err
	}
	return m, nil
}

func readAnnotationFile(fsys fs.FS, name string) ([]ecg.Annotation, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ecg.ReadAnnotations(bufio.NewReader(f))
}
