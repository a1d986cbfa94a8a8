package ecg

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
)

var ds1 = strings.Fields("101 106 108 109 112 114 115 116 118 119 122 124 201 203 205 207 208 209 215 220 223 230")

func readRefs(t testing.TB, dir, name string) (*Record, []Annotation) {
	t.Helper()
	fsys := os.DirFS(dir)
	rec, err := ReadRecord(fsys, name)
	if err != nil {
		t.Fatal(err)
	}
	f, err := fsys.Open(name + ".atr")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ann, err := ReadAnnotations(f)
	if err != nil {
		t.Fatal(err)
	}
	return rec, ann
}

// TestDS1Detection prints the per-record table on DS1 (set VIGIL_ECG_DS1=1).
func TestDS1Detection(t *testing.T) {
	if os.Getenv("VIGIL_ECG_DS1") == "" {
		t.Skip("set VIGIL_ECG_DS1=1 to score the detector on DS1")
	}
	dir := mitdb(t)
	var gross BeatStats
	var lines []string
	for _, name := range ds1 {
		rec, ann := readRefs(t, dir, name)
		s := rec.Signals[0]
		x := s.Samples
		if nz := os.Getenv("VIGIL_ECG_NOISE"); nz != "" {
			var nname string
			var snr float64
			fmt.Sscanf(nz, "%s %g", &nname, &snr)
			nrec, err := ReadRecord(os.DirFS(dir+"/../nstdb-noise"), nname)
			if err != nil {
				t.Fatal(err)
			}
			x = AddNoise(x, ann, nrec.Signals[0].Samples, rec.Fs, snr)
		}
		beats, err := DetectBeats(x, rec.Fs, s.Gain)
		if err != nil {
			t.Fatal(err)
		}
		if os.Getenv("VIGIL_ECG_FUSE") != "" {
			s1 := rec.Signals[1]
			b1, _ := DetectBeats(s1.Samples, rec.Fs, s1.Gain)
			var q [2][]Quality
			for i, sg := range rec.Signals[:2] {
				m, _ := NewQualityMonitor(QualityConfig{Fs: rec.Fs, Gain: sg.Gain})
				q[i] = m.Flush(m.Process(sg.Samples, nil))
			}
			beats = FuseLeads([2][]Beat{beats, b1}, q, rec.Fs)
		}
		ref, vf := ReferenceBeats(ann)
		test := make([]int, len(beats))
		var maxDelay, sumDelay, nrt int64
		for i, b := range beats {
			test[i] = int(b.Sample)
			if !b.SearchBack {
				maxDelay = max(maxDelay, b.Decided-b.Sample)
				sumDelay += b.Decided - b.Sample
				nrt++
			}
		}
		t.Logf("%s delay max %.0f ms mean %.0f ms", name, float64(maxDelay)/rec.Fs*1000, float64(sumDelay)/float64(nrt)/rec.Fs*1000)
		st := CompareBeats(ref, test, int(MatchWindow*rec.Fs), int(ScoreStart*rec.Fs), vf)
		gross = gross.Add(st)
		lines = append(lines, fmt.Sprintf("%s TP %5d FN %4d FP %4d Se %.4f PPV %.4f", name, st.TP, st.FN, st.FP, st.Se(), st.PPV()))
	}
	sort.Strings(lines)
	for _, l := range lines {
		t.Log(l)
	}
	t.Logf("gross TP %d FN %d FP %d Se %.4f%% PPV %.4f%%", gross.TP, gross.FN, gross.FP, 100*gross.Se(), 100*gross.PPV())
}

// TestDS1AF prints AF episode statistics on DS1 (VIGIL_ECG_DS1=1).
func TestDS1AF(t *testing.T) {
	if os.Getenv("VIGIL_ECG_DS1") == "" {
		t.Skip("set VIGIL_ECG_DS1=1")
	}
	dir := mitdb(t)
	var gross, grossL EpisodeStats
	for _, name := range ds1 {
		rec, ann := readRefs(t, dir, name)
		s := rec.Signals[0]
		beats, _ := DetectBeats(s.Samples, rec.Fs, s.Gain)
		idx := make([]int64, len(beats))
		for i, b := range beats {
			idx[i] = b.Sample
		}
		end := float64(rec.Len) / rec.Fs
		var af []Episode
		for _, e := range DetectRhythms(Intervals(idx, nil, rec.Fs), RhythmConfig{}) {
			if e.Kind == AtrialFibrillation {
				af = append(af, e)
			}
		}
		st := CompareEpisodes(ReferenceRhythm(ann, "(AFIB", rec.Fs, end), af, ScoreStart, end)
		gross = gross.Add(st)
		// With reference beats and labels (what a perfect beat classifier gives).
		var rb []int64
		var lab []byte
		for _, a := range ann {
			if c, ok := AAMIClass(a.Symbol); ok {
				rb = append(rb, int64(a.Sample))
				lab = append(lab, c)
			}
		}
		af = af[:0]
		for _, e := range DetectRhythms(Intervals(rb, lab, rec.Fs), RhythmConfig{}) {
			if e.Kind == AtrialFibrillation {
				af = append(af, e)
			}
		}
		sl := CompareEpisodes(ReferenceRhythm(ann, "(AFIB", rec.Fs, end), af, ScoreStart, end)
		grossL = grossL.Add(sl)
		if st.RefEpisodes+st.TestEpisodes > 0 {
			t.Logf("%s ref %d (%.0fs) test %d (%.0fs) overlap %.0fs", name, st.RefEpisodes, st.RefDuration, st.TestEpisodes, st.TestDuration, st.Overlap)
		}
	}
	t.Logf("gross ESe %.1f E+P %.1f DSe %.1f D+P %.1f", 100*gross.EpisodeSe(), 100*gross.EpisodePPV(), 100*gross.DurationSe(), 100*gross.DurationPPV())
	t.Logf("reference labels: gross ESe %.1f E+P %.1f DSe %.1f D+P %.1f", 100*grossL.EpisodeSe(), 100*grossL.EpisodePPV(), 100*grossL.DurationSe(), 100*grossL.DurationPPV())
}
