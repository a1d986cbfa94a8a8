package sim_test

import (
	"fmt"
	"time"

	"github.com/vigilhealth/vigil/sim"
)

func ExampleGenerator() {
	start := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	g, err := sim.New(sim.Config{
		Patients: []sim.Patient{{ID: "MRN-1", Device: "dev-1", Scenario: sim.Sepsis, Onset: sim.Duration(time.Hour)}},
		Seed:     1,
		Start:    start,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range g.Until(start.Add(2 * time.Minute)) {
		if r.Value != nil {
			fmt.Println(r.Time.Format("15:04:05"), r.Device, r.Code, *r.Value, r.Unit)
		} else {
			fmt.Println(r.Time.Format("15:04:05"), r.Device, r.Code, *r.Components[0].Value, "/", *r.Components[1].Value, r.Components[0].Unit)
		}
	}
	// Output:
	// 08:00:35 dev-1 8867-4 66 /min
	// 08:00:35 dev-1 9279-1 15 /min
	// 08:00:35 dev-1 59408-5 95 %
	// 08:00:35 dev-1 85354-9 135 / 81 mm[Hg]
	// 08:00:35 dev-1 8310-5 36.5 Cel
	// 08:01:35 dev-1 8867-4 66 /min
	// 08:01:35 dev-1 9279-1 15 /min
	// 08:01:35 dev-1 59408-5 95 %
}
