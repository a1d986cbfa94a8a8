package monitor

import (
	"context"
	"errors"
	"math"
	"slices"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/alert"
	"github.com/vigilhealth/vigil/ecg"
	"github.com/vigilhealth/vigil/ecg/beatclass"
	"github.com/vigilhealth/vigil/vitals"
)

// ecgStream is one patient's ECG lead from one device, analysed
// incrementally (package ecg): beats, signal quality, rhythm episodes;
// and, unless ECGConfig.Off, the beats' classes (package beatclass) and
// the findings they add up to.
type ecgStream struct {
	an     *ecg.Analyzer
	origin time.Time // time of sample 0
	fs     float64
	gain   float64 // ADC units per mV
	out    ecg.Output
	lastHR float64

	device, code string
	// hrWin is the start (stream sample) of the heart-rate window being
	// gathered in hrs, the instantaneous rates of its usable beats.
	hrWin      int64
	hrs        []float64
	cls        *beatclass.Stream // nil when classification is off
	classified []beatclass.Classified
	// usable holds the detected beats handed to cls and not yet
	// classified, with the quality of their segment.
	usable []usableBeat
	mV     []float32
	ect    ectopy
	hrv    hrvWindow
	// base is the active model cls derives from (adapted to the patient's
	// labels or not); relabel asks for a new adaptation (LabelsChanged).
	base    *beatclass.Classifier
	relabel bool
}

type usableBeat struct {
	sample int64
	ok     bool
}

// ecgWork is what analysing chunks produced that is written after the
// shard lock is released: beats and findings to store, alerts to raise.
type ecgWork struct {
	beats    []vigil.Beat
	findings []vigil.ECGFinding
	acts     []action
	hr       []vigil.Sample // ECG-derived heart rate, one per window
}

// hrWindow is the span of each ECG-derived heart-rate sample, and
// minHRBeats the usable beats a window needs for one: a window mostly
// unreadable gives no rate rather than a guess.
const (
	hrWindow   = 30 * time.Second
	minHRBeats = 10
)

// ecgRules are the alert rules of ECG rhythm findings and their
// severities: a pause (possible asystole or high-grade block) is urgent,
// the others need review.
var ecgRules = map[ecg.RhythmKind]struct{ rule, severity string }{
	ecg.Pause:              {"ecg-pause", "high"},
	ecg.AtrialFibrillation: {"ecg-atrial-fibrillation", "medium"},
	ecg.Bradycardia:        {"ecg-bradycardia", "medium"},
	ecg.Tachycardia:        {"ecg-tachycardia", "medium"},
}

// ObserveWaveforms analyses newly stored ECG chunks. Chunks of one
// patient's lead are analysed in order without re-reading history; a
// chunk that overlaps what was analysed (a late duplicate) is skipped, a
// rate change restarts the lead's analysis.
//
// With beat classification on (ECGConfig), each beat is classified once
// the beat after it is known; the classified beats and the findings are
// stored (ECGConfig.Beats) before their alerts are raised, after the
// patient's lock is released.
func (m *Monitor) ObserveWaveforms(ctx context.Context, waves []vigil.Waveform) {
	for i := range waves {
		w := &waves[i]
		sh := m.shardOf(w.Patient)
		var work ecgWork
		sh.mu.Lock()
		err := m.observeWave(ctx, sh, w, &work)
		sh.mu.Unlock()
		if err != nil {
			m.cfg.Logger.WarnContext(ctx, "monitor: ECG chunk not analysed", "patient", w.Patient, "err", err)
		}
		m.storeECG(ctx, w.Patient, &work)
		m.apply(ctx, w.Patient, work.acts)
		m.storeHR(ctx, w.Patient, work.hr)
	}
}

// storeHR stores ECG-derived heart-rate samples and analyses them like
// any reading (NEWS2, the patient's rules), so that a patient wearing only
// an ECG patch has a pulse.
func (m *Monitor) storeHR(ctx context.Context, patient string, hr []vigil.Sample) {
	if len(hr) == 0 || m.cfg.Samples == nil {
		return
	}
	// A derived reading is received when it is stored: its
	// meta.lastUpdated then tells a polling client something new, inside
	// the write horizon (vigil.WriteHorizon).
	clock := func() time.Time { return m.cfg.Now().UTC().Truncate(time.Millisecond) }
	end := m.cfg.Horizon.Begin(clock)
	now := clock()
	for i := range hr {
		hr[i].Received = now
	}
	stored, err := m.cfg.Samples.AppendSamples(ctx, hr)
	end()
	if err != nil {
		m.cfg.Logger.ErrorContext(ctx, "monitor: ECG heart rate not stored", "patient", patient, "err", err)
		return
	}
	fresh := hr[:0]
	for i, ok := range stored {
		if ok {
			fresh = append(fresh, hr[i])
		}
	}
	if len(fresh) > 0 {
		m.Observe(ctx, fresh)
	}
}

// storeECG writes the beats and findings of work; a failure is logged and
// the alerts are raised all the same.
func (m *Monitor) storeECG(ctx context.Context, patient string, work *ecgWork) {
	bs := m.cfg.ECG.Beats
	if bs == nil {
		return
	}
	if len(work.beats) > 0 {
		if err := bs.AppendBeats(ctx, work.beats); err != nil {
			m.cfg.Logger.ErrorContext(ctx, "monitor: ECG beats not stored", "patient", patient, "err", err)
		}
	}
	if len(work.findings) > 0 {
		now := m.cfg.Now().UTC().Truncate(time.Millisecond)
		for i := range work.findings {
			if work.findings[i].Found.IsZero() {
				work.findings[i].Found = now
			}
		}
		if err := bs.AddECGFindings(ctx, work.findings); err != nil {
			m.cfg.Logger.ErrorContext(ctx, "monitor: ECG findings not stored", "patient", patient, "err", err)
		}
	}
}

func (m *Monitor) observeWave(ctx context.Context, sh *shard, w *vigil.Waveform, work *ecgWork) error {
	p, err := m.state(ctx, sh, w.Patient, w.Start)
	if err != nil {
		return err
	}
	if p.ecg == nil {
		p.ecg = make(map[string]*ecgStream)
	}
	key := w.Device + "|" + w.Code
	st := p.ecg[key]
	if st == nil || st.fs != w.RateHz {
		gain := gainOf(w)
		an, err := ecg.NewAnalyzer(ecg.AnalyzerConfig{Fs: w.RateHz, Gain: gain})
		if err != nil {
			return err
		}
		st = &ecgStream{an: an, origin: w.Start, fs: w.RateHz, gain: gain, device: w.Device, code: w.Code}
		if !m.cfg.ECG.Off {
			if st.cls, err = m.cfg.ECG.active.Load().NewStream(w.RateHz); err != nil {
				return err
			}
		}
		p.ecg[key] = st
	}
	start := int64(math.Round(w.Start.Sub(st.origin).Seconds() * st.fs))
	if start < 0 {
		return vigil.Errorf(vigil.ErrConflict, "ECG chunk before the start of the analysed stream")
	}
	x := make([]int16, len(w.Samples))
	for i, v := range w.Samples {
		x[i] = int16(max(math.MinInt16+1, min(math.MaxInt16, v)))
	}
	st.out.Reset()
	if err := st.an.Write(start, x, &st.out); err != nil {
		if errors.Is(err, vigil.ErrConflict) {
			return nil // a duplicate or late chunk: analysed already
		}
		return err
	}
	win := int64(hrWindow.Seconds() * st.fs)
	for _, b := range st.out.Beats {
		for b.Sample >= st.hrWin+win {
			st.emitHR(w, win, work)
		}
		if b.Usable && b.HR > 0 {
			st.lastHR = b.HR
			st.hrs = append(st.hrs, b.HR)
		}
	}
	if st.cls != nil {
		m.useModel(ctx, w.Patient, st)
		if err := m.classify(w.Patient, st, start, w.Samples, work); err != nil {
			return err
		}
	}
	for _, ep := range st.out.Episodes {
		r, ok := ecgRules[ep.Kind]
		if !ok {
			continue
		}
		at := st.origin.Add(time.Duration(ep.End * float64(time.Second))).UTC().Truncate(time.Millisecond)
		f := &alert.Finding{Patient: w.Patient, Rule: r.rule, Severity: r.severity, Time: at,
			Title: "ECG: " + ep.Kind.String()}
		if st.lastHR > 0 {
			if hr, err := vitals.Normalize(vitals.CodeHeartRate, math.Round(st.lastHR), "/min"); err == nil {
				f.Readings = []vigil.Sample{{Patient: w.Patient, Device: w.Device, Code: hr.Code, Time: at, Value: hr.Value, Unit: hr.Unit, Source: "ecg"}}
			}
		}
		work.acts = append(work.acts, action{raise: f})
		if ep.Kind == ecg.AtrialFibrillation && !ep.Open && st.cls != nil {
			work.findings = append(work.findings, st.afFinding(w.Patient, ep, r.severity))
		}
	}
	return nil
}

// emitHR closes the current heart-rate window: the median rate of its
// usable beats becomes a heart-rate sample (LOINC 8867-4, Source "ecg",
// timed at the window's end) when it has enough of them.
func (st *ecgStream) emitHR(w *vigil.Waveform, win int64, work *ecgWork) {
	end := st.hrWin + win
	if len(st.hrs) >= minHRBeats {
		slices.Sort(st.hrs)
		med := st.hrs[len(st.hrs)/2]
		if rd, err := vitals.Normalize(vitals.CodeHeartRate, math.Round(med), "/min"); err == nil {
			at := st.origin.Add(time.Duration(float64(end) / st.fs * float64(time.Second))).UTC().Truncate(time.Millisecond)
			work.hr = append(work.hr, vigil.Sample{Patient: w.Patient, Device: w.Device, Code: rd.Code, Time: at,
				Value: rd.Value, Unit: rd.Unit, Source: "ecg"}) // Received when stored (storeHR)
		}
	}
	st.hrs = st.hrs[:0]
	st.hrWin = end
}

// classify hands the chunk x (raw ADC values from sample start; not
// clipped to the detector's 16 bits) and the beats the analyser released
// to the lead's classifier, and turns the classified beats into stored
// beats and findings.
func (m *Monitor) classify(patient string, st *ecgStream, start int64, x []int32, work *ecgWork) error {
	st.mV = st.mV[:0]
	for _, v := range x {
		st.mV = append(st.mV, float32(float64(v)/st.gain))
	}
	var pos []int64
	for _, b := range st.out.Beats {
		pos = append(pos, b.Sample)
		st.usable = append(st.usable, usableBeat{b.Sample, b.Usable})
	}
	var err error
	if st.classified, err = st.cls.Write(start, st.mV, pos, st.classified[:0]); err != nil {
		return err
	}
	model := st.cls.Model()
	var evs []ecgEvent
	for _, c := range st.classified {
		ok := false
		for len(st.usable) > 0 && st.usable[0].sample <= c.Sample {
			if st.usable[0].sample == c.Sample {
				ok = st.usable[0].ok
			}
			st.usable = st.usable[1:]
		}
		class := c.Class
		if !ok {
			class = 'Q' // an unreadable segment: marked, not guessed
		}
		t := st.at(c.Sample)
		b := vigil.Beat{Patient: patient, Device: st.device, Code: st.code, Time: t, Class: string(class), Model: model}
		if !math.IsNaN(c.RR) {
			b.RR = time.Duration(c.RR * float64(time.Second)).Round(time.Millisecond)
		}
		work.beats = append(work.beats, b)
		evs = st.beat(&m.cfg.ECG, patient, c.Sample, t, class, ok, evs)
		st.hrvBeat(patient, c.Sample, class, work)
	}
	if len(st.usable) == 0 {
		st.usable = nil // let the backing array go
	}
	for _, ev := range evs {
		work.findings = append(work.findings, *ev.finding)
		switch {
		case ev.clear != "":
			work.acts = append(work.acts, action{clear: ev.clear, t: ev.at})
		case !ev.quiet:
			f := &alert.Finding{Patient: patient, Rule: ev.finding.Rule, Severity: ev.finding.Severity, Time: ev.at, Title: ev.finding.Title}
			rate := ev.finding.RateBPM
			if rate == 0 {
				rate = st.lastHR
			}
			if rate > 0 {
				if hr, err := vitals.Normalize(vitals.CodeHeartRate, math.Round(rate), "/min"); err == nil {
					f.Readings = []vigil.Sample{{Patient: patient, Device: st.device, Code: hr.Code, Time: ev.at, Value: hr.Value, Unit: hr.Unit, Source: "ecg"}}
				}
			}
			work.acts = append(work.acts, action{raise: f})
		}
	}
	return nil
}

// afFinding is the finding of an atrial-fibrillation episode of the
// rhythm analysis (RR irregularity, package ecg), stored beside the
// findings of the classified beats.
func (st *ecgStream) afFinding(patient string, ep ecg.Episode, severity string) vigil.ECGFinding {
	start := st.origin.Add(time.Duration(ep.Start * float64(time.Second))).UTC().Truncate(time.Millisecond)
	end := st.origin.Add(time.Duration(ep.End * float64(time.Second))).UTC().Truncate(time.Millisecond)
	dur := end.Sub(start).Round(time.Second)
	return vigil.ECGFinding{ID: findingID(patient, st.device, st.code, KindAF, start), Patient: patient, Device: st.device, Code: st.code,
		Kind: KindAF, Rule: ecgRules[ecg.AtrialFibrillation].rule, Severity: severity, Start: start, End: end,
		Title: "ECG: atrial fibrillation for " + dur.String(),
		Explanation: "RR intervals irregular in rate, order and spread for " + dur.String() +
			" after ectopic beats are set aside (RR-irregularity test, Dash et al. 2009); not from the beat classifier"}
}
