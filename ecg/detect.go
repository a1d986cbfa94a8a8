package ecg

import (
	"math"
)

// Beat is one detected heartbeat.
type Beat struct {
	// Sample is the index of the R peak (the fiducial point) in the stream
	// given to the Detector, counted from its first sample.
	Sample int64
	// Amplitude is the QRS deflection at the fiducial relative to the local
	// baseline, in ADC units after the detector's low-pass filter (positive
	// for an upward R wave, negative for a QS complex).
	Amplitude float32
	// SearchBack is true when the beat was found by looking back over a
	// missed interval with a lowered threshold rather than in real time;
	// such beats are emitted up to 1.66 RR intervals after their peak.
	SearchBack bool
	// Decided is the index of the sample whose arrival let the detector
	// decide on the beat; Decided-Sample is the decision delay.
	Decided int64
}

// DetectorConfig configures a Detector.
type DetectorConfig struct {
	// Fs is the sampling frequency in Hz, 125 to 1000.
	Fs float64
	// Gain is the number of ADC units per mV (WFDB gain); 0 means 200.
	Gain float64
}

// MinFs and MaxFs bound the sampling rates the Detector, QualityMonitor
// and Analyzer accept, in Hz.
const (
	MinFs = 125.0
	MaxFs = 1000.0
)

// Ring sizes (powers of two, fixed so that indexing needs no bounds checks):
// at 1000 Hz the moving averages span up to 20 samples, the integrator 150,
// the feature floor 350 ms and search-back up to about 4 s of signal.
const (
	smallRing = 32
	mwiRing   = 256
	featRing  = 512
	lpRing    = 4096
	spikeRing = 16
)

// Pacemaker stimulus rejection (see Detector.despike).
const (
	spikeMinFs  = 200.0 // below this rate the stage is off
	spikeSpan   = 0.006 // an artefact lasts at most this long (s) …
	spikeMV     = 1.5   // … deviates at least this much (mV) …
	spikeReturn = 0.25  // … and ends within this fraction of it from where it started
)

// MaxDelay is the longest time, in seconds, from an R peak to the decision
// on its beat, for beats found in real time (not by search-back).
const MaxDelay = 0.300

// Detection rules (Hamilton & Tompkins 1986, with the refinements noted in
// the Detector's doc comment). Times are in seconds.
const (
	refractory   = 0.200  // no two beats closer than this
	tWaveWindow  = 0.360  // a low-slope peak this soon after a beat is a T wave
	tWaveSlope   = 0.5    // … when its slope is below this fraction of the beat's
	thresholdTC  = 0.3125 // detection threshold between noise and QRS levels
	searchBackRR = 1.66   // look back when no beat came for this many RR averages
	searchBackTh = 0.5    // search-back accepts peaks above this fraction of the threshold
	holdTime     = 0.250  // a later peak this close replaces a held candidate if larger
	windowTime   = 0.15   // feature integration window (Pan & Tompkins 1985)
	peakHold     = 0.060  // a feature peak is declared after this long without growing
	levelBeats   = 8      // QRS and noise levels average the last 8 peaks
	minLevelMV   = 0.06   // QRS feature floor, as the slope of a QRS of this many mV
	initSeconds  = 2.0    // learning period before the first detection
	staleSeconds = 3.0    // thresholds decay after this long without a beat
	noiseFrom    = 0.35   // the local noise floor is the feature's minimum …
	noiseTo      = 0.15   // … from noiseFrom to noiseTo before a candidate
)

// Detector finds QRS complexes in one ECG lead, causally and incrementally:
// feed it chunks of samples in order with Process and it returns the beats
// it has decided on so far. Its state is a few kilobytes; Process does not
// allocate beyond growing dst.
//
// The method follows Pan & Tompkins, "A real-time QRS detection
// algorithm", IEEE TBME 32:230–236 (1985), and Hamilton & Tompkins,
// "Quantitative investigation of QRS detection rules using the MIT/BIH
// arrhythmia database", IEEE TBME 33:1157–1165 (1986):
//
//   - band-pass: two integer moving averages of 1/60 s and 1/50 s (a low
//     pass that also nulls 60 and 50 Hz mains), then a second difference
//     over 1/36 s (a band centred near 18 Hz that rejects baseline wander);
//   - feature: the absolute value integrated over 150 ms (Pan & Tompkins'
//     window);
//   - decision: feature peaks above a threshold set 0.3125 of the way from
//     the mean noise-peak level to the mean QRS-peak level (last 8 of
//     each), a 200 ms refractory period, T-wave rejection (a peak within
//     360 ms of a beat with less than half its slope), the baseline-shift
//     check of Hamilton's OSEA detector (a QRS both rises and falls), and
//     search-back at half the threshold when no beat has come for 1.66 mean
//     RR intervals.
//
// Two additions: a candidate is held until MaxDelay after its R peak, and
// a feature peak within 250 ms that is larger or twice as steep replaces it
// (a tall P wave, record 108, is then not taken for the QRS that follows);
// after 3 s without a beat the QRS level halves so that a rhythm of much
// smaller amplitude is picked up again; and a candidate must rise at least
// twice above the feature's minimum 150–350 ms before it (a local
// signal-to-noise check against muscle noise). The R peak is the largest
// deviation of the low-passed signal from the baseline at the edges of the
// feature window. Filter lengths scale with the sampling rate, so any rate
// from 125 to 1000 Hz runs without resampling; arithmetic is integer.
//
// Ahead of the filters, at 200 Hz and above, a pacemaker-stimulus stage
// replaces artefacts of at least 1.5 mV that are over within 6 ms by a
// straight line (see despike), so that a stimulus is neither a beat of its
// own nor the feature of the beat it paces; it holds 6 ms of samples back
// as look-ahead, taken out of the decision delay.
//
// Decision delay: every beat found in real time is returned MaxDelay
// (300 ms) after its R peak; beats found by search-back come later and
// are flagged. A Detector is not safe for concurrent use.
type Detector struct {
	fs   float64
	gain float64

	// Filter state: two moving averages (lengths l1, l2), a ring of the
	// low-passed signal (lp), the slope span k, and the integration window w.
	l1, l2, k, w   int
	raw, s1r       [smallRing]int32 // rings of the input and the first moving average
	rw             [mwiRing]int32   // ring of the rectified slope, for the integrator
	s1, s2         int32
	sw             int64
	lp             []int32         // power-of-two ring of the low-passed signal
	lpa            [lpRing]int32   // storage of lp
	fring          [featRing]int64 // ring of the feature
	fmask          int64
	preFrom, preTo int64
	mask           int64
	last           int16 // last valid input sample, replaces InvalidSample
	delay          int64 // group delay of the low-pass (samples)

	n int64 // samples consumed

	// Feature peak tracking.
	pkMax   int64
	pkT     int64
	pkSlope int32
	falling bool
	prevF   int64

	// Candidate held for the refractory period.
	hold     bool
	cand     peak
	lastBeat int64
	lastSl   int32
	haveBeat bool

	// Best sub-threshold peak since the last beat, for search-back.
	sb     peak
	haveSB bool

	// Adaptive levels.
	qrs, noise   [levelBeats]int64
	qi, ni       int
	qrsLv, noiLv int64
	thr          int64
	floor        int64
	rr           [levelBeats]int64
	ri           int
	rrAvg        int64
	sbLimit      int64 // search back when no beat for this many samples
	initMax      int64
	learning     bool
	lastDecay    int64

	// Limits in samples.
	refr, twin, pkHold, initN, staleN, holdN, maxDelayN int64
	due                                                 int64 // when the held candidate is decided

	// Pacemaker stimulus rejection: spkD samples are held back from the
	// filters as look-ahead (see despike).
	pend    [spikeRing]int16 // the samples held back
	npend   int
	spkD    int64 // delay and longest artefact, samples; 0: stage off
	spkT    int32 // smallest artefact deviation, ADC units
	passed  bool  // a sample was passed on to the filters
	prevOut int16 // the last one
	buf     []int16
}

type peak struct {
	r     int64   // R peak, once located
	amp   float32 // R amplitude, once located
	t     int64   // sample index of the feature peak
	v     int64   // feature value
	slope int32   // largest absolute slope within the integration window
}

// NewDetector returns a Detector for one lead sampled at cfg.Fs. It returns
// an error wrapping vigil.ErrInvalid when the rate is outside 125–1000 Hz or
// the gain is negative.
func NewDetector(cfg DetectorConfig) (*Detector, error) {
	if !(cfg.Fs >= MinFs && cfg.Fs <= MaxFs) {
		return nil, invalidf("ecg: sampling rate %g Hz outside %g–%g Hz", cfg.Fs, MinFs, MaxFs)
	}
	if cfg.Gain < 0 || math.IsNaN(cfg.Gain) {
		return nil, invalidf("ecg: negative gain")
	}
	gain := cfg.Gain
	if gain == 0 {
		gain = defaultGain
	}
	d := &Detector{}
	d.init(cfg.Fs, gain)
	return d, nil
}

// init sets d up for rate fs and gain; d must be zero.
func (d *Detector) init(fs, gain float64) {
	d.fs, d.gain = fs, gain
	d.l1 = max(1, int(math.Round(fs/60)))
	d.l2 = max(1, int(math.Round(fs/50)))
	if d.l2 == d.l1 {
		d.l2++
	}
	d.k = max(2, int(math.Round(fs/36)))
	d.w = max(4, int(math.Round(fs*windowTime)))

	d.lp = d.lpa[:]
	d.mask = lpRing - 1
	d.fmask = featRing - 1
	d.preFrom, d.preTo = int64(math.Round(noiseFrom*fs)), int64(math.Round(noiseTo*fs))
	d.delay = int64((d.l1 - 1 + d.l2 - 1) / 2)
	sec := func(s float64) int64 { return int64(math.Round(s * fs)) }
	d.refr, d.twin, d.pkHold = sec(refractory), sec(tWaveWindow), sec(peakHold)
	d.holdN, d.maxDelayN = sec(holdTime), sec(MaxDelay)
	d.initN, d.staleN = sec(initSeconds), sec(staleSeconds)
	// Feature of a QRS whose slope rises minLevelMV within the slope span.
	d.floor = int64(minLevelMV * gain * float64(d.l1*d.l2) * float64(d.w) / 4)
	if fs >= spikeMinFs {
		d.spkD = max(2, sec(spikeSpan))
		d.spkT = int32(math.Round(spikeMV * gain))
	}
	// The stage's delay comes out of the decision delay.
	d.maxDelayN -= d.spkD
	d.learning = true
	d.rrAvg = sec(0.8)
	d.sbLimit = int64(searchBackRR * float64(d.rrAvg))
}

// Fs returns the detector's sampling rate.
func (d *Detector) Fs() float64 { return d.fs }

// Process consumes the next chunk of raw ADC samples and appends the beats
// decided so far to dst. InvalidSample values are replaced by the last
// valid sample (mark such gaps with the quality assessment).
func (d *Detector) Process(x []int16, dst []Beat) []Beat {
	if d.spkD == 0 {
		return d.run(x, dst)
	}
	// In blocks, so that the stage's copy stays in the cache for run.
	for len(x) > 0 {
		b := x[:min(len(x), despikeBlock)]
		x = x[len(b):]
		dst = d.run(d.despike(b), dst)
	}
	return dst
}

// despikeBlock is the most samples Process passes through the stimulus
// stage at once.
const despikeBlock = 4096

// despike passes x through the pacemaker-stimulus stage and returns the
// samples that leave it: x delayed by spkD samples (in d.buf). A stimulus
// artefact is a deviation of at least spkT that starts with a jump of half
// that in one sample and is over within spkD samples (ending within
// spikeReturn of it from where it started); no QRS complex, at least 40 ms
// wide, is that brief. The artefact's samples are replaced by a straight
// line, so the filters see the beat it paces and not the stimulus: a
// stimulus that captures nothing is then not a beat (see
// TestPacedSpikesOnMITBIH).
func (d *Detector) despike(x []int16) []int16 {
	D := int(d.spkD)
	all := append(append(d.buf[:0], d.pend[:d.npend]...), x...)
	d.buf = all
	n := len(all) - D // samples that leave now; the last D stay for the look-ahead
	if n <= 0 {
		d.npend = copy(d.pend[:], all)
		return nil
	}
	h := d.spkT / 2
	k0, prev := 0, int32(d.prevOut)
	if !d.passed {
		k0, prev = 1, int32(all[0]) // the first sample has none before it
	}
	for k := k0; k < n; k++ {
		v := int32(all[k])
		// |v-prev| > h, as one unsigned comparison.
		if uint32(v-prev+h) > uint32(2*h) && v != InvalidSample && prev != InvalidSample {
			d.cut(all[k:k+D+1], prev)
			v = int32(all[k])
		}
		prev = v
	}
	d.passed = true
	d.prevOut = int16(prev)
	d.npend = copy(d.pend[:], all[n:])
	return all[:n]
}

// cut replaces w[:len(w)-1] by a line from b (the sample before w) to the
// last sample of w when they are a stimulus artefact (see despike).
func (d *Detector) cut(w []int16, b int32) {
	T := d.spkT
	last := len(w) - 1
	end := int32(w[last])
	if w[last] == InvalidSample {
		return
	}
	if r, back := end-b, int32(spikeReturn*float64(T)); r > back || r < -back {
		return // not back where it started
	}
	var dev int32
	for _, v := range w[:last] {
		if v == InvalidSample {
			return
		}
		dev = max(dev, abs32(int32(v)-b))
	}
	if dev < T {
		return
	}
	for i := range last {
		w[i] = int16(b + (end-b)*int32(i+1)/int32(last+1))
	}
}

func abs32(v int32) int32 {
	if v < 0 {
		return -v
	}
	return v
}

// run is Process after the stimulus stage: the filters and the decision
// rules over samples n, n+1, ….
func (d *Detector) run(x []int16, dst []Beat) []Beat {
	l1, l2, w := int64(d.l1), int64(d.l2), int64(d.w)
	raw, s1r, rw, lp := &d.raw, &d.s1r, &d.rw, &d.lpa
	s1, s2, sw := d.s1, d.s2, d.sw
	k := int64(d.k)
	fr := &d.fring
	n := d.n
	last := d.last
	falling, pkMax, pkT, prevF, pkHold := d.falling, d.pkMax, d.pkT, d.prevF, d.pkHold
	next := d.nextEvent()
	for _, v := range x {
		if v == InvalidSample {
			v = last
		}
		last = v
		// Moving average 1 (≈ 60 Hz null) and 2 (≈ 50 Hz null), unnormalised.
		s1 += int32(v) - raw[(n-l1)&(smallRing-1)]
		raw[n&(smallRing-1)] = int32(v)
		s2 += s1 - s1r[(n-l2)&(smallRing-1)]
		s1r[n&(smallRing-1)] = s1
		lp[n&(lpRing-1)] = s2
		// Second difference over k samples, rectified, integrated over w.
		sl := s2 - 2*lp[(n-k)&(lpRing-1)] + lp[(n-2*k)&(lpRing-1)]
		if sl < 0 {
			sl = -sl
		}
		sw += int64(sl) - int64(rw[(n-w)&(mwiRing-1)])
		rw[n&(mwiRing-1)] = sl
		f := sw
		fr[n&(featRing-1)] = f
		// Peak tracking on the integrated feature.
		if falling {
			if f > prevF {
				falling = false
				pkMax, pkT = f, n
			}
		} else if f > pkMax {
			pkMax, pkT = f, n
		} else if 2*f < pkMax || n-pkT > pkHold {
			d.n = n
			d.falling, d.pkMax, d.pkT = true, 0, pkT
			dst = d.onPeak(peak{t: pkT, v: pkMax}, dst)
			falling, pkMax = true, 0
			next = d.nextEvent()
		}
		prevF = f
		if n >= next {
			// A held candidate is due, or search-back may be needed.
			d.n = n
			d.falling, d.pkMax, d.pkT = falling, pkMax, pkT
			if d.hold {
				if n >= d.due {
					dst = d.expire(dst)
				}
			} else if d.haveSB && n-d.lastBeat > d.sbLimit {
				dst = d.searchBack(dst)
			}
			next = d.nextEvent()
		}
		n++
	}
	d.falling, d.pkMax, d.pkT, d.prevF = falling, pkMax, pkT, prevF
	d.s1, d.s2, d.sw = s1, s2, sw
	d.n = n
	d.last = last
	return dst
}

// setCand holds p as the candidate beat until its R peak is maxDelay old.
func (d *Detector) setCand(p peak) {
	p.r, p.amp = d.locateR(p.t)
	d.cand, d.hold = p, true
	d.due = p.r + d.maxDelayN
}

// expire ends the hold of the candidate: a complex still rising in the
// feature within the hold window and larger than the candidate takes its
// place (it will be confirmed when its peak is declared); otherwise the
// candidate is accepted.
func (d *Detector) expire(dst []Beat) []Beat {
	if !d.falling && d.pkMax > d.thr && d.pkT-d.cand.t < d.holdN && d.pkT > d.cand.t {
		p := peak{t: d.pkT, v: d.pkMax, slope: d.slopeAt(d.pkT)}
		if p.v > d.cand.v || p.slope > 2*d.cand.slope {
			d.addNoise(d.cand.v)
			d.setCand(p)
			return dst
		}
	}
	d.hold = false
	return d.accept(d.cand, false, dst)
}

// nextEvent returns the first sample at which the held candidate is due or
// a search-back may be needed.
func (d *Detector) nextEvent() int64 {
	switch {
	case d.hold:
		return d.due
	case d.haveSB:
		return d.lastBeat + d.sbLimit + 1
	}
	return math.MaxInt64
}

// Flush returns any beat still held at the end of a recording.
func (d *Detector) Flush(dst []Beat) []Beat {
	if d.npend > 0 {
		// The samples the stimulus stage still holds back.
		buf := append(d.buf[:0], d.pend[:d.npend]...)
		d.buf, d.npend = buf, 0
		dst = d.run(buf, dst)
	}
	if d.hold {
		dst = d.accept(d.cand, false, dst)
		d.hold = false
	}
	return dst
}

// slopeAt returns the largest absolute slope in the integration window
// ending at sample t (which must be within the ring).
func (d *Detector) slopeAt(t int64) int32 {
	var m int32
	k := int64(d.k)
	for i := t - int64(d.w) + 1; i <= t; i++ {
		s := d.lp[i&d.mask] - 2*d.lp[(i-k)&d.mask] + d.lp[(i-2*k)&d.mask]
		if s < 0 {
			s = -s
		}
		m = max(m, s)
	}
	return m
}

// onPeak classifies a feature peak as a QRS candidate or noise.
func (d *Detector) onPeak(p peak, dst []Beat) []Beat {
	if p.t < int64(d.w+d.k+d.l1+d.l2) {
		return dst // filters not yet settled
	}
	p.slope = d.slopeAt(p.t)
	if d.learning {
		d.initMax = max(d.initMax, p.v)
		if p.t >= d.initN {
			d.startLevels()
		}
		return dst
	}
	if d.haveBeat && p.t-d.lastBeat > d.staleN && p.t-d.lastDecay > d.staleN {
		// A long time without a beat: let the QRS level decay so that a
		// smaller rhythm after a pause or amplitude drop is found again.
		for i := range d.qrs {
			d.qrs[i] /= 2
		}
		d.levels()
		d.lastDecay = p.t
	}
	if d.hold && p.t-d.cand.t < d.holdN {
		if p.v > d.thr && (p.v > d.cand.v || p.slope > 2*d.cand.slope) {
			// A larger complex follows (the candidate was a tall P wave), or
			// the candidate's own peak has grown since expire took it.
			if p.t-d.cand.t > d.pkHold {
				d.addNoise(d.cand.v)
			}
			d.setCand(p)
		} else {
			d.addNoise(p.v)
		}
		return dst
	}
	if p.v > d.thr && (!d.haveBeat || p.t-d.lastBeat > d.refr) && !d.isTWave(p) && !d.isBaselineShift(p.t) && !d.isNoise(p) {
		if d.hold { // previous candidate is out of the refractory window
			dst = d.accept(d.cand, false, dst)
		}
		d.setCand(p)
		return dst
	}
	d.addNoise(p.v)
	if d.haveBeat && p.t-d.lastBeat > d.refr && !d.isTWave(p) && (!d.haveSB || p.v > d.sb.v) && !d.isBaselineShift(p.t) {
		d.sb, d.haveSB = p, true
	}
	return dst
}

// isBaselineShift reports whether the feature peak at t comes from a step
// in the baseline rather than a QRS complex: a QRS both rises and falls, a
// step only moves one way, so one of the largest rising and falling slopes
// in the window is under an eighth of the other (the baseline-shift check
// of Hamilton's OSEA detector).
func (d *Detector) isBaselineShift(t int64) bool {
	k := int64(d.k)
	var up, down int32
	for i := t - int64(d.w) - k; i <= t; i++ {
		s := d.lp[i&d.mask] - d.lp[(i-k)&d.mask]
		up, down = max(up, s), max(down, -s)
	}
	return up < down/8 || down < up/8
}

// isNoise reports whether a candidate stands less than twice above the
// quietest level of the feature 150–350 ms before it: a QRS rises out of
// an isoelectric stretch, while a burst of muscle noise rises out of more
// noise (a local signal-to-noise check).
func (d *Detector) isNoise(p peak) bool {
	m := int64(math.MaxInt64)
	for i := p.t - d.preFrom; i <= p.t-d.preTo; i++ {
		if i < 0 || i <= d.n-d.fmask {
			return false
		}
		m = min(m, d.fring[i&d.fmask])
	}
	return m*2 > p.v*1
}

func (d *Detector) isTWave(p peak) bool {
	return d.haveBeat && p.t-d.lastBeat < d.twin && float64(p.slope) < tWaveSlope*float64(d.lastSl)
}

// searchBack accepts the best sub-threshold peak since the last beat when it
// clears half the threshold.
func (d *Detector) searchBack(dst []Beat) []Beat {
	p := d.sb
	d.haveSB = false
	if float64(p.v) > searchBackTh*float64(d.thr) {
		return d.accept(p, true, dst)
	}
	return dst
}

// accept records p as a beat and appends it with its R-peak location.
func (d *Detector) accept(p peak, sb bool, dst []Beat) []Beat {
	if d.haveBeat {
		rr := p.t - d.lastBeat
		if rr > 0 {
			d.rr[d.ri%levelBeats] = rr
			d.ri++
			m := min(d.ri, levelBeats)
			var s int64
			for i := 0; i < m; i++ {
				s += d.rr[i]
			}
			d.rrAvg = s / int64(m)
			d.sbLimit = int64(searchBackRR * float64(d.rrAvg))
		}
	}
	d.haveBeat = true
	d.lastBeat = p.t
	d.lastSl = p.slope
	d.haveSB = false
	d.qrs[d.qi%levelBeats] = p.v
	d.qi++
	d.levels()
	r, amp := p.r, p.amp
	if sb {
		r, amp = d.locateR(p.t)
	}
	// Decided counts received samples: the stimulus stage holds spkD
	// samples back from the filters (none once flushed).
	return append(dst, Beat{Sample: r, Amplitude: amp, SearchBack: sb, Decided: d.n + int64(d.npend)})
}

// locateR returns the R peak for a feature peak at t: the sample of largest
// deviation of the low-passed signal from the baseline at the edges of the
// window that produced the feature.
func (d *Detector) locateR(t int64) (int64, float32) {
	from := t - int64(d.w) - 2*int64(d.k)
	if from < 0 {
		from = 0
	}
	if from <= d.n-d.mask {
		// Too old to be in the ring: place R in the middle of the window.
		return max(0, t-int64(d.w)/2-d.delay), 0
	}
	base := (d.lp[from&d.mask] + d.lp[t&d.mask]) / 2
	best, bt := int32(-1), t
	var amp int32
	for i := from; i <= t; i++ {
		v := d.lp[i&d.mask] - base
		a := v
		if a < 0 {
			a = -a
		}
		if a > best {
			best, bt, amp = a, i, v
		}
	}
	r := bt - d.delay
	if r < 0 {
		r = 0
	}
	return r, float32(amp) / float32(d.l1*d.l2)
}

func (d *Detector) addNoise(v int64) {
	d.noise[d.ni%levelBeats] = v
	d.ni++
	d.levels()
}

// levels recomputes the mean QRS and noise levels and the threshold.
func (d *Detector) levels() {
	mean := func(a *[levelBeats]int64, n int) int64 {
		m := min(n, levelBeats)
		if m == 0 {
			return 0
		}
		var s int64
		for i := 0; i < m; i++ {
			s += a[i]
		}
		return s / int64(m)
	}
	d.qrsLv = max(mean(&d.qrs, d.qi), d.floor)
	d.noiLv = mean(&d.noise, d.ni)
	d.thr = d.noiLv + int64(thresholdTC*float64(d.qrsLv-d.noiLv))
}

// startLevels ends the learning period: the QRS level starts at half the
// largest feature peak seen.
func (d *Detector) startLevels() {
	d.learning = false
	for i := range d.qrs {
		d.qrs[i] = d.initMax / 2
	}
	d.qi = levelBeats
	d.levels()
}

// PrimeSamples returns how many samples Prime wants: the learning period.
func (d *Detector) PrimeSamples() int { return int(d.initN) }

// Prime learns the initial thresholds from x, the first samples of the
// stream, without emitting beats, and leaves the detector ready to process
// the stream from its first sample, x included. Without Prime a Detector
// learns from the first two seconds it processes and finds no beat in them.
// Prime must be called before Process.
func (d *Detector) Prime(x []int16) {
	if d.n > 0 || !d.learning {
		return
	}
	d.Process(x[:min(len(x), int(d.initN))], nil)
	if d.learning {
		d.startLevels()
	}
	qrs, noise, qi, ni, initMax := d.qrs, d.noise, d.qi, d.ni, d.initMax
	fs, gain := d.fs, d.gain
	*d = Detector{}
	d.init(fs, gain)
	if initMax == 0 {
		return // nothing learnt: keep learning in real time
	}
	d.qrs, d.noise, d.qi, d.ni = qrs, noise, qi, ni
	d.initMax, d.learning = initMax, false
	d.levels()
}

// DetectBeats runs a Detector over a whole signal and returns its beats.
// The thresholds are primed on the first two seconds, so beats are found
// from the start of the signal.
func DetectBeats(x []int16, fs, gain float64) ([]Beat, error) {
	d, err := NewDetector(DetectorConfig{Fs: fs, Gain: gain})
	if err != nil {
		return nil, err
	}
	d.Prime(x[:min(len(x), d.PrimeSamples())])
	beats := make([]Beat, 0, int(float64(len(x))/fs*2)+16)
	beats = d.Process(x, beats)
	return d.Flush(beats), nil
}
