package modelreg

import (
	"fmt"

	"github.com/vigilhealth/vigil/ecg/beatclass"
)

// Rule decides whether a candidate is "not worse" than the champion on one
// set of beats. Every metric is compared on the same beats for both
// models; the candidate passes when none is lower than the champion's by
// more than its tolerance.
type Rule struct {
	// Accuracy is the tolerated drop in overall accuracy (a fraction:
	// 0.005 is half a percentage point).
	Accuracy float64
	// Class is the tolerated drop in sensitivity (Se) and positive
	// predictivity (+P) of each class in Classes.
	Class float64
	// Classes are the classes whose Se and +P are compared (default "VS":
	// the ectopic beats that findings are made of).
	Classes string
	// MinSupport is the number of beats below which a class metric is not
	// compared: reference beats of the class for Se, beats either model
	// labels with the class for +P. A handful of beats make a percentage
	// that swings by tens of points.
	MinSupport int
	// MinBeats is the size below which a set (the recent labels) is not
	// compared at all.
	MinBeats int
}

// DefaultRule is the promotion rule of vigil model retrain: accuracy may
// not drop by more than 0.5 percentage points, and V and S sensitivity and
// positive predictivity by no more than 2 points each, on the held-out
// records and on the recent labels (when there are at least 50 of them;
// class metrics with at least 20 beats). The tolerances absorb the noise
// of retraining on slightly different data — on the 10,500 held-out beats
// 0.5 points of accuracy are 53 beats; on their 294 S beats 2 points of Se
// are 6 beats — while a real regression exceeds them.
func DefaultRule() Rule {
	return Rule{Accuracy: 0.005, Class: 0.02, Classes: "VS", MinSupport: 20, MinBeats: 50}
}

// compare applies the rule to one set of beats (named set in messages),
// adding failures to d.Reasons and comparisons not made to d.Notes.
func (r Rule) compare(set string, cand, champ *beatclass.Confusion, d *Decision) {
	if n := cand.Total(); n < r.MinBeats {
		d.Notes = append(d.Notes, fmt.Sprintf("%s: not compared, %d beats (fewer than %d)", set, n, r.MinBeats))
		return
	}
	fail := func(what string, c, k float64, tol float64) {
		if c < k-tol {
			d.Reasons = append(d.Reasons, fmt.Sprintf("%s: %s %.2f %% < champion %.2f %% − %.1f", set, what, 100*c, 100*k, 100*tol))
		}
	}
	fail("accuracy", cand.Accuracy(), champ.Accuracy(), r.Accuracy)
	for i := range len(r.Classes) {
		k := r.Classes[i]
		ci := classIdx(k)
		if ref := cand.Row(ci); ref >= r.MinSupport {
			fail(string(k)+" Se", cand.Se(k), champ.Se(k), r.Class)
		} else {
			d.Notes = append(d.Notes, fmt.Sprintf("%s: %c Se not compared, %d reference beats", set, k, ref))
		}
		if pc, pk := cand.Col(ci), champ.Col(ci); pc >= r.MinSupport && pk >= r.MinSupport {
			fail(string(k)+" +P", cand.PP(k), champ.PP(k), r.Class)
		} else {
			d.Notes = append(d.Notes, fmt.Sprintf("%s: %c +P not compared, %d and %d beats labelled %c", set, k, pc, pk, k))
		}
	}
}

func classIdx(k byte) int {
	for i := range len(beatclass.Classes) {
		if beatclass.Classes[i] == k {
			return i
		}
	}
	return -1
}

// Decide applies the rule to the held-out and the recent comparison
// (recent may be nil when there are no recent labels).
func (r Rule) Decide(heldCand, heldChamp, recentCand, recentChamp *beatclass.Confusion) Decision {
	var d Decision
	r.compare("held-out", heldCand, heldChamp, &d)
	if recentCand != nil && recentChamp != nil {
		r.compare("recent labels", recentCand, recentChamp, &d)
	} else {
		d.Notes = append(d.Notes, "recent labels: none to compare on")
	}
	d.Promote = len(d.Reasons) == 0
	return d
}
