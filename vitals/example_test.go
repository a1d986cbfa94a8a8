package vitals_test

import (
	"errors"
	"fmt"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/vitals"
)

func ExampleNormalize() {
	r, err := vitals.Normalize(vitals.CodeBodyTemp, 101.3, "[degF]")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s %s %.1f %s\n", r.Code, r.Param, r.Value, r.Unit)

	g, _ := vitals.Normalize(vitals.CodeGlucoseMeter, 5.5, "mmol/L")
	fmt.Printf("%s %.1f %s\n", g.Param, g.Value, g.Unit)

	_, err = vitals.Normalize(vitals.CodeHeartRate, 72, "Hz")
	fmt.Println(errors.Is(err, vigil.ErrInvalid), vigil.PublicMessage(err))
	// Output:
	// 8310-5 body-temp 38.5 Cel
	// glucose 99.1 mg/dL
	// true vitals: unit "Hz" is not accepted for code 8867-4 (want /min)
}
