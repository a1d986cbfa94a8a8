package modelreg

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/ecg/beatclass"
)

// Label is the clinicians' current answer about one beat: the latest of
// all the answers given about it.
type Label struct {
	Patient string
	Code    string    // ECG lead (Waveform.Code)
	Time    time.Time // the beat's R peak
	Class   byte      // 'N', 'S', 'V', 'F' or 'Q'
	// At is when the deciding (latest) answer was given, First when the
	// earliest answer about the beat was; Answers counts them.
	At, First time.Time
	Answers   int
}

// Reasons for which an answer or a labelled beat is not used, as counted
// in Data.LabelsSkipped.
const (
	SkipSuperseded   = "superseded by a later answer about the same beat"
	SkipRejected     = "rejected without naming a class"
	SkipNoSignal     = "no stored signal around the beat"
	SkipBadSignal    = "stored signal unusable (rate, gain or unit)"
	SkipChampionSeen = "recent, but answered before the active model's training cut-off"
	SkipQ            = "class Q: assigned from signal quality, not learnt (evaluation only)"
)

// CurrentLabels reduces clinicians' answers to one label per beat. Answers
// about the same beat (same patient, lead and R-peak time) supersede each
// other: the one given last (largest At; on equal times the later in the
// slice, which stores return oldest first) decides. A deciding answer
// that rejects the model's class without naming another is no training
// label, and the beat is left out. The result is ordered by answer time
// (then patient, lead and beat time), the order in which labels are split
// into training and recent ones. skipped counts the answers not used, by
// reason.
//
// An answer that vigil.ValidateBeatLabels refuses (an unknown action or
// class, no patient, lead, time or author, a confirmation that does not
// repeat the suggestion, a rejection naming a class) is an error wrapping
// vigil.ErrInvalid that names its index: clinical input is never guessed.
func CurrentLabels(answers []vigil.BeatLabel) (labels []Label, skipped map[string]int, err error) {
	type key struct {
		patient, code string
		t             int64
	}
	type ans struct {
		i int
		a *vigil.BeatLabel
	}
	by := map[key][]ans{}
	var keys []key
	for i := range answers {
		a := &answers[i]
		if err := checkAnswer(a); err != nil {
			return nil, nil, vigil.Errorf(vigil.ErrInvalid, "beat label %d: %s", i, err.Error())
		}
		k := key{a.Patient, a.Code, a.Time.UnixNano()}
		if _, ok := by[k]; !ok {
			keys = append(keys, k)
		}
		by[k] = append(by[k], ans{i, a})
	}
	skipped = map[string]int{}
	for _, k := range keys {
		as := by[k]
		slices.SortStableFunc(as, func(x, y ans) int {
			return cmp.Or(x.a.At.Compare(y.a.At), cmp.Compare(x.i, y.i))
		})
		last := as[len(as)-1].a
		skipped[SkipSuperseded] += len(as) - 1
		if last.Label == "" {
			skipped[SkipRejected]++
			continue
		}
		labels = append(labels, Label{Patient: k.patient, Code: k.code, Time: last.Time.UTC(), Class: last.Label[0],
			At: last.At.UTC(), First: as[0].a.At.UTC(), Answers: len(as)})
	}
	slices.SortFunc(labels, func(a, b Label) int {
		return cmp.Or(a.At.Compare(b.At), strings.Compare(a.Patient, b.Patient), strings.Compare(a.Code, b.Code), a.Time.Compare(b.Time))
	})
	for k, n := range skipped {
		if n == 0 {
			delete(skipped, k)
		}
	}
	return labels, skipped, nil
}

// checkAnswer validates one answer as every BeatLabelStore does
// (vigil.ValidateBeatLabels); its message holds no patient data.
func checkAnswer(a *vigil.BeatLabel) error {
	if err := vigil.ValidateBeatLabels([]vigil.BeatLabel{*a}); err != nil {
		return err
	}
	if a.Label != "" && !strings.Contains(beatclass.Classes, a.Label) {
		return vigil.Errorf(vigil.ErrInvalid, "class %q unknown to the beat classifier", a.Label)
	}
	return nil
}

// splitRecent splits labels (ordered by answer time, as CurrentLabels
// returns them) into the older ones, for training, and the newest
// fraction, for evaluation. A recent beat with any answer at or before
// seenUntil (the end of the champion's training labels) is in neither
// part: the champion may have trained on it, which would favour it.
func splitRecent(labels []Label, fraction float64, seenUntil time.Time) (train, recent []Label, dropped int) {
	n := int(fraction * float64(len(labels)))
	n = min(max(n, 0), len(labels))
	train = labels[:len(labels)-n]
	for _, l := range labels[len(labels)-n:] {
		if !seenUntil.IsZero() && !l.First.After(seenUntil) {
			dropped++
			continue
		}
		recent = append(recent, l)
	}
	return train, recent, dropped
}
