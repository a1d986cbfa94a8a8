package monitor

import (
	"context"
	"math"
	"slices"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/ecg/beatclass"
)

// Bounds of patient adaptation: the labelled beats used (the newest), and
// the signal read back to compute their features.
const (
	adaptMaxLabels = 2000
	adaptMaxSignal = time.Hour
	// adaptContext is the signal read before the first and after the last
	// labelled beat of a stretch, so that their RR and template features
	// have the beats around them; stretches closer than adaptGap are read
	// as one.
	adaptContext = 60 * time.Second
	adaptGap     = 5 * time.Minute
)

// useModel makes the lead's classifier follow the active model and the
// patient's labels: when the active model changed (SetECGClassifier) or
// clinicians labelled beats (LabelsChanged), or for a new stream, the
// classifier is the active model adapted to the patient's labels of this
// lead (beatclass Adapt; de Chazal & Reilly 2006), or the active model
// itself when there are none. Adaptation reads the labels, the stored
// beats and signal around them, and fits a few boosting rounds: tens of
// milliseconds, once per change, with the patient's lock held.
func (m *Monitor) useModel(ctx context.Context, patient string, st *ecgStream) {
	active := m.cfg.ECG.active.Load()
	if st.base == active && !st.relabel {
		return
	}
	st.base, st.relabel = active, false
	c, n, err := m.adapt(ctx, patient, st, active)
	if err != nil {
		m.cfg.Logger.WarnContext(ctx, "monitor: ECG model not adapted to the patient's labels", "patient", patient, "err", err)
		c, n = active, 0
	}
	if n > 0 {
		m.cfg.Logger.InfoContext(ctx, "monitor: ECG model adapted to the patient's labels", "patient", patient, "labels", n, "model", c.Version())
	}
	st.cls.SetClassifier(c)
}

// LabelsChanged tells the monitor that clinicians labelled beats of the
// patient: the patient's leads adapt their classifier to the labels with
// their next chunk. Safe for concurrent use.
func (m *Monitor) LabelsChanged(patient string) {
	sh := m.shardOf(patient)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if p := sh.patients[patient]; p != nil {
		for _, st := range p.ecg {
			st.relabel = true
		}
	}
}

// adapt returns base adapted to the patient's labels of st's lead and the
// number of labelled beats it learnt from (0: base itself).
func (m *Monitor) adapt(ctx context.Context, patient string, st *ecgStream, base *beatclass.Classifier) (*beatclass.Classifier, int, error) {
	ls, bs := m.cfg.ECG.Labels, m.cfg.ECG.Beats
	if ls == nil || bs == nil {
		return base, 0, nil
	}
	answers, err := ls.BeatLabels(ctx, vigil.BeatLabelQuery{Patient: patient})
	if err != nil {
		return nil, 0, err
	}
	// The latest answer about a beat of this lead stands; a rejection
	// names no class and teaches nothing here.
	byTime := map[int64]byte{}
	for _, a := range answers {
		if a.Code != st.code {
			continue
		}
		k := a.Time.UnixMilli()
		switch a.Action {
		case vigil.LabelConfirm, vigil.LabelRelabel:
			byTime[k] = a.Label[0]
		default:
			delete(byTime, k)
		}
	}
	if len(byTime) == 0 {
		return base, 0, nil
	}
	times := make([]int64, 0, len(byTime))
	for k := range byTime {
		times = append(times, k)
	}
	slices.Sort(times)
	if len(times) > adaptMaxLabels {
		times = times[len(times)-adaptMaxLabels:]
	}
	// Stretches of labelled beats, newest first, within the signal budget.
	type stretch struct{ from, to time.Time }
	var sts []stretch
	var total time.Duration
	for i := len(times) - 1; i >= 0 && total < adaptMaxSignal; {
		j := i
		for j > 0 && time.Duration(times[j]-times[j-1])*time.Millisecond < adaptGap {
			j--
		}
		s := stretch{time.UnixMilli(times[j]).Add(-adaptContext), time.UnixMilli(times[i]).Add(adaptContext)}
		if d := s.to.Sub(s.from); total+d > adaptMaxSignal {
			s.from = s.to.Add(-(adaptMaxSignal - total))
		}
		total += s.to.Sub(s.from)
		sts = append(sts, s)
		i = j - 1
	}
	var lab, other []float32
	var labels []byte
	for _, s := range sts {
		f, pos, err := m.stretchFeatures(ctx, patient, st, s.from, s.to)
		if err != nil {
			return nil, 0, err
		}
		if f == nil {
			continue
		}
		for i, t := range pos {
			if c, ok := byTime[t]; ok {
				lab = append(lab, f.Row(i)...)
				labels = append(labels, c)
			} else {
				other = append(other, f.Row(i)...)
			}
		}
	}
	if len(labels) == 0 {
		return base, 0, nil
	}
	n := len(labels)
	feat := &beatclass.Features{X: append(lab, other...), Fs: st.fs}
	feat.Beats = make([]int, len(feat.X)/beatclass.NumFeatures)
	for i := range feat.Beats {
		feat.Beats[i] = i
	}
	c, err := base.Adapt(ctx, feat, labels)
	if err != nil {
		return nil, 0, err
	}
	return c, n, nil
}

// stretchFeatures computes the features of the stored beats of st's lead
// in [from, to) from the stored signal (the batch extractor, as for the
// offline annotation), and returns them with each beat's time in Unix
// milliseconds; nil when the stretch holds no signal or beats.
func (m *Monitor) stretchFeatures(ctx context.Context, patient string, st *ecgStream, from, to time.Time) (*beatclass.Features, []int64, error) {
	waves, err := m.cfg.Samples.QueryWaveforms(ctx, patient, st.code, from, to)
	if err != nil {
		return nil, nil, err
	}
	n := int(to.Sub(from).Seconds() * st.fs)
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(math.NaN())
	}
	have := false
	for _, w := range waves {
		if w.Device != st.device || w.RateHz != st.fs {
			continue
		}
		g := gainOf(&w)
		off := int(math.Round(w.Start.Sub(from).Seconds() * st.fs))
		for i, v := range w.Samples {
			if k := off + i; k >= 0 && k < n {
				x[k] = float32(float64(v) / g)
				have = true
			}
		}
	}
	if !have {
		return nil, nil, nil
	}
	beats, err := m.cfg.ECG.Beats.QueryBeats(ctx, &vigil.BeatQuery{Patient: patient, Code: st.code, From: from, To: to})
	if err != nil {
		return nil, nil, err
	}
	var pos []int
	var ms []int64
	for _, b := range beats {
		if b.Device != st.device {
			continue
		}
		p := int(math.Round(b.Time.Sub(from).Seconds() * st.fs))
		if p < 0 || p >= n || (len(pos) > 0 && p <= pos[len(pos)-1]) {
			continue
		}
		pos = append(pos, p)
		ms = append(ms, b.Time.UnixMilli())
	}
	if len(pos) == 0 {
		return nil, nil, nil
	}
	f, err := beatclass.Extract(x, st.fs, pos)
	if err != nil {
		return nil, nil, err
	}
	return f, ms, nil
}

// gainOf returns a chunk's ADC units per mV (200 when it gives none).
func gainOf(w *vigil.Waveform) float64 {
	if w.Gain > 0 {
		if w.Unit == "uV" {
			return 1000 / w.Gain
		}
		return 1 / w.Gain
	}
	return 200
}
