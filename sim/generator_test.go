package sim

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/vitals"
)

var t0 = time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)

func patients(scenarios ...Scenario) []Patient {
	ps := make([]Patient, len(scenarios))
	for i, s := range scenarios {
		ps[i] = Patient{ID: fmt.Sprintf("p%d", i), Device: fmt.Sprintf("d%d", i), Scenario: s}
	}
	return ps
}

func mustNew(t *testing.T, cfg Config) *Generator {
	t.Helper()
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// Same seed, same readings, however time is sliced; another seed differs.
func TestGeneratorDeterministic(t *testing.T) {
	cfg := Config{Patients: patients(Stable, Sepsis, HeartFailure, Hypoxia), Seed: 42, Start: t0}
	end := t0.Add(26 * time.Hour)
	once := mustNew(t, cfg).Until(end)
	g := mustNew(t, cfg)
	var stepped []vigil.Reading
	for tt := t0; !tt.After(end); tt = tt.Add(7*time.Minute + 13*time.Second) {
		stepped = append(stepped, g.Until(tt)...)
	}
	stepped = append(stepped, g.Until(end)...)
	a, _ := json.Marshal(once)
	b, _ := json.Marshal(stepped)
	if string(a) != string(b) {
		t.Errorf("readings differ when Until is called in steps (%d vs %d readings)", len(once), len(stepped))
	}
	cfg.Seed = 43
	c, _ := json.Marshal(mustNew(t, cfg).Until(end))
	if string(a) == string(c) {
		t.Error("seeds 42 and 43 give the same readings")
	}
}

// Every reading is one Vigil's ingest accepts, in time order, with the
// device of its patient.
func TestGeneratorReadingsAreValid(t *testing.T) {
	g := mustNew(t, Config{Patients: patients(Stable, Sepsis, HeartFailure, Hypoxia), Seed: 1, Start: t0})
	rs := g.Until(t0.Add(96 * time.Hour))
	counts := map[string]int{}
	for i, r := range rs {
		if i > 0 && r.Time.Before(*rs[i-1].Time) {
			t.Fatalf("reading %d at %v comes before %v", i, r.Time, rs[i-1].Time)
		}
		if r.Device == "" || r.Patient != "" {
			t.Errorf("reading %d has device %q patient %q, want the device only", i, r.Device, r.Patient)
		}
		counts[r.Code]++
		if r.Code == vitals.CodeBPPanel {
			s, err1 := vitals.Normalize(r.Components[0].Code, *r.Components[0].Value, r.Components[0].Unit)
			d, err2 := vitals.Normalize(r.Components[1].Code, *r.Components[1].Value, r.Components[1].Unit)
			if err1 != nil || err2 != nil {
				t.Fatalf("blood pressure %+v: %v %v", r, err1, err2)
			}
			if err := vitals.CheckBloodPressure(s, d); err != nil {
				t.Fatalf("blood pressure %v/%v: %v", s.Value, d.Value, err)
			}
			continue
		}
		if _, err := vitals.Normalize(r.Code, *r.Value, r.Unit); err != nil {
			t.Fatalf("reading %+v: %v", r, err)
		}
	}
	// 4 patients × 96 h: about 5760 minutes each of HR and RR, fewer SpO2
	// (dropouts), 192 BP, 96 temperatures, 4 weights, less the gaps.
	for code, want := range map[string][2]int{
		vitals.CodeHeartRate: {4 * 5760 * 9 / 10, 4 * 5760}, vitals.CodeRespRate: {4 * 5760 * 9 / 10, 4 * 5760},
		vitals.CodeSpO2PulseOx: {4 * 5760 * 8 / 10, 4*5760 - 1}, vitals.CodeBPPanel: {4 * 192 * 9 / 10, 4 * 192},
		vitals.CodeBodyTemp: {4 * 96 * 9 / 10, 4 * 96}, vitals.CodeWeight: {4 * 3, 4 * 4},
	} {
		if n := counts[code]; n < want[0] || n > want[1] {
			t.Errorf("%d readings of %s, want %d–%d", n, code, want[0], want[1])
		}
	}
}

// mean of the values of code for device dev in [from, to).
func mean(rs []vigil.Reading, dev, code string, from, to time.Time) float64 {
	var sum float64
	var n int
	for _, r := range rs {
		if r.Device == dev && r.Code == code && !r.Time.Before(from) && r.Time.Before(to) {
			sum += *r.Value
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return sum / float64(n)
}

func systolic(rs []vigil.Reading, dev string, from, to time.Time) float64 {
	var sum float64
	var n int
	for _, r := range rs {
		if r.Device == dev && r.Code == vitals.CodeBPPanel && !r.Time.Before(from) && r.Time.Before(to) {
			sum += *r.Components[0].Value
			n++
		}
	}
	return sum / float64(n)
}

// Each scenario moves its parameters the documented way; a stable patient
// does not. Checked over 10 seeds, artefacts included.
func TestScenarios(t *testing.T) {
	onset := 6 * time.Hour
	for seed := range uint64(10) {
		ps := patients(Stable, Sepsis, HeartFailure, Hypoxia)
		for i := range ps {
			ps[i].Onset = Duration(onset)
		}
		rs := mustNew(t, Config{Patients: ps, Seed: seed, Start: t0}).Until(t0.Add(onset + 130*time.Hour))
		// Compare the same clock hours on the first day and after the course.
		before := func(d time.Duration) (time.Time, time.Time) { return t0.Add(2 * time.Hour), t0.Add(2*time.Hour + d) }
		after := func(c time.Duration, d time.Duration) (time.Time, time.Time) {
			s := t0.Add(onset + c).Truncate(24 * time.Hour).Add(24*time.Hour + 2*time.Hour)
			return s, s.Add(d)
		}
		change := func(dev, code string, c time.Duration) float64 {
			b0, b1 := before(3 * time.Hour)
			a0, a1 := after(c, 3*time.Hour)
			return mean(rs, dev, code, a0, a1) - mean(rs, dev, code, b0, b1)
		}
		checks := []struct {
			name     string
			got      float64
			min, max float64
		}{
			{"stable HR", change("d0", vitals.CodeHeartRate, 0), -6, 6},
			{"stable SpO2", change("d0", vitals.CodeSpO2PulseOx, 0), -2, 2},
			{"sepsis HR", change("d1", vitals.CodeHeartRate, Sepsis.Course()), 35, 55},
			{"sepsis RR", change("d1", vitals.CodeRespRate, Sepsis.Course()), 9, 15},
			{"sepsis temperature", change("d1", vitals.CodeBodyTemp, Sepsis.Course()), 1.7, 2.7},
			{"hypoxia SpO2", change("d3", vitals.CodeSpO2PulseOx, Hypoxia.Course()), -17, -11},
			{"heart failure RR", change("d2", vitals.CodeRespRate, HeartFailure.Course()), 5, 11},
		}
		b0, b1 := before(6 * time.Hour)
		a0, a1 := after(Sepsis.Course(), 6*time.Hour)
		checks = append(checks, struct {
			name     string
			got      float64
			min, max float64
		}{"sepsis systolic", systolic(rs, "d1", a0, a1) - systolic(rs, "d1", b0, b1), -50, -30})
		for _, c := range checks {
			if c.got < c.min || c.got > c.max {
				t.Errorf("seed %d: %s changed by %.1f, want %.0f to %.0f", seed, c.name, c.got, c.min, c.max)
			}
		}
		// Heart failure: more than 2 kg gained over 3 days.
		var ws []float64
		for _, r := range rs {
			if r.Device == "d2" && r.Code == vitals.CodeWeight {
				ws = append(ws, *r.Value)
			}
		}
		if len(ws) < 4 || ws[3]-ws[0] <= 2 {
			t.Errorf("seed %d: heart-failure weights %v, want a gain over 2 kg in 3 days", seed, ws)
		}
	}
}

// Artefacts, dropouts and gaps happen, and can be switched off.
func TestGeneratorImperfections(t *testing.T) {
	count := func(cfg Config) (spikes, lows, missingSpO2, missingHR int) {
		rs := mustNew(t, cfg).Until(t0.Add(7 * 24 * time.Hour))
		for _, r := range rs {
			switch r.Code {
			case vitals.CodeHeartRate:
				if *r.Value > 110 {
					spikes++
				}
			case vitals.CodeSpO2PulseOx:
				if *r.Value < 88 {
					lows++
				}
			}
		}
		n := 7 * 24 * 60
		return spikes, lows, n - countCode(rs, vitals.CodeSpO2PulseOx), n - countCode(rs, vitals.CodeHeartRate)
	}
	spikes, lows, noSpO2, noHR := count(Config{Patients: patients(Stable), Seed: 3, Start: t0})
	if spikes == 0 || lows == 0 || noSpO2 <= noHR || noHR == 0 {
		t.Errorf("spikes %d, low SpO2 %d, missing SpO2 %d, missing HR %d: want artefacts, dropouts and gaps", spikes, lows, noSpO2, noHR)
	}
	spikes, lows, noSpO2, noHR = count(Config{Patients: patients(Stable), Seed: 3, Start: t0, ArtefactRate: -1, DropoutRate: -1, GapsPerDay: -1})
	if spikes != 0 || lows != 0 || noSpO2 != 0 || noHR != 0 {
		t.Errorf("with imperfections off: spikes %d, low SpO2 %d, missing SpO2 %d, missing HR %d; want none", spikes, lows, noSpO2, noHR)
	}
}

func countCode(rs []vigil.Reading, code string) int {
	n := 0
	for _, r := range rs {
		if r.Code == code {
			n++
		}
	}
	return n
}

// Heart rate and temperature are higher in the afternoon than at night.
func TestCircadian(t *testing.T) {
	ps := make([]Patient, 20)
	for i := range ps {
		ps[i] = Patient{ID: fmt.Sprint(i), Device: fmt.Sprint("d", i), Scenario: Stable}
	}
	rs := mustNew(t, Config{Patients: ps, Seed: 9, Start: t0, ArtefactRate: -1}).Until(t0.Add(48 * time.Hour))
	var dayHR, nightHR, dayT, nightT float64
	for i := range ps {
		dev := ps[i].Device
		for d := range 2 {
			day := t0.Add(time.Duration(d) * 24 * time.Hour)
			dayHR += mean(rs, dev, vitals.CodeHeartRate, day.Add(14*time.Hour), day.Add(18*time.Hour))
			nightHR += mean(rs, dev, vitals.CodeHeartRate, day.Add(2*time.Hour), day.Add(6*time.Hour))
			dayT += mean(rs, dev, vitals.CodeBodyTemp, day.Add(16*time.Hour), day.Add(20*time.Hour))
			nightT += mean(rs, dev, vitals.CodeBodyTemp, day.Add(2*time.Hour), day.Add(6*time.Hour))
		}
	}
	n := float64(2 * len(ps))
	if d := (dayHR - nightHR) / n; d < 5 || d > 12 {
		t.Errorf("afternoon − night heart rate = %.1f/min, want 5–12", d)
	}
	if d := (dayT - nightT) / n; d < 0.3 || d > 0.7 {
		t.Errorf("evening − night temperature = %.2f °C, want 0.3–0.7", d)
	}
}

func TestParseScenario(t *testing.T) {
	for _, s := range []Scenario{Stable, Sepsis, HeartFailure, Hypoxia} {
		got, err := ParseScenario(s.String())
		if err != nil || got != s {
			t.Errorf("ParseScenario(%q) = %v, %v; want %v", s.String(), got, err, s)
		}
	}
	for _, in := range []string{"", "Sepsis", "copd"} {
		if _, err := ParseScenario(in); err == nil {
			t.Errorf("ParseScenario(%q) succeeded, want an error", in)
		}
	}
}

func TestNewRejects(t *testing.T) {
	tests := map[string]Config{
		"no start":         {Patients: patients(Stable)},
		"no patients":      {Start: t0},
		"no scenario":      {Start: t0, Patients: []Patient{{ID: "p", Device: "d"}}},
		"no device":        {Start: t0, Patients: []Patient{{ID: "p", Scenario: Stable}}},
		"device twice":     {Start: t0, Patients: []Patient{{ID: "p", Device: "d", Scenario: Stable}, {ID: "q", Device: "d", Scenario: Stable}}},
		"unknown scenario": {Start: t0, Patients: []Patient{{ID: "p", Device: "d", Scenario: 99}}},
	}
	for name, cfg := range tests {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%s) succeeded, want an error", name)
		}
	}
}

// BenchmarkGenerator measures readings generated per second: 100 patients,
// one simulated hour per iteration.
func BenchmarkGenerator(b *testing.B) {
	ps := make([]Patient, 100)
	for i := range ps {
		ps[i] = Patient{ID: fmt.Sprint("p", i), Device: fmt.Sprint("d", i), Scenario: Scenario(1 + i%4)}
	}
	g := mustNewB(b, Config{Patients: ps, Seed: 1, Start: t0})
	tt, n := t0, 0
	b.ReportAllocs()
	for b.Loop() {
		tt = tt.Add(time.Hour)
		n += len(g.Until(tt))
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "readings/s")
}

func mustNewB(b *testing.B, cfg Config) *Generator {
	g, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	return g
}
