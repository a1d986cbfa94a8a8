package ews_test

import (
	"fmt"
	"time"

	"github.com/vigilhealth/vigil/ews"
	"github.com/vigilhealth/vigil/vitals"
)

func ExampleCalculate() {
	at := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	var in ews.Input
	for _, m := range []struct {
		code, unit string
		v          float64
	}{
		{vitals.CodeRespRate, "/min", 23},
		{vitals.CodeSpO2PulseOx, "%", 95},
		{vitals.CodeInspiredO2Flow, "L/min", 0},
		{vitals.CodeSystolic, "mm[Hg]", 108},
		{vitals.CodeHeartRate, "/min", 104},
		{vitals.CodeConsciousness, "{ACVPU}", float64(vitals.Alert)},
		{vitals.CodeBodyTemp, "[degF]", 101.1},
	} {
		r, err := vitals.Normalize(m.code, m.v, m.unit)
		if err != nil {
			fmt.Println(err)
			return
		}
		in.Observe(r, at)
	}
	res := ews.Calculate(&in, at.Add(10*time.Minute), ews.Options{})
	fmt.Println(res.Score, res.Band, res.Partial)
	for _, c := range res.Components {
		fmt.Printf("%s=%d ", c.Parameter, c.Score)
	}
	fmt.Println()
	// Output:
	// 6 medium false
	// respiration_rate=2 spo2=1 air_or_oxygen=0 systolic_bp=1 pulse=1 consciousness=0 temperature=1
}
