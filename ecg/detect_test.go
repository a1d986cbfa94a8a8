package ecg

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/vigilhealth/vigil"
)

func BenchmarkDetector(b *testing.B) {
	rec, _ := readRefs(b, mitdb(b), "208")
	x := rec.Signals[0].Samples
	b.ReportAllocs()
	b.SetBytes(int64(2 * len(x)))
	dst := make([]Beat, 0, 4096)
	cpu0 := cpuTime()
	for b.Loop() {
		d, err := NewDetector(DetectorConfig{Fs: rec.Fs, Gain: rec.Signals[0].Gain})
		if err != nil {
			b.Fatal(err)
		}
		dst = d.Process(x, dst[:0])
	}
	b.ReportMetric(float64(b.N)*float64(len(x))/b.Elapsed().Seconds()/1e6, "Msamples/s")
	b.ReportMetric(float64(b.N)*float64(len(x))/(cpuTime()-cpu0).Seconds()/1e6, "Msamples/cpu-s")
}

// synthBeats renders beats at the given times (s) at fs: each a triangular
// QRS of the given width (s) and amplitude (mV, 200 adu/mV) with a T wave
// of a quarter of its amplitude 0.3 s later, over baseline(t) in mV.
func synthBeats(fs float64, dur float64, times []float64, width, amp func(int) float64, baseline func(float64) float64) []int16 {
	x := make([]float64, int(dur*fs))
	for i := range x {
		x[i] = baseline(float64(i) / fs)
	}
	for k, t := range times {
		w, a := width(k), amp(k)
		for i := int((t - w/2) * fs); i <= int((t+w/2)*fs); i++ {
			if i >= 0 && i < len(x) {
				x[i] += a * (1 - math.Abs(float64(i)/fs-t)/(w/2))
			}
		}
		// T wave: 0.16 s half-sine.
		for i := int((t + 0.22) * fs); i < int((t+0.38)*fs); i++ {
			if i >= 0 && i < len(x) {
				x[i] += a / 4 * math.Sin(math.Pi*(float64(i)/fs-t-0.22)/0.16)
			}
		}
	}
	out := make([]int16, len(x))
	for i, v := range x {
		out[i] = int16(math.Round(v * 200))
	}
	return out
}

func regular(from, to, rr float64) []float64 {
	var t []float64
	for s := from; s < to; s += rr {
		t = append(t, s)
	}
	return t
}

func TestDetectorRobustness(t *testing.T) {
	const dur = 40.0
	one := func(v float64) func(int) float64 { return func(int) float64 { return v } }
	flat := func(float64) float64 { return 0 }
	withPause := append(regular(0.5, 20, 0.8), regular(23.5, dur, 0.8)...) // 3.5 s pause
	tests := []struct {
		name     string
		fs       float64
		times    []float64
		width    func(int) float64
		amp      func(int) float64
		baseline func(float64) float64
	}{
		{"250 Hz", 250, regular(0.5, dur, 0.8), one(0.08), one(1), flat},
		{"125 Hz", 125, regular(0.5, dur, 0.8), one(0.08), one(1), flat},
		{"1000 Hz", 1000, regular(0.5, dur, 0.8), one(0.08), one(1), flat},
		{"360 Hz tachycardia 180 bpm", 360, regular(0.5, dur, 60.0/180), one(0.06), one(1), flat},
		{"ventricular tachycardia 200 bpm, wide", 360, regular(0.5, dur, 0.3), one(0.14), one(-1.5), flat},
		{"bradycardia 35 bpm", 250, regular(0.5, dur, 60.0/35), one(0.08), one(1), flat},
		{"wide ventricular beats every 3rd", 250, regular(0.5, dur, 0.8), func(k int) float64 {
			if k%3 == 2 {
				return 0.16
			}
			return 0.08
		}, func(k int) float64 {
			if k%3 == 2 {
				return -1.5
			}
			return 1
		}, flat},
		{"amplitude drops 4x", 250, regular(0.5, dur, 0.8), one(0.08), func(k int) float64 {
			if k > 25 {
				return 0.25
			}
			return 1
		}, flat},
		{"baseline wander and a 2 mV step", 250, regular(0.5, dur, 0.8), one(0.08), one(1), func(t float64) float64 {
			v := 0.5 * math.Sin(2*math.Pi*0.3*t)
			if t > 20 {
				v += 2
			}
			return v
		}},
		{"pause of 3.5 s", 250, withPause, one(0.08), one(1), flat},
		{"paced: spike then wide QRS", 360, regular(0.5, dur, 0.857), func(int) float64 { return 0.14 }, one(1.2), flat},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x := synthBeats(tc.fs, dur, tc.times, tc.width, tc.amp, tc.baseline)
			if strings.HasPrefix(tc.name, "paced") {
				// A 2 ms, 5 mV pacing spike 40 ms before each QRS.
				for _, bt := range tc.times {
					for i := int((bt - 0.11) * tc.fs); i < int((bt-0.108)*tc.fs)+1; i++ {
						if i >= 0 && i < len(x) {
							x[i] += 1000
						}
					}
				}
			}
			beats, err := DetectBeats(x, tc.fs, 200)
			if err != nil {
				t.Fatal(err)
			}
			ref := make([]int, 0, len(tc.times))
			for _, bt := range tc.times {
				ref = append(ref, int(math.Round(bt*tc.fs)))
			}
			test := make([]int, len(beats))
			for i, b := range beats {
				test[i] = int(b.Sample)
			}
			// Score after the learning period and a settling time of 5 s.
			s := CompareBeats(ref, test, int(MatchWindow*tc.fs), int(5*tc.fs), nil)
			if s.FN > 1 || s.FP > 0 {
				t.Errorf("%s: TP %d FN %d FP %d", tc.name, s.TP, s.FN, s.FP)
			}
		})
	}
}

func TestDetectorNoBeatsInFlatOrNoise(t *testing.T) {
	const fs = 250.0
	flat := make([]int16, int(30*fs))
	gaps := make([]int16, int(30*fs))
	for i := range gaps {
		gaps[i] = InvalidSample
	}
	for name, x := range map[string][]int16{"flat line": flat, "all invalid": gaps} {
		beats, err := DetectBeats(x, fs, 200)
		if err != nil || len(beats) != 0 {
			t.Errorf("%s: %d beats (err %v), want none", name, len(beats), err)
		}
	}
	if _, err := NewDetector(DetectorConfig{Fs: 100}); !errors.Is(err, vigil.ErrInvalid) {
		t.Errorf("NewDetector(100 Hz) = %v, want ErrInvalid", err)
	}
}
