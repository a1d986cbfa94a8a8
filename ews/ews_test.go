package ews

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/vigilhealth/vigil/vitals"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// full returns an input with all seven parameters measured at t0.
func full(rr, spo2, o2, sbp, pulse, acvpu, temp float64) *Input {
	in := &Input{}
	for p, v := range map[Parameter]float64{RespirationRate: rr, SpO2: spo2, AirOrOxygen: o2,
		SystolicBP: sbp, Pulse: pulse, Consciousness: acvpu, Temperature: temp} {
		in.Set(p, Measurement{Value: v, Time: t0})
	}
	return in
}

func TestCalculateBands(t *testing.T) {
	tests := []struct {
		name  string
		in    *Input
		score int
		band  Band
	}{
		{"all normal", full(16, 98, 0, 120, 70, 0, 37), 0, BandLow},
		{"aggregate 4", full(21, 95, 0, 120, 95, 0, 37), 4, BandLow},               // 2+1+1
		{"single 3 low-medium", full(16, 98, 0, 120, 70, 1, 37), 3, BandLowMedium}, // new confusion
		{"single 3 plus 1", full(16, 98, 0, 120, 95, 2, 37), 4, BandLowMedium},     // voice + pulse 1
		{"aggregate 5 medium", full(22, 95, 2-1, 120, 70, 0, 37), 5, BandMedium},   // 2+1+2
		{"aggregate 6 with a 3", full(26, 98, 1, 120, 95, 0, 37), 6, BandMedium},   // 3+2+1
		{"aggregate 7 high", full(25, 91, 1, 120, 70, 0, 37), 8, BandHigh},         // 3+3+2
		{"maximum", full(40, 80, 1, 80, 150, 4, 34), 20, BandHigh},                 // 3+3+2+3+3+3+3
		{"hypothermia alone", full(16, 98, 0, 120, 70, 0, 34.9), 3, BandLowMedium}, // temp 3
		{"hypertension 220", full(16, 98, 0, 220, 70, 0, 37), 3, BandLowMedium},    // sbp 3
		{"fever 39.1 is 2 only", full(16, 98, 0, 120, 70, 0, 39.1), 2, BandLow},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Calculate(tt.in, t0.Add(time.Minute), Options{})
			if r.Score != tt.score || r.Band != tt.band || r.Partial || r.MaxScore != r.Score {
				t.Errorf("Calculate = score %d band %v partial %v max %d, want %d %v complete",
					r.Score, r.Band, r.Partial, r.MaxScore, tt.score, tt.band)
			}
			if r.Response == "" {
				t.Error("empty response")
			}
		})
	}
}

func TestScale2(t *testing.T) {
	tests := []struct {
		spo2, o2 float64
		score    int // SpO2 component
	}{
		{90, 0, 0}, {90, 1, 0}, {97, 0, 0}, {97, 1, 3}, {93, 1, 1}, {95, 1, 2}, {85, 0, 2},
	}
	for _, tt := range tests {
		in := full(16, tt.spo2, tt.o2, 120, 70, 0, 37)
		in.Scale2 = true
		r := Calculate(in, t0, Options{})
		if got := r.Components[SpO2-1].Score; got != tt.score || r.Scale != 2 {
			t.Errorf("scale 2 SpO2 %v oxygen %v: score %d scale %d, want %d scale 2", tt.spo2, tt.o2, got, r.Scale, tt.score)
		}
	}
	// The same patient on scale 1 scores SpO2 90 as 3.
	r := Calculate(full(16, 90, 0, 120, 70, 0, 37), t0, Options{})
	if got := r.Components[SpO2-1].Score; got != 3 || r.Scale != 1 {
		t.Errorf("scale 1 SpO2 90: %d scale %d, want 3 scale 1", got, r.Scale)
	}
}

func TestFreshnessAndPartial(t *testing.T) {
	in := full(16, 98, 0, 120, 70, 0, 37)
	in.Set(Pulse, Measurement{Value: 135, Time: t0.Add(50 * time.Minute)}) // newer, scores 3
	now := t0.Add(90 * time.Minute)
	r := Calculate(in, now, Options{MaxAge: time.Hour})
	// Everything but pulse is 90 min old: stale.
	if !r.Partial || r.Score != 3 || r.Band != BandLowMedium || !r.Time.Equal(t0.Add(50*time.Minute)) {
		t.Fatalf("partial result = %+v", r)
	}
	missing := r.Missing()
	if len(missing) != 6 {
		t.Errorf("Missing() = %v, want 6 parameters", missing)
	}
	if want := 3 + 5*3 + 2; r.MaxScore != want {
		t.Errorf("MaxScore = %d, want %d", r.MaxScore, want)
	}
	// Age exactly MaxAge is still fresh.
	r = Calculate(in, t0.Add(time.Hour), Options{MaxAge: time.Hour})
	if r.Partial {
		t.Errorf("values exactly MaxAge old reported missing: %v", r.Missing())
	}
	// Default window is one hour.
	r = Calculate(in, t0.Add(time.Hour+time.Second), Options{})
	if !r.Partial {
		t.Error("default MaxAge did not expire values")
	}
	// No data at all.
	r = Calculate(&Input{}, now, Options{})
	if r.Available() || r.Band != BandNone || r.MaxScore != 20 {
		t.Errorf("empty input: %+v", r)
	}
}

func TestScale2UnknownOxygen(t *testing.T) {
	in := full(16, 97, 0, 120, 70, 0, 37)
	in.Values[AirOrOxygen] = Measurement{} // unknown
	in.Scale2 = true
	r := Calculate(in, t0, Options{})
	// Lower bound: on air, SpO2 0. Upper: on oxygen, SpO2 3 + oxygen 2.
	if r.Score != 0 || r.MaxScore != 5 || !r.Partial {
		t.Errorf("scale 2 with unknown oxygen: score %d max %d partial %v, want 0 5 true", r.Score, r.MaxScore, r.Partial)
	}
}

func TestObserveOutOfOrder(t *testing.T) {
	var in Input
	r := func(code string, v float64, unit string) vitals.Reading {
		t.Helper()
		x, err := vitals.Normalize(code, v, unit)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	if !in.Observe(r(vitals.CodeHeartRate, 80, "/min"), t0.Add(time.Minute)) {
		t.Fatal("first reading not taken")
	}
	if in.Observe(r(vitals.CodeHeartRate, 140, "/min"), t0) {
		t.Error("late, older reading replaced the newer one")
	}
	if in.Values[Pulse].Value != 80 {
		t.Errorf("pulse = %v, want 80", in.Values[Pulse].Value)
	}
	if in.Observe(r(vitals.CodeWeight, 80, "kg"), t0) {
		t.Error("weight is not a NEWS2 parameter")
	}
	in.Observe(r(vitals.CodeInspiredO2Flow, 2, "L/min"), t0)
	if in.Values[AirOrOxygen].Value != 1 {
		t.Error("2 L/min did not set oxygen")
	}
	in.Observe(r(vitals.CodeInspiredO2Fraction, 21, "%"), t0.Add(time.Minute))
	if in.Values[AirOrOxygen].Value != 0 {
		t.Error("FiO2 21 % did not set air")
	}
	in.Observe(r(vitals.CodeBodyTemp, 100.4, "[degF]"), t0)
	in.Observe(r(vitals.CodeConsciousness, float64(vitals.Confusion), "{ACVPU}"), t0)
	res := Calculate(&in, t0.Add(time.Minute), Options{})
	if c := res.Components[Temperature-1]; c.Score != 0 {
		t.Errorf("100.4 °F scored %d, want 0", c.Score)
	}
	if c := res.Components[Consciousness-1]; c.Score != 3 {
		t.Errorf("new confusion scored %d, want 3", c.Score)
	}
}

func TestParameterOf(t *testing.T) {
	want := map[vitals.Param]Parameter{vitals.RespRate: RespirationRate, vitals.SpO2: SpO2, vitals.Systolic: SystolicBP,
		vitals.HeartRate: Pulse, vitals.Consciousness: Consciousness, vitals.BodyTemp: Temperature,
		vitals.InspiredO2Fraction: AirOrOxygen, vitals.InspiredO2Flow: AirOrOxygen}
	for p := vitals.ParamUnknown; p <= vitals.InspiredO2Flow+1; p++ {
		if got := ParameterOf(p); got != want[p] {
			t.Errorf("ParameterOf(%v) = %v, want %v", p, got, want[p])
		}
	}
}

func TestResultJSON(t *testing.T) {
	r := Calculate(full(22, 95, 1, 120, 70, 0, 37), t0, Options{})
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"score", "band", "components", "time"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON %s lacks %q", b, k)
		}
	}
	if m["band"] != "medium" || m["score"] != 5.0 || m["time"] != "2026-03-01T12:00:00Z" {
		t.Errorf("JSON = %s", b)
	}
	comps := m["components"].([]any)
	first := comps[0].(map[string]any)
	if len(comps) != 7 || first["parameter"] != "respiration_rate" || first["score"] != 2.0 {
		t.Errorf("components = %v", comps)
	}
	if !strings.Contains(string(b), `"parameter":"air_or_oxygen"`) {
		t.Errorf("JSON lacks air_or_oxygen: %s", b)
	}
}

func FuzzCalculate(f *testing.F) {
	f.Add(16.0, 98.0, 0.0, 120.0, 70.0, 0.0, 37.0, false, int64(0))
	f.Add(30.0, 85.0, 1.0, 85.0, 140.0, 4.0, 34.0, true, int64(3600))
	f.Fuzz(func(t *testing.T, rr, spo2, o2, sbp, pulse, acvpu, temp float64, scale2 bool, ageSec int64) {
		in := full(rr, spo2, o2, sbp, pulse, acvpu, temp)
		in.Scale2 = scale2
		r := Calculate(in, t0.Add(time.Duration(ageSec)*time.Second), Options{})
		if r.Score < 0 || r.Score > 20 || r.MaxScore < r.Score || r.MaxScore > 20 {
			t.Fatalf("score %d max %d out of range", r.Score, r.MaxScore)
		}
		sum := 0
		for _, c := range r.Components {
			sum += c.Score
		}
		if sum != r.Score {
			t.Fatalf("components sum %d != score %d", sum, r.Score)
		}
		if r.Band == BandNone && !r.Partial {
			t.Fatal("complete result without a band")
		}
	})
}

func BenchmarkCalculate(b *testing.B) {
	in := full(22, 95, 1, 105, 95, 0, 38.4)
	b.ReportAllocs()
	for b.Loop() {
		_ = Calculate(in, t0, Options{})
	}
}
