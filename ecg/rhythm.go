package ecg

import (
	"math"
	"slices"
)

// RhythmKind is a kind of rhythm finding. The zero value means unknown.
type RhythmKind int

// Rhythm findings.
const (
	RhythmUnknown      RhythmKind = iota
	Bradycardia                   // median heart rate below RhythmConfig.BradyBPM
	Tachycardia                   // median heart rate above RhythmConfig.TachyBPM
	Pause                         // an RR interval longer than RhythmConfig.Pause
	AtrialFibrillation            // irregularly irregular RR intervals
)

// String returns the finding's name.
func (k RhythmKind) String() string {
	switch k {
	case Bradycardia:
		return "bradycardia"
	case Tachycardia:
		return "tachycardia"
	case Pause:
		return "pause"
	case AtrialFibrillation:
		return "atrial fibrillation"
	}
	return "unknown"
}

// Episode is a rhythm finding over [Start, End) seconds from the start of
// the stream.
type Episode struct {
	Kind       RhythmKind
	Start, End float64
	// Open marks an episode still going on when it was reported (a pause
	// with no beat yet, reported by the Analyzer); End is then the time of
	// the report, and the closed episode follows when it ends.
	Open bool
}

// RhythmConfig configures a RhythmMonitor. Zero fields take defaults.
type RhythmConfig struct {
	BradyBPM float64 // default 50
	TachyBPM float64 // default 100
	Pause    float64 // seconds, default 2.5
	// RateBeats is the number of intervals whose median gives the heart
	// rate, and the least number of beats in a bradycardia or tachycardia
	// episode; default 8.
	RateBeats int
	// AFWindow is the number of RR intervals in each AF decision window;
	// default 128 (Dash et al. 2009).
	AFWindow int
}

// Atrial fibrillation from RR irregularity after S. Dash, K.H. Chon, S. Lu
// and E.A. Raeder, "Automatic real time detection of atrial fibrillation",
// Annals of Biomedical Engineering 37:1701–1709 (2009). In a window of
// AFWindow consecutive RR intervals the longest and shortest sixteenth
// (8 + 8 of 128) are dropped — which removes isolated ectopic beats and
// their compensatory pauses — and the rest must be at once
//
//   - variable: RMSSD / mean RR > 0.1;
//   - random in order: the turning-point count lies within the 95 % range of
//     an independent series, (2N-4)/3 ± 1.96·sqrt((16N-29)/90);
//   - spread: the Shannon entropy of a 16-bin histogram, normalised by
//     log 16, > 0.7.
//
// Two additions make the test robust to ectopic beats when beats carry no
// labels: intervals pairing a premature beat with its compensatory pause
// (below 0.85 and above 1.15 times the window's median) are dropped first,
// and a window where half the remaining intervals lie within ±8 % of the
// median has a regular underlying rhythm and is not AF. Bigeminy
// (alternating short and long intervals) has far too many turning points,
// and sinus arrhythmia too few, so neither reads as AF. A window's
// decision is assigned to its middle interval, so episodes are reported
// AFWindow/2 beats after they start.
const (
	afRMSSD   = 0.1
	afEntropy = 0.7
	afBins    = 16
	// Ectopic filter: pairs of intervals below ectopicShort and above
	// ectopicLong times the window's median are dropped.
	ectopicShort = 0.85
	ectopicLong  = 1.15
	// A window in which afRegularShare of the remaining intervals lie
	// within ±afRegularBand of the median has a regular underlying rhythm
	// (sinus rhythm with ectopy, not AF).
	afRegularBand  = 0.08
	afRegularShare = 0.5
)

// RhythmMonitor recognises rhythm episodes in a stream of RR intervals.
// Not safe for concurrent use.
type RhythmMonitor struct {
	cfg    RhythmConfig
	last   []RR // the last AFWindow NN intervals, oldest first
	recent []RR // the last RateBeats intervals
	// open episodes
	rate     RhythmKind
	rateFrom float64
	rateN    int
	af       bool
	afFrom   float64
	afLast   float64
	scratch  []float64
	sorted   []float64
	lastTime float64
}

// PauseLimit returns the configured pause length in seconds.
func (m *RhythmMonitor) PauseLimit() float64 { return m.cfg.Pause }

// NewRhythmMonitor returns a RhythmMonitor with cfg's defaults filled in.
func NewRhythmMonitor(cfg RhythmConfig) *RhythmMonitor {
	if cfg.BradyBPM <= 0 {
		cfg.BradyBPM = 50
	}
	if cfg.TachyBPM <= 0 {
		cfg.TachyBPM = 100
	}
	if cfg.Pause <= 0 {
		cfg.Pause = 2.5
	}
	if cfg.RateBeats <= 0 {
		cfg.RateBeats = 8
	}
	if cfg.AFWindow < 16 {
		cfg.AFWindow = 128
	}
	return &RhythmMonitor{cfg: cfg, last: make([]RR, 0, cfg.AFWindow), scratch: make([]float64, 0, cfg.AFWindow), sorted: make([]float64, 0, cfg.AFWindow)}
}

// Add consumes the next RR interval and appends the episodes it closes to
// dst. Pauses are reported as soon as the beat ending them arrives.
// Intervals that are not plausible beats (shorter than 0.25 s) are ignored;
// an interval spanning unreadable signal should be left out by the caller.
func (m *RhythmMonitor) Add(r RR, dst []Episode) []Episode {
	if r.Interval < minNN || r.Time <= m.lastTime {
		return dst
	}
	m.lastTime = r.Time
	if r.Interval > m.cfg.Pause {
		dst = append(dst, Episode{Kind: Pause, Start: r.Time - r.Interval, End: r.Time})
	}
	dst = m.rateStep(r, dst)
	if !r.NN {
		// Intervals next to ectopic beats (when beats are labelled) or
		// implausibly long ones do not enter the AF window.
		return dst
	}
	if len(m.last) == m.cfg.AFWindow {
		copy(m.last, m.last[1:])
		m.last = m.last[:len(m.last)-1]
	}
	m.last = append(m.last, r)
	if len(m.last) == m.cfg.AFWindow {
		mid := m.last[len(m.last)/2]
		dst = m.afStep(m.isAF(), mid, dst)
	}
	return dst
}

// Flush closes open episodes at the time of the last interval.
func (m *RhythmMonitor) Flush(dst []Episode) []Episode {
	if m.rate != RhythmUnknown && m.rateN >= m.cfg.RateBeats {
		dst = append(dst, Episode{Kind: m.rate, Start: m.rateFrom, End: m.lastTime})
	}
	m.rate = RhythmUnknown
	if m.af {
		dst = append(dst, Episode{Kind: AtrialFibrillation, Start: m.afFrom, End: m.afLast})
		m.af = false
	}
	return dst
}

// rateStep updates the bradycardia / tachycardia state from the median
// of the last RateBeats intervals.
func (m *RhythmMonitor) rateStep(r RR, dst []Episode) []Episode {
	k := m.cfg.RateBeats
	if len(m.recent) == k {
		copy(m.recent, m.recent[1:])
		m.recent = m.recent[:k-1]
	}
	m.recent = append(m.recent, r)
	if len(m.recent) < k {
		return dst
	}
	m.scratch = m.scratch[:0]
	for _, r := range m.recent {
		m.scratch = append(m.scratch, r.Interval)
	}
	slices.Sort(m.scratch)
	hr := 60 / m.scratch[k/2]
	kind := RhythmUnknown
	switch {
	case hr < m.cfg.BradyBPM:
		kind = Bradycardia
	case hr > m.cfg.TachyBPM:
		kind = Tachycardia
	}
	now := r.Time
	if kind == m.rate {
		m.rateN++
		return dst
	}
	if m.rate != RhythmUnknown && m.rateN >= k {
		dst = append(dst, Episode{Kind: m.rate, Start: m.rateFrom, End: now})
	}
	m.rate, m.rateN = kind, 1
	// The episode starts where the window that first showed it starts.
	m.rateFrom = m.recent[0].Time - m.recent[0].Interval
	return dst
}

func (m *RhythmMonitor) afStep(af bool, mid RR, dst []Episode) []Episode {
	switch {
	case af && !m.af:
		m.af, m.afFrom = true, mid.Time-mid.Interval
	case !af && m.af:
		dst = append(dst, Episode{Kind: AtrialFibrillation, Start: m.afFrom, End: mid.Time - mid.Interval})
		m.af = false
	}
	m.afLast = mid.Time
	return dst
}

// isAF applies the three tests of Dash et al. to the current window.
func (m *RhythmMonitor) isAF() bool {
	m.scratch = m.scratch[:0]
	for _, r := range m.last {
		m.scratch = append(m.scratch, r.Interval)
	}
	// Ectopic filter: a premature beat followed by a compensatory pause
	// reads as a short interval followed by a long one around the median.
	m.sorted = append(m.sorted[:0], m.scratch...)
	slices.Sort(m.sorted)
	med := m.sorted[len(m.sorted)/2]
	w := 0
	for i := 0; i < len(m.scratch); i++ {
		if i+1 < len(m.scratch) && m.scratch[i] < ectopicShort*med && m.scratch[i+1] > ectopicLong*med {
			i++
			continue
		}
		m.scratch[w] = m.scratch[i]
		w++
	}
	m.scratch = m.scratch[:w]
	if w < m.cfg.AFWindow/2 {
		return false // mostly ectopic: bigeminy or trigeminy, not AF
	}
	m.sorted = append(m.sorted[:0], m.scratch...)
	sorted := m.sorted
	slices.Sort(sorted)
	trim := len(sorted) / 16
	lo, hi := sorted[trim], sorted[len(sorted)-1-trim]
	// Keep the window's order, dropping the trimmed extremes (ties at the
	// cut are kept up to the right count).
	keepLo, keepHi := 0, 0
	for _, v := range sorted[trim : len(sorted)-trim] {
		if v == lo {
			keepLo++
		}
		if v == hi {
			keepHi++
		}
	}
	x := m.scratch[:0]
	for _, v := range m.scratch {
		if v < lo || v > hi {
			continue
		}
		if v == lo {
			if keepLo == 0 {
				continue
			}
			keepLo--
		} else if v == hi {
			if keepHi == 0 {
				continue
			}
			keepHi--
		}
		x = append(x, v)
	}
	n := len(x)
	if n < 8 {
		return false
	}
	// A regular underlying rhythm: most intervals close to the median.
	close := 0
	for _, v := range x {
		if math.Abs(v-med) <= afRegularBand*med {
			close++
		}
	}
	if float64(close) >= afRegularShare*float64(n) {
		return false
	}
	var mean, sd float64
	for i, v := range x {
		mean += v
		if i > 0 {
			d := v - x[i-1]
			sd += d * d
		}
	}
	mean /= float64(n)
	if math.Sqrt(sd/float64(n-1))/mean <= afRMSSD {
		return false
	}
	tp := 0
	for i := 1; i+1 < n; i++ {
		if (x[i] > x[i-1] && x[i] > x[i+1]) || (x[i] < x[i-1] && x[i] < x[i+1]) {
			tp++
		}
	}
	mu := float64(2*n-4) / 3
	sigma := math.Sqrt(float64(16*n-29) / 90)
	if math.Abs(float64(tp)-mu) > 1.96*sigma {
		return false
	}
	return shannonEntropy(x, lo, hi) > afEntropy
}

// shannonEntropy returns the entropy of a 16-bin histogram of x over
// [lo, hi], normalised to 0…1.
func shannonEntropy(x []float64, lo, hi float64) float64 {
	var hist [afBins]int
	w := (hi - lo) / afBins
	for _, v := range x {
		b := afBins - 1
		if w > 0 {
			b = min(afBins-1, int((v-lo)/w))
		}
		hist[b]++
	}
	e := 0.0
	for _, c := range hist {
		if c > 0 {
			p := float64(c) / float64(len(x))
			e -= p * math.Log(p)
		}
	}
	return e / math.Log(afBins)
}

// DetectRhythms runs a RhythmMonitor over a whole series of RR intervals.
func DetectRhythms(rr []RR, cfg RhythmConfig) []Episode {
	m := NewRhythmMonitor(cfg)
	var out []Episode
	for _, r := range rr {
		out = m.Add(r, out)
	}
	return m.Flush(out)
}
