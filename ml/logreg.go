package ml

import (
	"context"
	"fmt"
	"math"

	"github.com/vigilhealth/vigil"
)

// LogReg is a multinomial logistic regression on standardised features: the
// margin of class k is b_k + Σ_f W[k,f]·(x_f − mean_f)/scale_f, with a
// missing (NaN) feature contributing 0. It is immutable after training and
// safe for concurrent use.
type LogReg struct {
	classes, features int
	mean, scale       []float64
	w                 []float64 // K×F row-major
	b                 []float64
	temp              float64
}

// LogRegConfig controls TrainLogReg.
type LogRegConfig struct {
	L2           float64   // penalty λ/2·‖W‖² on the weights, not the biases (default 1e-4)
	MaxIter      int       // L-BFGS iterations (default 300)
	ClassWeights []float64 // weight of each class's rows (nil = 1)
}

// NumClasses returns the number of classes.
func (m *LogReg) NumClasses() int { return m.classes }

// NumFeatures returns the number of input features.
func (m *LogReg) NumFeatures() int { return m.features }

// Temperature returns the calibration temperature applied by Proba.
func (m *LogReg) Temperature() float64 { return m.temp }

// SetTemperature sets the calibration temperature (> 0) used by Proba.
func (m *LogReg) SetTemperature(t float64) {
	if t > 0 && !math.IsInf(t, 0) {
		m.temp = t
	}
}

// Margins writes the raw margin of each class for x into out.
func (m *LogReg) Margins(x []float32, out []float64) {
	F := m.features
	copy(out[:m.classes], m.b)
	for f := 0; f < F; f++ {
		v := float64(x[f])
		if math.IsNaN(v) {
			continue
		}
		z := (v - m.mean[f]) / m.scale[f]
		for k := 0; k < m.classes; k++ {
			out[k] += m.w[k*F+f] * z
		}
	}
}

// Proba writes calibrated class probabilities for x into out.
func (m *LogReg) Proba(x []float32, out []float64) {
	m.Margins(x, out)
	softmaxT(out[:m.classes], m.temp)
}

func (m *LogReg) check() error {
	K, F := m.classes, m.features
	if K < 2 || K > 1024 || F < 1 || F > 1<<20 {
		return fmt.Errorf("%w: %d classes, %d features", vigil.ErrInvalid, K, F)
	}
	if len(m.mean) != F || len(m.scale) != F || len(m.w) != K*F || len(m.b) != K {
		return fmt.Errorf("%w: logistic regression arrays do not match %d classes × %d features", vigil.ErrInvalid, K, F)
	}
	for _, s := range [][]float64{m.mean, m.w, m.b} {
		for _, v := range s {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("%w: non-finite parameter", vigil.ErrInvalid)
			}
		}
	}
	for _, v := range m.scale {
		if !(v > 0) || math.IsInf(v, 0) {
			return fmt.Errorf("%w: scale %v", vigil.ErrInvalid, v)
		}
	}
	if !(m.temp > 0) || math.IsInf(m.temp, 0) {
		return fmt.Errorf("%w: temperature %v", vigil.ErrInvalid, m.temp)
	}
	return nil
}

// TrainLogReg fits a multinomial logistic regression by L-BFGS on the
// class-weighted mean cross-entropy plus an L2 penalty.
func TrainLogReg(ctx context.Context, d Dataset, classes int, cfg LogRegConfig) (*LogReg, error) {
	if classes < 2 {
		return nil, fmt.Errorf("%w: %d classes", vigil.ErrInvalid, classes)
	}
	if err := d.validate(classes); err != nil {
		return nil, err
	}
	if cfg.ClassWeights != nil && len(cfg.ClassWeights) != classes {
		return nil, fmt.Errorf("%w: %d class weights for %d classes", vigil.ErrInvalid, len(cfg.ClassWeights), classes)
	}
	if cfg.L2 <= 0 {
		cfg.L2 = 1e-4
	}
	if cfg.MaxIter <= 0 {
		cfg.MaxIter = 300
	}
	K, F, n := classes, d.Cols, d.Rows
	m := &LogReg{classes: K, features: F, mean: make([]float64, F), scale: make([]float64, F), temp: 1}
	// Standardise: mean and standard deviation over non-missing values.
	for f := 0; f < F; f++ {
		s, s2, c := 0.0, 0.0, 0.0
		for i := 0; i < n; i++ {
			if v := float64(d.X[i*F+f]); !math.IsNaN(v) {
				s += v
				s2 += v * v
				c++
			}
		}
		m.scale[f] = 1
		if c > 0 {
			m.mean[f] = s / c
			if sd := math.Sqrt(max(s2/c-m.mean[f]*m.mean[f], 0)); sd > 1e-12 {
				m.scale[f] = sd
			}
		}
	}
	z := make([]float64, n*F)
	for i := 0; i < n; i++ {
		for f := 0; f < F; f++ {
			if v := float64(d.X[i*F+f]); !math.IsNaN(v) {
				z[i*F+f] = (v - m.mean[f]) / m.scale[f]
			}
		}
	}
	w := make([]float64, n)
	wsum := 0.0
	for i := range w {
		w[i] = 1
		if d.Weight != nil {
			w[i] = float64(d.Weight[i])
		}
		if cfg.ClassWeights != nil {
			w[i] *= cfg.ClassWeights[d.Y[i]]
		}
		wsum += w[i]
	}
	if wsum == 0 {
		return nil, fmt.Errorf("%w: all rows have zero weight", vigil.ErrInvalid)
	}
	P := K*F + K // parameters: weights then biases
	p := make([]float64, K)
	obj := func(theta, grad []float64) float64 {
		clear(grad)
		loss := 0.0
		W, B := theta[:K*F], theta[K*F:]
		for i := 0; i < n; i++ {
			zi := z[i*F : (i+1)*F]
			for k := 0; k < K; k++ {
				s := B[k]
				wk := W[k*F : (k+1)*F]
				for f, v := range zi {
					s += wk[f] * v
				}
				p[k] = s
			}
			softmaxT(p, 1)
			loss -= w[i] * math.Log(max(p[d.Y[i]], 1e-300))
			for k := 0; k < K; k++ {
				r := p[k]
				if k == d.Y[i] {
					r--
				}
				r *= w[i]
				gk := grad[k*F : (k+1)*F]
				for f, v := range zi {
					gk[f] += r * v
				}
				grad[K*F+k] += r
			}
		}
		loss /= wsum
		for j := range grad {
			grad[j] /= wsum
		}
		for j := 0; j < K*F; j++ {
			loss += cfg.L2 / 2 * W[j] * W[j]
			grad[j] += cfg.L2 * W[j]
		}
		return loss
	}
	theta, err := lbfgs(ctx, obj, make([]float64, P), cfg.MaxIter)
	if err != nil {
		return nil, err
	}
	m.w, m.b = theta[:K*F], theta[K*F:]
	return m, m.check()
}

// lbfgs minimises f with limited-memory BFGS (Nocedal & Wright, "Numerical
// Optimization", 2006, Algorithm 7.4/7.5) and a backtracking Armijo line
// search.
func lbfgs(ctx context.Context, f func(x, g []float64) float64, x []float64, maxIter int) ([]float64, error) {
	const mem = 10
	n := len(x)
	g := make([]float64, n)
	fx := f(x, g)
	var S, Y [][]float64
	var rho []float64
	d := make([]float64, n)
	xn := make([]float64, n)
	gn := make([]float64, n)
	alpha := make([]float64, mem)
	dot := func(a, b []float64) float64 {
		s := 0.0
		for i := range a {
			s += a[i] * b[i]
		}
		return s
	}
	for it := 0; it < maxIter; it++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if math.Sqrt(dot(g, g)) < 1e-7 {
			break
		}
		// Two-loop recursion: d = -H g.
		copy(d, g)
		for i := len(S) - 1; i >= 0; i-- {
			alpha[i] = rho[i] * dot(S[i], d)
			for j := range d {
				d[j] -= alpha[i] * Y[i][j]
			}
		}
		if len(S) > 0 {
			last := len(S) - 1
			gamma := dot(S[last], Y[last]) / dot(Y[last], Y[last])
			for j := range d {
				d[j] *= gamma
			}
		}
		for i := range S {
			b := rho[i] * dot(Y[i], d)
			for j := range d {
				d[j] += S[i][j] * (alpha[i] - b)
			}
		}
		for j := range d {
			d[j] = -d[j]
		}
		gd := dot(g, d)
		if gd >= 0 { // not a descent direction: restart with steepest descent
			S, Y, rho = nil, nil, nil
			for j := range d {
				d[j] = -g[j]
			}
			gd = dot(g, d)
		}
		step := 1.0
		var fn float64
		for ls := 0; ; ls++ {
			for j := range x {
				xn[j] = x[j] + step*d[j]
			}
			fn = f(xn, gn)
			if fn <= fx+1e-4*step*gd || ls == 40 {
				break
			}
			step /= 2
		}
		s := make([]float64, n)
		y := make([]float64, n)
		for j := range x {
			s[j] = xn[j] - x[j]
			y[j] = gn[j] - g[j]
		}
		improved := fx - fn
		copy(x, xn)
		copy(g, gn)
		fx = fn
		if sy := dot(s, y); sy > 1e-12 {
			S, Y, rho = append(S, s), append(Y, y), append(rho, 1/sy)
			if len(S) > mem {
				S, Y, rho = S[1:], Y[1:], rho[1:]
			}
		}
		if improved >= 0 && improved < 1e-10*max(1, math.Abs(fx)) {
			break
		}
	}
	return x, nil
}
