package beatclass

import "fmt"

// Label a two-minute synthetic lead with the default model and explain the
// eighth beat, a premature wide beat followed by a compensatory pause.
func ExampleClassifier_Classify() {
	c, err := Default()
	if err != nil {
		panic(err)
	}
	x, beats, _ := synthECG() // signal in mV at 360 Hz, R-peak positions
	f, err := Extract(x, 360, beats)
	if err != nil {
		panic(err)
	}
	fmt.Println(string(c.Label(f)[:16]))
	r := c.Classify(f, 7)
	fmt.Printf("beat 7: %c (p=%.2f): %s\n", r.Class, r.Prob[2], r.Explanation)
	// Output:
	// NNNNNNNVNNNNNNNV
	// beat 7: V (p=0.89): shape unlike the patient's usual beat (correlation -0.31), QRS unlike the previous beat's (correlation -0.61)
}
