package monitor_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/ecg"
	"github.com/vigilhealth/vigil/internal/testenv"
)

// TestECGStream streams MIT-BIH record 201 (atrial fibrillation episodes,
// DS1) lead by 2-second chunks through the monitor, as ingestion hands
// them over, and expects an AF alert with a heart-rate reading.
func TestECGStream(t *testing.T) {
	data := testenv.SharedData(t)
	rec, err := ecg.ReadRecord(os.DirFS(filepath.Join(data, "mitdb-ds1")), "201")
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	r := newRig(t, t.TempDir(), t0.Add(31*time.Minute))
	sig := rec.Signals[0]
	chunk := int(2 * rec.Fs)
	var ws []vigil.Waveform
	for i := 0; i < len(sig.Samples); i += chunk {
		end := min(i+chunk, len(sig.Samples))
		x := make([]int32, end-i)
		for k, v := range sig.Samples[i:end] {
			x[k] = int32(v) - int32(sig.Baseline)
		}
		ws = append(ws, vigil.Waveform{Patient: "p9", Device: "patch", Code: "131330",
			Start: t0.Add(time.Duration(float64(i) / rec.Fs * float64(time.Second))), RateHz: rec.Fs, Gain: 1 / sig.Gain, Unit: "mV", Samples: x})
	}
	r.mon.ObserveWaveforms(context.Background(), ws[:len(ws)/2])
	r.mon.ObserveWaveforms(context.Background(), ws[len(ws)/2-3:]) // three chunks again: skipped
	a := r.active(t, "p9", "ecg-atrial-fibrillation")
	if a == nil {
		t.Fatal("no AF alert from record 201")
	}
	if len(a.Readings) == 0 || a.Readings[0].Code != "8867-4" || a.Readings[0].Value < 30 || a.Readings[0].Value > 250 {
		t.Errorf("AF alert readings %+v, want a heart rate", a.Readings)
	}
}
