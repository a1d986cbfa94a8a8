package vitals

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/vigilhealth/vigil"
)

// LOINC codes of the parameters Vigil accepts (see the package doc).
const (
	CodeHeartRate          = "8867-4"
	CodeRespRate           = "9279-1"
	CodeSpO2               = "2708-6"
	CodeSpO2PulseOx        = "59408-5"
	CodeBodyTemp           = "8310-5"
	CodeBPPanel            = "85354-9"
	CodeSystolic           = "8480-6"
	CodeDiastolic          = "8462-4"
	CodeWeight             = "29463-7"
	CodeHeight             = "8302-2"
	CodeBMI                = "39156-5"
	CodeGlucoseBlood       = "2339-0"   // mass/volume in blood
	CodeGlucoseBloodMolar  = "15074-8"  // moles/volume in blood
	CodeGlucoseSerum       = "2345-7"   // mass/volume in serum or plasma
	CodeGlucoseMeter       = "41653-7"  // mass/volume, capillary blood by glucometer
	CodeGlucoseMeterMolar  = "14743-9"  // moles/volume, capillary blood by glucometer
	CodeGlucoseCGM         = "99504-3"  // mass/volume in interstitial fluid
	CodeGlucoseCGMMolar    = "105272-9" // moles/volume in interstitial fluid
	CodeConsciousness      = "67775-7"  // level of responsiveness, value is an ACVPU ordinal
	CodeInspiredO2Fraction = "3150-0"   // inhaled oxygen concentration (FiO2)
	CodeInspiredO2Flow     = "3151-8"   // inhaled oxygen flow rate
)

// Param is a clinical parameter; several codes can measure the same one (two
// SpO2 codes, seven glucose codes). The zero value is unknown.
type Param uint8

// The parameters.
const (
	ParamUnknown Param = iota
	HeartRate
	RespRate
	SpO2
	BodyTemp
	Systolic
	Diastolic
	Weight
	Height
	BMI
	Glucose
	Consciousness
	InspiredO2Fraction
	InspiredO2Flow
	numParams
)

var paramNames = [numParams]string{"", "heart-rate", "resp-rate", "spo2", "body-temp",
	"systolic", "diastolic", "weight", "height", "bmi", "glucose", "consciousness",
	"inspired-o2-fraction", "inspired-o2-flow"}

// String returns a stable lower-case name ("heart-rate", "spo2", …), or ""
// for ParamUnknown.
func (p Param) String() string {
	if p < numParams {
		return paramNames[p]
	}
	return ""
}

// ACVPU is the level of consciousness on the NEWS2 ACVPU scale (RCP 2017,
// chart 1), carried as the value of a CodeConsciousness reading.
type ACVPU uint8

// ACVPU levels, in order of increasing impairment.
const (
	Alert        ACVPU = 0
	Confusion    ACVPU = 1 // new confusion (or new disorientation/agitation)
	Voice        ACVPU = 2
	Pain         ACVPU = 3
	Unresponsive ACVPU = 4
)

// String returns the ACVPU letter, or "" for a value out of range.
func (a ACVPU) String() string {
	if a <= Unresponsive {
		return "ACVPU"[a : a+1]
	}
	return ""
}

// Errors wrapped (next to vigil.ErrInvalid) by Normalize; test with errors.Is.
var (
	ErrUnknownCode = errors.New("unknown code")
	ErrUnknownUnit = errors.New("unknown unit")
	ErrImplausible = errors.New("implausible value")
)

// Reading is one normalised measurement.
type Reading struct {
	Code  string  // the LOINC code as received (e.g. 59408-5 stays 59408-5)
	Param Param   // what it measures
	Value float64 // in Unit
	Unit  string  // canonical UCUM unit of Code
}

// Normalize validates one measurement and converts it to the canonical unit
// of its code. It fails closed: an unknown code or unit, a unit that does
// not fit the code, a non-finite value or one outside the plausible range is
// an error wrapping vigil.ErrInvalid. For CodeConsciousness the value must be
// an integer ACVPU ordinal (0–4) and the unit "{ACVPU}".
//
// Normalize is safe for concurrent use and does not allocate unless it
// returns an error.
func Normalize(code string, value float64, unit string) (Reading, error) {
	s := lookup(code)
	if s == nil {
		return Reading{}, invalid(ErrUnknownCode, "unknown code %q", clip(code))
	}
	if math.IsNaN(value) || math.IsInf(value, 0) {
		return Reading{}, invalid(ErrImplausible, "value for code %s is not a finite number", s.code)
	}
	v, ok := convert(s.dim, unitAlias(unit), s.unit, value)
	if !ok {
		return Reading{}, invalid(ErrUnknownUnit, "unit %q is not accepted for code %s (want %s)", clip(unit), s.code, s.unit)
	}
	if !(v >= s.min && v <= s.max) || (s.integer && v != math.Trunc(v)) {
		return Reading{}, invalid(ErrImplausible, "value for code %s is outside the plausible range %g–%g %s", s.code, s.min, s.max, s.unit)
	}
	return Reading{Code: code, Param: s.param, Value: v, Unit: s.unit}, nil
}

// CheckBloodPressure validates the two components of one blood-pressure
// measurement (panel 85354-9) together: both must be normalised systolic
// and diastolic readings, and diastolic must be below systolic (a pulse
// pressure of zero or less is not a measurement).
func CheckBloodPressure(systolic, diastolic Reading) error {
	if systolic.Param != Systolic || diastolic.Param != Diastolic {
		return invalid(ErrUnknownCode, "blood pressure needs a systolic (%s) and a diastolic (%s) component", CodeSystolic, CodeDiastolic)
	}
	if !(diastolic.Value < systolic.Value) {
		return invalid(ErrImplausible, "diastolic pressure is not below systolic pressure")
	}
	return nil
}

// MaxFutureSkew is how far after the server's clock a measurement time may
// lie: device clocks drift, but a reading from the future is a wrong clock.
const MaxFutureSkew = 5 * time.Minute

// CheckTime validates a measurement time against the server clock now: the
// zero time and times more than MaxFutureSkew after now are rejected
// (wrapping vigil.ErrInvalid and ErrImplausible). Old times are accepted
// (late uploads, replays); a device whose clock was reset is caught by the
// device→patient binding period, which the caller checks.
func CheckTime(t, now time.Time) error {
	if t.IsZero() {
		return invalid(ErrImplausible, "measurement time is missing")
	}
	if t.Sub(now) > MaxFutureSkew {
		return invalid(ErrImplausible, "measurement time is more than %v in the future", MaxFutureSkew)
	}
	return nil
}

// ParamOf returns the parameter a code measures and its canonical unit, or
// ParamUnknown and "" for a code Normalize would reject.
func ParamOf(code string) (Param, string) {
	s := lookup(code)
	if s == nil {
		return ParamUnknown, ""
	}
	return s.param, s.unit
}

// Codes returns every accepted code, in a stable order.
func Codes() []string {
	out := make([]string, len(specs))
	for i := range specs {
		out[i] = specs[i].code
	}
	return out
}

func invalid(cause error, format string, args ...any) error {
	return &vigil.Error{Kind: vigil.ErrInvalid, Message: "vitals: " + fmt.Sprintf(format, args...), Err: cause}
}

// clip keeps untrusted strings short in error messages.
func clip(s string) string {
	if len(s) > 32 {
		return s[:32] + "…"
	}
	return s
}
