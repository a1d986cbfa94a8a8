package monitor

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/ecg/beatclass"
)

// Kinds of ECG findings (vigil.ECGFinding.Kind).
const (
	KindVentricularRun = "ventricular-run"
	KindPVCBurden      = "pvc-burden"
	KindSVRun          = "sv-run"
	KindSVBurden       = "sv-burden"
	KindAF             = "atrial-fibrillation"
	KindHRV            = "hrv"
)

// Alert rules of the ECG findings from classified beats. Severities:
//
//   - ecg-ventricular-run: critical for sustained ventricular tachycardia
//     (a run above 100/min lasting ECGConfig.Sustained, 30 s by default),
//     high for non-sustained VT (3 or more ventricular beats above
//     100/min), medium for a slower run (accelerated idioventricular
//     rhythm). The run is reported when it ends, and at once when it
//     becomes sustained.
//   - ecg-pvc-burden: medium — premature ventricular beats make up more
//     than ECGConfig.BurdenPct (10 %) of the beats of the last hour; a
//     burden above 10 % is associated with PVC-induced cardiomyopathy and
//     calls for review, not an emergency response.
//   - ecg-sv-run: medium for a run of supraventricular beats lasting 30 s,
//     low for a shorter one; ecg-sv-burden: low. The classifier's S class
//     is far less reliable than its V class (beatclass README), so these
//     stay low until a clinician confirms.
const (
	RuleVentricularRun = "ecg-ventricular-run"
	RulePVCBurden      = "ecg-pvc-burden"
	RuleSVRun          = "ecg-sv-run"
	RuleSVBurden       = "ecg-sv-burden"
)

// maxBurdenMinutes bounds ECGConfig.BurdenWindow (the bins kept).
const maxBurdenMinutes = 240

// ectopic class indices: ventricular and supraventricular.
const (
	ectV = iota
	ectS
	numEct
)

var ectClass = [numEct]byte{'V', 'S'}

// ectopy summarises one lead's classified beats into findings: runs of
// ectopic beats and their burden over a window. Its state is bounded: a
// bin per minute of the window, the current run of each class (at most
// vigil.MaxEvidence beat times) and the last few ectopic beats.
type ectopy struct {
	bins   [maxBurdenMinutes + 1]burdenBin
	minute int64 // minute (Unix time / 60) of the newest beat; 0 before the first
	runs   [numEct]ectRun
	burden [numEct]burdenState
	// latest ectopic beats (sample indices) of each class, newest last.
	latest [numEct][]int64
}

type burdenBin struct {
	minute int64
	total  int
	n      [numEct]int
}

type ectRun struct {
	n           int
	first, last int64 // samples
	times       []time.Time
	expl        string
	raised      string // severity raised for the run so far
}

type burdenState struct {
	on     bool
	since  time.Time // start of the window when it turned on
	stored int64     // minute the finding was last stored
	expl   string    // explanation of a recent ectopic beat
}

// ecgEvent is what the summary of a lead found: a finding to store and,
// unless quiet, to raise as an alert; or a rule to clear.
type ecgEvent struct {
	finding *vigil.ECGFinding
	quiet   bool
	clear   string
	at      time.Time
}

// findingID is a stable opaque id for a finding of a lead: the same
// finding found again (a run reported when sustained and again when it
// ends, a burden updated) keeps its id.
func findingID(patient, device, code, kind string, start time.Time) string {
	h := sha256.Sum256([]byte(patient + "\x00" + device + "\x00" + code + "\x00" + kind + "\x00" + strconv.FormatInt(start.UnixMilli(), 10)))
	return "ecg-" + hex.EncodeToString(h[:10])
}

// beat adds one classified beat (usable false: in an unreadable segment,
// class Q) of stream st at time t and returns what it concludes.
func (st *ecgStream) beat(cfg *ECGConfig, patient string, sample int64, t time.Time, class byte, usable bool, out []ecgEvent) []ecgEvent {
	e := &st.ect
	// Burden bins: a new minute judges the burden of the complete minutes.
	m := t.Unix() / 60
	if m > e.minute {
		if e.minute != 0 {
			out = st.judgeBurden(cfg, patient, m, out)
		}
		e.minute = m
	}
	if b := &e.bins[m%int64(len(e.bins))]; usable && class != 'Q' {
		if b.minute != m {
			*b = burdenBin{minute: m}
		}
		b.total++
		for k := range numEct {
			if class == ectClass[k] {
				b.n[k]++
			}
		}
	}
	// Runs.
	for k := range numEct {
		r := &e.runs[k]
		if usable && class == ectClass[k] {
			if r.n == 0 {
				r.first, r.times, r.expl, r.raised = sample, r.times[:0], "", ""
			}
			r.n++
			r.last = sample
			if len(r.times) < vigil.MaxEvidence {
				r.times = append(r.times, t)
			}
			if r.n == cfg.RunBeats {
				r.expl = st.explain(r.first, ectClass[k])
			}
			l := append(e.latest[k], sample)
			if len(l) > 8 {
				l = l[1:]
			}
			e.latest[k] = l
			// A run that becomes sustained is reported at once.
			if k == ectV && r.n >= cfg.RunBeats && st.runSeverity(cfg, k, r) == "critical" && r.raised != "critical" {
				out = append(out, st.runEvent(cfg, patient, k, r))
			}
			continue
		}
		if r.n >= cfg.RunBeats {
			out = append(out, st.runEvent(cfg, patient, k, r))
		}
		r.n = 0
	}
	return out
}

// runRate returns the rate of a run in beats per minute (0 for a run of
// one beat).
func (st *ecgStream) runRate(r *ectRun) float64 {
	if r.n < 2 || r.last <= r.first {
		return 0
	}
	return float64(r.n-1) * 60 / (float64(r.last-r.first) / st.fs)
}

func (st *ecgStream) runSeverity(cfg *ECGConfig, k int, r *ectRun) string {
	dur := time.Duration(float64(r.last-r.first) / st.fs * float64(time.Second))
	rate := st.runRate(r)
	switch {
	case k == ectS && dur >= cfg.Sustained:
		return "medium"
	case k == ectS:
		return "low"
	case rate > 100 && dur >= cfg.Sustained:
		return "critical"
	case rate > 100:
		return "high"
	}
	return "medium"
}

// runEvent is the finding of a run (ended, or sustained and going on).
func (st *ecgStream) runEvent(cfg *ECGConfig, patient string, k int, r *ectRun) ecgEvent {
	kind, rule, what := KindVentricularRun, RuleVentricularRun, "ventricular"
	if k == ectS {
		kind, rule, what = KindSVRun, RuleSVRun, "supraventricular"
	}
	sev := st.runSeverity(cfg, k, r)
	r.raised = sev
	start, end := st.at(r.first), st.at(r.last)
	rate := math.Round(st.runRate(r))
	dur := end.Sub(start)
	title := fmt.Sprintf("ECG: run of %d %s beats at %.0f/min over %.1f s", r.n, what, rate, dur.Seconds())
	if k == ectV && sev == "critical" {
		title = fmt.Sprintf("ECG: sustained ventricular tachycardia at %.0f/min for %.0f s", rate, dur.Seconds())
	}
	expl := r.expl
	if expl == "" {
		expl = st.explain(r.last, ectClass[k])
	}
	f := &vigil.ECGFinding{ID: findingID(patient, st.device, st.code, kind, start), Patient: patient, Device: st.device, Code: st.code,
		Kind: kind, Rule: rule, Severity: sev, Title: title + " (" + st.cls.Model() + ")", Start: start, End: end,
		Beats: r.n, RateBPM: rate, Model: st.cls.Model(), Explanation: expl,
		Evidence: append([]time.Time(nil), r.times...)}
	return ecgEvent{finding: f, at: end}
}

// judgeBurden judges the burden of each ectopic class over the complete
// minutes of the window before minute now.
func (st *ecgStream) judgeBurden(cfg *ECGConfig, patient string, now int64, out []ecgEvent) []ecgEvent {
	e := &st.ect
	win := int64(cfg.BurdenWindow / time.Minute)
	total, first := 0, now
	var n [numEct]int
	for _, b := range e.bins {
		if b.minute >= now-win && b.minute < now && b.total > 0 {
			total += b.total
			for k := range numEct {
				n[k] += b.n[k]
			}
			first = min(first, b.minute)
		}
	}
	end := time.Unix(now*60, 0).UTC()
	for k := range numEct {
		bs := &e.burden[k]
		pct := 0.0
		if total > 0 {
			pct = 100 * float64(n[k]) / float64(total)
		}
		switch {
		case !bs.on && total >= cfg.BurdenMinBeats && pct >= cfg.BurdenPct:
			bs.on, bs.since, bs.stored, bs.expl = true, time.Unix(first*60, 0).UTC(), now, ""
			out = append(out, st.burdenEvent(patient, k, bs, end, n[k], total, pct, false))
		case bs.on && pct < cfg.BurdenPct/2:
			bs.on = false
			ev := st.burdenEvent(patient, k, bs, end, n[k], total, pct, true)
			ev.clear = ev.finding.Rule
			out = append(out, ev)
		case bs.on && now-bs.stored >= 10:
			// The finding follows the burden every 10 minutes while it
			// lasts (stored only: the alert is open already).
			bs.stored = now
			out = append(out, st.burdenEvent(patient, k, bs, end, n[k], total, pct, true))
		}
	}
	return out
}

func (st *ecgStream) burdenEvent(patient string, k int, bs *burdenState, end time.Time, n, total int, pct float64, quiet bool) ecgEvent {
	kind, rule, sev, what := KindPVCBurden, RulePVCBurden, "medium", "premature ventricular beats"
	if k == ectS {
		kind, rule, sev, what = KindSVBurden, RuleSVBurden, "low", "supraventricular ectopic beats"
	}
	pct = math.Round(pct*10) / 10
	mins := end.Sub(bs.since).Minutes()
	f := &vigil.ECGFinding{ID: findingID(patient, st.device, st.code, kind, bs.since), Patient: patient, Device: st.device, Code: st.code,
		Kind: kind, Rule: rule, Severity: sev, Start: bs.since, End: end, Beats: n, Total: total, BurdenPct: pct, Model: st.cls.Model(),
		Title: fmt.Sprintf("ECG: %s %.1f %% of beats over %.0f min (%s)", what, pct, mins, st.cls.Model())}
	latest := st.ect.latest[k]
	for _, s := range latest {
		f.Evidence = append(f.Evidence, st.at(s))
	}
	f.Explanation = fmt.Sprintf("%d of %d classified beats are %c", n, total, ectClass[k])
	// The reasons for the latest such beat the classifier still keeps,
	// else those given last time.
	for i := len(latest) - 1; i >= 0; i-- {
		if x := st.explain(latest[i], ectClass[k]); x != "" {
			bs.expl = x
			break
		}
	}
	if bs.expl != "" {
		f.Explanation += "; a recent one: " + bs.expl
	}
	return ecgEvent{finding: f, quiet: quiet, at: end}
}

// explain returns the plain-language reasons the classifier gives for one
// of the last beats it classified ("" when the beat is no longer kept):
// the top attributions (beatclass Explanation) and the probability of
// the class. It costs one TreeSHAP pass (about 20 µs).
func (st *ecgStream) explain(sample int64, class byte) string {
	res, ok := st.cls.Explain(sample)
	if !ok {
		return ""
	}
	k := -1
	for i := range len(beatclass.Classes) {
		if beatclass.Classes[i] == class {
			k = i
		}
	}
	if k < 0 || res.Class != class {
		return res.Explanation
	}
	return fmt.Sprintf("%s (probability of %c %.2f)", res.Explanation, class, res.Prob[k])
}

// at is the time of a sample of the stream.
func (st *ecgStream) at(sample int64) time.Time {
	return st.origin.Add(time.Duration(float64(sample) / st.fs * float64(time.Second))).UTC().Truncate(time.Millisecond)
}
