package vitals

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/vigilhealth/vigil"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		code  string
		value float64
		unit  string
		param Param
		want  float64
		wunit string
	}{
		{CodeHeartRate, 72, "/min", HeartRate, 72, "/min"},
		{CodeHeartRate, 72, "{beats}/min", HeartRate, 72, "/min"},
		{CodeHeartRate, 72, "bpm", HeartRate, 72, "/min"},
		{CodeRespRate, 0, "/min", RespRate, 0, "/min"}, // apnoea is a real reading
		{CodeRespRate, 18, "{breaths}/min", RespRate, 18, "/min"},
		{CodeSpO2, 97, "%", SpO2, 97, "%"},
		{CodeSpO2PulseOx, 100, "%", SpO2, 100, "%"},
		{CodeBodyTemp, 37.2, "Cel", BodyTemp, 37.2, "Cel"},
		{CodeBodyTemp, 98.6, "[degF]", BodyTemp, 37, "Cel"},
		{CodeBodyTemp, 212 - 180 + 32, "degF", BodyTemp, 17.7777777778, "Cel"},
		{CodeBodyTemp, 104, "°F", BodyTemp, 40, "Cel"},
		{CodeSystolic, 120, "mm[Hg]", Systolic, 120, "mm[Hg]"},
		{CodeSystolic, 16, "kPa", Systolic, 120.0098, "mm[Hg]"},
		{CodeDiastolic, 80, "mmHg", Diastolic, 80, "mm[Hg]"},
		{CodeDiastolic, 80, "mm(hg)", Diastolic, 80, "mm[Hg]"},
		{CodeWeight, 70, "kg", Weight, 70, "kg"},
		{CodeWeight, 70000, "g", Weight, 70, "kg"},
		{CodeWeight, 154, "[lb_av]", Weight, 69.85322498, "kg"},
		{CodeWeight, 1, "lb", Weight, 0.45359237, "kg"},
		{CodeHeight, 180, "cm", Height, 180, "cm"},
		{CodeHeight, 1.8, "m", Height, 180, "cm"},
		{CodeHeight, 70, "[in_i]", Height, 177.8, "cm"},
		{CodeHeight, 70, "in", Height, 177.8, "cm"},
		{CodeBMI, 24.5, "kg/m2", BMI, 24.5, "kg/m2"},
		{CodeGlucoseBlood, 100, "mg/dL", Glucose, 100, "mg/dL"},
		{CodeGlucoseBlood, 5.5, "mmol/L", Glucose, 99.088, "mg/dL"},
		{CodeGlucoseBloodMolar, 5.5, "mmol/L", Glucose, 5.5, "mmol/L"},
		{CodeGlucoseBloodMolar, 180.16, "mg/dL", Glucose, 10, "mmol/L"},
		{CodeGlucoseSerum, 90, "mg/dl", Glucose, 90, "mg/dL"},
		{CodeGlucoseMeter, 4, "mmol/l", Glucose, 72.064, "mg/dL"},
		{CodeGlucoseMeterMolar, 36.032, "mg/dL", Glucose, 2, "mmol/L"},
		{CodeGlucoseCGM, 120, "mg/dL", Glucose, 120, "mg/dL"},
		{CodeGlucoseCGMMolar, 6.7, "mmol/L", Glucose, 6.7, "mmol/L"},
		{CodeConsciousness, 1, "{ACVPU}", Consciousness, 1, "{ACVPU}"},
		{CodeInspiredO2Fraction, 28, "%", InspiredO2Fraction, 28, "%"},
		{CodeInspiredO2Flow, 2, "L/min", InspiredO2Flow, 2, "L/min"},
	}
	for _, tt := range tests {
		t.Run(tt.code+" "+tt.unit, func(t *testing.T) {
			r, err := Normalize(tt.code, tt.value, tt.unit)
			if err != nil {
				t.Fatalf("Normalize(%q, %v, %q): %v", tt.code, tt.value, tt.unit, err)
			}
			if r.Param != tt.param || r.Unit != tt.wunit || r.Code != tt.code || math.Abs(r.Value-tt.want) > 1e-4 {
				t.Errorf("Normalize(%q, %v, %q) = %+v, want %v %v %s", tt.code, tt.value, tt.unit, r, tt.param, tt.want, tt.wunit)
			}
		})
	}
}

func TestNormalizeRejects(t *testing.T) {
	tests := []struct {
		name  string
		code  string
		value float64
		unit  string
		cause error
	}{
		{"unknown code", "1234-5", 1, "/min", ErrUnknownCode},
		{"empty code", "", 1, "/min", ErrUnknownCode},
		{"bp panel has no value", CodeBPPanel, 120, "mm[Hg]", ErrUnknownCode},
		{"unknown unit", CodeHeartRate, 70, "Hz", ErrUnknownUnit},
		{"empty unit", CodeHeartRate, 70, "", ErrUnknownUnit},
		{"wrong dimension", CodeBodyTemp, 37, "kg", ErrUnknownUnit},
		{"beats for breaths", CodeRespRate, 16, "{beats}/min", ErrUnknownUnit},
		{"breaths for beats", CodeHeartRate, 60, "{breaths}/min", ErrUnknownUnit},
		{"UCUM is case sensitive", CodeBodyTemp, 37, "cel", ErrUnknownUnit},
		{"coulomb is not Celsius", CodeBodyTemp, 37, "C", ErrUnknownUnit},
		{"glucose in percent", CodeGlucoseBlood, 5, "%", ErrUnknownUnit},
		{"NaN", CodeHeartRate, math.NaN(), "/min", ErrImplausible},
		{"+Inf", CodeHeartRate, math.Inf(1), "/min", ErrImplausible},
		{"-Inf", CodeHeartRate, math.Inf(-1), "/min", ErrImplausible},
		{"HR below", CodeHeartRate, 9.99, "/min", ErrImplausible},
		{"HR above", CodeHeartRate, 350.01, "/min", ErrImplausible},
		{"RR negative", CodeRespRate, -1, "/min", ErrImplausible},
		{"SpO2 over 100", CodeSpO2, 100.5, "%", ErrImplausible},
		{"SpO2 below 20", CodeSpO2PulseOx, 19, "%", ErrImplausible},
		{"temp 50 C", CodeBodyTemp, 50, "Cel", ErrImplausible},
		{"temp 37 F", CodeBodyTemp, 37, "[degF]", ErrImplausible}, // 2.8 Cel: Celsius value sent as °F
		{"SBP 0", CodeSystolic, 0, "mm[Hg]", ErrImplausible},
		{"weight 0", CodeWeight, 0, "kg", ErrImplausible},
		{"weight in g sent as kg", CodeWeight, 70000, "kg", ErrImplausible},
		{"height in m sent as cm", CodeHeight, 1.8, "cm", ErrImplausible},
		{"glucose 0", CodeGlucoseBlood, 0, "mg/dL", ErrImplausible},
		{"glucose mg/dL as mmol/L", CodeGlucoseBloodMolar, 400, "mmol/L", ErrImplausible},
		{"ACVPU 5", CodeConsciousness, 5, "{ACVPU}", ErrImplausible},
		{"ACVPU fraction", CodeConsciousness, 1.5, "{ACVPU}", ErrImplausible},
		{"FiO2 below air", CodeInspiredO2Fraction, 20, "%", ErrImplausible},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Normalize(tt.code, tt.value, tt.unit)
			if err == nil {
				t.Fatalf("Normalize(%q, %v, %q) = %+v, want error", tt.code, tt.value, tt.unit, r)
			}
			if !errors.Is(err, vigil.ErrInvalid) || !errors.Is(err, tt.cause) {
				t.Errorf("Normalize(%q, %v, %q) error %v, want ErrInvalid and %v", tt.code, tt.value, tt.unit, err, tt.cause)
			}
			msg := vigil.PublicMessage(err)
			if !strings.HasPrefix(msg, "vitals: ") {
				t.Errorf("public message %q lacks package prefix", msg)
			}
		})
	}
}

// The public message must never contain the measured value (patient data).
func TestErrorHasNoValue(t *testing.T) {
	for _, v := range []float64{123456.789, -98765.4321} {
		_, err := Normalize(CodeHeartRate, v, "/min")
		if err == nil {
			t.Fatalf("Normalize(%v) succeeded", v)
		}
		for _, s := range []string{"123456", "98765"} {
			if strings.Contains(err.Error(), s) || strings.Contains(vigil.PublicMessage(err), s) {
				t.Errorf("error %q contains the value", err)
			}
		}
	}
}

// Every bound is inclusive and every code's spec is reachable by lookup.
func TestRangeBounds(t *testing.T) {
	for _, s := range specs {
		p, u := ParamOf(s.code)
		if p != s.param || u != s.unit {
			t.Errorf("ParamOf(%q) = %v %q, want %v %q", s.code, p, u, s.param, s.unit)
		}
		for _, v := range []float64{s.min, s.max} {
			if _, err := Normalize(s.code, v, s.unit); err != nil {
				t.Errorf("Normalize(%q, %v, %q) at the bound: %v", s.code, v, s.unit, err)
			}
		}
		for _, v := range []float64{s.min - 0.01, s.max + 0.01} {
			if _, err := Normalize(s.code, v, s.unit); !errors.Is(err, ErrImplausible) {
				t.Errorf("Normalize(%q, %v, %q) = %v, want ErrImplausible", s.code, v, s.unit, err)
			}
		}
	}
	if n := len(Codes()); n != len(specs) {
		t.Errorf("len(Codes()) = %d, want %d", n, len(specs))
	}
}

func TestCheckBloodPressure(t *testing.T) {
	mk := func(code string, v float64) Reading {
		r, err := Normalize(code, v, "mm[Hg]")
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	tests := []struct {
		name     string
		sys, dia Reading
		cause    error
	}{
		{"normal", mk(CodeSystolic, 120), mk(CodeDiastolic, 80), nil},
		{"swapped", mk(CodeSystolic, 80), mk(CodeDiastolic, 120), ErrImplausible},
		{"equal", mk(CodeSystolic, 90), mk(CodeDiastolic, 90), ErrImplausible},
		{"wrong components", mk(CodeDiastolic, 80), mk(CodeSystolic, 120), ErrUnknownCode},
	}
	for _, tt := range tests {
		err := CheckBloodPressure(tt.sys, tt.dia)
		if tt.cause == nil && err != nil || tt.cause != nil && !(errors.Is(err, tt.cause) && errors.Is(err, vigil.ErrInvalid)) {
			t.Errorf("%s: CheckBloodPressure = %v, want %v", tt.name, err, tt.cause)
		}
	}
}

func TestCheckTime(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		at time.Time
		ok bool
	}{
		{now, true},
		{now.Add(-365 * 24 * time.Hour), true},
		{now.Add(MaxFutureSkew), true},
		{now.Add(MaxFutureSkew + time.Second), false},
		{time.Time{}, false},
	}
	for _, tt := range tests {
		err := CheckTime(tt.at, now)
		if (err == nil) != tt.ok || err != nil && !errors.Is(err, vigil.ErrInvalid) {
			t.Errorf("CheckTime(%v) = %v, want ok=%v", tt.at, err, tt.ok)
		}
	}
}

func TestGlucoseRoundTrip(t *testing.T) {
	for _, mmol := range []float64{2.2, 3.9, 5.5, 10, 13.9, 33.3} {
		mg, err := Normalize(CodeGlucoseBlood, mmol, "mmol/L")
		if err != nil {
			t.Fatal(err)
		}
		back, err := Normalize(CodeGlucoseBloodMolar, mg.Value, "mg/dL")
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(back.Value-mmol) > 1e-9 {
			t.Errorf("%v mmol/L → %v mg/dL → %v mmol/L", mmol, mg.Value, back.Value)
		}
	}
}

func TestNormalizeNoAlloc(t *testing.T) {
	n := testing.AllocsPerRun(1000, func() {
		if _, err := Normalize(CodeBodyTemp, 98.6, "[degF]"); err != nil {
			t.Fatal(err)
		}
	})
	if n != 0 {
		t.Errorf("Normalize allocates %v times per call, want 0", n)
	}
}

func TestACVPUString(t *testing.T) {
	want := []string{"A", "C", "V", "P", "U", ""}
	for i, w := range want {
		if got := ACVPU(i).String(); got != w {
			t.Errorf("ACVPU(%d).String() = %q, want %q", i, got, w)
		}
	}
}

func FuzzNormalize(f *testing.F) {
	f.Add(CodeHeartRate, 72.0, "/min")
	f.Add(CodeBodyTemp, 98.6, "[degF]")
	f.Add(CodeGlucoseBloodMolar, 100.0, "mg/dL")
	f.Add("x", math.NaN(), "")
	f.Fuzz(func(t *testing.T, code string, v float64, unit string) {
		r, err := Normalize(code, v, unit)
		if err != nil {
			if !errors.Is(err, vigil.ErrInvalid) {
				t.Fatalf("Normalize error %v does not wrap ErrInvalid", err)
			}
			return
		}
		s := lookup(code)
		if s == nil || r.Unit != s.unit || !(r.Value >= s.min && r.Value <= s.max) {
			t.Fatalf("Normalize(%q, %v, %q) = %+v outside its spec", code, v, unit, r)
		}
		// Normalising an already canonical reading is the identity.
		again, err := Normalize(r.Code, r.Value, r.Unit)
		if err != nil || again != r {
			t.Fatalf("Normalize is not idempotent: %+v → %+v, %v", r, again, err)
		}
	})
}

func BenchmarkNormalize(b *testing.B) {
	in := []struct {
		code, unit string
		v          float64
	}{
		{CodeHeartRate, "/min", 72},
		{CodeSpO2PulseOx, "%", 96},
		{CodeBodyTemp, "[degF]", 99.1},
		{CodeSystolic, "mm[Hg]", 128},
		{CodeGlucoseCGM, "mmol/L", 6.1},
		{CodeWeight, "[lb_av]", 180},
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		x := &in[i%len(in)]
		if _, err := Normalize(x.code, x.v, x.unit); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
