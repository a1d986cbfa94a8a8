package ecg

import (
	"math"

	"github.com/vigilhealth/vigil"
)

// AnalyzerConfig configures an Analyzer for one patient's lead.
type AnalyzerConfig struct {
	Fs   float64 // sampling rate, 125–1000 Hz
	Gain float64 // ADC units per mV; 0 means 200
	// MaxGap is the longest hole between chunks, in seconds, that is filled
	// with InvalidSample (and so marked unreadable) rather than restarting
	// the analysis; default 10 s.
	MaxGap  float64
	Quality QualityConfig // Fs and Gain are taken from above
	Rhythm  RhythmConfig
}

// BeatEvent is a beat released by an Analyzer once the quality of its
// segment is known.
type BeatEvent struct {
	Beat
	// Usable is false when the beat lies in a segment assessed unreadable;
	// such beats are not used for heart rate, HRV or rhythm.
	Usable bool
	// HR is the instantaneous heart rate (bpm) from the previous usable
	// beat, 0 when the previous beat was not usable or there is none.
	HR float64
}

// Output collects what an Analyzer produced from one or more chunks. Reuse
// it across calls after Reset to avoid allocation.
type Output struct {
	Beats    []BeatEvent
	Quality  []Quality
	Episodes []Episode
	RR       []RR
}

// Reset empties o, keeping its storage.
func (o *Output) Reset() {
	o.Beats, o.Quality, o.Episodes, o.RR = o.Beats[:0], o.Quality[:0], o.Episodes[:0], o.RR[:0]
}

// Analyzer analyses one patient's ECG lead incrementally: QRS detection,
// signal quality per segment, RR intervals, and rhythm episodes. Feed it
// chunks in order with Write; it never re-reads history. The first two
// seconds are held while the detector learns its thresholds from them and
// are then analysed like the rest, so beats are found from the start.
// Beats are released when the quality of the segment holding them is
// known, so they trail the signal by at most one quality segment (2 s by
// default) plus the detector's MaxDelay. Not safe for concurrent use; analyse different
// patients on different goroutines.
type Analyzer struct {
	cfg     AnalyzerConfig
	det     *Detector
	qual    *QualityMonitor
	rhythm  *RhythmMonitor
	next    int64 // index of the next expected sample
	base    int64 // stream index of the detector's sample 0
	pending []Beat
	quality []Quality // assessed segments not yet fully used
	last    int64     // sample of the last usable beat, -1 if none
	lastOK  bool      // no unusable segment since the last usable beat
	scratch []Beat
	gapBuf  []int16
	warm    []int16 // first samples, held until the detector is primed
	primed  bool
	paused  bool // an open pause has been reported since the last beat
}

// NewAnalyzer returns an Analyzer; it returns an error wrapping
// vigil.ErrInvalid for a bad configuration.
func NewAnalyzer(cfg AnalyzerConfig) (*Analyzer, error) {
	if cfg.MaxGap <= 0 {
		cfg.MaxGap = 10
	}
	a := &Analyzer{cfg: cfg, last: -1}
	if err := a.restart(0); err != nil {
		return nil, err
	}
	a.rhythm = NewRhythmMonitor(cfg.Rhythm)
	return a, nil
}

func (a *Analyzer) restart(at int64) error {
	d, err := NewDetector(DetectorConfig{Fs: a.cfg.Fs, Gain: a.cfg.Gain})
	if err != nil {
		return err
	}
	qc := a.cfg.Quality
	qc.Fs, qc.Gain = a.cfg.Fs, a.cfg.Gain
	q, err := NewQualityMonitor(qc)
	if err != nil {
		return err
	}
	a.det, a.qual, a.base, a.next = d, q, at, at
	a.pending, a.quality = a.pending[:0], a.quality[:0]
	a.last, a.lastOK = -1, false
	a.warm, a.primed = a.warm[:0], false
	return nil
}

// Write analyses the chunk x whose first sample has index start in the
// patient's stream (sample 0 is the first sample ever written) and appends
// results to out. A chunk that overlaps samples already analysed (a
// duplicate or out-of-order delivery) is rejected with an error wrapping
// vigil.ErrConflict and changes nothing; a hole up to MaxGap is filled with
// InvalidSample, so its segments read as gaps; a longer hole restarts the
// analysis at start (open rhythm episodes are closed first).
func (a *Analyzer) Write(start int64, x []int16, out *Output) error {
	if start < a.next {
		return vigil.Errorf(vigil.ErrConflict, "ecg: chunk at sample %d overlaps analysed data (next expected %d)", start, a.next)
	}
	if gap := start - a.next; gap > 0 {
		if float64(gap) > a.cfg.MaxGap*a.cfg.Fs {
			a.flushAll(out)
			out.Episodes = a.rhythm.Flush(out.Episodes)
			if err := a.restart(start); err != nil {
				return err
			}
		} else {
			if cap(a.gapBuf) < int(gap) {
				a.gapBuf = make([]int16, gap)
			}
			g := a.gapBuf[:gap]
			for i := range g {
				g[i] = InvalidSample
			}
			a.process(g, out)
			a.next += gap
		}
	}
	a.process(x, out)
	a.next += int64(len(x))
	return nil
}

// Flush releases every pending beat and closes open episodes, at the end of
// a stream.
func (a *Analyzer) Flush(out *Output) {
	a.flushAll(out)
	out.Episodes = a.rhythm.Flush(out.Episodes)
}

func (a *Analyzer) flushAll(out *Output) {
	if !a.primed {
		a.prime(out)
	}
	a.pending = a.det.Flush(a.pending)
	a.quality = a.qual.Flush(a.quality)
	for i := range a.pending {
		a.pending[i].Sample += a.base
	}
	a.release(out, math.MaxInt64)
}

// process holds the first PrimeSamples samples back until the detector has
// learnt its thresholds from them, then analyses them and what follows, so
// that beats are found from the start of the stream.
func (a *Analyzer) process(x []int16, out *Output) {
	if !a.primed {
		a.warm = append(a.warm, x...)
		if len(a.warm) >= a.det.PrimeSamples() {
			a.prime(out)
		}
		return
	}
	a.analyse(x, out)
}

func (a *Analyzer) prime(out *Output) {
	a.primed = true
	a.det.Prime(a.warm)
	w := a.warm
	a.warm = nil
	a.analyse(w, out)
}

func (a *Analyzer) analyse(x []int16, out *Output) {
	a.scratch = a.det.Process(x, a.scratch[:0])
	for _, b := range a.scratch {
		b.Sample += a.base
		b.Decided += a.base
		a.pending = append(a.pending, b)
	}
	n0 := len(a.quality)
	a.quality = a.qual.Process(x, a.quality)
	for i := n0; i < len(a.quality); i++ {
		a.quality[i].Start += a.base
		a.quality[i].End += a.base
	}
	// Beats up to the end of the last assessed segment can be released.
	if len(a.quality) > 0 {
		a.release(out, a.quality[len(a.quality)-1].End)
	}
}

// release emits pending beats before limit with their segment's quality,
// and the RR intervals and rhythm episodes that follow.
func (a *Analyzer) release(out *Output, limit int64) {
	fs := a.cfg.Fs
	k := 0
	qi := 0
	for _, b := range a.pending {
		if b.Sample >= limit {
			break
		}
		k++
		for qi < len(a.quality) && a.quality[qi].End <= b.Sample {
			if !a.quality[qi].Usable() {
				a.lastOK = false
			}
			qi++
		}
		usable := qi < len(a.quality) && a.quality[qi].Usable()
		ev := BeatEvent{Beat: b, Usable: usable}
		if usable {
			if a.last >= 0 && a.lastOK {
				iv := float64(b.Sample-a.last) / fs
				r := RR{Time: float64(b.Sample) / fs, Interval: iv, NN: iv >= minNN && iv <= maxNN}
				ev.HR = 60 / iv
				out.RR = append(out.RR, r)
				out.Episodes = a.rhythm.Add(r, out.Episodes)
			}
			a.last, a.lastOK, a.paused = b.Sample, true, false
		} else {
			a.lastOK = false
		}
		out.Beats = append(out.Beats, ev)
	}
	a.pending = append(a.pending[:0], a.pending[k:]...)
	// Report segments that every pending beat has passed.
	done := 0
	for j, q := range a.quality {
		if q.End > limit || (len(a.pending) > 0 && q.End > a.pending[0].Sample) {
			break
		}
		// Segments from qi on hold no released beat: an unreadable one
		// breaks the RR sequence (no pause is guessed across it).
		if j >= qi && !q.Usable() {
			a.lastOK = false
		}
		out.Quality = append(out.Quality, q)
		done++
	}
	a.quality = append(a.quality[:0], a.quality[done:]...)
	// Asystole or a long pause in progress: readable signal and no beat for
	// longer than the pause limit. Reported once, as an open episode.
	if a.last >= 0 && a.lastOK && !a.paused && limit != math.MaxInt64 {
		if float64(limit-a.last)/fs > a.rhythm.PauseLimit() && (len(a.pending) == 0 || float64(a.pending[0].Sample-a.last)/fs > a.rhythm.PauseLimit()) {
			out.Episodes = append(out.Episodes, Episode{Kind: Pause, Start: float64(a.last) / fs, End: float64(limit) / fs, Open: true})
			a.paused = true
		}
	}
}
