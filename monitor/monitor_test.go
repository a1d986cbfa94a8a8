package monitor_test

import (
	"context"
	"testing"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/alert"
	"github.com/vigilhealth/vigil/ews"
	"github.com/vigilhealth/vigil/monitor"
	"github.com/vigilhealth/vigil/sqlite"
)

type rig struct {
	dir     string
	now     time.Time
	samples *sqlite.Samples
	alerts  vigil.AlertStore
	mon     *monitor.Monitor
}

func newRig(t testing.TB, dir string, now time.Time) *rig {
	t.Helper()
	ctx := context.Background()
	r := &rig{dir: dir, now: now}
	var err error
	if r.samples, err = sqlite.OpenSamples(ctx, dir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.samples.Close() })
	st, err := sqlite.OpenAlerts(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	r.alerts = st
	eng, err := alert.New(alert.Config{Store: st, Now: func() time.Time { return r.now }})
	if err != nil {
		t.Fatal(err)
	}
	if r.mon, err = monitor.New(monitor.Config{Samples: r.samples, Alerts: eng, Now: func() time.Time { return r.now }}); err != nil {
		t.Fatal(err)
	}
	return r
}

// feed stores samples (as ingestion does) and hands them to the monitor.
func (r *rig) feed(t *testing.T, ss ...vigil.Sample) {
	t.Helper()
	if _, err := r.samples.AppendSamples(context.Background(), ss); err != nil {
		t.Fatal(err)
	}
	r.mon.Observe(context.Background(), ss)
}

func (r *rig) active(t *testing.T, patient, rule string) *vigil.AlertRecord {
	t.Helper()
	a, err := r.alerts.ActiveAlert(context.Background(), patient, rule)
	if err != nil {
		return nil
	}
	return a
}

func vs(patient string, at time.Time, kv ...any) []vigil.Sample {
	units := map[string]string{"9279-1": "/min", "2708-6": "%", "8480-6": "mm[Hg]", "8867-4": "/min", "8310-5": "Cel", "67775-7": "{ACVPU}"}
	var out []vigil.Sample
	for i := 0; i < len(kv); i += 2 {
		code := kv[i].(string)
		out = append(out, vigil.Sample{Patient: patient, Device: "d", Code: code, Time: at, Value: kv[i+1].(float64), Unit: units[code], Received: at})
	}
	return out
}

func TestNEWS2Alerts(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	r := newRig(t, t.TempDir(), t0)
	ctx := context.Background()
	// All normal: NEWS2 0, no alert.
	r.feed(t, vs("p1", t0, "9279-1", 16.0, "2708-6", 97.0, "8480-6", 125.0, "8867-4", 72.0, "8310-5", 37.0, "67775-7", 0.0)...)
	res, ok, err := r.mon.NEWS2(ctx, "p1")
	if err != nil || !ok {
		t.Fatalf("NEWS2: %v %v", ok, err)
	}
	if res.Score != 0 || res.Band != ews.BandLow {
		t.Errorf("normal vitals: NEWS2 %d %s, want 0 low", res.Score, res.Band)
	}
	if a := r.active(t, "p1", "news2"); a != nil {
		t.Errorf("an alert at NEWS2 0: %+v", a)
	}
	// Deterioration: RR 25 (3), SpO2 92 (2), pulse 115 (2) → 7, high.
	r.now = t0.Add(10 * time.Minute)
	r.feed(t, vs("p1", r.now, "9279-1", 25.0, "2708-6", 92.0, "8867-4", 115.0)...)
	res, _, _ = r.mon.NEWS2(ctx, "p1")
	if res.Score != 7 || res.Band != ews.BandHigh {
		t.Fatalf("deteriorating: NEWS2 %d %s, want 7 high", res.Score, res.Band)
	}
	a := r.active(t, "p1", "news2")
	if a == nil || a.Severity != "critical" || len(a.Readings) == 0 {
		t.Fatalf("NEWS2 7 alert: %+v", a)
	}
	// A late reading from before the deterioration changes nothing.
	r.feed(t, vs("p1", t0.Add(5*time.Minute), "9279-1", 14.0)...)
	if res, _, _ = r.mon.NEWS2(ctx, "p1"); res.Score != 7 {
		t.Errorf("after a late normal RR: NEWS2 %d, want 7", res.Score)
	}
	// One alert per patient and rule, however many readings.
	r.feed(t, vs("p1", r.now.Add(time.Minute), "9279-1", 26.0)...)
	list, _, err := r.alerts.ListAlerts(ctx, &vigil.AlertQuery{Patient: "p1", Rule: "news2"})
	if err != nil || len(list) != 1 {
		t.Errorf("news2 alerts: %d (%v), want 1", len(list), err)
	}
	// The restart: a new monitor on the same stores resumes the score.
	r2 := newRig(t, r.dir, r.now)
	if res, ok, _ := r2.mon.NEWS2(ctx, "p1"); !ok || res.Score != 7 {
		t.Errorf("after restart: NEWS2 %d (%v), want 7", res.Score, ok)
	}
	// Stale values (over an hour old) make the score partial and low.
	r.now = r.now.Add(3 * time.Hour)
	r.mon.Tick(ctx)
	if res, _, _ = r.mon.NEWS2(ctx, "p1"); !res.Partial || res.Band != ews.BandNone && res.Score != 0 {
		t.Errorf("stale: %+v", res)
	}
}

func TestRuleAlerts(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	r := newRig(t, t.TempDir(), t0)
	ctx := context.Background()
	r.feed(t, vs("p2", t0, "8480-6", 190.0, "8867-4", 70.0)...)
	if a := r.active(t, "p2", "systolic-above-180"); a == nil || a.Severity != "high" {
		t.Errorf("systolic 190: alert %+v", a)
	}
	// SpO2 below 90 for 5 minutes: one low reading is not enough…
	r.feed(t, vs("p2", t0.Add(time.Minute), "2708-6", 88.0)...)
	if a := r.active(t, "p2", "spo2-below-90-5min"); a != nil {
		t.Errorf("one low SpO2 raised %+v", a)
	}
	// …five minutes of them are.
	for m := 2; m <= 7; m++ {
		r.feed(t, vs("p2", t0.Add(time.Duration(m)*time.Minute), "2708-6", 87.0)...)
	}
	if a := r.active(t, "p2", "spo2-below-90-5min"); a == nil {
		t.Error("five minutes of SpO2 < 90 raised nothing")
	}
	// Missing data: no heart rate for 4 hours.
	r.now = t0.Add(5 * time.Hour)
	r.mon.Tick(ctx)
	if a := r.active(t, "p2", "heart-rate-missing-4h"); a == nil {
		t.Error("4 h without heart rate raised nothing")
	}
	wl := r.mon.Worklist(func(string) bool { return true })
	if len(wl) != 1 || wl[0].Patient != "p2" {
		t.Errorf("worklist %+v", wl)
	}
	if wl := r.mon.Worklist(func(string) bool { return false }); len(wl) != 0 {
		t.Errorf("worklist ignores visibility: %+v", wl)
	}
}
