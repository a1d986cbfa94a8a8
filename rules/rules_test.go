package rules

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/vitals"
)

var t0 = time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)

func reading(t testing.TB, code string, v float64, unit string) vitals.Reading {
	t.Helper()
	r, err := vitals.Normalize(code, v, unit)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func newPatient(t testing.TB, rules ...Rule) *Patient {
	t.Helper()
	p, err := NewPatient(rules, t0)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var spo2Low = Rule{ID: "spo2-low", Kind: Threshold, Code: vitals.CodeSpO2, Op: Less, Value: 90,
	For: Duration(5 * time.Minute), Severity: High}

// feed observes SpO2 values one minute apart from t0 and returns the events
// by minute.
func feed(t *testing.T, p *Patient, values ...float64) map[int][]Event {
	t.Helper()
	out := map[int][]Event{}
	for i, v := range values {
		if ev := p.Observe(reading(t, vitals.CodeSpO2PulseOx, v, "%"), t0.Add(time.Duration(i)*time.Minute)); ev != nil {
			out[i] = ev
		}
	}
	return out
}

func TestThresholdDuration(t *testing.T) {
	p := newPatient(t, spo2Low)
	ev := feed(t, p, 95, 89, 88, 89, 87, 89, 88, 93)
	// Below from minute 1; covered for 5 min at minute 6; cleared at 7.
	if len(ev) != 2 || len(ev[6]) != 1 || len(ev[7]) != 1 {
		t.Fatalf("events = %+v, want a finding at 6 and a clear at 7", ev)
	}
	f := ev[6][0]
	if f.Kind != Finding || f.Rule != "spo2-low" || f.Severity != High || !f.Time.Equal(t0.Add(6*time.Minute)) || f.Observed != 88 {
		t.Errorf("finding = %+v", f)
	}
	if len(f.Readings) != 6 || !f.Readings[0].Time.Equal(t0.Add(time.Minute)) || f.Readings[0].Code != vitals.CodeSpO2PulseOx {
		t.Errorf("finding readings = %+v, want minutes 1–6", f.Readings)
	}
	if c := ev[7][0]; c.Kind != Cleared || c.Readings[0].Value != 93 {
		t.Errorf("clear = %+v", c)
	}
}

func TestThresholdCoverage(t *testing.T) {
	// The first reading ever is low: the window is covered from it.
	p := newPatient(t, spo2Low)
	ev := feed(t, p, 85, 85, 85, 85, 85, 85)
	if len(ev) != 1 || len(ev[5]) != 1 {
		t.Errorf("events = %+v, want one finding at minute 5", ev)
	}
	// Two readings five minutes apart: covered without MaxGap …
	p = newPatient(t, spo2Low)
	p.Observe(reading(t, vitals.CodeSpO2, 85, "%"), t0)
	if ev := p.Observe(reading(t, vitals.CodeSpO2, 85, "%"), t0.Add(5*time.Minute)); len(ev) != 1 {
		t.Errorf("sparse without MaxGap: %+v, want a finding", ev)
	}
	// … but not with a 2-minute MaxGap.
	gap := spo2Low
	gap.MaxGap = Duration(2 * time.Minute)
	p = newPatient(t, gap)
	p.Observe(reading(t, vitals.CodeSpO2, 85, "%"), t0)
	if ev := p.Observe(reading(t, vitals.CodeSpO2, 85, "%"), t0.Add(5*time.Minute)); ev != nil {
		t.Errorf("sparse with MaxGap: %+v, want none", ev)
	}
	// For = 0: the newest reading alone.
	instant := Rule{ID: "sbp-high", Kind: Threshold, Code: vitals.CodeSystolic, Op: Greater, Value: 180, Severity: Medium}
	p = newPatient(t, instant)
	if ev := p.Observe(reading(t, vitals.CodeSystolic, 181, "mm[Hg]"), t0); len(ev) != 1 || ev[0].Kind != Finding {
		t.Errorf("instant threshold: %+v", ev)
	}
	if ev := p.Observe(reading(t, vitals.CodeSystolic, 180, "mm[Hg]"), t0.Add(time.Minute)); len(ev) != 1 || ev[0].Kind != Cleared {
		t.Errorf("instant threshold clear: %+v", ev)
	}
}

func TestLateReadings(t *testing.T) {
	p := newPatient(t, spo2Low)
	// Minutes 0–6 low except minute 3, which arrives last.
	for _, m := range []int{0, 1, 2, 4, 5, 6} {
		p.Observe(reading(t, vitals.CodeSpO2, 85, "%"), t0.Add(time.Duration(m)*time.Minute))
	}
	// Without minute 3 the window [1, 6] is all low: a finding already.
	if !p.Active("spo2-low") {
		t.Fatal("not active before the late reading")
	}
	ev := p.Observe(reading(t, vitals.CodeSpO2, 97, "%"), t0.Add(3*time.Minute))
	if len(ev) != 1 || ev[0].Kind != Cleared || !ev[0].Time.Equal(t0.Add(6*time.Minute)) {
		t.Errorf("late normal reading inside the window: %+v, want cleared", ev)
	}
	// A late reading far older than the window changes nothing.
	if ev := p.Observe(reading(t, vitals.CodeSpO2, 50, "%"), t0.Add(-time.Hour)); ev != nil {
		t.Errorf("ancient reading: %+v", ev)
	}
	// Filling the gap with a low value makes it hold again.
	p2 := newPatient(t, spo2Low)
	for _, m := range []int{0, 1, 2, 4, 5} {
		p2.Observe(reading(t, vitals.CodeSpO2, 85, "%"), t0.Add(time.Duration(m)*time.Minute))
	}
	p2.Observe(reading(t, vitals.CodeSpO2, 95, "%"), t0.Add(3*time.Minute)) // late normal
	ev = p2.Observe(reading(t, vitals.CodeSpO2, 85, "%"), t0.Add(9*time.Minute))
	if len(ev) != 1 || ev[0].Kind != Finding || len(ev[0].Readings) != 3 {
		t.Errorf("after a normal minute 3, minutes 4–9: %+v", ev)
	}
}

func TestTrend(t *testing.T) {
	gain := Rule{ID: "hf-weight", Kind: Trend, Code: vitals.CodeWeight, Op: Greater, Value: 2, Window: Duration(72 * time.Hour), Severity: Medium}
	loss := Rule{ID: "weight-loss", Kind: Trend, Code: vitals.CodeWeight, Op: Less, Value: -2, Window: Duration(72 * time.Hour), Severity: Low}
	p := newPatient(t, gain, loss)
	day := func(d float64) time.Time { return t0.Add(time.Duration(d * 24 * float64(time.Hour))) }
	steps := []struct {
		day  float64
		kg   float64
		want []string // rule:kind
	}{
		{0, 80, nil},
		{1, 80.5, nil},
		{2, 81.9, nil}, // +1.9
		{2.5, 82.1, []string{"hf-weight:finding"}}, // +2.1 over day 0
		{3.5, 82.4, nil}, // day 0 left the window; min 80.5 → +1.9? no: 82.4-80.5=1.9
		{4, 82.0, nil},
		{5.5, 79.5, []string{"weight-loss:finding"}}, // window from 2.5: max 82.4 → −2.9
	}
	// Step 3.5: 82.4 − 80.5 = 1.9 → the gain clears.
	steps[4].want = []string{"hf-weight:cleared"}
	for _, s := range steps {
		ev := p.Observe(reading(t, vitals.CodeWeight, s.kg, "kg"), day(s.day))
		var got []string
		for _, e := range ev {
			got = append(got, e.Rule+":"+string(e.Kind))
		}
		if !reflect.DeepEqual(got, s.want) {
			t.Errorf("day %v %v kg: events %v, want %v", s.day, s.kg, got, s.want)
		}
		if len(ev) > 0 && ev[0].Kind == Finding && ev[0].Rule == "hf-weight" {
			if r := ev[0].Readings; len(r) != 2 || r[0].Value != 80 || r[1].Value != 82.1 {
				t.Errorf("trend readings = %+v, want 80 then 82.1", r)
			}
		}
	}
}

// A reading exactly Window before the newest is inside the window.
func TestTrendWindowEdge(t *testing.T) {
	gain := Rule{ID: "hf-weight", Kind: Trend, Code: vitals.CodeWeight, Op: Greater, Value: 2, Window: Duration(72 * time.Hour), Severity: Medium}
	p := newPatient(t, gain)
	p.Observe(reading(t, vitals.CodeWeight, 80, "kg"), t0)
	p.Observe(reading(t, vitals.CodeWeight, 81, "kg"), t0.Add(time.Hour))
	if ev := p.Observe(reading(t, vitals.CodeWeight, 82.5, "kg"), t0.Add(72*time.Hour)); len(ev) != 1 || ev[0].Readings[0].Value != 80 {
		t.Errorf("reading at the window edge: %+v, want a finding against 80 kg", ev)
	}
	if ev := p.Observe(reading(t, vitals.CodeWeight, 82.5, "kg"), t0.Add(72*time.Hour+time.Nanosecond)); len(ev) != 1 || ev[0].Kind != Cleared {
		t.Errorf("1 ns later the 80 kg reading left the window: %+v, want cleared", ev)
	}
}

func TestRate(t *testing.T) {
	rise := Rule{ID: "hr-rise", Kind: Rate, Code: vitals.CodeHeartRate, Op: GreaterEqual, Value: 20, Window: Duration(time.Hour), Severity: Medium}
	p := newPatient(t, rise)
	var got []Event
	// 70 → 100 /min over 60 min (30 /h), sampled every 10 min.
	for i := 0; i <= 6; i++ {
		got = append(got, p.Observe(reading(t, vitals.CodeHeartRate, 70+5*float64(i), "/min"), t0.Add(time.Duration(i)*10*time.Minute))...)
	}
	// Span reaches half the window (30 min) at i = 3: slope 30/h.
	if len(got) != 1 || got[0].Kind != Finding || !got[0].Time.Equal(t0.Add(30*time.Minute)) {
		t.Fatalf("events = %+v", got)
	}
	if d := got[0].Observed - 30; d > 1e-9 || d < -1e-9 {
		t.Errorf("slope = %v /h, want 30", got[0].Observed)
	}
	// Flat for an hour: cleared.
	var cleared bool
	for i := 7; i <= 14; i++ {
		for _, e := range p.Observe(reading(t, vitals.CodeHeartRate, 100, "/min"), t0.Add(time.Duration(i)*10*time.Minute)) {
			cleared = cleared || e.Kind == Cleared
		}
	}
	if !cleared || p.Active("hr-rise") {
		t.Error("rate did not clear on a flat hour")
	}
}

func TestMissing(t *testing.T) {
	miss := Rule{ID: "no-spo2", Kind: Missing, Code: vitals.CodeSpO2, For: Duration(4 * time.Hour), Severity: Medium}
	p := newPatient(t, miss)
	if ev := p.Tick(t0.Add(4 * time.Hour)); ev != nil {
		t.Errorf("exactly 4 h: %+v", ev)
	}
	ev := p.Tick(t0.Add(4*time.Hour + time.Second))
	if len(ev) != 1 || ev[0].Kind != Finding || ev[0].Readings != nil {
		t.Fatalf("after 4 h without a reading: %+v", ev)
	}
	if ev := p.Tick(t0.Add(5 * time.Hour)); ev != nil {
		t.Errorf("finding repeated: %+v", ev)
	}
	// A reading (other SpO2 code) clears it.
	ev = p.Observe(reading(t, vitals.CodeSpO2PulseOx, 96, "%"), t0.Add(5*time.Hour))
	if len(ev) != 1 || ev[0].Kind != Cleared {
		t.Fatalf("reading after silence: %+v", ev)
	}
	// Silence again; a late reading from inside the gap does not clear it.
	if ev := p.Tick(t0.Add(10 * time.Hour)); len(ev) != 1 || ev[0].Kind != Finding || ev[0].Readings[0].Value != 96 {
		t.Fatalf("second silence: %+v", ev)
	}
	if ev := p.Observe(reading(t, vitals.CodeSpO2, 95, "%"), t0.Add(5*time.Hour+time.Minute)); ev != nil {
		t.Errorf("late reading from inside the gap: %+v", ev)
	}
	if !p.Active("no-spo2") {
		t.Error("missing-data rule not active")
	}
	// The clock never goes backwards.
	if ev := p.Tick(t0); ev != nil || !p.Active("no-spo2") {
		t.Errorf("Tick backwards: %+v", ev)
	}
}

func TestGlucoseUnits(t *testing.T) {
	hypo := Rule{ID: "hypo", Kind: Threshold, Code: vitals.CodeGlucoseBlood, Op: Less, Value: 70, Severity: Critical}
	p := newPatient(t, hypo)
	ev := p.Observe(reading(t, vitals.CodeGlucoseCGMMolar, 3.5, "mmol/L"), t0) // 63.1 mg/dL
	if len(ev) != 1 || ev[0].Readings[0].Unit != "mg/dL" || ev[0].Readings[0].Value < 63 || ev[0].Readings[0].Value > 63.1 {
		t.Errorf("mmol/L reading against a mg/dL rule: %+v", ev)
	}
	// Unrelated parameters are ignored.
	if ev := p.Observe(reading(t, vitals.CodeHeartRate, 30, "/min"), t0); ev != nil {
		t.Errorf("heart rate reading: %+v", ev)
	}
}

func TestValidate(t *testing.T) {
	ok := spo2Low
	tests := []struct {
		name string
		edit func(*Rule)
	}{
		{"no id", func(r *Rule) { r.ID = "" }},
		{"unknown code", func(r *Rule) { r.Code = "0000-0" }},
		{"bp panel", func(r *Rule) { r.Code = vitals.CodeBPPanel }},
		{"unknown kind", func(r *Rule) { r.Kind = "average" }},
		{"unknown op", func(r *Rule) { r.Op = "==" }},
		{"unknown severity", func(r *Rule) { r.Severity = "urgent" }},
		{"negative for", func(r *Rule) { r.For = -1 }},
		{"trend without window", func(r *Rule) { r.Kind = Trend }},
		{"rate without window", func(r *Rule) { r.Kind = Rate }},
		{"missing without for", func(r *Rule) { r.Kind, r.For = Missing, 0 }},
	}
	for _, tt := range tests {
		r := ok
		tt.edit(&r)
		if err := r.Validate(); !errors.Is(err, vigil.ErrInvalid) {
			t.Errorf("%s: Validate() = %v, want ErrInvalid", tt.name, err)
		}
		if _, err := NewPatient([]Rule{r}, t0); !errors.Is(err, vigil.ErrInvalid) {
			t.Errorf("%s: NewPatient error = %v", tt.name, err)
		}
	}
	if _, err := NewPatient([]Rule{ok, ok}, t0); !errors.Is(err, vigil.ErrInvalid) {
		t.Errorf("duplicate ids: %v", err)
	}
}

func TestRuleJSON(t *testing.T) {
	const in = `[{"id":"hf","kind":"trend","code":"29463-7","op":">","value":2,"window":"3d","severity":"medium"},
	{"id":"spo2","kind":"threshold","code":"2708-6","op":"<","value":90,"for":"5m","max_gap":"90s","severity":"high"},
	{"id":"quiet","kind":"missing","code":"8867-4","for":"4h","severity":"low"}]`
	var rs []Rule
	if err := json.Unmarshal([]byte(in), &rs); err != nil {
		t.Fatal(err)
	}
	if time.Duration(rs[0].Window) != 72*time.Hour || time.Duration(rs[1].For) != 5*time.Minute || time.Duration(rs[1].MaxGap) != 90*time.Second {
		t.Errorf("durations = %v %v %v", rs[0].Window, rs[1].For, rs[1].MaxGap)
	}
	if _, err := NewPatient(rs, t0); err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(rs)
	if err != nil {
		t.Fatal(err)
	}
	var back []Rule
	if err := json.Unmarshal(out, &back); err != nil || !reflect.DeepEqual(back, rs) {
		t.Errorf("round trip: %s → %+v, %v", out, back, err)
	}
	if err := json.Unmarshal([]byte(`[{"for":"5 minutes"}]`), &rs); !errors.Is(err, vigil.ErrInvalid) {
		t.Errorf("bad duration: %v", err)
	}
}

// The final state does not depend on the order readings arrive in.
func TestOrderIndependence(t *testing.T) {
	rules := []Rule{spo2Low,
		{ID: "trend", Kind: Trend, Code: vitals.CodeSpO2, Op: Less, Value: -4, Window: Duration(10 * time.Minute), Severity: Low},
		{ID: "rate", Kind: Rate, Code: vitals.CodeSpO2, Op: Less, Value: -10, Window: Duration(20 * time.Minute), Severity: Low},
		{ID: "gap", Kind: Threshold, Code: vitals.CodeSpO2, Op: LessEqual, Value: 92, For: Duration(3 * time.Minute), MaxGap: Duration(90 * time.Second), Severity: Low},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 200 {
		n := 5 + rng.IntN(60)
		type in struct {
			v float64
			t time.Time
		}
		var seq []in
		at := t0
		for range n {
			at = at.Add(time.Duration(20+rng.IntN(100)) * time.Second)
			seq = append(seq, in{float64(80 + rng.IntN(20)), at})
		}
		a := newPatient(t, rules...)
		for _, x := range seq {
			a.Observe(reading(t, vitals.CodeSpO2, x.v, "%"), x.t)
		}
		b := newPatient(t, rules...)
		perm := rng.Perm(n)
		// Keep the newest reading last so both judge at the same time.
		for _, i := range perm {
			if i != n-1 {
				b.Observe(reading(t, vitals.CodeSpO2, seq[i].v, "%"), seq[i].t)
			}
		}
		b.Observe(reading(t, vitals.CodeSpO2, seq[n-1].v, "%"), seq[n-1].t)
		for i, r := range rules {
			if r.Kind == Trend && (a.active[i] != bruteTrend(a, i) || b.active[i] != bruteTrend(b, i)) {
				t.Fatalf("trial %d rule %s disagrees with a full scan", trial, r.ID)
			}
			if a.Active(r.ID) != b.Active(r.ID) {
				t.Fatalf("trial %d rule %s: in order %v, shuffled %v", trial, r.ID, a.Active(r.ID), b.Active(r.ID))
			}
		}
	}
}

// bruteTrend judges trend rule i by scanning its series, as the package doc
// defines it; the deque in Patient must agree.
func bruteTrend(p *Patient, i int) bool {
	r, s := &p.rules[i], p.ruleS[i]
	n := len(s.pts)
	if n == 0 {
		return false
	}
	newest := s.pts[n-1]
	ref := -1
	for j := n - 2; j >= 0 && s.pts[j].t >= newest.t-int64(r.Window); j-- {
		if ref < 0 || (r.Op == Greater || r.Op == GreaterEqual) && s.pts[j].v < s.pts[ref].v ||
			(r.Op == Less || r.Op == LessEqual) && s.pts[j].v > s.pts[ref].v {
			ref = j
		}
	}
	return ref >= 0 && r.Op.holds(newest.v-s.pts[ref].v, r.Value)
}

func FuzzObserve(f *testing.F) {
	f.Add([]byte{10, 85, 20, 85, 5, 95, 200, 80})
	f.Fuzz(func(t *testing.T, data []byte) {
		p := newPatient(t, spo2Low,
			Rule{ID: "t", Kind: Trend, Code: vitals.CodeSpO2, Op: Greater, Value: 3, Window: Duration(5 * time.Minute), Severity: Low},
			Rule{ID: "t2", Kind: Trend, Code: vitals.CodeSpO2, Op: LessEqual, Value: -3, Window: Duration(2 * time.Minute), Severity: Low},
			Rule{ID: "r", Kind: Rate, Code: vitals.CodeSpO2, Op: Greater, Value: 3, Window: Duration(5 * time.Minute), Severity: Low},
			Rule{ID: "m", Kind: Missing, Code: vitals.CodeSpO2, For: Duration(time.Minute), Severity: Low})
		at := t0
		for i := 0; i+1 < len(data); i += 2 {
			// Byte one moves time back or forth by up to ~2 min.
			at = at.Add(time.Duration(int8(data[i])) * time.Second)
			v := 20 + float64(data[i+1]%81)
			for _, e := range p.Observe(reading(t, vitals.CodeSpO2, v, "%"), at) {
				if e.Kind == Finding && len(e.Readings) == 0 && e.Rule != "m" {
					t.Fatalf("finding without readings: %+v", e)
				}
			}
			p.Tick(at)
			for i, r := range p.rules {
				if r.Kind == Trend && p.active[i] != bruteTrend(p, i) {
					t.Fatalf("trend %s: deque says %v, scan says %v", r.ID, p.active[i], bruteTrend(p, i))
				}
			}
		}
	})
}

func BenchmarkObserve(b *testing.B) {
	p := newPatient(b, spo2Low,
		Rule{ID: "hr-high", Kind: Threshold, Code: vitals.CodeHeartRate, Op: Greater, Value: 130, For: Duration(2 * time.Minute), Severity: High},
		Rule{ID: "spo2-drop", Kind: Trend, Code: vitals.CodeSpO2, Op: Less, Value: -5, Window: Duration(10 * time.Minute), Severity: Medium},
		Rule{ID: "quiet", Kind: Missing, Code: vitals.CodeSpO2, For: Duration(time.Hour), Severity: Low})
	spo2 := reading(b, vitals.CodeSpO2PulseOx, 96, "%")
	hr := reading(b, vitals.CodeHeartRate, 80, "/min")
	at := t0
	b.ReportAllocs()
	for b.Loop() {
		at = at.Add(time.Second) // 1 Hz per parameter
		p.Observe(spo2, at)
		p.Observe(hr, at)
	}
}

func BenchmarkObserveLate(b *testing.B) {
	p := newPatient(b, spo2Low)
	r := reading(b, vitals.CodeSpO2, 96, "%")
	at := t0
	b.ReportAllocs()
	for b.Loop() {
		at = at.Add(2 * time.Second)
		p.Observe(r, at)
		p.Observe(r, at.Add(-time.Minute)) // one late reading per reading
	}
}
