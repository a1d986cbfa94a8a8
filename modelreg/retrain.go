package modelreg

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/ecg/beatclass"
	"github.com/vigilhealth/vigil/ml"
)

// HeldOutRecords are the MIT-BIH DS1 records that no registry version
// trains on, so that every candidate and every champion is scored on the
// same beats of patients neither has seen: 10,537 beats (N 9,244, S 294,
// V 980, F 19). They were chosen to hold S and V beats of several
// patients — 118 (S, RBBB), 119 (ventricular bigeminy), 124 (junctional
// S, V, F), 220 (S), 223 (S, V, F) — while leaving in training the records
// that hold most of DS1's S (209), V and F (208) beats and its atrial
// fibrillation (201, 203).
var HeldOutRecords = []string{"118", "119", "124", "220", "223"}

// DefaultRecentFraction is the newest share of the labelled beats kept for
// the recent-label comparison instead of training.
const DefaultRecentFraction = 0.2

// RetrainConfig is the input of Retrain.
type RetrainConfig struct {
	// Base holds the DS1 recordings (all of them; those named in HeldOut
	// are kept for evaluation, the rest train), at reference or detector
	// positions (`vigil model retrain` loads them at
	// beatclass.DefaultPositions, the detector's).
	Base []*beatclass.Recording
	// HeldOut names the held-out records (nil: HeldOutRecords). Every one
	// must be in Base.
	HeldOut []string
	// Labels are all the clinicians' answers (a BeatLabelStore's
	// BeatLabels), and Samples the store their beats' signal is read from.
	Labels  []vigil.BeatLabel
	Samples vigil.SampleStore
	// DS1, when set, holds the WFDB files of Base: the training summary
	// (for drift reports) is then computed at the beats Vigil's detector
	// finds in them, as the server sees beats, rather than at the
	// reference annotations (see detectedRecording). Base recordings
	// already at detector positions are summarised as they are.
	DS1 fs.FS
	// Seed and Model set the training (nil Model: beatclass.ModelConfig(Seed)).
	Seed  uint64
	Model *ml.Config
	// RecentFraction is the newest share of labelled beats kept for
	// evaluation (0: DefaultRecentFraction).
	RecentFraction float64
	// Rule is the promotion rule (zero: DefaultRule()).
	Rule Rule
	// By is who runs the retraining; it is logged with every event.
	By string
	// Log, if set, receives progress messages; Round receives every
	// boosting round.
	Log   func(msg string)
	Round func(ml.Progress)
}

// RetrainResult says what Retrain did.
type RetrainResult struct {
	// Base is the version registered and activated because the registry
	// had no active version (nil otherwise).
	Base *Entry
	// Champion is the version the candidate was compared with.
	Champion Entry
	// Candidate is the new version (nil when Identical is set).
	Candidate *Entry
	// Identical names the registered version the candidate is
	// byte-identical to (no new labels since it was trained): nothing was
	// registered.
	Identical string
	// Decision is the rule's verdict; Promoted whether the candidate is
	// now active.
	Decision Decision
	Promoted bool
}

// Retrain runs champion/challenger retraining:
//
//  1. When no version is active, it trains a base model on the DS1 records
//     minus the held-out ones (no labels), registers it and promotes it:
//     the embedded default model trained on the held-out records too, so it
//     cannot be scored fairly on them.
//  2. It reduces the clinicians' answers to one label per beat
//     (CurrentLabels), keeps the newest RecentFraction of them for
//     evaluation and reads the signal around every labelled beat from
//     Samples to compute its features.
//  3. It trains a candidate on the training DS1 records plus the older
//     labelled beats (one group per patient for early stopping), and
//     scores candidate and champion on the held-out records and on the
//     recent labelled beats.
//  4. It registers the candidate with its data, metrics, the champion's
//     metrics and a training summary, and promotes it when Rule finds it
//     not worse, or rejects it with the reasons.
//
// The result depends only on the data, the labels and the seed. It holds
// the registry's writer lock throughout.
func (r *Registry) Retrain(ctx context.Context, cfg RetrainConfig) (*RetrainResult, error) {
	if err := checkWho(cfg.By, "", false); err != nil {
		return nil, err
	}
	if cfg.Samples == nil && len(cfg.Labels) > 0 {
		return nil, vigil.Errorf(vigil.ErrInvalid, "labels need the sample store to read their signal from")
	}
	logf := func(format string, args ...any) {
		if cfg.Log != nil {
			cfg.Log(fmt.Sprintf(format, args...))
		}
	}
	heldNames := cfg.HeldOut
	if heldNames == nil {
		heldNames = HeldOutRecords
	}
	var train, held []*beatclass.Recording
	for _, rec := range cfg.Base {
		if slices.Contains(heldNames, rec.Name) {
			held = append(held, rec)
		} else {
			train = append(train, rec)
		}
	}
	if len(held) != len(heldNames) {
		return nil, vigil.Errorf(vigil.ErrInvalid, "held-out records %v: %d of them are among the %d base records", heldNames, len(held), len(cfg.Base))
	}
	if len(train) == 0 {
		return nil, vigil.Errorf(vigil.ErrInvalid, "no base records left to train on")
	}
	mc := beatclass.ModelConfig(cfg.Seed)
	if cfg.Model != nil {
		mc = *cfg.Model
		mc.Seed = cfg.Seed
	}
	rule := cfg.Rule
	if rule == (Rule{}) {
		rule = DefaultRule()
	}
	frac := cfg.RecentFraction
	if frac == 0 {
		frac = DefaultRecentFraction
	}
	if !(frac > 0 && frac < 1) {
		return nil, vigil.Errorf(vigil.ErrInvalid, "recent fraction %v outside (0, 1)", frac)
	}

	unlock, err := r.writeLock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	res := &RetrainResult{}
	recNames := names(train)
	sum := &summarizer{fsys: cfg.DS1, log: logf}

	// 1. The champion: the active version, or a base model made now.
	champ, err := r.Active(ctx)
	if errors.Is(err, vigil.ErrNotFound) {
		logf("no active model version: training the base model on %d DS1 records (held out: %s)", len(train), strings.Join(heldNames, ","))
		c, rep, err := beatclass.Train(ctx, train, beatclass.TrainConfig{Seed: cfg.Seed, Model: &mc, Progress: cfg.Round,
			Info: trainInfo(recNames, heldNames, nil)})
		if err != nil {
			return nil, fmt.Errorf("train base model: %w", err)
		}
		v := &Version{Data: Data{Records: recNames, HeldOut: heldNames, RecordBeats: rep.TrainRows, Seed: cfg.Seed,
			Config: settingsOf(mc), TrainBeats: rep.TrainRows, Rounds: rep.Rounds, Temperature: rep.Calibration.Temperature},
			HeldOut: NewMetrics(beatclass.Evaluate(c, held))}
		if v.Summary, v.Data.SummaryAt, err = sum.of(train, nil, c); err != nil {
			return nil, err
		}
		reason := "bootstrap: no active version; base model trained on DS1 without the held-out records " + strings.Join(heldNames, ",")
		e, same, err := r.registerAndDecide(ctx, c, v, cfg.By, EventPromoted, reason)
		if err == nil && same != "" {
			// Registered before (and rejected or left a candidate).
			var got Entry
			got, err = r.decide(ctx, same, EventPromoted, cfg.By, reason)
			e = &got
		}
		if err != nil {
			return nil, err
		}
		logf("registered and activated %s (%s): held-out accuracy %.2f %%", e.ID, e.Model, 100*e.HeldOut.Accuracy)
		res.Base = e
		champ = *e
	} else if err != nil {
		return nil, err
	}
	res.Champion = champ
	for _, n := range champ.Data.Records {
		if slices.Contains(heldNames, n) {
			return nil, vigil.Errorf(vigil.ErrConflict, "active version %s trained on held-out record %s: it cannot be scored fairly on the held-out records", champ.ID, n)
		}
	}
	champC, err := r.Classifier(ctx, champ.Version)
	if err != nil {
		return nil, err
	}

	// 2. Labels: one per beat, split by answer time, with their features.
	labels, skipped, err := CurrentLabels(cfg.Labels)
	if err != nil {
		return nil, err
	}
	trainL, recentL, dropped := splitRecent(labels, frac, champ.Data.LabelsUntil)
	if dropped > 0 {
		skipped[SkipChampionSeen] += dropped
	}
	logf("%d answers → %d labelled beats: %d for training, %d recent for evaluation", len(cfg.Labels), len(labels), len(trainL), len(recentL))
	all := append(slices.Clone(trainL), recentL...)
	var rows [][]float32
	if len(all) > 0 {
		start := time.Now()
		if rows, err = labelledFeatures(ctx, cfg.Samples, all, skipped); err != nil {
			return nil, fmt.Errorf("labelled beats: %w", err)
		}
		logf("features of the labelled beats from the stored signal in %s", time.Since(start).Round(time.Millisecond))
	}
	trainRecs, trainUsed := labelRecordings(trainL, rows[:len(trainL)], true)
	recentRecs, recentUsed := labelRecordings(recentL, rows[len(trainL):], false)
	for i, l := range trainL {
		if l.Class == 'Q' && rows[i] != nil {
			skipped[SkipQ]++
		}
	}

	// 3. The candidate.
	data := Data{Records: recNames, HeldOut: heldNames, Seed: cfg.Seed, Config: settingsOf(mc), LabelsSkipped: skipped,
		LabelPatients: len(trainRecs), LabelClasses: map[string]int{}}
	for _, rec := range train {
		data.RecordBeats += countTrainable(rec.Labels)
	}
	for _, l := range trainUsed {
		data.Labels++
		data.LabelClasses[string(l.Class)]++
		data.LabelsFrom = minTime(data.LabelsFrom, l.At)
		data.LabelsUntil = maxTime(data.LabelsUntil, l.At)
	}
	for _, l := range recentUsed {
		data.RecentLabels++
		data.RecentFrom = minTime(data.RecentFrom, l.At)
		data.RecentUntil = maxTime(data.RecentUntil, l.At)
	}
	trainSet := append(slices.Clone(train), trainRecs...)
	logf("training the candidate on %d DS1 records and %d labelled beats of %d patients", len(train), data.Labels, len(trainRecs))
	cand, rep, err := beatclass.Train(ctx, trainSet, beatclass.TrainConfig{Seed: cfg.Seed, Model: &mc, Progress: cfg.Round,
		Info: trainInfo(recNames, heldNames, trainUsed)})
	if err != nil {
		return nil, fmt.Errorf("train candidate: %w", err)
	}
	data.TrainBeats, data.Rounds, data.Temperature = rep.TrainRows, rep.Rounds, rep.Calibration.Temperature

	// Evaluation on the same beats for both models.
	heldCand, heldChamp := beatclass.Evaluate(cand, held), beatclass.Evaluate(champC, held)
	var recentCand, recentChamp *beatclass.Confusion
	if len(recentRecs) > 0 {
		a, b := beatclass.Evaluate(cand, recentRecs), beatclass.Evaluate(champC, recentRecs)
		recentCand, recentChamp = &a, &b
	}
	res.Decision = rule.Decide(&heldCand, &heldChamp, recentCand, recentChamp)
	v := &Version{Parent: champ.ID, Data: data, HeldOut: NewMetrics(heldCand),
		Champion: &Champion{ID: champ.ID, HeldOut: NewMetrics(heldChamp)}, Decision: &res.Decision}
	if v.Summary, v.Data.SummaryAt, err = sum.of(train, trainRecs, cand); err != nil {
		return nil, err
	}
	if recentCand != nil {
		v.Recent, v.Champion.Recent = NewMetrics(*recentCand), NewMetrics(*recentChamp)
	}
	logf("held-out accuracy: candidate %.2f %%, champion %s %.2f %%", 100*heldCand.Accuracy(), champ.ID, 100*heldChamp.Accuracy())

	// 4. Register and decide.
	kind, reason := EventRejected, "not promoted by the retraining rule: "+strings.Join(res.Decision.Reasons, "; ")
	if res.Decision.Promote {
		kind, reason = EventPromoted, "promoted by the retraining rule: not worse than "+champ.ID+" on the held-out records and the recent labels"
	}
	e, same, err := r.registerAndDecide(ctx, cand, v, cfg.By, kind, reason)
	if err != nil {
		return nil, err
	}
	if same != "" {
		res.Identical = same
		logf("the candidate is identical to %s: nothing registered", same)
		return res, nil
	}
	res.Candidate, res.Promoted = e, kind == EventPromoted
	return res, nil
}

// registerAndDecide registers c with v and logs the promotion or rejection
// (by the same person, with reason), under the writer lock. When the model
// is byte-identical to a registered version it registers nothing and
// returns that version's ID as same.
func (r *Registry) registerAndDecide(ctx context.Context, c *beatclass.Classifier, v *Version, by string, kind EventKind, reason string) (e *Entry, same string, err error) {
	var buf bytes.Buffer
	if err := c.Write(&buf); err != nil {
		return nil, "", err
	}
	evs, _, err := r.readEvents()
	if err != nil {
		return nil, "", err
	}
	sum := sha256.Sum256(buf.Bytes())
	if id := r.findSHA(replay(evs), hex.EncodeToString(sum[:])); id != "" {
		return nil, id, nil
	}
	if err := r.register(ctx, buf.Bytes(), v, by); err != nil {
		return nil, "", err
	}
	got, err := r.decide(ctx, v.ID, kind, by, reason)
	if err != nil {
		return nil, "", err
	}
	return &got, "", nil
}

// trainInfo is the metadata written into a model file: what it was
// trained on, and nothing else (no time, no person), so that the same data
// gives the same bytes — a candidate without new labels is then recognised
// as the version already registered.
func trainInfo(records, held []string, labels []Label) map[string]string {
	info := map[string]string{"records": strings.Join(records, ","), "held_out": strings.Join(held, ","), "labels": strconv.Itoa(len(labels))}
	if len(labels) > 0 {
		until := labels[0].At
		for _, l := range labels {
			until = maxTime(until, l.At)
		}
		info["labels_until"] = until.Format(time.RFC3339Nano)
	}
	return info
}

// labelRecordings turns labelled beats with features into one training
// recording per patient (named by ordinal, never by patient id, since the
// names end up in the model file), in order of first appearance; beats
// without features, and for training beats labelled Q, are left out (Q is
// assigned from signal quality, not learnt). It returns the labels used.
func labelRecordings(labels []Label, rows [][]float32, train bool) ([]*beatclass.Recording, []Label) {
	byPatient := map[string]*beatclass.Recording{}
	var recs []*beatclass.Recording
	var used []Label
	for i, l := range labels {
		if rows[i] == nil || (train && l.Class == 'Q') {
			continue
		}
		rec := byPatient[l.Patient]
		if rec == nil {
			rec = &beatclass.Recording{Name: "labelled-patient-" + strconv.Itoa(len(recs)+1), Features: &beatclass.Features{Fs: 1}}
			byPatient[l.Patient] = rec
			recs = append(recs, rec)
		}
		rec.Features.X = append(rec.Features.X, rows[i]...)
		rec.Features.Beats = append(rec.Features.Beats, len(rec.Features.Beats))
		rec.Labels = append(rec.Labels, l.Class)
		used = append(used, l)
	}
	return recs, used
}

func countTrainable(labels []byte) int {
	n := 0
	for _, l := range labels {
		switch l {
		case 'N', 'S', 'V', 'F':
			n++
		}
	}
	return n
}

func names(recs []*beatclass.Recording) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.Name
	}
	return out
}

func minTime(a, b time.Time) time.Time {
	if a.IsZero() || b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// summarizer makes the training summaries of Retrain, computing the
// detector-positioned DS1 recordings once.
type summarizer struct {
	fsys     fs.FS
	log      func(string, ...any)
	detected []*beatclass.Recording
}

// of summarises the training beats of a model: the DS1 records (at the
// detector's beats when they were loaded there or their files are at
// hand) and the labelled beats
// (at their labels' positions, which in service are the detector's). It
// returns where the DS1 beats were taken: "detected" or "reference".
func (s *summarizer) of(records, labelled []*beatclass.Recording, c *beatclass.Classifier) (*beatclass.Summary, string, error) {
	if len(records) > 0 && records[0].Positions == beatclass.PositionsDetector {
		return beatclass.Summarize(append(slices.Clone(records), labelled...), c), "detected", nil
	}
	if s.fsys == nil {
		return beatclass.Summarize(append(slices.Clone(records), labelled...), c), "reference", nil
	}
	if s.detected == nil {
		start := time.Now()
		for _, r := range records {
			d, err := detectedRecording(s.fsys, r)
			if err != nil {
				return nil, "", fmt.Errorf("training summary, record %s: %w", r.Name, err)
			}
			s.detected = append(s.detected, d)
		}
		s.log("training summary at the detector's beats of %d records in %s", len(records), time.Since(start).Round(time.Millisecond))
	}
	return beatclass.Summarize(append(slices.Clone(s.detected), labelled...), c), "detected", nil
}
