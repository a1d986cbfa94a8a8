package ecg

import (
	"math"
)

// Signal quality assessment per segment. Each segment (2 s by default) gets
// flags for conditions under which beats cannot be trusted, and a quality
// index:
//
//   - Gap: the segment holds InvalidSample values (no data, lead off as the
//     recorder reports it);
//   - Flat: the peak-to-peak amplitude stays below FlatMV (a disconnected
//     lead or a dead amplifier reads as a flat line);
//   - Clipped: at least ClipFraction of the samples sit at the ADC limits
//     in runs of three or more (saturation);
//   - Noisy: the high-frequency noise amplitude (median absolute deviation
//     of the signal from its 14 ms moving average) exceeds MaxHFRatio of the
//     segment's peak-to-peak amplitude after a 25 ms moving average, or of
//     MinQRSMV when that is larger — so that a segment without QRS
//     complexes (asystole) is judged on its absolute noise, not called
//     noisy for lacking a QRS.
//
// Kurtosis is the kSQI of Li, Clifford & Tarassenko, "Robust heart rate
// estimation from multiple asynchronous noisy sources using signal quality
// indices and a Kalman filter", Physiol. Meas. 29:15–32 (2008): a clean
// ECG, dominated by sharp QRS complexes, has a strongly peaked distribution
// (kurtosis well above 5), Gaussian noise has 3. It sets Index, which is 0
// for a segment with Gap, Flat or Clipped set and otherwise rises from 0 at
// kurtosis 3 to 1 at kurtosis 3+2·(MinKurtosis-3). It does not mark a
// segment Noisy on its own: muscle noise comes in bursts whose kurtosis is
// high, and a segment without beats has a low one. A segment is Usable when
// no flag is set.

// QualityConfig configures a QualityMonitor. Zero fields take defaults.
type QualityConfig struct {
	Fs           float64 // sampling rate, Hz (required)
	Gain         float64 // ADC units per mV; 0 means 200
	Segment      float64 // segment length in seconds; default 2
	FlatMV       float64 // flat-line amplitude limit, mV; default 0.05
	ClipFraction float64 // share of samples at the rails that marks clipping; default 0.05
	MinKurtosis  float64 // kurtosis giving Index 0.5; default 5
	MinQRSMV     float64 // amplitude floor for the noise ratio, mV; default 0.5
	MaxHFRatio   float64 // high-frequency noise / QRS amplitude limit; default 0.015
	// ADCMin and ADCMax are the converter's limits in ADC units (see
	// Signal.ADCRange); when both are zero the int16 limits are used.
	// Clipping is judged against them only: a plateau at a segment's own
	// extreme is too often a quiet baseline.
	ADCMin, ADCMax int
}

// Quality is the assessment of one segment [Start, End) of samples.
type Quality struct {
	Start, End int64
	Gap        bool
	Flat       bool
	Clipped    bool
	Noisy      bool
	Kurtosis   float64 // of the first difference; NaN when undefined
	HFRatio    float64 // high-frequency noise amplitude / peak-to-peak amplitude
	Amplitude  float64 // peak-to-peak amplitude after a 25 ms moving average, mV
	Index      float64 // 0 (unreadable) … 1 (clean)
}

// Usable reports whether beats found in the segment can be trusted.
func (q Quality) Usable() bool { return !q.Gap && !q.Flat && !q.Clipped && !q.Noisy }

// QualityMonitor assesses consecutive segments of one lead incrementally.
// It keeps one segment of samples and does not allocate in Process beyond
// growing dst. Not safe for concurrent use.
type QualityMonitor struct {
	cfg   QualityConfig
	seg   int
	buf   []int16
	start int64
	flat  float64 // ADC units
	hist  [1024]uint16
	h1    int // half-width of the 14 ms moving average
	h2    int // half-width of the 25 ms moving average
}

// NewQualityMonitor returns a monitor; it returns an error wrapping
// vigil.ErrInvalid for a sampling rate outside 125–1000 Hz.
func NewQualityMonitor(cfg QualityConfig) (*QualityMonitor, error) {
	if !(cfg.Fs >= MinFs && cfg.Fs <= MaxFs) {
		return nil, invalidf("ecg: sampling rate %g Hz outside %g–%g Hz", cfg.Fs, MinFs, MaxFs)
	}
	if cfg.Gain <= 0 {
		cfg.Gain = defaultGain
	}
	if cfg.Segment <= 0 {
		cfg.Segment = 2
	}
	if cfg.FlatMV <= 0 {
		cfg.FlatMV = 0.05
	}
	if cfg.ClipFraction <= 0 {
		cfg.ClipFraction = 0.05
	}
	if cfg.MinKurtosis <= 0 {
		cfg.MinKurtosis = 5
	}
	if cfg.MinQRSMV <= 0 {
		cfg.MinQRSMV = 0.5
	}
	if cfg.MaxHFRatio <= 0 {
		cfg.MaxHFRatio = 0.015
	}
	seg := max(8, int(math.Round(cfg.Segment*cfg.Fs)))
	return &QualityMonitor{cfg: cfg, seg: seg, buf: make([]int16, 0, seg), flat: cfg.FlatMV * cfg.Gain,
		h1: max(1, int(math.Round(cfg.Fs*0.007))), h2: max(1, int(math.Round(cfg.Fs*0.0125)))}, nil
}

// Process consumes samples and appends the assessment of every segment
// completed by them to dst.
func (m *QualityMonitor) Process(x []int16, dst []Quality) []Quality {
	for len(x) > 0 {
		n := min(len(x), m.seg-len(m.buf))
		m.buf = append(m.buf, x[:n]...)
		x = x[n:]
		if len(m.buf) == m.seg {
			dst = append(dst, m.assess(m.buf, m.start))
			m.start += int64(m.seg)
			m.buf = m.buf[:0]
		}
	}
	return dst
}

// Flush assesses a final partial segment, if any.
func (m *QualityMonitor) Flush(dst []Quality) []Quality {
	if len(m.buf) > 0 {
		dst = append(dst, m.assess(m.buf, m.start))
		m.start += int64(len(m.buf))
		m.buf = m.buf[:0]
	}
	return dst
}

func (m *QualityMonitor) assess(x []int16, start int64) Quality {
	q := Quality{Start: start, End: start + int64(len(x)), Kurtosis: math.NaN()}
	lo, hi := int16(math.MaxInt16), int16(math.MinInt16)
	for _, v := range x {
		if v == InvalidSample {
			q.Gap = true
			continue
		}
		lo, hi = min(lo, v), max(hi, v)
	}
	if lo > hi { // nothing valid
		return q
	}
	q.Flat = float64(hi)-float64(lo) < m.flat
	// Clipping: samples in runs of at least 3 equal values at the rails.
	railLo, railHi := int16(math.MinInt16+1), int16(math.MaxInt16)
	if m.cfg.ADCMin != 0 || m.cfg.ADCMax != 0 {
		railLo, railHi = int16(max(m.cfg.ADCMin, math.MinInt16+1)), int16(min(m.cfg.ADCMax, math.MaxInt16))
	}
	atRail, run := 0, 0
	for i, v := range x {
		if (v == railLo || v == railHi) && v != InvalidSample {
			if i > 0 && v == x[i-1] {
				run++
			} else {
				run = 1
			}
			if run == 3 {
				atRail += 3
			} else if run > 3 {
				atRail++
			}
		} else {
			run = 0
		}
	}
	q.Clipped = !q.Flat && float64(atRail) >= m.cfg.ClipFraction*float64(len(x))
	// kSQI on the first difference (removes baseline wander).
	var s1, s2, s4 float64
	nd := 0
	for i := 1; i < len(x); i++ {
		if x[i] == InvalidSample || x[i-1] == InvalidSample {
			continue
		}
		d := float64(x[i]) - float64(x[i-1])
		s1 += d
		nd++
	}
	if nd > 3 {
		mean := s1 / float64(nd)
		for i := 1; i < len(x); i++ {
			if x[i] == InvalidSample || x[i-1] == InvalidSample {
				continue
			}
			d := float64(x[i]) - float64(x[i-1]) - mean
			d2 := d * d
			s2 += d2
			s4 += d2 * d2
		}
		v := s2 / float64(nd)
		if v > 0 {
			q.Kurtosis = s4 / float64(nd) / (v * v)
		}
	}
	q.HFRatio, q.Amplitude = m.hfRatio(x)
	q.Noisy = !q.Flat && q.HFRatio > m.cfg.MaxHFRatio
	if !q.Gap && !q.Flat && !q.Clipped && !math.IsNaN(q.Kurtosis) {
		q.Index = math.Max(0, math.Min(1, (q.Kurtosis-3)/(2*(m.cfg.MinKurtosis-3))))
	}
	return q
}

// hfRatio returns the median absolute deviation of x from its short moving
// average over the peak-to-peak amplitude of x smoothed over 25 ms (or the
// MinQRSMV floor), and that amplitude in mV. It runs
// in one integer pass; the median comes from a histogram of the deviations
// in steps of 1/(2·h1+1) ADC unit (deviations beyond the last bin count in
// it, which only matters when the signal is hopeless anyway).
func (m *QualityMonitor) hfRatio(x []int16) (ratio, amplitude float64) {
	h1, h2 := m.h1, m.h2
	if len(x) <= 2*h2+1 || h1 > h2 {
		return math.NaN(), math.NaN()
	}
	w1, w2 := int64(2*h1+1), int64(2*h2+1)
	var s1, s2 int64
	for j := h2 - h1; j <= h2+h1; j++ {
		s1 += int64(x[j])
	}
	for j := 0; j <= 2*h2; j++ {
		s2 += int64(x[j])
	}
	hist := &m.hist
	*hist = [len(m.hist)]uint16{}
	lo, hi := s2, s2
	n := 0
	for i := h2; ; i++ {
		lo, hi = min(lo, s2), max(hi, s2)
		d := int64(x[i])*w1 - s1
		if d < 0 {
			d = -d
		}
		hist[min(d, int64(len(hist)-1))]++
		n++
		if i+h2+1 >= len(x) {
			break
		}
		s2 += int64(x[i+h2+1]) - int64(x[i-h2])
		s1 += int64(x[i+h1+1]) - int64(x[i-h1])
	}
	half, c := (n+1)/2, 0
	med := len(hist) - 1
	for b, k := range hist {
		c += int(k)
		if c >= half {
			med = b
			break
		}
	}
	amp := float64(hi-lo) / float64(w2)
	pp := math.Max(amp, m.cfg.MinQRSMV*m.cfg.Gain)
	return (float64(med) / float64(w1)) / pp, amp / m.cfg.Gain
}
