package rules_test

import (
	"fmt"
	"time"

	"github.com/vigilhealth/vigil/rules"
	"github.com/vigilhealth/vigil/vitals"
)

func ExamplePatient() {
	start := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	p, err := rules.NewPatient([]rules.Rule{
		{ID: "spo2-low", Kind: rules.Threshold, Code: vitals.CodeSpO2, Op: rules.Less, Value: 90,
			For: rules.Duration(5 * time.Minute), Severity: rules.High},
		{ID: "no-spo2", Kind: rules.Missing, Code: vitals.CodeSpO2, For: rules.Duration(4 * time.Hour),
			Severity: rules.Medium},
	}, start)
	if err != nil {
		fmt.Println(err)
		return
	}
	for i, v := range []float64{94, 89, 88, 88, 87, 88, 89, 92} {
		r, _ := vitals.Normalize(vitals.CodeSpO2PulseOx, v, "%")
		for _, e := range p.Observe(r, start.Add(time.Duration(i)*time.Minute)) {
			fmt.Println(e.Time.Format("15:04"), e.Rule, e.Kind, len(e.Readings), "readings")
		}
	}
	for _, e := range p.Tick(start.Add(5 * time.Hour)) {
		fmt.Println(e.Time.Format("15:04"), e.Rule, e.Kind)
	}
	// Output:
	// 08:06 spo2-low finding 6 readings
	// 08:07 spo2-low cleared 1 readings
	// 13:00 no-spo2 finding
}
