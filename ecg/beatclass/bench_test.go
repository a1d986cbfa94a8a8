package beatclass

import (
	"context"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/vigilhealth/vigil/ml"
)

// cpuTime returns the CPU time used by the process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rate reports beats per second of wall-clock time and per CPU-second of
// the process (the second stays meaningful on a machine shared with other
// jobs; run with -cpu 1).
func rate(b *testing.B, beats int, cpu0 time.Duration) {
	b.ReportMetric(float64(beats)/b.Elapsed().Seconds(), "beats/s")
	if cpu := cpuTime() - cpu0; cpu > 0 {
		b.ReportMetric(float64(beats)/cpu.Seconds(), "beats/cpu-s")
	}
}

func benchFeatures(b *testing.B) (*Classifier, *Features) {
	c, err := Default()
	if err != nil {
		b.Fatal(err)
	}
	x, beats, _ := synthECG()
	f, err := Extract(x, 360, beats)
	if err != nil {
		b.Fatal(err)
	}
	return c, f
}

// BenchmarkPredict measures the model alone on one beat at a time
// (explanations off): beats/s per core.
func BenchmarkPredict(b *testing.B) {
	c, f := benchFeatures(b)
	m := c.Model()
	var out [4]float64
	b.ReportAllocs()
	cpu0 := cpuTime()
	i := 0
	for b.Loop() {
		m.Margins(f.Row(i%f.Len()), out[:])
		i++
	}
	rate(b, b.N, cpu0)
}

// BenchmarkPredictBatch measures the batch path over all beats of a record.
func BenchmarkPredictBatch(b *testing.B) {
	c, f := benchFeatures(b)
	m := c.Model()
	out := make([]float64, f.Len()*m.NumClasses())
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		m.MarginsBatch(f.X, out)
	}
	rate(b, b.N*f.Len(), cpu0)
}

// BenchmarkLabel is Label: quality check, model and argmax per beat.
func BenchmarkLabel(b *testing.B) {
	c, f := benchFeatures(b)
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		c.Label(f)
	}
	rate(b, b.N*f.Len(), cpu0)
}

// BenchmarkExplain measures prediction plus exact TreeSHAP of the chosen
// class (no allocation).
func BenchmarkExplain(b *testing.B) {
	c, f := benchFeatures(b)
	m := c.Model()
	e := ml.NewExplainer(m)
	var p [4]float64
	phi := make([]float64, NumFeatures)
	b.ReportAllocs()
	cpu0 := cpuTime()
	i := 0
	for b.Loop() {
		x := f.Row(i % f.Len())
		m.Proba(x, p[:])
		e.Explain(x, ml.Argmax(p[:]), phi)
		i++
	}
	rate(b, b.N, cpu0)
}

// BenchmarkClassify is Classify: probabilities, TreeSHAP and the
// plain-language explanation.
func BenchmarkClassify(b *testing.B) {
	c, f := benchFeatures(b)
	b.ReportAllocs()
	cpu0 := cpuTime()
	i := 0
	for b.Loop() {
		c.Classify(f, i%f.Len())
		i++
	}
	rate(b, b.N, cpu0)
}

// BenchmarkExtract measures feature extraction over a 2-minute signal.
func BenchmarkExtract(b *testing.B) {
	x, beats, _ := synthECG()
	b.SetBytes(int64(len(x) * 4))
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		if _, err := Extract(x, 360, beats); err != nil {
			b.Fatal(err)
		}
	}
	rate(b, b.N*len(beats), cpu0)
}

// BenchmarkTrainDS1 trains on all DS1 beats with a fixed 40 rounds and no
// validation split (one pass), the setting of the scikit-learn comparison
// in testdata/sklearn_compare.py. Run with -benchtime 1x.
func BenchmarkTrainDS1(b *testing.B) {
	if _, err := os.Stat(dataDir); err != nil {
		b.Skipf("MIT-BIH DS1 not found: %v", err)
	}
	recs := loadDir(b, dataDir, nil)
	cfg := ModelConfig(1)
	cfg.Rounds, cfg.EarlyStop, cfg.ValidFraction, cfg.Refit = 40, 0, -1, false
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		if _, _, err := Train(context.Background(), recs, TrainConfig{Seed: 1, Model: &cfg}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric((cpuTime()-cpu0).Seconds()/float64(b.N), "cpu-s/op")
}

// BenchmarkLabelAdapted is Label for a classifier adapted to the first 5
// minutes of a DS1 record (209 at the detector's beats: 487 labelled
// beats, 411 prototypes): the model plus the local expert's
// nearest-neighbour search and patient rules per beat.
func BenchmarkLabelAdapted(b *testing.B) {
	dir := needData(b)
	c, err := Default()
	if err != nil {
		b.Fatal(err)
	}
	r := loadDirAt(b, dir, []string{"209"}, PositionsDetector)[0]
	n := WindowBeats(r.Features, 5)
	a, err := c.Adapt(context.Background(), r.Features, Feedback(r.Labels[:n]))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		a.Label(r.Features)
	}
	rate(b, b.N*r.Features.Len(), cpu0)
}
