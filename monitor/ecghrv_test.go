package monitor_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/ecg"
	"github.com/vigilhealth/vigil/monitor"
)

// TestECGHRV streams the first 16 minutes of MIT-BIH records 101 (sinus
// rhythm, a few ectopic beats) and 106 (frequent PVCs, bigeminy) through
// the monitor and checks the stored "hrv" findings: one per complete
// 5-minute window, each agreeing with the measures computed from the
// reference annotations of the same window (ecg.ComputeHRV over the
// annotated beats and their AAMI classes) — SDNN and RMSSD within 10 %
// or 3 ms, pNN50 within 5 points, the count of NN intervals within 10 % —
// and none for a window whose reference has too few NN intervals (106's
// bigeminy). DS1 records: the classifier was trained on them, so this
// checks the pipeline, not the classifier.
func TestECGHRV(t *testing.T) {
	for _, name := range []string{"101", "106"} {
		t.Run(name, func(t *testing.T) {
			t0 := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
			r := newECGRig(t, t0.Add(20*time.Minute), monitor.ECGConfig{})
			rec, ws, anns := record(t, name, t0, 2)
			span := 5 * 60 * rec.Fs
			n := int(16 * 60 / 2) // 16 minutes of 2-s chunks
			r.mon.ObserveWaveforms(context.Background(), ws[:n])
			got, err := r.samples.ECGFindings(context.Background(), &vigil.ECGFindingQuery{Patient: "p" + name, Kind: monitor.KindHRV,
				From: t0, To: t0.Add(time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			byStart := map[time.Time]vigil.ECGFinding{}
			for _, f := range got {
				byStart[f.Start] = f
			}
			for w := range 3 {
				from := float64(w) * span
				var beats []int64
				var labels []byte
				for _, a := range anns {
					c, ok := ecg.AAMIClass(a.Symbol)
					if !ok {
						continue
					}
					s := float64(a.Sample)
					if s < from && len(beats) > 0 {
						beats, labels = beats[:0], labels[:0]
					}
					if s >= from+span {
						break
					}
					beats, labels = append(beats, int64(a.Sample)), append(labels, c)
				}
				rr := ecg.Intervals(beats, labels, rec.Fs)
				want := ecg.ComputeHRV(rr)
				at := t0.Add(time.Duration(w) * 5 * time.Minute)
				f, found := byStart[at]
				// The reference window qualifies as the monitor's rule
				// says (enough NN intervals, at least half of all); a
				// window at the border may go either way.
				qualifies := want.N >= 120 && 2*want.N >= len(rr)+len(rr)/5
				fails := want.N < 80 || 2*want.N < len(rr)-len(rr)/5
				switch {
				case !found && qualifies:
					t.Errorf("window at %v: no HRV finding; reference %d NN of %d intervals", at.Sub(t0), want.N, len(rr))
					continue
				case found && fails:
					t.Errorf("window at %v: HRV finding, but the reference has only %d NN of %d intervals", at.Sub(t0), want.N, len(rr))
					continue
				case !found:
					t.Logf("window at %v: no finding (reference %d NN of %d intervals)", at.Sub(t0), want.N, len(rr))
					continue
				}
				if f.HRV == nil || f.Found.IsZero() || f.Title == "" || f.End.Sub(f.Start) != 5*time.Minute {
					t.Fatalf("finding %+v: want measures, a found time, a title and a 5-minute window", f)
				}
				h := f.HRV
				t.Logf("window at %v: SDNN %.1f ms (reference %.1f), RMSSD %.1f (%.1f), pNN50 %.1f %% (%.1f), NN %d of %d (%d of %d)",
					at.Sub(t0), h.SDNN, want.SDNN*1000, h.RMSSD, want.RMSSD*1000, h.PNN50, want.PNN50*100, h.NN, h.Intervals, want.N, len(rr))
				near := func(what string, got, ref, tol float64) {
					if math.Abs(got-ref) > max(tol, 0.1*ref) {
						t.Errorf("window at %v: %s %.1f, reference %.1f", at.Sub(t0), what, got, ref)
					}
				}
				near("SDNN (ms)", h.SDNN, want.SDNN*1000, 3)
				near("RMSSD (ms)", h.RMSSD, want.RMSSD*1000, 3)
				near("NN intervals", float64(h.NN), float64(want.N), 0)
				if math.Abs(h.PNN50-want.PNN50*100) > 5 {
					t.Errorf("window at %v: pNN50 %.1f %%, reference %.1f %%", at.Sub(t0), h.PNN50, want.PNN50*100)
				}
			}
		})
	}
}
