package beatclass

import (
	"math"
	"slices"

	"github.com/vigilhealth/vigil/ml"
)

// Patient rules of an adapted classifier. The labelled beats tell more
// than their nearest-neighbour votes (local.go): how premature the
// patient's normal beats get, how fast their normal rhythm goes, and what
// their normal beats look like. de Chazal & Reilly (2006) give a local
// classifier the first labelled beats of a record for this reason; the
// rules below use the same labels as evidence the global model lacks,
// each where it has some and nowhere else:
//
//   - rhythm support: the local expert may not confirm a class for a beat
//     the global model calls S if no labelled beat of that class was as
//     premature (a window of sinus beats says nothing about an early beat,
//     however alike in shape);
//   - novel shape: a beat the global model calls N whose shape is unlike
//     every labelled N beat is not N (it takes the likelier of V and F);
//   - nearest template (eighth round): a beat the rest calls N, S or F
//     whose shape is nearer to a labelled V beat than to every labelled
//     beat of its class (N for N and S) is V;
//   - fast premature: a beat with a normal QRS in a regular rhythm whose
//     preceding interval is well below the patient's shortest labelled
//     normal-to-normal interval is S, the prematurity criterion of Holter
//     analysis measured against the patient's own confirmed sinus rhythm
//     rather than the unlabelled running reference of fRRPreNN, which a
//     long run of ectopic beats drags along (records 207 and 209).
//
// The thresholds were chosen on DS1 leave-one-record-out cross-validation
// (README.md), so the adapted figures measured there are optimistic.
const (
	// localSupportMargin is how much more premature (in fRRPreNN) than
	// the most premature labelled beat of a class a beat may be and still
	// take that class from the local expert when the global model calls
	// it S.
	localSupportMargin = 0.1
	// localFast is the fraction of the patient's shortest labelled NN
	// interval below which a normal-QRS beat is S; localFastQ is the
	// quantile taken as the shortest (robust to a stray mislabel), and
	// localMinNN the labelled NN intervals needed.
	localFast  = 0.8
	localFastQ = 0.01
	localMinNN = 20
	// localNovel is the shape distance to the nearest labelled N beat, in
	// typical distances between labelled beats (localExpert.typ), beyond
	// which a beat is not called N.
	localNovel = 15.0
	// localNovelTyp is the floor of the typical distance in the novel
	// shape test, so that a clean signal whose labelled beats are almost
	// identical does not make every small change novel (on DS1 the
	// typical distance is 0.56–1.24).
	localNovelTyp = 0.5
)

// rhythmSupport returns, per class, the prematurity (fRRPreNN) below
// which the labelled beats of the class give no support: the smallest
// fRRPreNN among them less localSupportMargin, +Inf for a class without
// labelled beats.
func rhythmSupport(rows [][]float32, y []int) [len(modelClasses)]float64 {
	var out [len(modelClasses)]float64
	for k := range out {
		out[k] = math.Inf(1)
	}
	for i, row := range rows {
		if x := float64(row[fRRPreNN]); !math.IsNaN(x) {
			out[y[i]] = min(out[y[i]], x-localSupportMargin)
		}
	}
	return out
}

// fastestNN returns the patient's shortest labelled normal-to-normal
// interval (s): the localFastQ quantile of the preceding intervals
// (fRRPre) of the beats labelled N whose previous beat is labelled N.
// labels are the classes of f's first len(labels) beats, as Adapt takes
// them. It returns 0 when fewer than localMinNN such intervals are known.
func fastestNN(f *Features, labels []byte) float64 {
	var v []float64
	for i := 1; i < len(labels); i++ {
		if x := float64(f.Row(i)[fRRPre]); labels[i] == 'N' && labels[i-1] == 'N' && x > 0 {
			v = append(v, x)
		}
	}
	if len(v) < localMinNN {
		return 0
	}
	slices.Sort(v)
	return v[int(localFastQ*float64(len(v)))]
}

// fastPremature turns N into S (in the probabilities p) for a beat with a
// normal QRS (svCorrQRS) in a regular rhythm (not above afIrregular) whose
// preceding interval is below localFast times the patient's shortest
// labelled NN interval, when N is the likeliest class. It reports whether
// it did.
func (le *localExpert) fastPremature(row []float32, p []float64) bool {
	if !(float64(row[fRRPre]) < localFast*le.fastNN) || !(row[fCorrQRS] >= svCorrQRS) || row[fRRIrregLong] > afIrregular {
		return false
	}
	const n, s = 0, 1
	for k := range p {
		if k != n && p[k] > p[n] {
			return false
		}
	}
	moveScore(p, n, s, true)
	return true
}

// novelShape gives N's probability to the likelier of V and F when N is
// the likeliest class and the beat's shape lies beyond localNovel typical
// distances (at least localNovelTyp) of every labelled N beat (nearN: the
// mean squared shape difference to the nearest N prototype), unless its
// QRS is normal (normalQRS, rules.go): then the difference lies in the P
// and T regions (at a fast sinus rate the T wave meets the next P wave)
// and, as the global normal-QRS rule says, the beat is not ventricular.
// It reports whether it did.
func (le *localExpert) novelShape(row []float32, nearN float64, p []float64) bool {
	const n, v, f = 0, 2, 3
	if math.IsInf(nearN, 1) || math.Sqrt(2*nearN) <= localNovel*max(le.typ, localNovelTyp) || normalQRS(row) {
		return false
	}
	for k := range p {
		if k != n && p[k] > p[n] {
			return false
		}
	}
	to := v
	if p[f] > p[v] {
		to = f
	}
	moveScore(p, n, to, true)
	return true
}

// nearestV turns a beat into V when the labelled beats include V beats
// (at least minShown, shownV) and its shape is nearer to one of them than
// to every labelled N beat — and, for a beat called F, every labelled F
// beat — (near: the mean squared shape difference to the nearest
// prototype of each class), unless its QRS is normal (normalQRS, as for
// novelShape). This is the template classification of Holter analysis
// (the analyst labels the patient's morphology classes and each beat takes
// the class of the template it matches; Hamilton & Tompkins 1986 match
// beats against normal and ectopic templates): a patient's ventricular
// beats of one focus repeat the same QRS, so a beat shaped like the
// confirmed ventricular beats is one of them however its timing differs
// from theirs, which the nearest-neighbour vote, reading shape and timing
// together, weighs against it (records 207 and 223: ventricular beats in
// runs and in bigeminy that the global model calls N, 3–16 typical
// distances from every labelled beat in shape and timing). An S call is
// compared with the labelled N beats, whose QRS a supraventricular beat
// shares. It reports whether it changed p.
func (le *localExpert) nearestV(row []float32, near *[len(modelClasses)]float64, p []float64) bool {
	const n, v, f = 0, 2, 3
	k := ml.Argmax(p)
	if !le.shownV || k == v || normalQRS(row) {
		return false
	}
	ref := near[n]
	if k == f {
		ref = min(ref, near[f])
	}
	if !(near[v] < ref) {
		return false
	}
	moveScore(p, k, v, true)
	return true
}
