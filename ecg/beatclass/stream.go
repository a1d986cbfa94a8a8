package beatclass

import (
	"fmt"
	"math"
	"slices"

	"github.com/vigilhealth/vigil"
)

// Stream settings. A beat is classified once the beat after it is known
// and the signal reaches streamAfter past it (the morphology features read
// up to R+1 s), or, without a next beat, once the signal reaches
// streamMaxWait past it (the beat before a long pause is then classified
// with an unknown following interval, as the last beat of a record is).
const (
	streamAfter   = 1.05 // s of signal needed after a beat
	streamBefore  = 1.1  // s of signal kept before the oldest pending beat
	streamKeep    = 8.0  // s of signal always kept (late beats from the detector)
	streamMaxWait = 6.0  // s to wait for the next beat
	streamMaxGap  = 10.0 // s: a longer hole restarts the RR history
	// histRR is the number of previous RR intervals kept: the 20 that the
	// centred median reads (the 10 of the local average are among them).
	histRR = 20
	// ringN is the number of recent beats whose waveforms make the
	// patient's template, of those within streamTmplWindow seconds, renewed
	// every streamTmplEvery seconds (the batch extractor takes up to
	// templateMax beats within ±150 s, renewed every minute; the stream
	// looks back only, so it renews more often to follow changes of
	// morphology sooner). Measured on DS1 (TestStreamMatchesBatch), renewing
	// every 10 s rather than every 60 s raised the agreement with Label
	// from 99.03 to 99.19 % of beats.
	ringN            = 128
	streamTmplEvery  = 10.0
	streamTmplWindow = 300.0
	// warmBeats and warmSpan end the warm-up: the first beats are held
	// until warmBeats beats or warmSpan seconds are known, so that their
	// template is built from them (as the batch extractor's would be)
	// instead of from the first beat alone.
	warmBeats = 20
	warmSpan  = 30.0
	// recentN is the number of classified beats whose feature rows are kept
	// for Explain.
	recentN = 32
	// longBin is the width of the bins of the 5-minute RR average, s.
	longBin = 5.0
)

// Classified is one beat classified by a Stream.
type Classified struct {
	Sample int64   // R peak, as a sample index of the stream
	Class  byte    // 'N', 'S', 'V', 'F' or 'Q'
	RR     float64 // preceding RR interval, s; NaN for the first beat
}

// Stream classifies the beats of one ECG lead as they are detected: the
// incremental form of Extract and Label, for the streaming analysis of a
// patient's ECG. Feed it the signal and the detected R peaks with Write;
// it never re-reads history and its memory is bounded (about 60 KB at
// 360 Hz: a few seconds of signal, the waveforms of the last 128 beats for
// the patient's template, the last 20 RR intervals, 5-minute RR bins and
// the feature rows of the last 32 beats for Explain).
//
// The features are those of Extract with two causal differences: the
// patient's template (median beat) is built from the beats before a beat
// (the last 128 within 5 minutes, renewed every 10 s) rather than from ±150
// s around it, and the centred RR median reads the 20 intervals before the
// beat and the one after it. The first beats are held until 20 beats or
// 30 s are known and share the template built from them. Labels therefore
// differ from Label on the same beats for a few per cent of beats
// (TestStreamMatchesBatch measures it).
//
// A Stream is not safe for concurrent use; the Classifier it uses is.
type Stream struct {
	c  *Classifier
	fs float64

	sig      []float32 // signal in mV; sig[0] is sample sigStart
	sigStart int64
	next     int64 // the next expected sample
	started  bool

	pending []int64 // detected beats not yet classified, ascending
	prev    int64   // the last beat given features (-1: none since a restart)
	lastIn  int64   // the last beat accepted (-1: none)

	// RR history: the valid intervals before the previous beats (oldest
	// first), the number of beats since the history restarted, and bins
	// of the 5-minute average.
	hist  []float64
	count int
	long  [int(300/longBin) + 2]rrBin

	// Template state.
	ring     [ringN]ringBeat
	ringLen  int
	ringNext int
	tmpl     [denseN]float32
	medWidth float32
	medPP    float32
	medR     float32
	tmplN    int   // beats the template was built from (0: none yet)
	tmplBlk  int64 // template block it was built in
	warm     []heldBeat
	col      []float32
	rh       rhythm
	// prevQRS is the aligned dense waveform of the last finished beat
	// (fCorrPrev), havePrev whether there is one.
	prevQRS  [denseN]float32
	havePrev bool

	// Feature rows of recent beats, for Explain.
	recent    [recentN]recentRow
	recentPos int

	ext extractor
	// onRow, in tests, sees each beat's features before classification.
	onRow func(pos int64, row []float32)
	mg    [len(modelClasses)]float64
}

type rrBin struct {
	idx int64 // bin index (end sample / bin width)
	sum float64
	n   int
}

type ringBeat struct {
	pos       int64
	dense     [denseN]float32
	width, pp float32
	ramp      float32
	occupied  bool
}

type heldBeat struct {
	pos   int64
	rr    float64
	row   [NumFeatures]float32
	dense [denseN]float32
	base  float32   // baseline
	snip  []float32 // smoothed signal around the beat (extractor.snippet)
	sr    int       // index of the beat in snip
}

type recentRow struct {
	pos int64
	row [NumFeatures]float32
	set bool
}

// NewStream returns a Stream for a lead sampled at fs Hz (125–1000) whose
// beats c classifies. It returns an error wrapping vigil.ErrInvalid for a
// rate out of range.
func (c *Classifier) NewStream(fs float64) (*Stream, error) {
	if !(fs >= 100 && fs <= 2000) {
		return nil, fmt.Errorf("%w: sampling frequency %v Hz", vigil.ErrInvalid, fs)
	}
	return &Stream{c: c, fs: fs, prev: -1, lastIn: -1, col: make([]float32, 0, ringN)}, nil
}

// Model returns the version of the model the stream classifies with.
func (s *Stream) Model() string { return s.c.Version() }

// SetClassifier makes the stream classify the beats still to come with c
// (a patient-adapted model, say). Features do not depend on the model.
func (s *Stream) SetClassifier(c *Classifier) { s.c = c }

// Write adds the chunk x (mV, NaN for missing samples) whose first sample
// has index start in the stream, and the R peaks detected up to now that
// were not given before (stream sample indices, ascending), and appends
// the beats that can now be classified to out, in order. A chunk that
// overlaps the signal already written is refused with an error wrapping
// vigil.ErrConflict and changes nothing; a hole up to 10 s is filled with
// missing samples, a longer one classifies the pending beats and restarts
// the RR history. Beats not after the last one given are ignored.
func (s *Stream) Write(start int64, x []float32, beats []int64, out []Classified) ([]Classified, error) {
	if s.started && start < s.next {
		return out, vigil.Errorf(vigil.ErrConflict, "beatclass: chunk at sample %d overlaps the stream (next expected %d)", start, s.next)
	}
	if !s.started {
		s.started, s.sigStart, s.next = true, start, start
	}
	if gap := start - s.next; gap > 0 {
		if float64(gap) > streamMaxGap*s.fs {
			out = s.Flush(out)
			s.sig, s.sigStart, s.next = s.sig[:0], start, start
			s.restartRR()
		} else {
			for range gap {
				s.sig = append(s.sig, float32(math.NaN()))
			}
			s.next = start
		}
	}
	s.sig = append(s.sig, x...)
	s.next += int64(len(x))
	for _, b := range beats {
		if b <= s.lastIn || b < s.sigStart || b >= s.next {
			continue
		}
		s.pending = append(s.pending, b)
		s.lastIn = b
	}
	out = s.classifyReady(out, false)
	s.trim()
	return out, nil
}

// Flush classifies every pending beat (the last one with an unknown
// following interval), as at the end of a recording.
func (s *Stream) Flush(out []Classified) []Classified {
	out = s.classifyReady(out, true)
	return s.finishWarm(out)
}

func (s *Stream) restartRR() {
	s.hist = s.hist[:0]
	s.count = 0
	s.prev = -1
	clear(s.long[:])
	s.rh.reset()
}

// trim drops signal no pending or future beat needs.
func (s *Stream) trim() {
	keep := s.next - int64(streamKeep*s.fs)
	if len(s.pending) > 0 {
		keep = min(keep, s.pending[0]-int64(streamBefore*s.fs))
	}
	drop := keep - s.sigStart
	if drop <= 0 || drop < int64(len(s.sig))/2 {
		return
	}
	n := copy(s.sig, s.sig[drop:])
	s.sig = s.sig[:n]
	s.sigStart += drop
}

// classifyReady computes the features of the pending beats that are
// ready and classifies them.
func (s *Stream) classifyReady(out []Classified, all bool) []Classified {
	after := int64(math.Ceil(streamAfter * s.fs))
	wait := int64(streamMaxWait * s.fs)
	k := 0
	for k < len(s.pending) {
		b := s.pending[k]
		hasNext := k+1 < len(s.pending)
		if !all && (s.next < b+after || (!hasNext && s.next < b+wait)) {
			break
		}
		k++
	}
	if k == 0 {
		return out
	}
	ready := s.pending[:k]
	var next int64 = -1
	if k < len(s.pending) {
		next = s.pending[k]
	}
	// One window and one smoothing for the ready beats: from 1.05 s
	// before the first to 1.05 s after the last.
	lo := max(s.sigStart, ready[0]-after)
	hi := min(s.next, ready[k-1]+after+1)
	e := &s.ext
	e.x, e.fs = s.sig[lo-s.sigStart:hi-s.sigStart], s.fs
	e.beats = e.beats[:0]
	if s.prev >= 0 {
		e.beats = append(e.beats, int(s.prev-lo))
	}
	first := len(e.beats)
	for _, b := range ready {
		e.beats = append(e.beats, int(b-lo))
	}
	if next >= 0 {
		e.beats = append(e.beats, int(next-lo))
	}
	e.smoothInto()
	var h heldBeat
	for j, b := range ready {
		clear(h.row[:])
		h.base = e.beat(first+j, h.row[:], h.dense[:])
		h.snip, h.sr = e.snippet(int(b - lo))
		post := math.NaN()
		switch {
		case j+1 < k:
			post = float64(ready[j+1]-b) / s.fs
		case next >= 0:
			post = float64(next-b) / s.fs
		}
		h.pos = b
		h.rr = s.rrFeatures(b, post, h.row[:])
		s.remember(b, &h)
		if s.tmplN == 0 {
			// Held beats outlive the window: keep their own signal.
			h.snip = slices.Clone(h.snip)
			s.warm = append(s.warm, h)
			if len(s.warm) >= warmBeats || float64(b-s.warm[0].pos) >= warmSpan*s.fs {
				out = s.finishWarm(out)
			}
			continue
		}
		out = s.finish(&h, out)
	}
	s.pending = append(s.pending[:0], s.pending[k:]...)
	return out
}

// finishWarm builds the first template from the held beats and
// classifies them.
func (s *Stream) finishWarm(out []Classified) []Classified {
	if len(s.warm) == 0 {
		return out
	}
	s.build(s.warm[len(s.warm)-1].pos)
	for i := range s.warm {
		out = s.finish(&s.warm[i], out)
	}
	clear(s.warm) // drop the held beats' signal
	s.warm = s.warm[:0]
	return out
}

// rrFeatures fills the RR features of the beat at b whose following
// interval is post (NaN when unknown), following extractor.rr, and
// returns its preceding interval (NaN when unknown). It then adds the
// beat to the history.
func (s *Stream) rrFeatures(b int64, post float64, row []float32) float64 {
	nan := float32(math.NaN())
	ratio := func(a, b float64) float32 {
		if math.IsNaN(a) || math.IsNaN(b) || b <= 0 {
			return nan
		}
		return float32(a / b)
	}
	rrIn := math.NaN()
	if s.prev >= 0 {
		rrIn = float64(b-s.prev) / s.fs
	}
	pre := rrIn
	if s.count == 0 {
		pre = post
	}
	h := s.hist
	var med [10]float64
	local, cnt := 0.0, 0
	for _, v := range h[max(0, len(h)-10):] {
		med[cnt] = v
		local += v
		cnt++
	}
	median := pre
	if cnt > 0 {
		local /= float64(cnt)
		m := med[:cnt]
		slices.Sort(m)
		median = m[cnt/2]
	} else {
		local = pre
	}
	// Long: intervals ending within the 5 minutes before the beat.
	long := local
	lsum, ln := 0.0, 0
	from := int64(float64(b)/s.fs/longBin) - int64(300/longBin)
	for _, bin := range s.long {
		if bin.n > 0 && bin.idx >= from {
			lsum += bin.sum
			ln += bin.n
		}
	}
	if ln > 0 {
		long = lsum / float64(ln)
	}
	prev := math.NaN()
	if len(h) > 0 && s.count >= 2 {
		prev = h[len(h)-1]
	}
	row[fRRPre], row[fRRPost] = float32(pre), float32(post)
	row[fRRLocal], row[fRRLong] = float32(local), float32(long)
	row[fRRPreLocal], row[fRRPostLocal] = ratio(pre, local), ratio(post, local)
	row[fRRPrePost], row[fRRPreLong] = ratio(pre, post), ratio(pre, long)
	row[fRRLocalLong], row[fRRPrePrev] = ratio(local, long), ratio(pre, prev)
	row[fRRPostLong], row[fRRPreMedian] = ratio(post, long), ratio(pre, median)
	irr, ni := 0.0, 0
	tail := h[max(0, len(h)-11):]
	for j := 1; j < len(tail); j++ {
		irr += math.Abs(tail[j] - tail[j-1])
		ni++
	}
	row[fRRIrreg] = nan
	if ni > 0 {
		row[fRRIrreg] = ratio(irr/float64(ni), local)
	}
	var cent [histRR + 1]float64
	cn := copy(cent[:], h)
	if !math.IsNaN(post) {
		cent[cn] = post
		cn++
	}
	row[fRRPreCentred] = nan
	if cn > 0 {
		c := cent[:cn]
		slices.Sort(c)
		row[fRRPreCentred] = ratio(pre, c[cn/2])
	}
	// The beat joins the history.
	if !math.IsNaN(rrIn) {
		if len(s.hist) == histRR {
			copy(s.hist, s.hist[1:])
			s.hist = s.hist[:histRR-1]
		}
		s.hist = append(s.hist, rrIn)
		idx := int64(float64(b) / s.fs / longBin)
		bin := &s.long[idx%int64(len(s.long))]
		if bin.idx != idx || bin.n == 0 {
			*bin = rrBin{idx: idx}
		}
		bin.sum += rrIn
		bin.n++
	}
	s.count++
	s.prev = b
	return rrIn
}

// remember adds a beat's waveform to the template ring.
func (s *Stream) remember(b int64, h *heldBeat) {
	r := &s.ring[s.ringNext]
	r.pos, r.dense = b, h.dense
	r.width, r.pp, r.ramp = h.row[fQRSWidth], h.row[fQRSPP], h.row[fRAmp]
	r.occupied = true
	s.ringNext = (s.ringNext + 1) % ringN
	s.ringLen = min(s.ringLen+1, ringN)
}

// build makes the template from the ring's beats within streamTmplWindow
// seconds before b (element-wise medians, as extractor.templates).
func (s *Stream) build(b int64) {
	from := b - int64(streamTmplWindow*s.fs)
	median := func(get func(r *ringBeat) float32) float32 {
		s.col = s.col[:0]
		for i := range s.ring {
			r := &s.ring[i]
			if !r.occupied || r.pos < from || r.pos > b {
				continue
			}
			if v := get(r); !math.IsNaN(float64(v)) {
				s.col = append(s.col, v)
			}
		}
		if len(s.col) == 0 {
			return float32(math.NaN())
		}
		return selectNth(s.col, len(s.col)/2)
	}
	n := 0
	for i := range s.ring {
		if r := &s.ring[i]; r.occupied && r.pos >= from && r.pos <= b {
			n++
		}
	}
	for k := range denseN {
		s.tmpl[k] = median(func(r *ringBeat) float32 { return r.dense[k] })
	}
	s.medWidth = median(func(r *ringBeat) float32 { return r.width })
	s.medPP = median(func(r *ringBeat) float32 { return r.pp })
	s.medR = median(func(r *ringBeat) float32 { return r.ramp })
	s.tmplN = max(n, 1)
	s.tmplBlk = b / int64(streamTmplEvery*s.fs)
}

// finish fills the template features of a beat, normalises its
// amplitudes, classifies it and appends it to out.
func (s *Stream) finish(h *heldBeat, out []Classified) []Classified {
	if blk := h.pos / int64(streamTmplEvery*s.fs); blk > s.tmplBlk || (s.tmplN < ringN/2 && s.ringLen >= 2*s.tmplN) {
		s.build(h.pos)
	}
	row := h.row[:]
	d := h.dense[:]
	tmpl := s.tmpl[:]
	// The ring holds the beat as detected; align its features.
	shift := align(h.snip, h.sr, s.fs, tmpl)
	if shift != 0 {
		reshape(h.snip, h.sr, shift, s.fs, h.base, row, d)
	}
	k := denseIndex
	row[fCorr] = corr(d, tmpl)
	row[fCorrQRS] = corr(d[k(-0.1):k(0.1)+1], tmpl[k(-0.1):k(0.1)+1])
	row[fCorrP] = corr(d[:k(-0.09)+1], tmpl[:k(-0.09)+1])
	row[fCorrPrev] = prevCorr(d, s.prevQRS[:], s.havePrev)
	row[fPFit], row[fPShift] = pWave(h.snip, h.sr+shift, s.fs, tmpl)
	copy(s.prevQRS[:], d)
	s.havePrev = true
	sum := 0.0
	for j := range d {
		dd := float64(d[j] - tmpl[j])
		sum += dd * dd
	}
	row[fRMSDiff] = float32(math.Sqrt(sum/denseN) / max(float64(s.medPP), 0.05))
	row[fWidthRatio] = row[fQRSWidth] / s.medWidth
	row[fPPRatio] = row[fQRSPP] / max(s.medPP, 0.05)
	row[fRAmpRatio] = row[fRAmp] / s.medR
	if s.medR <= 0.02 {
		row[fRAmpRatio] = float32(math.NaN())
	}
	s.rh.features(float64(row[fRRPre]), float64(row[fRRPost]), row)
	s.rh.add(h.rr, float64(row[fRRPost]), row)
	norm := 1 / max(s.medPP, 0.05)
	for _, j := range normalised {
		row[j] *= norm
	}
	for j, v := range row {
		if math.IsInf(float64(v), 0) {
			row[j] = float32(math.NaN())
		}
	}
	if s.onRow != nil {
		s.onRow(h.pos, row)
	}
	cls := byte('Q')
	if !unclassifiable(row) {
		cls = s.c.label(row, s.mg[:])
	}
	r := &s.recent[s.recentPos]
	r.pos, r.row, r.set = h.pos, h.row, true
	s.recentPos = (s.recentPos + 1) % recentN
	return append(out, Classified{Sample: h.pos, Class: cls, RR: h.rr})
}

// Explain classifies again, with TreeSHAP attributions and a
// plain-language explanation, one of the last 32 beats the stream
// classified (by its sample index); false when it is no longer kept. It
// costs about 20 µs: call it for the beats a finding shows, not for every
// beat.
func (s *Stream) Explain(sample int64) (Result, bool) {
	for i := range s.recent {
		if r := &s.recent[i]; r.set && r.pos == sample {
			return s.c.ClassifyRow(r.row[:]), true
		}
	}
	return Result{}, false
}

// Row returns a copy of the feature row of one of the last 32 beats
// classified (for patient adaptation); false when it is no longer kept.
func (s *Stream) Row(sample int64) ([]float32, bool) {
	for i := range s.recent {
		if r := &s.recent[i]; r.set && r.pos == sample {
			return slices.Clone(r.row[:]), true
		}
	}
	return nil, false
}

// smoothInto computes e.y from e.x like smooth, reusing e.y's storage.
func (e *extractor) smoothInto() {
	w := max(1, int(math.Round(0.01*e.fs))/2)
	n := len(e.x)
	if cap(e.y) < n {
		e.y = make([]float32, n, n+n/2)
	}
	e.y = e.y[:n]
	// A running sum over the centred window, in float64.
	sum := 0.0
	a, b := 0, 0 // window [a, b)
	val := func(i int) float64 {
		v := float64(e.x[i])
		if math.IsNaN(v) {
			return 0
		}
		return v
	}
	for i := range n {
		na, nb := max(0, i-w), min(n, i+w+1)
		for b < nb {
			sum += val(b)
			b++
		}
		for a < na {
			sum -= val(a)
			a++
		}
		e.y[i] = float32(sum / float64(b-a))
	}
}

// selectNth returns the k-th smallest value of a (no NaN), reordering a:
// Hoare's selection, linear on average, so that the medians of the
// template cost less than sorting.
func selectNth(a []float32, k int) float32 {
	lo, hi := 0, len(a)-1
	for lo < hi {
		p := a[lo+(hi-lo)/2]
		i, j := lo, hi
		for i <= j {
			for a[i] < p {
				i++
			}
			for a[j] > p {
				j--
			}
			if i <= j {
				a[i], a[j] = a[j], a[i]
				i++
				j--
			}
		}
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return a[k]
		}
	}
	return a[k]
}
