package storetest

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vigilhealth/vigil"
)

// TestSamples is the conformance suite of vigil.SampleStore, run by every
// implementation from its own tests:
//
//	func TestSamples(t *testing.T) {
//		storetest.TestSamples(t, func(t *testing.T) vigil.SampleStore { … })
//	}
//
// open returns a store on empty storage, and registers its own cleanup.
// One rule, Reopen, closes the store it got and calls open again with the
// same t: that second call must return a store on the same storage (keep
// the directory or schema per t, as sqlite/samples_test.go does), so that
// the rule can check that acknowledged samples survive a restart. Closing
// a store twice must be harmless.
//
// The rules: samples read back as stored, in UTC at millisecond precision;
// duplicates (same vigil.SampleKey) are reported and not stored again,
// within a batch, across batches and across concurrent callers; late and
// out-of-order samples are accepted and queries return time order; query
// bounds (From inclusive, To exclusive, Codes, Limit, Desc); LatestSamples;
// bad input (no patient or code, a NaN or infinite value, no time or one
// outside the years 1900 to 9999) fails the whole batch with
// vigil.ErrInvalid and stores nothing;
// waveform chunks round-trip and are found by overlap.
func TestSamples(t *testing.T, open func(t *testing.T) vigil.SampleStore) {
	t.Helper()
	rules := []struct {
		name string
		fn   func(t *testing.T, open func(t *testing.T) vigil.SampleStore)
	}{
		{"RoundTrip", testSampleRoundTrip},
		{"Idempotent", testSampleIdempotent},
		{"FHIRCopyClaims", testSampleFHIRCopy},
		{"OutOfOrder", testSampleOutOfOrder},
		{"Query", testSampleQuery},
		{"Latest", testSampleLatest},
		{"Invalid", testSampleInvalid},
		{"Waveform", testWaveform},
		{"WaveformInvalid", testWaveformInvalid},
		{"Concurrent", testSampleConcurrent},
		{"Reopen", testSampleReopen},
	}
	for _, r := range rules {
		t.Run(r.name, func(t *testing.T) { r.fn(t, open) })
	}
}

// sampleBase is the first instant the sample fixtures use.
func sampleBase() time.Time { return time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC) }

// sample returns a heart-rate style sample of patient p at base+sec seconds.
func sample(p, code, device string, sec int, value float64) vigil.Sample {
	at := sampleBase().Add(time.Duration(sec) * time.Second)
	return vigil.Sample{Patient: p, Device: device, Code: code, Time: at, Value: value, Unit: "/min",
		Received: at.Add(1500 * time.Millisecond), Source: "http"}
}

// appendOK appends s and fails the test on error or when the stored flags
// differ from want (nil want: all stored).
func appendOK(t *testing.T, st vigil.SampleStore, s []vigil.Sample, want []bool) {
	t.Helper()
	got, err := st.AppendSamples(t.Context(), s)
	if err != nil {
		t.Fatalf("AppendSamples(%d samples) = %v", len(s), err)
	}
	if want == nil {
		want = make([]bool, len(s))
		for i := range want {
			want[i] = true
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("AppendSamples(%d samples) stored = %v, want %v", len(s), got, want)
	}
}

// querySamples runs q and fails the test on error.
func querySamples(t *testing.T, st vigil.SampleStore, q vigil.SampleQuery) []vigil.Sample {
	t.Helper()
	got, err := st.QuerySamples(t.Context(), &q)
	if err != nil {
		t.Fatalf("QuerySamples(%+v) = %v", q, err)
	}
	return got
}

// sameSample reports whether a and b are equal field by field, times by
// instant and in UTC.
func sameSample(a, b vigil.Sample) bool {
	return a.Patient == b.Patient && a.Device == b.Device && a.Code == b.Code && a.Time.Equal(b.Time) &&
		a.Time.Location() == time.UTC && a.Value == b.Value && a.Unit == b.Unit &&
		a.Received.Equal(b.Received) && a.Received.Location() == time.UTC && a.Source == b.Source
}

// checkSamples fails the test unless got equals want in order.
func checkSamples(t *testing.T, what string, got, want []vigil.Sample) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d samples, want %d\n got: %v\nwant: %v", what, len(got), len(want), brief(got), brief(want))
	}
	for i := range got {
		if !sameSample(got[i], want[i]) {
			t.Fatalf("%s: sample %d = %+v, want %+v", what, i, got[i], want[i])
		}
	}
}

// brief lists samples as code@second:value for failure messages.
func brief(s []vigil.Sample) []string {
	out := make([]string, len(s))
	for i, x := range s {
		out[i] = fmt.Sprintf("%s/%s@%v:%v", x.Code, x.Device, x.Time.Sub(sampleBase()).Seconds(), x.Value)
	}
	return out
}

func testSampleRoundTrip(t *testing.T, open func(t *testing.T) vigil.SampleStore) {
	st := open(t)
	local := time.FixedZone("UTC+2", 2*3600)
	in := []vigil.Sample{
		sample("p1", "8867-4", "dev-1", 0, 72),
		sample("p1", "2708-6", "", 1, 97.5), // no device
		{Patient: "p1", Device: "dev-2", Code: "8310-5", Time: sampleBase().Add(2 * time.Second).In(local),
			Value: -0.125, Unit: "Cel", Received: sampleBase().In(local), Source: "hl7"},
		sample("p1", "29463-7", "scale", 3, 81234.5678),
	}
	appendOK(t, st, in, nil)
	want := slices.Clone(in)
	for i := range want {
		want[i].Time, want[i].Received = want[i].Time.UTC(), want[i].Received.UTC()
	}
	checkSamples(t, "QuerySamples(all)", querySamples(t, st, vigil.SampleQuery{Patient: "p1"}), want)

	t.Run("millisecond precision", func(t *testing.T) {
		s := sample("p2", "8867-4", "d", 0, 60)
		s.Time = s.Time.Add(1234567 * time.Nanosecond) // 1.234567 ms
		s.Received = s.Received.Add(999 * time.Microsecond)
		appendOK(t, st, []vigil.Sample{s}, nil)
		w := s
		w.Time, w.Received = s.Time.Truncate(time.Millisecond), s.Received.Truncate(time.Millisecond)
		checkSamples(t, "QuerySamples(p2)", querySamples(t, st, vigil.SampleQuery{Patient: "p2"}), []vigil.Sample{w})
		// The key is at millisecond precision too: 1.5 ms is the same reading.
		s.Time = sampleBase().Add(1500 * time.Microsecond)
		appendOK(t, st, []vigil.Sample{s}, []bool{false})
	})
	t.Run("empty batch", func(t *testing.T) {
		got, err := st.AppendSamples(t.Context(), nil)
		if err != nil || len(got) != 0 {
			t.Fatalf("AppendSamples(nil) = %v, %v; want empty, nil", got, err)
		}
	})
	t.Run("unknown patient", func(t *testing.T) {
		if got := querySamples(t, st, vigil.SampleQuery{Patient: "nobody"}); len(got) != 0 {
			t.Fatalf("QuerySamples(nobody) = %v, want none", brief(got))
		}
		got, err := st.LatestSamples(t.Context(), "nobody")
		if err != nil || len(got) != 0 {
			t.Fatalf("LatestSamples(nobody) = %v, %v; want none", got, err)
		}
	})
}

func testSampleIdempotent(t *testing.T, open func(t *testing.T) vigil.SampleStore) {
	st := open(t)
	batch := []vigil.Sample{
		sample("p1", "8867-4", "d1", 0, 70),
		sample("p1", "8867-4", "d1", 1, 71),
		sample("p1", "8867-4", "d2", 1, 75), // same time, other device: another reading
		sample("p1", "9279-1", "d1", 1, 16), // same time, other code
		sample("p2", "8867-4", "d1", 1, 80), // other patient
	}
	appendOK(t, st, batch, nil)
	appendOK(t, st, batch, []bool{false, false, false, false, false})

	// Overlapping batch; the duplicate carries another value, which must
	// not replace the stored one.
	changed := batch[1]
	changed.Value = 999
	appendOK(t, st, []vigil.Sample{changed, sample("p1", "8867-4", "d1", 2, 72)}, []bool{false, true})

	// Duplicates inside one batch: the first is stored.
	appendOK(t, st, []vigil.Sample{
		sample("p1", "8867-4", "d1", 3, 73), sample("p1", "8867-4", "d1", 3, 74), sample("p1", "8867-4", "d1", 0, 1),
	}, []bool{true, false, false})

	// Batches of one sample (one MQTT message each): stored, then a
	// duplicate.
	one := sample("p1", "8867-4", "d1", 4, 74)
	appendOK(t, st, []vigil.Sample{one}, []bool{true})
	appendOK(t, st, []vigil.Sample{one}, []bool{false})

	want := []vigil.Sample{batch[0], batch[1], batch[2], batch[3], sample("p1", "8867-4", "d1", 2, 72), sample("p1", "8867-4", "d1", 3, 73), one}
	checkSamples(t, "QuerySamples(p1)", querySamples(t, st, vigil.SampleQuery{Patient: "p1"}), want)
}

// testSampleFHIRCopy checks that a FHIR copy (Source "fhir") of a
// reading stored earlier by a device is a duplicate that marks the stored
// sample as the copy's (Source "fhir", value unchanged), and that a device
// reading arriving after the FHIR copy leaves it a copy.
func testSampleFHIRCopy(t *testing.T, open func(t *testing.T) vigil.SampleStore) {
	st := open(t)
	dev := sample("p1", "8867-4", "d1", 0, 70)
	other := sample("p1", "8867-4", "d1", 1, 71)
	appendOK(t, st, []vigil.Sample{dev, other}, nil)
	cp := dev
	cp.Source, cp.Value, cp.Received = "fhir", 70, dev.Received.Add(time.Minute)
	later := sample("p1", "8867-4", "d1", 2, 72)
	later.Source = "fhir"
	appendOK(t, st, []vigil.Sample{cp, later}, []bool{false, true})
	again := later
	again.Source = "mqtt"
	appendOK(t, st, []vigil.Sample{again, cp}, []bool{false, false})
	// A FHIR copy arriving alone claims the stored reading too.
	cpOther := other
	cpOther.Source = "fhir"
	appendOK(t, st, []vigil.Sample{cpOther}, []bool{false})
	wantDev := dev
	wantDev.Source = "fhir"
	checkSamples(t, "QuerySamples(p1)", querySamples(t, st, vigil.SampleQuery{Patient: "p1"}), []vigil.Sample{wantDev, cpOther, later})
}

func testSampleOutOfOrder(t *testing.T, open func(t *testing.T) vigil.SampleStore) {
	st := open(t)
	// Newest first, then a late batch from an hour earlier, then one in the middle.
	appendOK(t, st, []vigil.Sample{sample("p1", "8867-4", "d", 3600, 80), sample("p1", "8867-4", "d", 3500, 79)}, nil)
	appendOK(t, st, []vigil.Sample{sample("p1", "8867-4", "d", 5, 60), sample("p1", "8867-4", "d", 0, 61)}, nil)
	appendOK(t, st, []vigil.Sample{sample("p1", "2708-6", "d", 1800, 95), sample("p1", "8867-4", "d", 1800, 70)}, nil)
	// Months earlier (another partition, in a partitioned store) and later.
	appendOK(t, st, []vigil.Sample{sample("p1", "8867-4", "d", -90*86400, 50), sample("p1", "8867-4", "d", 70*86400, 90)}, nil)
	got := querySamples(t, st, vigil.SampleQuery{Patient: "p1"})
	want := []vigil.Sample{
		sample("p1", "8867-4", "d", -90*86400, 50),
		sample("p1", "8867-4", "d", 0, 61), sample("p1", "8867-4", "d", 5, 60),
		sample("p1", "2708-6", "d", 1800, 95), sample("p1", "8867-4", "d", 1800, 70),
		sample("p1", "8867-4", "d", 3500, 79), sample("p1", "8867-4", "d", 3600, 80),
		sample("p1", "8867-4", "d", 70*86400, 90),
	}
	checkSamples(t, "QuerySamples(p1)", got, want)
	slices.Reverse(want)
	// Equal times come in reverse too (code then device, descending).
	checkSamples(t, "QuerySamples(p1, Desc)", querySamples(t, st, vigil.SampleQuery{Patient: "p1", Desc: true}), want)
}

func testSampleQuery(t *testing.T, open func(t *testing.T) vigil.SampleStore) {
	st := open(t)
	var all []vigil.Sample
	for sec := range 20 {
		all = append(all, sample("p1", "8867-4", "hr", sec*10, float64(60+sec)))
		if sec%2 == 0 {
			all = append(all, sample("p1", "2708-6", "ox", sec*10, float64(90+sec/2)))
		}
		if sec%5 == 0 {
			all = append(all, sample("p1", "9279-1", "", sec*10+1, float64(12+sec)))
		}
	}
	all = append(all, sample("p2", "8867-4", "hr", 50, 100)) // another patient, never returned
	appendOK(t, st, all, nil)
	at := func(sec int) time.Time { return sampleBase().Add(time.Duration(sec) * time.Second) }
	// filter is the reference: all samples of p1 matching the bounds, in
	// (time, code, device) order.
	filter := func(q vigil.SampleQuery) []vigil.Sample {
		var out []vigil.Sample
		for _, s := range all {
			if s.Patient != q.Patient || !q.From.IsZero() && s.Time.Before(q.From) || !q.To.IsZero() && !s.Time.Before(q.To) ||
				len(q.Codes) > 0 && !slices.Contains(q.Codes, s.Code) {
				continue
			}
			out = append(out, s)
		}
		slices.SortStableFunc(out, func(a, b vigil.Sample) int {
			if c := a.Time.Compare(b.Time); c != 0 {
				return c
			}
			if a.Code != b.Code {
				if a.Code < b.Code {
					return -1
				}
				return 1
			}
			return 0
		})
		if q.Desc {
			slices.Reverse(out)
		}
		if q.Limit > 0 && len(out) > q.Limit {
			out = out[:q.Limit]
		}
		return out
	}
	tests := []struct {
		name string
		q    vigil.SampleQuery
		n    int // expected count, a check on the reference itself
	}{
		{"all", vigil.SampleQuery{Patient: "p1"}, 34},
		{"from inclusive", vigil.SampleQuery{Patient: "p1", From: at(100)}, 17},
		{"to exclusive", vigil.SampleQuery{Patient: "p1", To: at(100)}, 17},
		{"window", vigil.SampleQuery{Patient: "p1", From: at(50), To: at(51)}, 1},
		{"window with the odd code", vigil.SampleQuery{Patient: "p1", From: at(50), To: at(52)}, 2},
		{"empty window", vigil.SampleQuery{Patient: "p1", From: at(55), To: at(55)}, 0},
		{"one code", vigil.SampleQuery{Patient: "p1", Codes: []string{"2708-6"}}, 10},
		{"two codes", vigil.SampleQuery{Patient: "p1", Codes: []string{"9279-1", "2708-6"}}, 14},
		{"unknown code", vigil.SampleQuery{Patient: "p1", Codes: []string{"1-8"}}, 0},
		{"limit", vigil.SampleQuery{Patient: "p1", Limit: 5}, 5},
		{"limit desc", vigil.SampleQuery{Patient: "p1", Limit: 5, Desc: true}, 5},
		{"desc window codes", vigil.SampleQuery{Patient: "p1", From: at(40), To: at(150), Codes: []string{"8867-4", "9279-1"}, Desc: true}, 13},
		{"limit one code desc", vigil.SampleQuery{Patient: "p1", Codes: []string{"8867-4"}, Limit: 3, Desc: true}, 3},
		{"other patient", vigil.SampleQuery{Patient: "p2"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := filter(tt.q)
			if len(want) != tt.n {
				t.Fatalf("reference answer has %d samples, the test expects %d", len(want), tt.n)
			}
			checkSamples(t, fmt.Sprintf("QuerySamples(%s)", tt.name), querySamples(t, st, tt.q), want)
		})
	}
	t.Run("no patient", func(t *testing.T) {
		if got, err := st.QuerySamples(t.Context(), &vigil.SampleQuery{}); !errors.Is(err, vigil.ErrInvalid) {
			t.Fatalf("QuerySamples(no patient) = %d samples, %v; want ErrInvalid", len(got), err)
		}
	})
}

func testSampleLatest(t *testing.T, open func(t *testing.T) vigil.SampleStore) {
	st := open(t)
	appendOK(t, st, []vigil.Sample{
		sample("p1", "8867-4", "a", 10, 70), sample("p1", "8867-4", "a", 20, 71),
		sample("p1", "2708-6", "a", 5, 95),
		sample("p2", "8867-4", "a", 100, 99),
	}, nil)
	appendOK(t, st, []vigil.Sample{
		sample("p1", "8867-4", "b", 15, 80),   // late and older: not the latest
		sample("p1", "9279-1", "", 1, 18),     // a new code
		sample("p1", "2708-6", "b", 5000, 91), // newer, other device
	}, nil)
	got, err := st.LatestSamples(t.Context(), "p1")
	if err != nil {
		t.Fatalf("LatestSamples(p1) = %v", err)
	}
	slices.SortFunc(got, func(a, b vigil.Sample) int {
		switch {
		case a.Code < b.Code:
			return -1
		case a.Code > b.Code:
			return 1
		}
		return 0
	})
	want := []vigil.Sample{sample("p1", "2708-6", "b", 5000, 91), sample("p1", "8867-4", "a", 20, 71), sample("p1", "9279-1", "", 1, 18)}
	checkSamples(t, "LatestSamples(p1) sorted by code", got, want)
}

func testSampleInvalid(t *testing.T, open func(t *testing.T) vigil.SampleStore) {
	st := open(t)
	good := sample("p1", "8867-4", "d", 0, 70)
	tests := []struct {
		name   string
		change func(s *vigil.Sample)
	}{
		{"empty patient", func(s *vigil.Sample) { s.Patient = "" }},
		{"empty code", func(s *vigil.Sample) { s.Code = "" }},
		{"NaN", func(s *vigil.Sample) { s.Value = math.NaN() }},
		{"+Inf", func(s *vigil.Sample) { s.Value = math.Inf(1) }},
		{"-Inf", func(s *vigil.Sample) { s.Value = math.Inf(-1) }},
		{"zero time", func(s *vigil.Sample) { s.Time = time.Time{} }},
		{"year 1800", func(s *vigil.Sample) { s.Time = time.Date(1800, 1, 1, 0, 0, 0, 0, time.UTC) }},
		{"year 10000", func(s *vigil.Sample) { s.Time = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := sample("p1", "8867-4", "d", 1, 71)
			tt.change(&bad)
			got, err := st.AppendSamples(t.Context(), []vigil.Sample{good, bad})
			if !errors.Is(err, vigil.ErrInvalid) {
				t.Fatalf("AppendSamples(good, %s) = %v, %v; want ErrInvalid", tt.name, got, err)
			}
			if got := querySamples(t, st, vigil.SampleQuery{Patient: "p1"}); len(got) != 0 {
				t.Fatalf("after a rejected batch QuerySamples(p1) = %v, want nothing stored", brief(got))
			}
		})
	}
	appendOK(t, st, []vigil.Sample{good}, nil) // the good sample was never stored
}

// chunk returns a waveform chunk of n samples at 250 Hz starting at
// base+ms milliseconds.
func chunk(p, device, code string, ms, n int) *vigil.Waveform {
	start := sampleBase().Add(time.Duration(ms) * time.Millisecond)
	w := &vigil.Waveform{Patient: p, Device: device, Code: code, Start: start, RateHz: 250, Gain: 0.005, Unit: "mV",
		Received: start.Add(time.Minute), Source: "mqtt"}
	for i := range n {
		w.Samples = append(w.Samples, int32((i*37+ms)%2000-1000))
	}
	return w
}

func sameWaveform(a, b *vigil.Waveform) bool {
	return a.Patient == b.Patient && a.Device == b.Device && a.Code == b.Code && a.Start.Equal(b.Start) &&
		a.Start.Location() == time.UTC && a.RateHz == b.RateHz && a.Gain == b.Gain && a.Unit == b.Unit &&
		slices.Equal(a.Samples, b.Samples) && a.Received.Equal(b.Received) && a.Source == b.Source
}

func testWaveform(t *testing.T, open func(t *testing.T) vigil.SampleStore) {
	st := open(t)
	ctx := t.Context()
	// Two devices, 4 s chunks (1000 samples at 250 Hz), one gap, one chunk
	// sent late; and another code and patient that must not show.
	chunks := []*vigil.Waveform{
		chunk("p1", "ecg1", "131329", 8000, 1000),
		chunk("p1", "ecg1", "131329", 0, 1000),
		chunk("p1", "ecg1", "131329", 4000, 1000),
		chunk("p1", "ecg1", "131329", 16000, 1000),
		chunk("p1", "ecg2", "131329", 2000, 1000),
		chunk("p1", "ecg1", "131330", 0, 1000),
		chunk("p2", "ecg1", "131329", 0, 1000),
		chunk("p1", "ecg1", "131329", 30000, 0), // empty chunk
		chunk("p1", "ecg1", "131329", 40000, 1),
	}
	for i, w := range chunks {
		ok, err := st.AppendWaveform(ctx, w)
		if err != nil || !ok {
			t.Fatalf("AppendWaveform(chunk %d) = %v, %v; want true, nil", i, ok, err)
		}
	}
	again := chunk("p1", "ecg1", "131329", 4000, 1000)
	again.Samples[0] = 12345
	if ok, err := st.AppendWaveform(ctx, again); err != nil || ok {
		t.Fatalf("AppendWaveform(duplicate chunk) = %v, %v; want false, nil", ok, err)
	}
	at := func(ms int) time.Time { return sampleBase().Add(time.Duration(ms) * time.Millisecond) }
	tests := []struct {
		name     string
		from, to time.Time
		want     []*vigil.Waveform // in start order
	}{
		{"all", at(-100000), at(100000), []*vigil.Waveform{chunks[1], chunks[4], chunks[2], chunks[0], chunks[3], chunks[7], chunks[8]}},
		{"inside one chunk", at(7000), at(7001), []*vigil.Waveform{chunks[2]}},
		{"inside two chunks", at(5000), at(5001), []*vigil.Waveform{chunks[4], chunks[2]}},
		{"to is exclusive", at(4000), at(8000), []*vigil.Waveform{chunks[4], chunks[2]}},
		{"end is exclusive", at(8000), at(8004), []*vigil.Waveform{chunks[0]}},
		{"gap", at(12000), at(16000), nil},
		{"overlap both ends", at(3000), at(9000), []*vigil.Waveform{chunks[1], chunks[4], chunks[2], chunks[0]}},
		{"one-sample chunk", at(40003), at(40004), []*vigil.Waveform{chunks[8]}},
		{"after the last sample", at(40004), at(50000), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := st.QueryWaveforms(ctx, "p1", "131329", tt.from, tt.to)
			if err != nil {
				t.Fatalf("QueryWaveforms = %v", err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("QueryWaveforms(%s) = %d chunks, want %d", tt.name, len(got), len(tt.want))
			}
			for i := range got {
				if !sameWaveform(&got[i], tt.want[i]) {
					t.Fatalf("QueryWaveforms(%s) chunk %d = %s/%s@%v (%d samples), want %s/%s@%v (%d samples), equal in every field",
						tt.name, i, got[i].Device, got[i].Code, got[i].Start, len(got[i].Samples),
						tt.want[i].Device, tt.want[i].Code, tt.want[i].Start, len(tt.want[i].Samples))
				}
			}
		})
	}
}

func testWaveformInvalid(t *testing.T, open func(t *testing.T) vigil.SampleStore) {
	st := open(t)
	tests := []struct {
		name   string
		change func(w *vigil.Waveform)
	}{
		{"empty patient", func(w *vigil.Waveform) { w.Patient = "" }},
		{"empty code", func(w *vigil.Waveform) { w.Code = "" }},
		{"zero rate", func(w *vigil.Waveform) { w.RateHz = 0 }},
		{"NaN rate", func(w *vigil.Waveform) { w.RateHz = math.NaN() }},
		{"NaN gain", func(w *vigil.Waveform) { w.Gain = math.NaN() }},
		{"zero start", func(w *vigil.Waveform) { w.Start = time.Time{} }},
		{"longer than an hour", func(w *vigil.Waveform) { w.RateHz = 0.001 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := chunk("p1", "d", "131329", 0, 10)
			tt.change(w)
			if ok, err := st.AppendWaveform(t.Context(), w); !errors.Is(err, vigil.ErrInvalid) {
				t.Fatalf("AppendWaveform(%s) = %v, %v; want ErrInvalid", tt.name, ok, err)
			}
		})
	}
	got, err := st.QueryWaveforms(t.Context(), "p1", "131329", sampleBase().Add(-time.Hour), sampleBase().Add(time.Hour))
	if err != nil || len(got) != 0 {
		t.Fatalf("QueryWaveforms after rejected chunks = %d chunks, %v; want none", len(got), err)
	}
}

// testSampleConcurrent runs 8 appenders whose batches overlap: every
// distinct reading must be reported stored exactly once and be stored
// exactly once.
func testSampleConcurrent(t *testing.T, open func(t *testing.T) vigil.SampleStore) {
	st := open(t)
	const workers, batches, size = 8, 25, 40
	var mu sync.Mutex
	storedBy := map[vigil.SampleKey]int{}
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for b := range batches {
				var batch []vigil.Sample
				for i := range size {
					// Workers w and w+1 (mod 4) share half their readings.
					sec := b*size + i
					p := fmt.Sprintf("p%d", (w+i%2)%4)
					batch = append(batch, sample(p, "8867-4", "d", sec, float64(w)))
				}
				got, err := st.AppendSamples(t.Context(), batch)
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				for i, ok := range got {
					k := batch[i].Key()
					k.Time = k.Time.UTC()
					if _, seen := storedBy[k]; !seen {
						storedBy[k] = 0
					}
					if ok {
						storedBy[k]++
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("AppendSamples = %v", err)
	}
	for k, n := range storedBy {
		if n != 1 {
			t.Fatalf("reading %s@%v reported stored %d times, want 1", k.Patient, k.Time, n)
		}
	}
	total := 0
	for p := range 4 {
		got := querySamples(t, st, vigil.SampleQuery{Patient: fmt.Sprintf("p%d", p)})
		for i := 1; i < len(got); i++ {
			if !got[i-1].Time.Before(got[i].Time) {
				t.Fatalf("QuerySamples(p%d): samples %d and %d out of order or repeated", p, i-1, i)
			}
		}
		total += len(got)
	}
	if total != len(storedBy) {
		t.Fatalf("stored %d samples, want %d distinct readings", total, len(storedBy))
	}
}

func testSampleReopen(t *testing.T, open func(t *testing.T) vigil.SampleStore) {
	st := open(t)
	in := []vigil.Sample{sample("p1", "8867-4", "d", 0, 70), sample("p1", "2708-6", "d", 1, 96)}
	appendOK(t, st, in, nil)
	w := chunk("p1", "d", "131329", 0, 500)
	if ok, err := st.AppendWaveform(t.Context(), w); err != nil || !ok {
		t.Fatalf("AppendWaveform = %v, %v", ok, err)
	}
	if err := st.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	st = open(t)
	checkSamples(t, "QuerySamples after reopening", querySamples(t, st, vigil.SampleQuery{Patient: "p1"}), in)
	appendOK(t, st, in, []bool{false, false})
	got, err := st.QueryWaveforms(t.Context(), "p1", "131329", sampleBase(), sampleBase().Add(time.Hour))
	if err != nil || len(got) != 1 || !sameWaveform(&got[0], w) {
		t.Fatalf("QueryWaveforms after reopening = %d chunks, %v; want the chunk", len(got), err)
	}
}
