package ews

import "math"

// The functions below implement RCP 2017 NEWS2 chart 1, band by band. The
// listed chart band appears in each comment; the comparison chosen puts
// values between two listed values in the higher-scoring band (see the
// package doc).

// clean removes floating-point noise below 1e-6.
func clean(x float64) float64 { return math.Round(x*1e6) / 1e6 }

// scoreRespRate: ≤8 →3, 9–11 →1, 12–20 →0, 21–24 →2, ≥25 →3.
func scoreRespRate(x float64) int {
	x = clean(x)
	switch {
	case x < 9:
		return 3
	case x < 12:
		return 1
	case x <= 20:
		return 0
	case x <= 24:
		return 2
	default:
		return 3
	}
}

// scoreSpO2Scale1: ≤91 →3, 92–93 →2, 94–95 →1, ≥96 →0.
func scoreSpO2Scale1(x float64) int {
	x = clean(x)
	switch {
	case x < 92:
		return 3
	case x < 94:
		return 2
	case x < 96:
		return 1
	default:
		return 0
	}
}

// scoreSpO2Scale2: ≤83 →3, 84–85 →2, 86–87 →1, 88–92 →0, ≥93 on air →0,
// 93–94 on oxygen →1, 95–96 on oxygen →2, ≥97 on oxygen →3.
func scoreSpO2Scale2(x float64, oxygen bool) int {
	x = clean(x)
	switch {
	case x < 84:
		return 3
	case x < 86:
		return 2
	case x < 88:
		return 1
	case x <= 92 || !oxygen:
		return 0
	case x <= 94:
		return 1
	case x <= 96:
		return 2
	default:
		return 3
	}
}

// scoreOxygen: oxygen →2, air →0.
func scoreOxygen(oxygen bool) int {
	if oxygen {
		return 2
	}
	return 0
}

// scoreSystolic: ≤90 →3, 91–100 →2, 101–110 →1, 111–219 →0, ≥220 →3.
func scoreSystolic(x float64) int {
	x = clean(x)
	switch {
	case x < 91:
		return 3
	case x < 101:
		return 2
	case x < 111:
		return 1
	case x <= 219:
		return 0
	default:
		return 3
	}
}

// scorePulse: ≤40 →3, 41–50 →1, 51–90 →0, 91–110 →1, 111–130 →2, ≥131 →3.
func scorePulse(x float64) int {
	x = clean(x)
	switch {
	case x < 41:
		return 3
	case x < 51:
		return 1
	case x <= 90:
		return 0
	case x <= 110:
		return 1
	case x <= 130:
		return 2
	default:
		return 3
	}
}

// scoreConsciousness: Alert →0; new Confusion, Voice, Pain, Unresponsive →3.
// The ordinal is vitals.ACVPU (0 = A … 4 = U).
func scoreConsciousness(x float64) int {
	if clean(x) == 0 {
		return 0
	}
	return 3
}

// scoreTemperature: ≤35.0 →3, 35.1–36.0 →1, 36.1–38.0 →0, 38.1–39.0 →1,
// ≥39.1 →2.
func scoreTemperature(x float64) int {
	x = clean(x)
	switch {
	case x < 35.1:
		return 3
	case x < 36.1:
		return 1
	case x <= 38.0:
		return 0
	case x <= 39.0:
		return 1
	default:
		return 2
	}
}
