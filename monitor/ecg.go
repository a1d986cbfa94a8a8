package monitor

import (
	"context"
	"errors"
	"math"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/alert"
	"github.com/vigilhealth/vigil/ecg"
	"github.com/vigilhealth/vigil/vitals"
)

// ecgStream is one patient's ECG lead from one device, analysed
// incrementally (package ecg): beats, signal quality, rhythm episodes.
type ecgStream struct {
	an     *ecg.Analyzer
	origin time.Time // time of sample 0
	fs     float64
	out    ecg.Output
	lastHR float64
}

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
func (m *Monitor) ObserveWaveforms(ctx context.Context, waves []vigil.Waveform) {
	for i := range waves {
		w := &waves[i]
		sh := m.shardOf(w.Patient)
		sh.mu.Lock()
		acts, err := m.observeWave(ctx, sh, w)
		sh.mu.Unlock()
		if err != nil {
			m.cfg.Logger.WarnContext(ctx, "monitor: ECG chunk not analysed", "patient", w.Patient, "err", err)
		}
		m.apply(ctx, w.Patient, acts)
	}
}

func (m *Monitor) observeWave(ctx context.Context, sh *shard, w *vigil.Waveform) ([]action, error) {
	p, err := m.state(ctx, sh, w.Patient, w.Start)
	if err != nil {
		return nil, err
	}
	if p.ecg == nil {
		p.ecg = make(map[string]*ecgStream)
	}
	key := w.Device + "|" + w.Code
	st := p.ecg[key]
	if st == nil || st.fs != w.RateHz {
		gain := 200.0 // ADC units per mV
		if w.Gain > 0 {
			gain = 1 / w.Gain
			if w.Unit == "uV" {
				gain = 1000 / w.Gain
			}
		}
		an, err := ecg.NewAnalyzer(ecg.AnalyzerConfig{Fs: w.RateHz, Gain: gain})
		if err != nil {
			return nil, err
		}
		st = &ecgStream{an: an, origin: w.Start, fs: w.RateHz}
		p.ecg[key] = st
	}
	start := int64(math.Round(w.Start.Sub(st.origin).Seconds() * st.fs))
	if start < 0 {
		return nil, vigil.Errorf(vigil.ErrConflict, "ECG chunk before the start of the analysed stream")
	}
	x := make([]int16, len(w.Samples))
	for i, v := range w.Samples {
		x[i] = int16(max(math.MinInt16+1, min(math.MaxInt16, v)))
	}
	st.out.Reset()
	if err := st.an.Write(start, x, &st.out); err != nil {
		if errors.Is(err, vigil.ErrConflict) {
			return nil, nil // a duplicate or late chunk: analysed already
		}
		return nil, err
	}
	for _, b := range st.out.Beats {
		if b.Usable && b.HR > 0 {
			st.lastHR = b.HR
		}
	}
	var acts []action
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
		acts = append(acts, action{raise: f})
	}
	return acts, nil
}
