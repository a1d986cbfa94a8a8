package beatclass

import (
	"math"
	"slices"

	"github.com/vigilhealth/vigil/ml"
)

// The patient-specific expert of an adapted classifier. Hu et al. (1997)
// label a patient's beats with a mixture of experts: a global classifier
// trained on other patients and a local one trained on the patient's
// labelled beats, weighted by a gate. Here the local expert is the
// clinician's labelled beats themselves, used as nearest-neighbour
// prototypes in a space of shape and rhythm features standardised by the
// patient's own spread, and the gate trusts it as far as a beat lies as
// close to its labelled neighbours as labelled beats lie to each other: a
// beat like those the clinician labelled takes their class, a beat unlike
// any of them (a morphology or a prematurity not seen in the window) is
// left to the global model. Four patient rules built from the same labels
// (localrules.go) bound what the expert may say: it cannot confirm N for a
// beat the global model calls S that is more premature than any labelled N
// beat; a beat whose shape is unlike every labelled N beat is not called N;
// a normal-QRS beat much faster than the patient's labelled NN
// intervals is called S; and a beat shaped more like a labelled V beat
// than like any labelled N beat is called V.

// localShape and localRhythm are the columns of the two halves of the
// distance: the beat's shape (amplitude-normalised waveform and the
// comparison with the template) and its timing (prematurity against the
// patient's normal-to-normal intervals and the local average, and the
// following pause). Each half is the mean squared standardised
// difference of its columns, so the 20 waveform points do not outweigh
// the timing, and the distance is set by the larger half: a prototype is
// near only if it is near in both shape and timing (measured on DS1, this
// kept 1.3 points more V sensitivity than the sum of the halves).
var (
	localShape  = append([]int{fCorr, fCorrQRS, fRMSDiff, fWidthRatio, fPPRatio}, waveIdx()...)
	localRhythm = []int{fRRPreNN, fRRPostNN, fRRPreLocal, fRRPrePost}
)

// Local expert settings: the neighbours voting, the gate's reach in units
// of the labelled beats' typical neighbour distance, the prototypes kept
// per class (evenly spread over the window), and the floor of a column's
// spread as a fraction of the magnitude of its median (at least 0.1), so
// that a column nearly constant over the patient's beats does not dominate
// the distance. Chosen on DS1 (README.md: reach 2, 3 and 4 and 3 or 5
// neighbours compared).
const (
	localK        = 5
	localReach    = 3.0
	localMaxClass = 400
	localMinScale = 0.05
	// localTypSample bounds the prototypes whose nearest neighbour sets
	// the typical distance (the cost of Adapt is this times the number of
	// prototypes).
	localTypSample = 200
)

// localExpert holds a patient's labelled beats as prototypes.
type localExpert struct {
	cols  []int     // localShape then localRhythm
	scale []float64 // 1 / spread of each column
	x     []float32 // prototypes, len(cols) standardised values each
	y     []uint8   // their class index (into modelClasses)
	typ   float64   // median distance of a prototype to its nearest other prototype
	// early[k] is the prematurity (fRRPreNN) below which a beat finds no
	// support among the labelled beats of class k (rhythmSupport).
	early [len(modelClasses)]float64
	// fastNN is the patient's shortest labelled NN interval (s,
	// fastestNN), 0 when there are too few.
	fastNN float64
	// shownV reports whether at least minShown beats are labelled V
	// (prototypes of class V).
	shownV bool
}

// newLocalExpert builds the local expert from the labelled rows (class
// indices y) of a patient whose beats (labelled or not) are all; nil when
// there are too few labelled beats to judge distances.
func newLocalExpert(all *Features, rows [][]float32, y []int) *localExpert {
	if len(rows) < 2*localK {
		return nil
	}
	cols := append(slices.Clone(localShape), localRhythm...)
	le := &localExpert{cols: cols, scale: make([]float64, len(cols))}
	// Spread: the median absolute deviation over all the patient's beats.
	v := make([]float64, 0, all.Len())
	for c, j := range cols {
		v = v[:0]
		for i := range all.Len() {
			if x := float64(all.Row(i)[j]); !math.IsNaN(x) {
				v = append(v, x)
			}
		}
		s := 1.0
		if len(v) > 0 {
			slices.Sort(v)
			med := v[len(v)/2]
			for k := range v {
				v[k] = math.Abs(v[k] - med)
			}
			slices.Sort(v)
			s = max(1.4826*v[len(v)/2], localMinScale*max(math.Abs(med), 0.1))
		}
		le.scale[c] = 1 / s
	}
	le.early = rhythmSupport(rows, y)
	// Prototypes: at most localMaxClass per class, evenly spread.
	count := make([]int, len(modelClasses))
	for _, k := range y {
		count[k]++
	}
	le.shownV = count[2] >= minShown // modelClasses[2] == 'V'
	seen := make([]int, len(modelClasses))
	for i, row := range rows {
		k := y[i]
		seen[k]++
		if count[k] > localMaxClass && (seen[k]-1)*localMaxClass/count[k] == seen[k]*localMaxClass/count[k] {
			continue
		}
		for c, j := range cols {
			le.x = append(le.x, float32(le.z(c, row[j])))
		}
		le.y = append(le.y, uint8(k))
	}
	// Typical distance: the median, over prototypes (at most
	// localTypSample of them, evenly spread), of the distance to the
	// nearest other prototype.
	n := len(le.y)
	d := make([]float64, 0, min(n, localTypSample))
	for i := 0; i < n; i += max(1, n/localTypSample) {
		best := math.Inf(1)
		p := le.x[i*len(cols) : (i+1)*len(cols)]
		for j := range n {
			if j != i {
				best = min(best, le.dist(p, j))
			}
		}
		d = append(d, best)
	}
	slices.Sort(d)
	le.typ = max(d[len(d)/2], 1e-3)
	return le
}

// z standardises value v of column c (NaN stays NaN: a missing value adds
// no distance).
func (le *localExpert) z(c int, v float32) float64 {
	if math.IsNaN(float64(v)) {
		return math.NaN()
	}
	return float64(v) * le.scale[c]
}

// dist is the distance between standardised point p and prototype j: the
// root of twice the larger of the two halves' mean squared differences.
func (le *localExpert) dist(p []float32, j int) float64 {
	a, b := le.halves(p, j)
	return math.Sqrt(2 * max(a, b))
}

// halves returns the mean squared standardised differences between point
// p and prototype j over the shape columns and over the rhythm columns (0
// for a half without values in both).
func (le *localExpert) halves(p []float32, j int) (shape, rhythm float64) {
	q := le.x[j*len(le.cols) : (j+1)*len(le.cols)]
	ns := len(localShape)
	var a, b float64
	var na, nb int
	for c := range p {
		d := float64(p[c] - q[c])
		if math.IsNaN(d) {
			continue
		}
		if c < ns {
			a += d * d
			na++
		} else {
			b += d * d
			nb++
		}
	}
	if na > 0 {
		shape = a / float64(na)
	}
	if nb > 0 {
		rhythm = b / float64(nb)
	}
	return shape, rhythm
}

// localDecision is what the local expert did to one beat's probabilities.
type localDecision struct {
	gate  float64                // weight of the local vote (0: the global model alone)
	votes [len(modelClasses)]int // classes of the localK nearest prototypes
	novel bool                   // N was refused: the shape is unlike every labelled N beat
	fast  bool                   // N was turned into S: faster than the labelled NN intervals
	likeV bool                   // turned into V: nearer in shape to the labelled V beats (nearestV)
}

// decide combines the global model's class probabilities p (modelClasses
// order, after the AF and prematurity rules) with the local expert for
// row, in place. The local vote: p ← g·local + (1−g)·p, where the gate g
// is 1 for a beat within localReach typical distances of its nearest
// prototype and falls off beyond; when the global model calls the beat S,
// only prototypes of classes whose labelled beats reach its prematurity
// vote (rhythmSupport). Before the vote, a beat the global model calls N
// whose shape is unlike every labelled N beat (novelShape) is given the
// likelier of V and F; after it, a normal-QRS beat much faster than the
// labelled NN intervals that is still N is called S (fastPremature), and
// a beat not called V whose shape is nearer to a labelled V beat than to
// the labelled beats of its class is called V (nearestV).
func (le *localExpert) decide(row []float32, p []float64) localDecision {
	var out localDecision
	var pt [64]float32
	point := pt[:len(le.cols)]
	for c, j := range le.cols {
		point[c] = float32(le.z(c, row[j]))
	}
	var nd [localK]float64
	var nc [localK]uint8
	for i := range nd {
		nd[i] = math.Inf(1)
	}
	const n, s = 0, 1 // modelClasses[0] == 'N', modelClasses[1] == 'S'
	pre := float64(row[fRRPreNN])
	sCall := ml.Argmax(p) == s
	// near[k]: the mean squared shape difference to the nearest prototype
	// of class k.
	var near [len(modelClasses)]float64
	for k := range near {
		near[k] = math.Inf(1)
	}
	for j := range le.y {
		a, b := le.halves(point, j)
		near[le.y[j]] = min(near[le.y[j]], a)
		if sCall && pre < le.early[le.y[j]] {
			continue
		}
		d := math.Sqrt(2 * max(a, b))
		if d >= nd[localK-1] {
			continue
		}
		i := localK - 1
		for ; i > 0 && nd[i-1] > d; i-- {
			nd[i], nc[i] = nd[i-1], nc[i-1]
		}
		nd[i], nc[i] = d, le.y[j]
	}
	out.novel = le.novelShape(row, near[n], p)
	if !math.IsInf(nd[0], 1) {
		out.gate = 1.0
		if r := nd[0] / (localReach * le.typ); r > 1 {
			out.gate = math.Exp(-(r - 1) * (r - 1) * 4)
		}
		var vote [len(modelClasses)]float64
		cnt := 0.0
		for i := range nd {
			if !math.IsInf(nd[i], 1) {
				vote[nc[i]]++
				out.votes[nc[i]]++
				cnt++
			}
		}
		for k := range p {
			p[k] = out.gate*vote[k]/cnt + (1-out.gate)*p[k]
		}
	}
	out.fast = le.fastPremature(row, p)
	out.likeV = le.nearestV(row, &near, p)
	return out
}
