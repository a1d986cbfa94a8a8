package beatclass

import (
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"testing"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/ecg"
)

// streamLabels runs x and its beats through a Stream in chunks of chunk
// samples; a beat is handed over once the signal is lag samples past it
// (as the ECG analyser releases beats after their quality segment).
func streamLabels(t testing.TB, c *Classifier, x []float32, fs float64, beats []int, chunk, lag int) []Classified {
	t.Helper()
	s, err := c.NewStream(fs)
	if err != nil {
		t.Fatal(err)
	}
	var out []Classified
	given := 0
	var bs []int64
	for start := 0; start < len(x); start += chunk {
		end := min(start+chunk, len(x))
		bs = bs[:0]
		for given < len(beats) && beats[given] < end-lag {
			bs = append(bs, int64(beats[given]))
			given++
		}
		if out, err = s.Write(int64(start), x[start:end], bs, out); err != nil {
			t.Fatalf("Write at %d: %v", start, err)
		}
	}
	bs = bs[:0]
	for ; given < len(beats); given++ {
		bs = append(bs, int64(beats[given]))
	}
	if out, err = s.Write(int64(len(x)), nil, bs, out); err != nil {
		t.Fatal(err)
	}
	return s.Flush(out)
}

// TestStreamSynthetic checks that every beat comes out once, in order,
// whatever the chunking, that the ectopic beats are V, and that the
// chunking does not change a label.
func TestStreamSynthetic(t *testing.T) {
	c, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	x, beats, ectopic := synthECG()
	ref := streamLabels(t, c, x, 360, beats, len(x), 0)
	for _, tc := range []struct{ chunk, lag int }{{90, 0}, {360, 900}, {720, 360}, {7, 100}} {
		t.Run(fmt.Sprintf("chunk%d-lag%d", tc.chunk, tc.lag), func(t *testing.T) {
			got := streamLabels(t, c, x, 360, beats, tc.chunk, tc.lag)
			if len(got) != len(beats) {
				t.Fatalf("%d beats out, want %d", len(got), len(beats))
			}
			for i, b := range got {
				if b.Sample != int64(beats[i]) {
					t.Fatalf("beat %d at %d, want %d", i, b.Sample, beats[i])
				}
				if b.Class != ref[i].Class {
					t.Errorf("beat %d: class %c with chunks of %d, %c in one chunk", i, b.Class, tc.chunk, ref[i].Class)
				}
			}
		})
	}
	var wrong int
	for i, b := range ref {
		if want := byte('N'); ectopic[i] {
			if b.Class != 'V' {
				wrong++
			}
		} else if b.Class != want {
			wrong++
		}
		if i > 0 && math.Abs(b.RR-float64(beats[i]-beats[i-1])/360) > 1e-9 {
			t.Errorf("beat %d RR %v", i, b.RR)
		}
	}
	if !math.IsNaN(ref[0].RR) {
		t.Errorf("first beat RR %v, want NaN", ref[0].RR)
	}
	if wrong > len(ref)/50 {
		t.Errorf("%d of %d synthetic beats misclassified", wrong, len(ref))
	}
}

// TestStreamErrors checks the refusals.
func TestStreamErrors(t *testing.T) {
	c, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.NewStream(50); !errors.Is(err, vigil.ErrInvalid) {
		t.Errorf("NewStream(50) = %v, want ErrInvalid", err)
	}
	s, err := c.NewStream(360)
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float32, 720)
	if _, err := s.Write(1000, x, nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write(1500, x, nil, nil); !errors.Is(err, vigil.ErrConflict) {
		t.Errorf("overlapping Write = %v, want ErrConflict", err)
	}
	// A flat signal with beats: unclassifiable, never a guess.
	out, err := s.Write(1720, x, []int64{1800, 2100}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range s.Flush(out) {
		if b.Class != 'Q' {
			t.Errorf("beat on a flat line classified %c", b.Class)
		}
	}
	// A long hole restarts the RR history: the next beat's RR is unknown.
	out, err = s.Write(1720+720+int64(60*360), make([]float32, 3600), nil, nil)
	if err != nil || len(out) != 0 {
		t.Fatalf("after a hole: %v %v", out, err)
	}
}

// TestStreamMatchesBatch streams every DS1 record (the detector's beat
// positions, channel 0, 2-second chunks, beats handed over 2.5 s late)
// and compares the labels with Label on the same beats and with the
// reference (detections without reference count against +P; detections
// inside ventricular flutter are not counted). The default model was trained on these records, so the
// figures measure how much the causal features change the labels, not
// how well the model generalises.
func TestStreamMatchesBatch(t *testing.T) {
	dir := needData(t)
	if testing.Short() {
		t.Skip("streams all DS1 records")
	}
	c, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	fsys := os.DirFS(dir)
	names, err := RecordNames(fsys)
	if err != nil {
		t.Fatal(err)
	}
	var batch, stream Confusion
	agree, total := 0, 0
	for _, n := range names {
		// The beats the detector finds, as the monitor hands them over.
		rec, err := LoadRecordingAt(fsys, n, PositionsDetector)
		if err != nil {
			t.Fatal(err)
		}
		r, err := ecg.ReadRecord(fsys, n)
		if err != nil {
			t.Fatal(err)
		}
		x, err := Signal(r, 0)
		if err != nil {
			t.Fatal(err)
		}
		bl := c.Label(rec.Features)
		got := streamLabels(t, c, x, r.Fs, rec.Features.Beats, int(2*r.Fs), int(2.5*r.Fs))
		if len(got) != len(bl) {
			t.Fatalf("record %s: %d beats streamed, %d given", n, len(got), len(bl))
		}
		a := 0
		for i := range got {
			if got[i].Class == bl[i] {
				a++
			}
			stream.Add(rec.Labels[i], got[i].Class)
			batch.Add(rec.Labels[i], bl[i])
		}
		agree += a
		total += len(got)
		t.Logf("record %s: %d beats, stream = batch for %.2f %%", n, len(got), 100*float64(a)/float64(len(got)))
	}
	t.Logf("stream = batch for %d of %d beats (%.2f %%)", agree, total, 100*float64(agree)/float64(total))
	t.Logf("batch:  accuracy %.2f %%, V Se %.1f +P %.1f, S Se %.1f +P %.1f", 100*batch.Accuracy(), 100*batch.Se('V'), 100*batch.PP('V'), 100*batch.Se('S'), 100*batch.PP('S'))
	t.Logf("stream: accuracy %.2f %%, V Se %.1f +P %.1f, S Se %.1f +P %.1f", 100*stream.Accuracy(), 100*stream.Se('V'), 100*stream.PP('V'), 100*stream.Se('S'), 100*stream.PP('S'))
	if float64(agree) < 0.95*float64(total) {
		t.Errorf("stream and batch labels agree on %d of %d beats, want ≥ 95 %%", agree, total)
	}
	if stream.Se('V') < batch.Se('V')-0.05 || stream.PP('V') < batch.PP('V')-0.05 {
		t.Errorf("stream V Se/+P %.3f/%.3f, batch %.3f/%.3f: more than 5 points lost", stream.Se('V'), stream.PP('V'), batch.Se('V'), batch.PP('V'))
	}
}

// BenchmarkStream measures the streaming path per beat: the synthetic
// 2-minute lead in 1-second chunks through a Stream (signal buffering,
// features with the causal template, the model; explanations off).
func BenchmarkStream(b *testing.B) {
	c, err := Default()
	if err != nil {
		b.Fatal(err)
	}
	x, beats, _ := synthECG()
	const chunk = 360
	b.SetBytes(int64(len(x) * 4))
	b.ReportAllocs()
	cpu0 := cpuTime()
	out := make([]Classified, 0, 16)
	var bs []int64
	for b.Loop() {
		s, err := c.NewStream(360)
		if err != nil {
			b.Fatal(err)
		}
		given := 0
		for start := 0; start < len(x); start += chunk {
			end := min(start+chunk, len(x))
			bs = bs[:0]
			for given < len(beats) && beats[given] < end-360 {
				bs = append(bs, int64(beats[given]))
				given++
			}
			if out, err = s.Write(int64(start), x[start:end], bs, out[:0]); err != nil {
				b.Fatal(err)
			}
		}
	}
	rate(b, b.N*len(beats), cpu0)
}

func TestSelectNth(t *testing.T) {
	for _, tc := range [][]float32{{1}, {2, 1}, {3, 1, 2}, {5, 5, 5, 1}, {9, 8, 7, 6, 5, 4, 3, 2, 1, 0}, {1, 2, 2, 2, 3, 0, 2}} {
		for k := range tc {
			a := slices.Clone(tc)
			s := slices.Clone(tc)
			slices.Sort(s)
			if got := selectNth(a, k); got != s[k] {
				t.Errorf("selectNth(%v, %d) = %v, want %v", tc, k, got, s[k])
			}
		}
	}
}
