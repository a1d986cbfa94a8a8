package ecg

import (
	"fmt"
	"os"
	"sort"
	"testing"
)

// TestDiag lists errors for one record (VIGIL_ECG_DIAG=NNN); development aid.
func TestDiag(t *testing.T) {
	name := os.Getenv("VIGIL_ECG_DIAG")
	if name == "" {
		t.Skip("set VIGIL_ECG_DIAG=record")
	}
	rec, ann := readRefs(t, mitdb(t), name)
	s := rec.Signals[0]
	x := s.Samples
	if nz := os.Getenv("VIGIL_ECG_NOISE"); nz != "" {
		var name string
		var snr float64
		fmt.Sscanf(nz, "%s %g", &name, &snr)
		nrec, err := ReadRecord(os.DirFS(mitdb(t)+"/../nstdb-noise"), name)
		if err != nil {
			t.Fatal(err)
		}
		x = AddNoise(x, ann, nrec.Signals[0].Samples, rec.Fs, snr)
	}
	beats, _ := DetectBeats(x, rec.Fs, s.Gain)
	ref, _ := ReferenceBeats(ann)
	sym := map[int]string{}
	for _, a := range ann {
		if IsBeat(a.Symbol) {
			sym[a.Sample] = a.Symbol
		}
	}
	w := int(0.15 * rec.Fs)
	bs := make([]int, len(beats))
	for i, b := range beats {
		bs[i] = int(b.Sample)
	}
	near := func(a []int, x int) int {
		i := sort.SearchInts(a, x)
		best := 1 << 30
		for _, j := range []int{i - 1, i} {
			if j >= 0 && j < len(a) && abs(a[j]-x) < abs(best) {
				best = a[j] - x
			}
		}
		return best
	}
	n := 0
	for _, r := range ref {
		if r >= 108000 && abs(near(bs, r)) > w && n < 100000 {
			t.Logf("FN %d (%.2fs) %s nearest det %+d", r, float64(r)/360, sym[r], near(bs, r))
			n++
		}
	}
	n = 0
	for i, b := range beats {
		if int(b.Sample) >= 108000 && abs(near(ref, int(b.Sample))) > w && n < 100000 {
			t.Logf("FP %d (%.2fs) amp %.0f sb %v nearest ref %+d", b.Sample, float64(b.Sample)/360, b.Amplitude, b.SearchBack, near(ref, int(b.Sample)))
			_ = i
			n++
		}
	}
}
