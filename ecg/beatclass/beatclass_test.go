package beatclass

import (
	"bytes"
	"context"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// dataDir is the MIT-BIH DS1 directory, relative to this package.
var dataDir = filepath.Join("..", "..", "..", "shared", "data", "mitdb-ds1")

func needData(t testing.TB) string {
	t.Helper()
	if _, err := os.Stat(dataDir); err != nil {
		t.Skipf("MIT-BIH DS1 not found at %s (../shared/data): %v", dataDir, err)
	}
	return dataDir
}

// addGauss adds to x (sampled at fs) a Gaussian wave of amp mV centred at
// c seconds with width sigma seconds.
func addGauss(x []float32, fs, c, sigma, amp float64) {
	for i := max(0, int((c-5*sigma)*fs)); i < min(len(x), int((c+5*sigma)*fs)); i++ {
		d := (float64(i)/fs - c) / sigma
		x[i] += float32(amp * math.Exp(-d*d/2))
	}
}

// synthECG returns a 2-minute, 360 Hz synthetic lead with sinus beats every
// 0.8 s and, every 8th beat, a premature (0.45 s) wide inverted beat
// without P wave, followed by a compensatory pause. It returns the signal,
// the beat positions and which beats are ectopic.
func synthECG() ([]float32, []int, []bool) {
	const fs = 360.0
	x := make([]float32, int(120*fs))
	gauss := func(c, sigma, amp float64) { addGauss(x, fs, c, sigma, amp) }
	var beats []int
	var ectopic []bool
	t := 0.5
	for n := 0; t < 119; n++ {
		wide := n%8 == 7
		if wide {
			gauss(t, 0.035, -1.6)
			gauss(t+0.3, 0.05, 0.4)
		} else {
			gauss(t-0.16, 0.02, 0.15)
			gauss(t, 0.009, 1.2)
			gauss(t+0.03, 0.008, -0.25)
			gauss(t+0.26, 0.04, 0.3)
		}
		beats = append(beats, int(math.Round(t*fs)))
		ectopic = append(ectopic, wide)
		switch {
		case n%8 == 6:
			t += 0.45 // the next beat is premature
		case wide:
			t += 1.15 // compensatory pause
		default:
			t += 0.8
		}
	}
	for i := range x { // a little baseline wander
		x[i] += float32(0.1 * math.Sin(2*math.Pi*0.2*float64(i)/fs))
	}
	return x, beats, ectopic
}

func TestExtract(t *testing.T) {
	x, beats, ectopic := synthECG()
	f, err := Extract(x, 360, beats)
	if err != nil {
		t.Fatalf("Extract: %v", err)
	}
	if f.Len() != len(beats) || len(f.X) != len(beats)*NumFeatures || len(FeatureNames()) != NumFeatures {
		t.Fatalf("shape: %d beats, %d values, %d names", f.Len(), len(f.X), len(FeatureNames()))
	}
	if f.Row(0)[fRRPre] != f.Row(0)[fRRPost] {
		t.Errorf("first beat RRpre = %v, want RRpost %v", f.Row(0)[fRRPre], f.Row(0)[fRRPost])
	}
	tests := []struct {
		name     string
		feature  int
		ectopic  bool
		min, max float32
	}{
		{"sinus RRpre", fRRPre, false, 0.79, 1.16},
		{"ectopic RRpre", fRRPre, true, 0.44, 0.46},
		{"ectopic prematurity", fRRPreLocal, true, 0.4, 0.65},
		{"ectopic pause", fRRPostLocal, true, 1.2, 1.5},
		{"sinus QRS width", fQRSWidth, false, 30, 100},
		{"ectopic QRS width", fQRSWidth, true, 120, 250},
		{"sinus shape", fCorr, false, 0.95, 1},
		{"ectopic shape", fCorr, true, -1, 0.5},
		{"sinus QRS amplitude (median units)", fRAmp, false, 0.7, 1.1},
		{"clean signal", fNoise, false, 0, 0.05},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for i := 2; i < f.Len()-1; i++ {
				// The window of a sinus beat just before an ectopic one
				// holds part of the ectopic QRS: skip those.
				if ectopic[i] != tc.ectopic || ectopic[i+1] {
					continue
				}
				if v := f.Row(i)[tc.feature]; !(v >= tc.min && v <= tc.max) {
					t.Fatalf("beat %d: %s = %v, want in [%v, %v]", i, FeatureNames()[tc.feature], v, tc.min, tc.max)
				}
			}
		})
	}
}

func TestExtractRejects(t *testing.T) {
	x := make([]float32, 1000)
	tests := []struct {
		name  string
		fs    float64
		beats []int
	}{
		{"sampling rate too low", 50, []int{10}},
		{"beat after the end", 360, []int{10, 1000}},
		{"negative beat", 360, []int{-1}},
		{"beats not ascending", 360, []int{500, 400}},
		{"duplicate beat", 360, []int{400, 400}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Extract(x, tc.fs, tc.beats); err == nil {
				t.Errorf("Extract(fs=%v, beats=%v) succeeded, want an error", tc.fs, tc.beats)
			}
		})
	}
	// Flat and missing signal: features, no panic, beats unclassifiable.
	flat := make([]float32, 3600)
	for i := 1000; i < 2000; i++ {
		flat[i] = float32(math.NaN())
	}
	f, err := Extract(flat, 360, []int{500, 1300, 2500})
	if err != nil {
		t.Fatalf("Extract(flat): %v", err)
	}
	c, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	if got := string(c.Label(f)); got != "QQQ" {
		t.Errorf("Label(flat signal) = %q, want QQQ", got)
	}
}

func TestDefaultClassifiesSyntheticBeats(t *testing.T) {
	c, err := Default()
	if err != nil {
		t.Fatalf("Default: %v", err)
	}
	x, beats, ectopic := synthECG()
	f, err := Extract(x, 360, beats)
	if err != nil {
		t.Fatal(err)
	}
	labels := c.Label(f)
	for i := 0; i < f.Len()-1; i++ {
		want := byte('N')
		if ectopic[i] {
			want = 'V'
		}
		if labels[i] != want {
			t.Errorf("beat %d labelled %c, want %c", i, labels[i], want)
		}
		r := c.Classify(f, i)
		if r.Class != labels[i] {
			t.Errorf("beat %d: Classify %c, Label %c", i, r.Class, labels[i])
		}
		sum := 0.0
		for _, p := range r.Prob {
			sum += p
		}
		if math.Abs(sum-1) > 1e-9 || r.Explanation == "" || len(r.Top) == 0 {
			t.Errorf("beat %d: probabilities sum to %v, explanation %q, %d attributions", i, sum, r.Explanation, len(r.Top))
		}
	}
}

func TestConfusion(t *testing.T) {
	var c Confusion
	c.AddAll([]byte("NNNNSSVVFQ"), []byte("NNNSSNVNFN"))
	tests := []struct {
		name string
		got  float64
		want float64
	}{
		{"accuracy", c.Accuracy(), 0.6},
		{"N Se", c.Se('N'), 0.75},
		{"N +P", c.PP('N'), 3.0 / 6},
		{"S Se", c.Se('S'), 0.5},
		{"S +P", c.PP('S'), 0.5},
		{"V Se", c.Se('V'), 0.5},
		{"V +P", c.PP('V'), 1},
		{"F Se", c.Se('F'), 1},
	}
	for _, tc := range tests {
		if math.Abs(tc.got-tc.want) > 1e-12 {
			t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
	if !math.IsNaN(c.PP('Q')) {
		t.Errorf("Q +P with no Q predictions = %v, want NaN", c.PP('Q'))
	}
	var b bytes.Buffer
	c.Print(&b)
	if !bytes.Contains(b.Bytes(), []byte("accuracy 60.00 % over 10 beats")) {
		t.Errorf("Print:\n%s", b.String())
	}
}

// TestDefaultModelReproducible retrains on DS1 with the documented seed and
// checks that the embedded default model is byte-for-byte the result.
func TestDefaultModelReproducible(t *testing.T) {
	dir := needData(t)
	if testing.Short() {
		t.Skip("retrains the default model")
	}
	recs := loadDirAt(t, dir, nil, DefaultPositions)
	c, _, err := Train(context.Background(), recs, TrainConfig{Seed: DefaultSeed})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := c.Write(&b); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.Bytes(), defaultModel) {
		t.Errorf("retrained model (%s) differs from the embedded default.vgml; regenerate it with the command in README.md", c.Version())
	}
}

func loadDir(t testing.TB, dir string, names []string) []*Recording {
	t.Helper()
	return loadDirAt(t, dir, names, PositionsReference)
}

func loadDirAt(t testing.TB, dir string, names []string, pos Positions) []*Recording {
	t.Helper()
	fsys := os.DirFS(dir)
	if names == nil {
		var err error
		if names, err = RecordNames(fsys); err != nil {
			t.Fatal(err)
		}
	}
	var recs []*Recording
	for _, n := range names {
		r, err := LoadRecordingAt(fsys, n, pos)
		if err != nil {
			t.Fatalf("LoadRecordingAt(%s, %s): %v", n, pos, err)
		}
		recs = append(recs, r)
	}
	return recs
}

// TestUnseenPatientAndAdapt trains on a few DS1 records and labels another
// patient (119, ventricular bigeminy) it has never seen, then adapts to its
// first 5 minutes.
func TestUnseenPatientAndAdapt(t *testing.T) {
	dir := needData(t)
	train := loadDir(t, dir, []string{"106", "116", "118", "208", "215", "220", "223"})
	test := loadDir(t, dir, []string{"119"})[0]
	c, _, err := Train(context.Background(), train, TrainConfig{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	var cm Confusion
	cm.AddAll(test.Labels, c.Label(test.Features))
	if cm.Se('V') < 0.9 || cm.Accuracy() < 0.9 {
		t.Errorf("record 119 unseen: V Se %.3f, accuracy %.3f; want ≥ 0.9", cm.Se('V'), cm.Accuracy())
	}
	n := WindowBeats(test.Features, 5)
	if n < 300 || n > 600 {
		t.Fatalf("WindowBeats(5 min) = %d", n)
	}
	for _, tc := range []struct {
		name  string
		adapt func(context.Context, *Features, []byte) (*Classifier, error)
		trees bool // adds trees to the model
	}{
		{"Adapt", c.Adapt, false},
		{"AdaptBoost", c.AdaptBoost, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := tc.adapt(context.Background(), test.Features, test.Labels[:n])
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if a.Version() == c.Version() {
				t.Errorf("%s: adapted version %s is the global model's", tc.name, a.Version())
			}
			if added := len(a.Model().Trees()) > len(c.Model().Trees()); added != tc.trees {
				t.Errorf("%s: trees added = %v, want %v", tc.name, added, tc.trees)
			}
			labels := a.Label(test.Features)
			var am Confusion
			am.AddAll(test.Labels[n:], labels[n:])
			if am.Accuracy() < 0.95 {
				t.Errorf("%s: record 119 after 5 minutes of feedback: accuracy %.3f, want ≥ 0.95", tc.name, am.Accuracy())
			}
			for i := n; i < test.Features.Len(); i += 97 {
				if r := a.Classify(test.Features, i); r.Class != labels[i] || r.Explanation == "" {
					t.Errorf("%s: beat %d: Classify %c (%q), Label %c", tc.name, i, r.Class, r.Explanation, labels[i])
				}
			}
		})
	}
	if _, err := c.Adapt(context.Background(), test.Features, []byte("X")); err == nil {
		t.Errorf("Adapt with label X succeeded")
	}
}
