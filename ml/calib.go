package ml

import "math"

// Calibration is the result of temperature scaling on held-out rows.
type Calibration struct {
	Temperature   float64 // T: probabilities are softmax(margin / T)
	Rows          int     // held-out rows used
	LogLossBefore float64 // mean log-loss at T = 1
	LogLossAfter  float64 // mean log-loss at the fitted T
	ECEBefore     float64 // expected calibration error at T = 1
	ECEAfter      float64 // expected calibration error at the fitted T
}

// FitTemperature finds the temperature T in [0.05, 20] that minimises the
// mean log-loss of softmax(margins/T) on the given rows (margins row-major,
// K per row), by golden-section search on log T (the loss is convex in 1/T).
// With no rows it returns T = 1.
func FitTemperature(margins []float64, y []int, K int) Calibration {
	c := Calibration{Temperature: 1, Rows: len(y)}
	if len(y) == 0 {
		return c
	}
	loss := func(t float64) float64 { return LogLoss(margins, y, K, t) }
	a, b := math.Log(0.05), math.Log(20)
	phi := (math.Sqrt(5) - 1) / 2
	x1, x2 := b-phi*(b-a), a+phi*(b-a)
	f1, f2 := loss(math.Exp(x1)), loss(math.Exp(x2))
	for range 60 {
		if f1 < f2 {
			b, x2, f2 = x2, x1, f1
			x1 = b - phi*(b-a)
			f1 = loss(math.Exp(x1))
		} else {
			a, x1, f1 = x1, x2, f2
			x2 = a + phi*(b-a)
			f2 = loss(math.Exp(x2))
		}
	}
	c.Temperature = math.Exp((a + b) / 2)
	c.LogLossBefore = loss(1)
	c.LogLossAfter = loss(c.Temperature)
	if c.LogLossAfter > c.LogLossBefore {
		c.Temperature, c.LogLossAfter = 1, c.LogLossBefore
	}
	c.ECEBefore = ECE(margins, y, K, 1, 15)
	c.ECEAfter = ECE(margins, y, K, c.Temperature, 15)
	return c
}

// LogLoss returns the mean negative log-likelihood of the labels y under
// softmax(margins/t) (margins row-major, K per row).
func LogLoss(margins []float64, y []int, K int, t float64) float64 {
	p := make([]float64, K)
	s := 0.0
	for i, yi := range y {
		copy(p, margins[i*K:(i+1)*K])
		softmaxT(p, t)
		s -= math.Log(max(p[yi], 1e-15))
	}
	return s / float64(len(y))
}

// ECE returns the expected calibration error of the top-label confidence of
// softmax(margins/t) over the given number of equal-width bins (Naeini et
// al. 2015; Guo et al. 2017): Σ_b (n_b/n)·|accuracy_b − confidence_b|.
func ECE(margins []float64, y []int, K int, t float64, bins int) float64 {
	if len(y) == 0 || bins <= 0 {
		return 0
	}
	p := make([]float64, K)
	cnt := make([]float64, bins)
	acc := make([]float64, bins)
	conf := make([]float64, bins)
	for i, yi := range y {
		copy(p, margins[i*K:(i+1)*K])
		softmaxT(p, t)
		k := Argmax(p)
		b := min(int(p[k]*float64(bins)), bins-1)
		cnt[b]++
		conf[b] += p[k]
		if k == yi {
			acc[b]++
		}
	}
	e := 0.0
	for b := range cnt {
		if cnt[b] > 0 {
			e += math.Abs(acc[b]-conf[b]) / float64(len(y))
		}
	}
	return e
}
