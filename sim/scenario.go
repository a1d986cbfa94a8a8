package sim

import (
	"fmt"
	"time"

	"github.com/vigilhealth/vigil"
)

// Scenario is how a simulated patient's condition evolves. The zero value
// is not a scenario.
type Scenario uint8

// The scenarios. Each deterioration starts at the patient's Onset and
// progresses linearly to its full effect over the scenario's Course; the
// figures are the full effect, added to the patient's own baseline.
const (
	ScenarioUnknown Scenario = iota
	// Stable: baseline with circadian variation, noise, artefacts and gaps,
	// and no trend.
	Stable
	// Sepsis is a sepsis-like course over 12 h: heart rate +45/min,
	// respiratory rate +12/min, systolic −40 and diastolic −22 mm[Hg],
	// temperature +2.2 °C, SpO2 −4 % (towards NEWS2 ≥ 7 and qSOFA 2 to 3).
	Sepsis
	// HeartFailure is a heart-failure decompensation over 72 h: weight
	// +3.0 kg (fluid retention; more than the 2 kg in 3 days that
	// heart-failure programmes alert on), respiratory rate +8/min, SpO2
	// −6 %, heart rate +15/min.
	HeartFailure
	// Hypoxia is a fall in oxygen saturation over 6 h: SpO2 −14 %,
	// respiratory rate +8/min, heart rate +20/min.
	Hypoxia
)

var scenarioNames = [...]string{"", "stable", "sepsis", "heart-failure", "hypoxia"}

// String returns the scenario's name ("stable", "sepsis", "heart-failure",
// "hypoxia"), or "" for an unknown value.
func (s Scenario) String() string {
	if int(s) < len(scenarioNames) {
		return scenarioNames[s]
	}
	return ""
}

// ParseScenario returns the scenario named s, or an error wrapping
// vigil.ErrInvalid.
func ParseScenario(s string) (Scenario, error) {
	for i, n := range scenarioNames {
		if i > 0 && n == s {
			return Scenario(i), nil
		}
	}
	return ScenarioUnknown, vigil.Errorf(vigil.ErrInvalid, "unknown scenario %q (stable, sepsis, heart-failure, hypoxia)", s)
}

// MarshalText implements encoding.TextMarshaler.
func (s Scenario) MarshalText() ([]byte, error) {
	if s.String() == "" {
		return nil, fmt.Errorf("sim: scenario %d is not valid", s)
	}
	return []byte(s.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *Scenario) UnmarshalText(b []byte) error {
	v, err := ParseScenario(string(b))
	*s = v
	return err
}

// Course is how long the deterioration takes to reach its full effect.
func (s Scenario) Course() time.Duration {
	switch s {
	case Sepsis:
		return 12 * time.Hour
	case HeartFailure:
		return 72 * time.Hour
	case Hypoxia:
		return 6 * time.Hour
	}
	return 0
}

// params holds one value per simulated parameter: a baseline, or the full
// change a scenario makes.
type params struct {
	hr, rr, spo2, temp, sbp, dbp, weight float64
}

func (s Scenario) params() params {
	switch s {
	case Sepsis:
		return params{hr: 45, rr: 12, spo2: -4, temp: 2.2, sbp: -40, dbp: -22}
	case HeartFailure:
		return params{hr: 15, rr: 8, spo2: -6, weight: 3.0}
	case Hypoxia:
		return params{hr: 20, rr: 8, spo2: -14}
	}
	return params{}
}
