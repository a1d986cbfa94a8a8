package ews

import "time"

// Band is the NEWS2 clinical risk (RCP 2017 chart 2). The zero value is
// BandNone: no parameter was available.
type Band uint8

// The risk bands.
const (
	BandNone      Band = iota
	BandLow            // aggregate 0–4
	BandLowMedium      // a score of 3 in any single parameter, aggregate below 5
	BandMedium         // aggregate 5–6
	BandHigh           // aggregate 7 or more
)

var bandNames = [...]string{"none", "low", "low-medium", "medium", "high"}

// String returns "none", "low", "low-medium", "medium" or "high".
func (b Band) String() string {
	if int(b) < len(bandNames) {
		return bandNames[b]
	}
	return ""
}

// MarshalText implements encoding.TextMarshaler.
func (b Band) MarshalText() ([]byte, error) { return []byte(b.String()), nil }

// Component is one parameter's part of a result.
type Component struct {
	Parameter Parameter `json:"parameter"`
	// Missing is true when there was no value or it was older than MaxAge;
	// then Score is 0 and Value/Time are those of the stale value, if any.
	Missing bool      `json:"missing"`
	Value   float64   `json:"value"`
	Score   int       `json:"score"`
	Time    time.Time `json:"time,omitzero"`
}

// Result is a NEWS2 score. It marshals to the JSON served at
// GET /api/v1/patients/{id}/news2:
//
//	{"score":5,"band":"medium","components":[…],"time":"…","partial":false,…}
type Result struct {
	// Score is the aggregate score of the parameters used (0–20); when
	// Partial it is a lower bound of the true score.
	Score int `json:"score"`
	// Band is the risk band of Score; when Partial, of the lower bound.
	Band Band `json:"band"`
	// Components lists all seven parameters in chart order.
	Components [NumParameters]Component `json:"components"`
	// Time is the measurement time of the newest parameter used.
	Time time.Time `json:"time"`
	// Partial is true when any parameter is missing.
	Partial bool `json:"partial"`
	// MaxScore is the highest score the missing parameters could produce;
	// equal to Score when the result is complete.
	MaxScore int `json:"max_score"`
	// Scale is the SpO2 scale used, 1 or 2.
	Scale int `json:"spo2_scale"`
	// Response is the RCP 2017 chart 3 clinical response for Score and Band.
	Response string `json:"response"`
}

// Available reports whether at least one parameter was used. The HTTP API
// answers 404 when it is false.
func (r *Result) Available() bool { return r.Band != BandNone }

// Missing returns the parameters that were absent or stale.
func (r *Result) Missing() []Parameter {
	var out []Parameter
	for _, c := range r.Components {
		if c.Missing {
			out = append(out, c.Parameter)
		}
	}
	return out
}

// Clinical response text after RCP 2017 chart 3 (abridged).
const (
	responseZero = "Minimum monitoring frequency 12-hourly. Continue routine NEWS monitoring."
	responseLow  = "Minimum monitoring frequency 4–6-hourly. Inform a registered nurse, who must " +
		"assess the patient and decide whether more frequent monitoring or escalation of care is required."
	responseLowMedium = "Minimum monitoring frequency 1-hourly. Registered nurse to inform the medical " +
		"team caring for the patient, who will review and decide whether escalation of care is necessary."
	responseMedium = "Key threshold for urgent response. Minimum monitoring frequency 1-hourly. " +
		"Registered nurse to inform the medical team immediately and request urgent assessment by a " +
		"clinician or team with competencies in the care of acutely ill patients; provide care in an " +
		"environment with monitoring facilities."
	responseHigh = "Urgent or emergency response threshold. Continuous monitoring of vital signs. " +
		"Registered nurse to inform the medical team immediately (at least specialist registrar level); " +
		"emergency assessment by a team with critical-care competencies, including advanced airway " +
		"management; consider transfer to a level 2 or 3 care facility (HDU or ICU)."
)

func response(score int, b Band) string {
	switch b {
	case BandHigh:
		return responseHigh
	case BandMedium:
		return responseMedium
	case BandLowMedium:
		return responseLowMedium
	case BandLow:
		if score == 0 {
			return responseZero
		}
		return responseLow
	}
	return ""
}
