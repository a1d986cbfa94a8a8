package modelreg

import (
	"cmp"
	"context"
	"io/fs"
	"math"
	"slices"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/ecg"
	"github.com/vigilhealth/vigil/ecg/beatclass"
)

// segment is a stretch of one lead's signal without a long hole, at one
// sampling rate: the stored chunks that make it, end to end.
type segment struct {
	start time.Time // time of x[0]
	fs    float64
	x     []float32 // mV; NaN where no chunk covers the sample
}

// index returns the sample nearest to t, and whether it is inside the
// segment.
func (s *segment) index(t time.Time) (int, bool) {
	i := int(math.Round(t.Sub(s.start).Seconds() * s.fs))
	return i, i >= 0 && i < len(s.x)
}

// maxHole is the longest run of missing signal inside a segment; a longer
// one starts a new segment, since RR intervals across it would be wrong.
const maxHole = 2 * time.Second

// adcPerMV is the scale of the integer signal handed to the QRS detector.
const adcPerMV = 200

// mvPerUnit returns the factor from a chunk's ADC values to mV, or false
// for a gain or unit that cannot be an ECG in mV or µV: such a chunk is
// left out rather than guessed at.
func mvPerUnit(w *vigil.Waveform) (float64, bool) {
	if !(w.Gain > 0) || math.IsInf(w.Gain, 0) {
		return 0, false
	}
	switch w.Unit {
	case "mV":
		return w.Gain, true
	case "uV", "µV":
		return w.Gain / 1000, true
	}
	return 0, false
}

// assemble joins chunks (in start order, as QueryWaveforms returns them)
// into segments. A chunk overlapping what is already assembled (a second
// device on the same lead, a resent chunk) contributes only its part past
// the end; a hole longer than maxHole, or a change of sampling rate,
// starts a new segment. bad counts chunks left out for their rate, gain or
// unit.
func assemble(chunks []vigil.Waveform) (segs []segment, bad int) {
	var cur *segment
	for i := range chunks {
		w := &chunks[i]
		k, ok := mvPerUnit(w)
		if !ok || w.RateHz < ecg.MinFs || w.RateHz > ecg.MaxFs || len(w.Samples) == 0 {
			bad++
			continue
		}
		if cur != nil && cur.fs == w.RateHz {
			off := int(math.Round(w.Start.Sub(cur.start).Seconds() * cur.fs))
			if off-len(cur.x) <= int(maxHole.Seconds()*cur.fs) {
				skip := max(0, len(cur.x)-off)
				if skip >= len(w.Samples) {
					continue
				}
				for len(cur.x) < off {
					cur.x = append(cur.x, float32(math.NaN()))
				}
				for _, v := range w.Samples[skip:] {
					cur.x = append(cur.x, float32(float64(v)*k))
				}
				continue
			}
		}
		segs = append(segs, segment{start: w.Start, fs: w.RateHz})
		cur = &segs[len(segs)-1]
		for _, v := range w.Samples {
			cur.x = append(cur.x, float32(float64(v)*k))
		}
	}
	return segs, bad
}

// detect finds the beats of a segment with Vigil's QRS detector (package
// ecg), on the signal scaled to adcPerMV ADC units per mV; holes read as 0.
func detect(s *segment) ([]int, error) {
	adc := make([]int16, len(s.x))
	for i, v := range s.x {
		if v == v {
			adc[i] = int16(max(math.MinInt16, min(math.MaxInt16, math.Round(float64(v)*adcPerMV))))
		}
	}
	beats, err := ecg.DetectBeats(adc, s.fs, adcPerMV)
	if err != nil {
		return nil, err
	}
	out := make([]int, 0, len(beats))
	for _, b := range beats {
		if n := len(out); n == 0 || int(b.Sample) > out[n-1] {
			out = append(out, int(b.Sample))
		}
	}
	return out, nil
}

// labelMatch is how far from a labelled R-peak time a detected beat is
// taken to be the same beat.
const labelMatch = 100 * time.Millisecond

// withLabelled merges the labelled beat positions into the detected ones:
// every labelled position is a beat (the label's time is the R peak the
// model was shown), and a detected beat within labelMatch of a labelled
// one is that beat.
func withLabelled(detected, labelled []int, fs float64) []int {
	tol := int(labelMatch.Seconds() * fs)
	lab := slices.Clone(labelled)
	slices.Sort(lab)
	lab = slices.Compact(lab)
	out := slices.Clone(lab)
	for _, d := range detected {
		i, _ := slices.BinarySearch(lab, d)
		near := (i < len(lab) && lab[i]-d <= tol) || (i > 0 && d-lab[i-1] <= tol)
		if !near {
			out = append(out, d)
		}
	}
	slices.Sort(out)
	return out
}

// Context read around labelled beats: the features of a beat look at the
// RR intervals of the 5 minutes before it and at the patient's median beat
// within ±150 s (package beatclass).
const (
	contextBefore = 330 * time.Second
	contextAfter  = 160 * time.Second
	// clusterGap and clusterSpan bound the labelled beats read with one
	// query: beats further apart are read separately.
	clusterGap  = 10 * time.Minute
	clusterSpan = time.Hour
)

// labelledFeatures computes the feature row of each labelled beat from the
// stored signal around it: rows[i] is the row of labels[i], nil when the
// signal is missing or unusable (counted in skipped). Labels are read in
// clusters per patient and lead; within each, the detector finds the
// surrounding beats, the labelled positions are merged in, and
// beatclass.Extract computes the features as for a recording.
func labelledFeatures(ctx context.Context, store vigil.SampleStore, labels []Label, skipped map[string]int) ([][]float32, error) {
	rows := make([][]float32, len(labels))
	order := make([]int, len(labels))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		la, lb := &labels[a], &labels[b]
		return cmp.Or(cmp.Compare(la.Patient, lb.Patient), cmp.Compare(la.Code, lb.Code), la.Time.Compare(lb.Time))
	})
	for start := 0; start < len(order); {
		first := &labels[order[start]]
		end := start + 1
		for end < len(order) {
			l, prev := &labels[order[end]], &labels[order[end-1]]
			if l.Patient != first.Patient || l.Code != first.Code || l.Time.Sub(prev.Time) > clusterGap || l.Time.Sub(first.Time) > clusterSpan {
				break
			}
			end++
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		cluster := order[start:end]
		last := &labels[order[end-1]]
		chunks, err := store.QueryWaveforms(ctx, first.Patient, first.Code, first.Time.Add(-contextBefore), last.Time.Add(contextAfter))
		if err != nil {
			return nil, err
		}
		segs, bad := assemble(chunks)
		placed := make([]bool, len(cluster))
		for si := range segs {
			s := &segs[si]
			var pos []int
			var which []int
			for ci, li := range cluster {
				if placed[ci] {
					continue
				}
				if p, ok := s.index(labels[li].Time); ok && s.x[p] == s.x[p] {
					pos = append(pos, p)
					which = append(which, ci)
				}
			}
			if len(pos) == 0 {
				continue
			}
			detected, err := detect(s)
			if err != nil {
				return nil, err
			}
			beats := withLabelled(detected, pos, s.fs)
			f, err := beatclass.Extract(s.x, s.fs, beats)
			if err != nil {
				return nil, err
			}
			for j, p := range pos {
				i, _ := slices.BinarySearch(beats, p)
				rows[cluster[which[j]]] = slices.Clone(f.Row(i))
				placed[which[j]] = true
			}
		}
		for ci := range cluster {
			if !placed[ci] {
				if bad > 0 {
					skipped[SkipBadSignal]++
				} else {
					skipped[SkipNoSignal]++
				}
			}
		}
		start = end
	}
	return rows, nil
}

// fiducialMatch is how far a detected beat may be from an annotated one to
// be taken for it (the AAMI EC57 beat-matching window).
const fiducialMatch = 150 * time.Millisecond

// detectedRecording recomputes the features of a DS1 recording at the beats
// Vigil's QRS detector finds in its channel 0, as the server sees them,
// instead of at the reference annotations. Each detected beat takes the
// class of the annotated beat within fiducialMatch of it; detected beats
// matching none are left out. The detector places the fiducial point a
// few milliseconds from the annotators' — tens of milliseconds on some
// wide ventricular beats — which moves the waveform samples near R; a
// training summary made at reference positions would show that skew as
// drift in every report.
func detectedRecording(fsys fs.FS, ref *beatclass.Recording) (*beatclass.Recording, error) {
	rec, err := ecg.ReadRecord(fsys, ref.Name)
	if err != nil {
		return nil, err
	}
	x, err := beatclass.Signal(rec, 0)
	if err != nil {
		return nil, err
	}
	s := segment{fs: rec.Fs, x: x}
	det, err := detect(&s)
	if err != nil {
		return nil, err
	}
	f, err := beatclass.Extract(x, rec.Fs, det)
	if err != nil {
		return nil, err
	}
	tol := int(fiducialMatch.Seconds() * rec.Fs)
	refBeats := ref.Features.Beats
	var keep []int
	var labels []byte
	for i, d := range det {
		j, _ := slices.BinarySearch(refBeats, d)
		best := -1
		for _, k := range []int{j - 1, j} {
			if k >= 0 && k < len(refBeats) && abs(refBeats[k]-d) <= tol && (best < 0 || abs(refBeats[k]-d) < abs(refBeats[best]-d)) {
				best = k
			}
		}
		if best >= 0 {
			keep = append(keep, i)
			labels = append(labels, ref.Labels[best])
		}
	}
	return &beatclass.Recording{Name: ref.Name, Features: f.Subset(keep), Labels: labels}, nil
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}
