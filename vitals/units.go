package vitals

// Conversion factors (UCUM, https://ucum.org/ucum).
const (
	// GlucoseMgdLPerMmolL converts glucose between substance and mass
	// concentration: 1 mmol/L = 18.016 mg/dL (molar mass of glucose,
	// C6H12O6, 180.16 g/mol, times 0.1 L/dL).
	GlucoseMgdLPerMmolL = 18.016
	// MmHgPerKPa is 1000 Pa / 133.322387415 Pa per mm[Hg].
	MmHgPerKPa = 1000 / 133.322387415
	// KgPerPound is the exact avoirdupois pound, [lb_av].
	KgPerPound = 0.45359237
	// CmPerInch is the exact international inch, [in_i].
	CmPerInch = 2.54
)

// unitAlias maps the few non-UCUM spellings devices commonly send to their
// UCUM code; any other string is returned unchanged and must be UCUM.
func unitAlias(u string) string {
	switch u {
	case "bpm", "beats/min", "{beat}/min", "1/min":
		return "{beats}/min"
	case "breaths/min", "{breath}/min":
		return "{breaths}/min"
	case "degC", "°C":
		return "Cel"
	case "degF", "°F":
		return "[degF]"
	case "mmHg", "mm Hg", "mm(hg)": // mm(hg) is the HL7 v2 ISO+ spelling
		return "mm[Hg]"
	case "lb", "lbs", "[lb_i]":
		return "[lb_av]"
	case "in":
		return "[in_i]"
	case "kg/m^2":
		return "kg/m2"
	case "mg/dl":
		return "mg/dL"
	case "mmol/l":
		return "mmol/L"
	case "l/min":
		return "L/min"
	}
	return u
}

// convert converts v from unit u to the canonical unit of dimension d
// (whose canonical spelling for glucose is canon). ok is false when u is not
// an accepted unit of d.
func convert(d dim, u, canon string, v float64) (out float64, ok bool) {
	switch d {
	case dimRateBeats:
		switch u {
		case "/min", "{beats}/min":
			return v, true
		}
	case dimRateBreaths:
		switch u {
		case "/min", "{breaths}/min":
			return v, true
		}
	case dimPercent:
		if u == "%" {
			return v, true
		}
	case dimTemp:
		switch u {
		case "Cel":
			return v, true
		case "[degF]":
			return (v - 32) * 5 / 9, true
		}
	case dimPressure:
		switch u {
		case "mm[Hg]":
			return v, true
		case "kPa":
			return v * MmHgPerKPa, true
		}
	case dimMass:
		switch u {
		case "kg":
			return v, true
		case "g":
			return v / 1000, true
		case "[lb_av]":
			return v * KgPerPound, true
		}
	case dimLength:
		switch u {
		case "cm":
			return v, true
		case "m":
			return v * 100, true
		case "mm":
			return v / 10, true
		case "[in_i]":
			return v * CmPerInch, true
		}
	case dimBMI:
		if u == "kg/m2" {
			return v, true
		}
	case dimGlucose:
		switch {
		case u == canon:
			return v, true
		case u == "mmol/L" && canon == "mg/dL":
			return v * GlucoseMgdLPerMmolL, true
		case u == "mg/dL" && canon == "mmol/L":
			return v / GlucoseMgdLPerMmolL, true
		}
	case dimACVPU:
		if u == "{ACVPU}" {
			return v, true
		}
	case dimFlow:
		if u == "L/min" {
			return v, true
		}
	}
	return 0, false
}
