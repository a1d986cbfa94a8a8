package ml

import (
	"context"
	"sync"
	"testing"
)

// benchModel is a model larger than the beat model Vigil ships (60 rounds ×
// 4 classes of 8-leaf trees, 50 features), trained once per process.
var benchModel = sync.OnceValues(func() (*GBT, Dataset) {
	d := synth(20000, 50, 1)
	for i := range d.Y {
		if d.Row(i)[3] > 1.2 {
			d.Y[i] = 3
		}
	}
	m, _, err := TrainGBT(context.Background(), d, 4, Config{Rounds: 60, MaxLeaves: 8, ValidFraction: -1})
	if err != nil {
		panic(err)
	}
	return m, d
})

func BenchmarkPredict(b *testing.B) {
	m, d := benchModel()
	out := make([]float64, m.NumClasses())
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		m.Proba(d.Row(i%d.Rows), out)
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

func BenchmarkPredictBatch(b *testing.B) {
	m, d := benchModel()
	const n = 1024
	out := make([]float64, n*m.NumClasses())
	b.ReportAllocs()
	off := 0
	for b.Loop() {
		m.MarginsBatch(d.X[off*d.Cols:(off+n)*d.Cols], out)
		off = (off + n) % (d.Rows - n)
	}
	b.ReportMetric(float64(b.N)*n/b.Elapsed().Seconds(), "rows/s")
}

func BenchmarkExplain(b *testing.B) {
	m, d := benchModel()
	e := NewExplainer(m)
	phi := make([]float64, m.NumFeatures())
	out := make([]float64, m.NumClasses())
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		x := d.Row(i % d.Rows)
		m.Proba(x, out)
		e.Explain(x, Argmax(out), phi)
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

func BenchmarkTrain(b *testing.B) {
	d := synth(20000, 40, 1)
	b.SetBytes(int64(len(d.X) * 4))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := TrainGBT(context.Background(), d, 3, Config{Rounds: 20}); err != nil {
			b.Fatal(err)
		}
	}
}
