package ews

import (
	"time"

	"github.com/vigilhealth/vigil/vitals"
)

// Parameter is one of the seven NEWS2 physiological parameters. The zero
// value is unknown.
type Parameter uint8

// The parameters, in the order of RCP 2017 chart 1.
const (
	ParamUnknown Parameter = iota
	RespirationRate
	SpO2
	AirOrOxygen
	SystolicBP
	Pulse
	Consciousness
	Temperature
)

// NumParameters is the number of NEWS2 parameters.
const NumParameters = 7

var parameterNames = [...]string{"", "respiration_rate", "spo2", "air_or_oxygen",
	"systolic_bp", "pulse", "consciousness", "temperature"}

// String returns the parameter's JSON name ("respiration_rate", "spo2",
// "air_or_oxygen", "systolic_bp", "pulse", "consciousness", "temperature").
func (p Parameter) String() string {
	if int(p) < len(parameterNames) {
		return parameterNames[p]
	}
	return ""
}

// MarshalText implements encoding.TextMarshaler.
func (p Parameter) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// Measurement is a parameter's latest value and when it was measured. A zero
// Time means no value.
type Measurement struct {
	Value float64
	Time  time.Time
}

// Input is the latest value of each parameter for one patient. The zero
// value has no measurements and uses SpO2 scale 1.
//
// Units: respiration rate and pulse in /min, SpO2 in %, systolic in mm[Hg],
// temperature in Cel (as vitals.Normalize produces them); consciousness is a
// vitals.ACVPU ordinal (0 A, 1 C, 2 V, 3 P, 4 U); air or oxygen is 1 for
// supplemental oxygen, 0 for air.
type Input struct {
	// Scale2 selects SpO2 scale 2: set it only when a clinician has
	// documented a target SpO2 of 88–92 % (hypercapnic respiratory failure).
	Scale2 bool
	// Values are indexed by Parameter (index 0 is unused).
	Values [NumParameters + 1]Measurement
}

// Set records m for p if it is at least as new as the value held. It
// reports whether the value was taken; an older measurement (a late
// arrival) leaves the newer one in place.
func (in *Input) Set(p Parameter, m Measurement) bool {
	if p == ParamUnknown || p > NumParameters || m.Time.IsZero() {
		return false
	}
	if cur := in.Values[p]; !cur.Time.IsZero() && m.Time.Before(cur.Time) {
		return false
	}
	in.Values[p] = m
	return true
}

// ParameterOf returns the NEWS2 parameter a vital sign feeds, or
// ParamUnknown: heart rate → Pulse, respiratory rate, SpO2, systolic
// pressure, body temperature and consciousness to their namesakes, and
// inspired-oxygen fraction or flow → AirOrOxygen.
func ParameterOf(p vitals.Param) Parameter {
	switch p {
	case vitals.RespRate:
		return RespirationRate
	case vitals.SpO2:
		return SpO2
	case vitals.Systolic:
		return SystolicBP
	case vitals.HeartRate:
		return Pulse
	case vitals.Consciousness:
		return Consciousness
	case vitals.BodyTemp:
		return Temperature
	case vitals.InspiredO2Fraction, vitals.InspiredO2Flow:
		return AirOrOxygen
	}
	return ParamUnknown
}

// Observe feeds a normalised reading measured at t to the parameter
// ParameterOf names. An inspired-oxygen fraction above 21 % or a flow above
// 0 L/min sets air-or-oxygen to oxygen (1), and 21 % or 0 L/min to air (0).
// It reports whether the reading changed the input (false for other
// parameters or for readings older than the value held).
func (in *Input) Observe(r vitals.Reading, t time.Time) bool {
	p := ParameterOf(r.Param)
	v := r.Value
	switch r.Param {
	case vitals.InspiredO2Fraction:
		v = boolValue(v > 21)
	case vitals.InspiredO2Flow:
		v = boolValue(v > 0)
	}
	if p == ParamUnknown {
		return false
	}
	return in.Set(p, Measurement{Value: v, Time: t})
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Options configure Calculate. The zero value uses DefaultMaxAge.
type Options struct {
	// MaxAge is the freshness window: a value measured more than MaxAge
	// before now is stale and counts as missing. Zero means DefaultMaxAge.
	MaxAge time.Duration
}

// DefaultMaxAge is the freshness window used when Options.MaxAge is zero.
// NEWS2 is meant to be computed from one set of observations; on a virtual
// ward with hourly or continuous monitoring an hour keeps the parameters
// contemporaneous. Programmes with sparser measurements should set it.
const DefaultMaxAge = time.Hour
