package ecg

import (
	"math"
	"sort"
)

// EC57 scoring parameters (ANSI/AAMI EC57:2012, section 3 and annex; the
// same defaults as PhysioNet's bxb).
const (
	// MatchWindow is the largest distance between a detection and the
	// reference beat it matches.
	MatchWindow = 0.150
	// ScoreStart is where scoring starts: the first five minutes of each
	// record are left for the detector to learn.
	ScoreStart = 300.0
)

// BeatStats counts the outcome of a beat-by-beat comparison.
type BeatStats struct {
	TP int // reference beats matched by a detection
	FN int // reference beats without a detection
	FP int // detections without a reference beat
}

// Add returns the sum of two counts (gross statistics add counts).
func (s BeatStats) Add(o BeatStats) BeatStats {
	return BeatStats{TP: s.TP + o.TP, FN: s.FN + o.FN, FP: s.FP + o.FP}
}

// Se returns the sensitivity TP/(TP+FN), NaN when there are no reference beats.
func (s BeatStats) Se() float64 { return ratio(s.TP, s.TP+s.FN) }

// PPV returns the positive predictivity TP/(TP+FP), NaN without detections.
func (s BeatStats) PPV() float64 { return ratio(s.TP, s.TP+s.FP) }

func ratio(a, b int) float64 {
	if b == 0 {
		return math.NaN()
	}
	return float64(a) / float64(b)
}

// Interval is a half-open range of samples [From, To).
type Interval struct{ From, To int }

// ReferenceBeats returns the sample indices of the beat annotations in ref
// and the intervals of ventricular flutter or fibrillation ('[' to ']'),
// which EC57 leaves out of QRS detection statistics.
func ReferenceBeats(ref []Annotation) (beats []int, vf []Interval) {
	vfStart := -1
	for _, a := range ref {
		switch {
		case IsBeat(a.Symbol):
			beats = append(beats, a.Sample)
		case a.Symbol == "[":
			vfStart = a.Sample
		case a.Symbol == "]" && vfStart >= 0:
			vf = append(vf, Interval{vfStart, a.Sample + 1})
			vfStart = -1
		}
	}
	if vfStart >= 0 {
		vf = append(vf, Interval{vfStart, math.MaxInt})
	}
	return beats, vf
}

// CompareBeats scores detections against reference beats (both sorted
// sample indices) beat by beat as EC57 prescribes: each reference beat is
// matched to the nearest unmatched detection within window samples; only
// beats at or after start count, and beats inside an excluded interval
// (ventricular flutter) count neither way.
func CompareBeats(ref, test []int, window, start int, exclude []Interval) BeatStats {
	in := func(t int) bool {
		if t < start {
			return false
		}
		for _, e := range exclude {
			if t >= e.From && t < e.To {
				return false
			}
		}
		return true
	}
	test = append([]int(nil), test...)
	sort.Ints(test)
	used := make([]bool, len(test))
	var s BeatStats
	j := 0
	for _, r := range ref {
		for j < len(test) && test[j] < r-window {
			j++
		}
		best := -1
		for i := j; i < len(test) && test[i] <= r+window; i++ {
			if !used[i] && (best < 0 || abs(test[i]-r) < abs(test[best]-r)) {
				best = i
			}
		}
		if best >= 0 {
			used[best] = true
			if in(r) {
				s.TP++
			}
			continue
		}
		if in(r) {
			s.FN++
		}
	}
	for i, t := range test {
		if !used[i] && in(t) {
			s.FP++
		}
	}
	return s
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// ReferenceRhythm returns the episodes, in seconds, during which the
// reference rhythm annotations ('+' with Aux such as "(AFIB") hold the
// given rhythm, up to end seconds.
func ReferenceRhythm(ann []Annotation, rhythm string, fs, end float64) []Episode {
	var out []Episode
	from := -1.0
	for _, a := range ann {
		if a.Symbol != "+" || a.Aux == "" {
			continue
		}
		t := float64(a.Sample) / fs
		if a.Aux == rhythm {
			if from < 0 {
				from = t
			}
		} else if from >= 0 {
			out = append(out, Episode{Kind: AtrialFibrillation, Start: from, End: t})
			from = -1
		}
	}
	if from >= 0 && end > from {
		out = append(out, Episode{Kind: AtrialFibrillation, Start: from, End: end})
	}
	return out
}

// EpisodeStats compares detected episodes with reference episodes as
// EC57 does for atrial fibrillation (section 4.3: episode and duration
// sensitivity and positive predictivity).
type EpisodeStats struct {
	RefEpisodes  int     // reference episodes
	RefDetected  int     // reference episodes overlapped by a detection
	TestEpisodes int     // detected episodes
	TestTrue     int     // detected episodes that overlap a reference episode
	RefDuration  float64 // seconds of reference episodes
	TestDuration float64 // seconds of detected episodes
	Overlap      float64 // seconds in both
}

// Add returns the sum of two comparisons (gross statistics).
func (s EpisodeStats) Add(o EpisodeStats) EpisodeStats {
	return EpisodeStats{s.RefEpisodes + o.RefEpisodes, s.RefDetected + o.RefDetected, s.TestEpisodes + o.TestEpisodes,
		s.TestTrue + o.TestTrue, s.RefDuration + o.RefDuration, s.TestDuration + o.TestDuration, s.Overlap + o.Overlap}
}

// EpisodeSe returns the episode sensitivity, NaN without reference episodes.
func (s EpisodeStats) EpisodeSe() float64 { return ratio(s.RefDetected, s.RefEpisodes) }

// EpisodePPV returns the episode positive predictivity.
func (s EpisodeStats) EpisodePPV() float64 { return ratio(s.TestTrue, s.TestEpisodes) }

// DurationSe returns the fraction of reference episode time detected.
func (s EpisodeStats) DurationSe() float64 { return fratio(s.Overlap, s.RefDuration) }

// DurationPPV returns the fraction of detected episode time that is in a
// reference episode.
func (s EpisodeStats) DurationPPV() float64 { return fratio(s.Overlap, s.TestDuration) }

func fratio(a, b float64) float64 {
	if b == 0 {
		return math.NaN()
	}
	return a / b
}

// CompareEpisodes scores test episodes against reference episodes over
// [start, end) seconds; episodes are clipped to that range first.
func CompareEpisodes(ref, test []Episode, start, end float64) EpisodeStats {
	clip := func(e []Episode) []Episode {
		var out []Episode
		for _, x := range e {
			x.Start, x.End = max(x.Start, start), min(x.End, end)
			if x.End > x.Start {
				out = append(out, x)
			}
		}
		return out
	}
	ref, test = clip(ref), clip(test)
	overlap := func(a Episode, b []Episode) float64 {
		o := 0.0
		for _, x := range b {
			o += max(0, min(a.End, x.End)-max(a.Start, x.Start))
		}
		return o
	}
	var s EpisodeStats
	for _, r := range ref {
		s.RefEpisodes++
		s.RefDuration += r.End - r.Start
		o := overlap(r, test)
		s.Overlap += o
		if o > 0 {
			s.RefDetected++
		}
	}
	for _, t := range test {
		s.TestEpisodes++
		s.TestDuration += t.End - t.Start
		if overlap(t, ref) > 0 {
			s.TestTrue++
		}
	}
	return s
}
