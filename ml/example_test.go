package ml_test

import (
	"bytes"
	"context"
	"fmt"

	"github.com/vigilhealth/vigil/ml"
)

// A two-feature, three-class problem: class 2 when x0 > 1, class 1 when
// x1 > 1, else class 0.
func toy() ml.Dataset {
	d := ml.Dataset{Cols: 2}
	for i := 0; i < 600; i++ {
		x0, x1 := float32(i%30)/10, float32(i/30%30)/10
		y := 0
		switch {
		case x0 > 1:
			y = 2
		case x1 > 1:
			y = 1
		}
		d.X = append(d.X, x0, x1)
		d.Y = append(d.Y, y)
		d.Rows++
	}
	return d
}

func ExampleTrainGBT() {
	m, _, err := ml.TrainGBT(context.Background(), toy(), 3, ml.Config{Rounds: 30, MinLeaf: 5, ValidFraction: -1})
	if err != nil {
		panic(err)
	}
	p := make([]float64, 3)
	for _, x := range [][]float32{{0.5, 0.5}, {0.5, 2}, {2, 2}} {
		m.Proba(x, p)
		fmt.Printf("%v → class %d\n", x, ml.Argmax(p))
	}
	// Output:
	// [0.5 0.5] → class 0
	// [0.5 2] → class 1
	// [2 2] → class 2
}

func ExampleExplainer() {
	m, _, err := ml.TrainGBT(context.Background(), toy(), 3, ml.Config{Rounds: 30, MinLeaf: 5, ValidFraction: -1})
	if err != nil {
		panic(err)
	}
	e := ml.NewExplainer(m)
	x := []float32{2, 0.5}
	phi := make([]float64, 2)
	margins := make([]float64, 3)
	m.Margins(x, margins)
	base := e.Explain(x, 2, phi)
	fmt.Printf("x0 pushes class 2 up: %v; x1 matters less: %v\n", phi[0] > 0, phi[0] > 10*phi[1])
	fmt.Printf("Σφ + E[f] = margin: %.6f = %.6f\n", phi[0]+phi[1]+base, margins[2])
	// Output:
	// x0 pushes class 2 up: true; x1 matters less: true
	// Σφ + E[f] = margin: 2.371721 = 2.371721
}

func ExampleWrite() {
	m, _, _ := ml.TrainGBT(context.Background(), toy(), 3, ml.Config{Rounds: 5, ValidFraction: -1})
	var b bytes.Buffer
	if err := ml.Write(&b, &ml.File{Model: m, Classes: []string{"a", "b", "c"}}); err != nil {
		panic(err)
	}
	f, err := ml.Read(&b)
	if err != nil {
		panic(err)
	}
	fmt.Println(f.Classes, f.Model.NumFeatures())
	// Output: [a b c] 2
}
