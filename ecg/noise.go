package ecg

import (
	"math"
	"slices"
)

// Noise stress test after PhysioNet's nst and sigamp (Moody, Muldrow &
// Mark, "A noise stress test for arrhythmia detectors", Computers in
// Cardiology 11:381–384, 1984; WFDB Applications Guide, nst(1)):
//
//   - S, the signal power, is A²/8 where A is the trimmed mean (largest and
//     smallest 5 % dropped) of the peak-to-peak amplitudes of the first 300
//     normal QRS complexes, each measured from 50 ms before to 50 ms after
//     its annotation;
//   - N, the noise power, is n² where n is the trimmed mean of the RMS
//     deviations from the mean of the first 300 one-second chunks of the
//     noise signal;
//   - the noise gain a solves SNR = 10 log10(S / (N a²));
//   - the standard protocol leaves the first five minutes clean, then
//     alternates two minutes of noise and two minutes without, with an
//     offset that cancels the step at each change of gain.

const nstMeasurements = 300

// trimmedMean drops the largest and smallest 5 % of v and averages the rest.
func trimmedMean(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	v = slices.Clone(v)
	slices.Sort(v)
	k := len(v) / 20
	v = v[k : len(v)-k]
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// QRSAmplitude returns sigamp's estimate of the peak-to-peak amplitude of
// the normal QRS complexes of x (in x's units), from the reference
// annotations ann, NaN when there are none.
func QRSAmplitude(x []int16, ann []Annotation, fs float64) float64 {
	half := int(math.Round(0.050 * fs))
	var amps []float64
	for _, a := range ann {
		if a.Symbol != "N" {
			continue
		}
		lo, hi := a.Sample-half, a.Sample+half
		if lo < 0 || hi >= len(x) {
			continue
		}
		mn, mx := x[lo], x[lo]
		for _, v := range x[lo : hi+1] {
			mn, mx = min(mn, v), max(mx, v)
		}
		amps = append(amps, float64(mx)-float64(mn))
		if len(amps) == nstMeasurements {
			break
		}
	}
	return trimmedMean(amps)
}

// NoiseRMS returns sigamp's RMS amplitude of a noise signal: the trimmed
// mean of the RMS deviations from the mean over one-second chunks of the
// first 300 seconds.
func NoiseRMS(noise []int16, fs float64) float64 {
	n := int(math.Round(fs))
	var rms []float64
	for i := 0; i+n <= len(noise) && len(rms) < nstMeasurements; i += n {
		c := noise[i : i+n]
		m := 0.0
		for _, v := range c {
			m += float64(v)
		}
		m /= float64(n)
		s := 0.0
		for _, v := range c {
			d := float64(v) - m
			s += d * d
		}
		rms = append(rms, math.Sqrt(s/float64(n)))
	}
	return trimmedMean(rms)
}

// NoiseGain returns the gain a that nst applies to a noise signal of RMS
// amplitude noiseRMS to reach snrDB against a QRS of peak-to-peak amplitude
// qrsPP.
func NoiseGain(qrsPP, noiseRMS, snrDB float64) float64 {
	s := qrsPP * qrsPP / 8
	n := noiseRMS * noiseRMS
	return math.Sqrt(s / (n * math.Pow(10, snrDB/10)))
}

// AddNoise returns clean with noise added at snrDB following nst's standard
// protocol (see the comment at the top of this file). Both signals are in
// ADC units of the same gain; the noise record is rewound when shorter than
// the clean one. Results are clipped to the int16 range, and invalid clean
// samples stay invalid.
func AddNoise(clean []int16, ann []Annotation, noise []int16, fs, snrDB float64) []int16 {
	out := make([]int16, len(clean))
	if len(noise) == 0 {
		copy(out, clean)
		return out
	}
	a := NoiseGain(QRSAmplitude(clean, ann, fs), NoiseRMS(noise, fs), snrDB)
	if math.IsNaN(a) || math.IsInf(a, 0) {
		a = 0
	}
	learn := int(300 * fs)
	period := int(120 * fs)
	gain, off := 0.0, 0.0
	for i, v := range clean {
		nz := float64(noise[i%len(noise)])
		if i >= learn && (i-learn)%period == 0 {
			want := a
			if ((i-learn)/period)%2 == 1 {
				want = 0
			}
			// Keep the output continuous: gain*n + off is unchanged.
			off += (gain - want) * nz
			gain = want
		}
		if v == InvalidSample {
			out[i] = InvalidSample
			continue
		}
		y := math.Round(float64(v) + gain*nz + off)
		out[i] = int16(max(-32767, min(32767, y)))
	}
	return out
}
