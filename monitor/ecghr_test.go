package monitor_test

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/ecg"
	"github.com/vigilhealth/vigil/internal/testenv"
)

// TestECGHeartRate streams the first ten minutes of MIT-BIH record 100
// (sinus rhythm, DS1) and checks the heart-rate samples the monitor
// derives from it: one per 30-s window, stored as 8867-4 with Source
// "ecg", each within 3 /min of the median rate of the reference beats in
// its window.
func TestECGHeartRate(t *testing.T) {
	data := testenv.SharedData(t)
	fsys := os.DirFS(filepath.Join(data, "mitdb-ds1"))
	rec, err := ecg.ReadRecord(fsys, "101")
	if err != nil {
		t.Fatal(err)
	}
	f, err := fsys.Open("101.atr")
	if err != nil {
		t.Fatal(err)
	}
	ann, err := ecg.ReadAnnotations(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	r := newRig(t, t.TempDir(), t0.Add(11*time.Minute))
	sig := rec.Signals[0]
	n := int(10 * 60 * rec.Fs)
	chunk := int(2 * rec.Fs)
	var ws []vigil.Waveform
	for i := 0; i < n; i += chunk {
		x := make([]int32, chunk)
		for k, v := range sig.Samples[i : i+chunk] {
			x[k] = int32(v) - int32(sig.Baseline)
		}
		ws = append(ws, vigil.Waveform{Patient: "p1", Device: "patch", Code: "131330",
			Start: t0.Add(time.Duration(float64(i) / rec.Fs * float64(time.Second))), RateHz: rec.Fs, Gain: 1 / sig.Gain, Unit: "mV", Samples: x})
	}
	r.mon.ObserveWaveforms(context.Background(), ws)
	got, err := r.samples.QuerySamples(context.Background(), &vigil.SampleQuery{Patient: "p1", Codes: []string{"8867-4"}})
	if err != nil {
		t.Fatal(err)
	}
	// The last window closes only when a beat after it arrives.
	if len(got) < 18 || len(got) > 20 {
		t.Fatalf("%d heart-rate samples from 10 minutes, want one per 30 s (18–20)", len(got))
	}
	for _, s := range got {
		if s.Source != "ecg" || s.Device != "patch" || s.Unit != "/min" {
			t.Errorf("sample %+v, want source ecg, device patch, /min", s)
		}
		end := s.Time.Sub(t0).Seconds() * rec.Fs
		start := end - 30*rec.Fs
		var rates []float64
		prev := -1
		for _, a := range ann {
			if !ecg.IsBeat(a.Symbol) {
				continue
			}
			if prev >= 0 && float64(a.Sample) >= start && float64(a.Sample) < end {
				rates = append(rates, 60*rec.Fs/float64(a.Sample-prev))
			}
			prev = a.Sample
		}
		slices.Sort(rates)
		want := rates[len(rates)/2]
		if math.Abs(s.Value-want) > 3 {
			t.Errorf("window ending %v: %.0f /min, reference median %.1f", s.Time.Sub(t0), s.Value, want)
		}
	}
}
