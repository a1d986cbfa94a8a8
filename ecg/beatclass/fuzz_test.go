package beatclass

import (
	"encoding/binary"
	"math"
	"testing"
)

// FuzzExtract feeds arbitrary signals and beat positions to Extract and the
// default classifier: errors are fine, panics and non-finite probabilities
// are not.
func FuzzExtract(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4}, uint16(360), []byte{10, 200})
	f.Add(make([]byte, 4000), uint16(125), []byte{1, 1, 50})
	c, err := Default()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, sig []byte, fs uint16, pos []byte) {
		x := make([]float32, len(sig)/4)
		for i := range x {
			x[i] = math.Float32frombits(binary.LittleEndian.Uint32(sig[i*4:]))
		}
		var beats []int
		last := 0
		for _, p := range pos {
			last += int(p)
			beats = append(beats, last)
		}
		feat, err := Extract(x, float64(fs), beats)
		if err != nil {
			return
		}
		c.Label(feat)
		for i := range feat.Len() {
			r := c.Classify(feat, i)
			for _, p := range r.Prob {
				if math.IsNaN(p) || p < 0 || p > 1 {
					t.Fatalf("beat %d: probability %v", i, p)
				}
			}
		}
	})
}
