package ews

import "testing"

// chartCase is one row of RCP 2017 NEWS2 chart 1: a value and the score
// the chart gives it. Every band boundary is covered from both sides.
type chartCase struct {
	value float64
	score int
}

func checkChart(t *testing.T, name string, f func(float64) int, cases []chartCase) {
	t.Helper()
	for _, c := range cases {
		if got := f(c.value); got != c.score {
			t.Errorf("%s(%v) = %d, want %d", name, c.value, got, c.score)
		}
	}
}

func TestChartRespRate(t *testing.T) {
	// ≤8 →3, 9–11 →1, 12–20 →0, 21–24 →2, ≥25 →3
	checkChart(t, "respiration rate", scoreRespRate, []chartCase{
		{0, 3}, {8, 3}, {9, 1}, {11, 1}, {12, 0}, {20, 0}, {21, 2}, {24, 2}, {25, 3}, {60, 3},
		// between listed values: the higher-scoring neighbour
		{8.5, 3}, {11.5, 1}, {20.5, 2}, {24.5, 3}, {11.9999999, 0},
	})
}

func TestChartSpO2Scale1(t *testing.T) {
	// ≤91 →3, 92–93 →2, 94–95 →1, ≥96 →0
	checkChart(t, "spo2 scale 1", scoreSpO2Scale1, []chartCase{
		{70, 3}, {91, 3}, {92, 2}, {93, 2}, {94, 1}, {95, 1}, {96, 0}, {100, 0},
		{91.5, 3}, {93.5, 2}, {95.5, 1},
	})
}

func TestChartSpO2Scale2(t *testing.T) {
	// ≤83 →3, 84–85 →2, 86–87 →1, 88–92 →0, ≥93 on air →0,
	// 93–94 on O2 →1, 95–96 on O2 →2, ≥97 on O2 →3
	air := func(x float64) int { return scoreSpO2Scale2(x, false) }
	o2 := func(x float64) int { return scoreSpO2Scale2(x, true) }
	checkChart(t, "spo2 scale 2 on air", air, []chartCase{
		{70, 3}, {83, 3}, {84, 2}, {85, 2}, {86, 1}, {87, 1}, {88, 0}, {92, 0}, {93, 0}, {97, 0}, {100, 0},
		{83.5, 3}, {85.5, 2}, {87.5, 1}, {92.5, 0},
	})
	checkChart(t, "spo2 scale 2 on oxygen", o2, []chartCase{
		{83, 3}, {84, 2}, {85, 2}, {86, 1}, {87, 1}, {88, 0}, {92, 0},
		{93, 1}, {94, 1}, {95, 2}, {96, 2}, {97, 3}, {100, 3},
		{92.5, 1}, {94.5, 2}, {96.5, 3},
	})
}

func TestChartOxygen(t *testing.T) {
	if scoreOxygen(true) != 2 || scoreOxygen(false) != 0 {
		t.Errorf("oxygen = %d, air = %d, want 2 and 0", scoreOxygen(true), scoreOxygen(false))
	}
}

func TestChartSystolic(t *testing.T) {
	// ≤90 →3, 91–100 →2, 101–110 →1, 111–219 →0, ≥220 →3
	checkChart(t, "systolic", scoreSystolic, []chartCase{
		{40, 3}, {90, 3}, {91, 2}, {100, 2}, {101, 1}, {110, 1}, {111, 0}, {219, 0}, {220, 3}, {300, 3},
		{90.5, 3}, {100.5, 2}, {110.5, 1}, {219.5, 3},
	})
}

func TestChartPulse(t *testing.T) {
	// ≤40 →3, 41–50 →1, 51–90 →0, 91–110 →1, 111–130 →2, ≥131 →3
	checkChart(t, "pulse", scorePulse, []chartCase{
		{20, 3}, {40, 3}, {41, 1}, {50, 1}, {51, 0}, {90, 0}, {91, 1}, {110, 1}, {111, 2}, {130, 2}, {131, 3}, {220, 3},
		{40.5, 3}, {50.5, 1}, {90.5, 1}, {110.5, 2}, {130.5, 3},
	})
}

func TestChartConsciousness(t *testing.T) {
	// Alert →0; new confusion, voice, pain, unresponsive →3
	checkChart(t, "consciousness", scoreConsciousness, []chartCase{
		{0, 0}, {1, 3}, {2, 3}, {3, 3}, {4, 3},
	})
}

func TestChartTemperature(t *testing.T) {
	// ≤35.0 →3, 35.1–36.0 →1, 36.1–38.0 →0, 38.1–39.0 →1, ≥39.1 →2
	checkChart(t, "temperature", scoreTemperature, []chartCase{
		{30, 3}, {35.0, 3}, {35.1, 1}, {36.0, 1}, {36.1, 0}, {38.0, 0}, {38.1, 1}, {39.0, 1}, {39.1, 2}, {42, 2},
		{35.05, 3}, {36.05, 1}, {38.05, 1}, {39.05, 2},
		// °F conversions must not fall between bands by rounding noise:
		// 100.4 °F = 38.0 °C, 96.8 °F = 36.0 °C, 95 °F = 35 °C.
		{(100.4 - 32) * 5 / 9, 0}, {(96.8 - 32) * 5 / 9, 1}, {(95.0 - 32) * 5 / 9, 3},
	})
}
