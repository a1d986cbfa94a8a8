package beatclass

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// concept groups features that a clinician reads as one reason.
type concept struct {
	features []int
	phrase   func(row []float32) string
}

var concepts = [...]concept{
	{[]int{fRRPre, fRRPreLocal, fRRPreLong, fRRPrePrev, fRRPreMedian, fRRPrePost}, func(r []float32) string {
		return describeRR("preceding", r[fRRPre], r[fRRLocal])
	}},
	{[]int{fRRPost, fRRPostLocal, fRRPostLong}, func(r []float32) string {
		return describeRR("following", r[fRRPost], r[fRRLocal])
	}},
	{[]int{fRRLocal, fRRLong, fRRLocalLong}, func(r []float32) string {
		if isNaN(r[fRRLocal]) || r[fRRLocal] <= 0 {
			return "heart rate unknown"
		}
		return fmt.Sprintf("heart rate %.0f/min (average RR %.2f s)", 60/r[fRRLocal], r[fRRLocal])
	}},
	{[]int{fQRSWidth, fWidthRatio}, func(r []float32) string {
		w := r[fQRSWidth]
		switch {
		case isNaN(w):
			return "QRS width unknown"
		case w >= 120 || r[fWidthRatio] > 1.3:
			return fmt.Sprintf("wide QRS (%.0f ms)", w)
		}
		return fmt.Sprintf("narrow QRS (%.0f ms)", w)
	}},
	{append([]int{fCorr, fCorrQRS, fRMSDiff, fRAmp, fSAmp, fQRSPP, fSlopeUp, fSlopeDown, fQRSArea,
		fPPRatio, fRAmpRatio, fTMax, fTMin}, waveIdx()...), func(r []float32) string {
		if r[fCorr] < 0.9 {
			return fmt.Sprintf("shape unlike the patient's usual beat (correlation %.2f)", r[fCorr])
		}
		return fmt.Sprintf("shape like the patient's usual beat (correlation %.2f)", r[fCorr])
	}},
	{[]int{fCorrPrev}, func(r []float32) string {
		switch c := r[fCorrPrev]; {
		case isNaN(c):
			return "no previous beat to compare"
		case c < 0.9:
			return fmt.Sprintf("QRS unlike the previous beat's (correlation %.2f)", c)
		default:
			return fmt.Sprintf("QRS like the previous beat's (correlation %.2f)", c)
		}
	}},
	{[]int{fPFit, fPShift}, func(r []float32) string {
		switch f := r[fPFit]; {
		case isNaN(f):
			return "no P wave in the patient's usual beat"
		case f < 0.7:
			return fmt.Sprintf("no P wave like the usual one before the QRS (best fit %.2f)", f)
		default:
			return fmt.Sprintf("P wave like the usual one before the QRS (fit %.2f, PR %+.0f ms from the usual)", f, -r[fPShift])
		}
	}},
	{[]int{fPAmp, fCorrP}, func(r []float32) string {
		if r[fCorrP] < 0.7 {
			return fmt.Sprintf("P-wave region unlike the usual beat (correlation %.2f)", r[fCorrP])
		}
		return fmt.Sprintf("P-wave region like the usual beat (correlation %.2f)", r[fCorrP])
	}},
	{[]int{fNoise, fWander}, func(r []float32) string {
		return fmt.Sprintf("signal noise %.0f %% of the QRS amplitude", 100*r[fNoise])
	}},
}

func waveIdx() []int {
	w := make([]int, nWave)
	for i := range w {
		w[i] = fWave0 + i
	}
	return w
}

func isNaN(v float32) bool { return math.IsNaN(float64(v)) }

func describeRR(which string, rr, avg float32) string {
	if isNaN(rr) {
		return "no " + which + " beat"
	}
	q := "regular"
	switch r := rr / avg; {
	case r < 0.88:
		q = "short"
	case r > 1.12:
		q = "long"
	}
	return fmt.Sprintf("%s %s RR (%.2f s vs %.2f s average)", q, which, rr, avg)
}

// explain sums the attributions of each concept and phrases the (at most
// three) concepts that pushed most towards the decision.
func explain(row []float32, phi []float64) string {
	type scored struct {
		i int
		s float64
	}
	var sc []scored
	for i, c := range concepts {
		s := 0.0
		for _, f := range c.features {
			s += phi[f]
		}
		sc = append(sc, scored{i, s})
	}
	slices.SortStableFunc(sc, func(a, b scored) int { return cmpDesc(a.s, b.s) })
	var parts []string
	for _, s := range sc {
		if s.s <= 0.05*max(sc[0].s, 1e-9) || len(parts) == 3 {
			break
		}
		parts = append(parts, concepts[s.i].phrase(row))
	}
	if len(parts) == 0 {
		return "no single feature stands out"
	}
	return strings.Join(parts, ", ")
}
