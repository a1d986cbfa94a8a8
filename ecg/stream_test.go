package ecg

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/vigilhealth/vigil"
)

func TestAnalyzerChunksMatchBatch(t *testing.T) {
	const fs = 250.0
	x := synthECG(int(60*fs), fs, 0.8)
	batch, err := DetectBeats(x, fs, 200)
	if err != nil {
		t.Fatal(err)
	}
	// 75 bpm for 60 s, less the 2 s learning period.
	if len(batch) < 70 || len(batch) > 76 {
		t.Fatalf("batch found %d beats in 60 s at 75 bpm", len(batch))
	}
	a, err := NewAnalyzer(AnalyzerConfig{Fs: fs})
	if err != nil {
		t.Fatal(err)
	}
	var out Output
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < len(x); {
		n := min(len(x)-i, 1+rng.IntN(700))
		if err := a.Write(int64(i), x[i:i+n], &out); err != nil {
			t.Fatal(err)
		}
		i += n
	}
	a.Flush(&out)
	if len(out.Beats) != len(batch) {
		t.Fatalf("streamed %d beats, batch %d", len(out.Beats), len(batch))
	}
	for i, b := range out.Beats {
		if b.Sample != batch[i].Sample || !b.Usable {
			t.Fatalf("beat %d = %+v, batch %+v", i, b, batch[i])
		}
		if b.Decided-b.Sample > int64(MaxDelay*fs)+1 {
			t.Errorf("beat %d decided %d samples after its R peak", i, b.Decided-b.Sample)
		}
	}
	// 75 bpm: RR 0.8 s, no rhythm findings.
	if len(out.RR) != len(batch)-1 || len(out.Episodes) != 0 {
		t.Errorf("%d RR, episodes %+v", len(out.RR), out.Episodes)
	}
}

func TestAnalyzerBadInput(t *testing.T) {
	const fs = 250.0
	x := synthECG(int(40*fs), fs, 0.8)
	// 4 s of flat line (lead off) in the middle.
	for i := int(20 * fs); i < int(24*fs); i++ {
		x[i] = 0
	}
	a, _ := NewAnalyzer(AnalyzerConfig{Fs: fs})
	var out Output
	if err := a.Write(0, x[:5000], &out); err != nil {
		t.Fatal(err)
	}
	if err := a.Write(4000, x[4000:6000], &out); !errors.Is(err, vigil.ErrConflict) {
		t.Errorf("overlapping chunk: err = %v, want ErrConflict", err)
	}
	// A 1 s hole, then the rest.
	if err := a.Write(5250, x[5250:], &out); err != nil {
		t.Fatal(err)
	}
	a.Flush(&out)
	gaps, flats := 0, 0
	for _, q := range out.Quality {
		if q.Gap {
			gaps++
		}
		if q.Flat {
			flats++
		}
	}
	if gaps == 0 || flats == 0 {
		t.Errorf("quality: %d gap and %d flat segments, want both > 0", gaps, flats)
	}
	for _, b := range out.Beats {
		if b.Usable && b.Sample >= int64(20*fs) && b.Sample < int64(24*fs) {
			t.Errorf("usable beat at %d inside the flat line", b.Sample)
		}
	}
	for _, e := range out.Episodes {
		if e.Kind == Pause {
			t.Errorf("pause %+v reported across unreadable signal", e)
		}
	}
}

func TestFuseLeads(t *testing.T) {
	q := func(start, end int64, amp float64) Quality {
		return Quality{Start: start, End: end, HFRatio: 0.005, Amplitude: amp}
	}
	beats := [2][]Beat{
		// Lead 0 misses the beat at 2400, where its amplitude collapses.
		{{Sample: 0}, {Sample: 800}, {Sample: 1600}, {Sample: 3200}, {Sample: 4000}, {Sample: 4800}},
		// Lead 1 sees it, and has a false beat at 1200 where lead 0 is fine.
		{{Sample: 5}, {Sample: 805}, {Sample: 1200}, {Sample: 1605}, {Sample: 2405}, {Sample: 3205}, {Sample: 4005}},
	}
	quality := [2][]Quality{
		{q(0, 1000, 1), q(1000, 2000, 1), q(2000, 3000, 0.1), q(3000, 4000, 1), q(4000, 5000, 1)},
		{q(0, 1000, 1), q(1000, 2000, 1), q(2000, 3000, 1), q(3000, 4000, 1), q(4000, 5000, 1)},
	}
	got := FuseLeads(beats, quality, 250)
	want := []int64{0, 800, 1600, 2405, 3200, 4000, 4800}
	if len(got) != len(want) {
		t.Fatalf("FuseLeads = %v, want samples %v", got, want)
	}
	for i, b := range got {
		if b.Sample != want[i] {
			t.Errorf("beat %d at %d, want %d", i, b.Sample, want[i])
		}
	}
}

func TestAnalyzerOpenPause(t *testing.T) {
	const fs = 250.0
	// 20 s of beats, then 6 s of isoelectric line with small noise (no
	// beats, not a lead-off flat line), then beats again.
	times := append(regular(0.5, 20, 0.8), regular(26.3, 40, 0.8)...)
	one := func(v float64) func(int) float64 { return func(int) float64 { return v } }
	x := synthBeats(fs, 40, times, one(0.08), one(1), func(t float64) float64 { return 0.15 * math.Sin(2*math.Pi*0.5*t) })
	a, _ := NewAnalyzer(AnalyzerConfig{Fs: fs})
	var out Output
	open := -1.0
	for i := 0; i < len(x); i += 125 {
		n0 := len(out.Episodes)
		if err := a.Write(int64(i), x[i:i+125], &out); err != nil {
			t.Fatal(err)
		}
		for _, e := range out.Episodes[n0:] {
			if e.Kind == Pause && e.Open && open < 0 {
				open = float64(i+125) / fs
			}
		}
	}
	a.Flush(&out)
	var closed []Episode
	for _, e := range out.Episodes {
		if e.Kind == Pause && !e.Open {
			closed = append(closed, e)
		}
	}
	// The pause starts at the beat at 19.7 s; it must be raised while still
	// going on (before the next beat at 26.3 s) and closed afterwards.
	if open < 0 || open > 26.3 {
		t.Errorf("open pause reported at %.1f s, want before 26.3 s", open)
	}
	if len(closed) != 1 || closed[0].End-closed[0].Start < 6 {
		t.Errorf("closed pauses %+v, want one of ≈ 6.6 s", closed)
	}
}
