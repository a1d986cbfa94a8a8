package storetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/vigilhealth/vigil"
)

// BeatStores is what TestBeats checks: a store of the streaming ECG
// analysis's beats and findings that also keeps clinicians' beat labels.
type BeatStores interface {
	vigil.BeatStore
	vigil.BeatLabelStore
}

// TestBeats is the conformance suite of vigil.BeatStore and
// vigil.BeatLabelStore, run by every implementation from its own tests.
// open works as for TestSamples (same storage for a second open with the
// same t).
//
// The rules: beats read back as stored (UTC, millisecond precision, class,
// RR, model, lead) in time order, within [From, To), one lead with Code, at
// most Limit; the same beat sent again (alone or in an overlapping batch)
// is answered once; a batch of many beats over more than an hour reads back
// whole and by windows; bad beats fail the batch with vigil.ErrInvalid;
// findings round-trip, replace by id, come newest first and filter by
// kind and time; labels round-trip in order and filter by patient, model
// and answer time; bad labels store nothing; everything survives a reopen.
func TestBeats(t *testing.T, open func(t *testing.T) BeatStores) {
	t.Helper()
	rules := []struct {
		name string
		fn   func(t *testing.T, open func(t *testing.T) BeatStores)
	}{
		{"RoundTrip", testBeatRoundTrip},
		{"Idempotent", testBeatIdempotent},
		{"LongBatch", testBeatLongBatch},
		{"Invalid", testBeatInvalid},
		{"Findings", testFindings},
		{"Labels", testLabels},
		{"Reopen", testBeatReopen},
	}
	for _, r := range rules {
		t.Run(r.name, func(t *testing.T) { r.fn(t, open) })
	}
}

// beatBase is the first instant the beat fixtures use.
var beatBase = time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)

// beatTrain returns n beats of a lead every rr from start, every fifth a V.
func beatTrain(patient, device, code, model string, start time.Time, rr time.Duration, n int) []vigil.Beat {
	out := make([]vigil.Beat, n)
	for i := range out {
		c := "N"
		if i%5 == 4 {
			c = "V"
		}
		out[i] = vigil.Beat{Patient: patient, Device: device, Code: code, Time: start.Add(time.Duration(i) * rr), Class: c, RR: rr, Model: model}
	}
	out[0].RR = 0
	return out
}

func sameBeats(t *testing.T, what string, got, want []vigil.Beat) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d beats, want %d", what, len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		w.Time = w.Time.UTC().Truncate(time.Millisecond)
		w.RR = w.RR.Truncate(time.Millisecond)
		if !g.Time.Equal(w.Time) || g.Time.Location() != time.UTC || g.Class != w.Class || g.RR != w.RR || g.Model != w.Model ||
			g.Patient != w.Patient || g.Code != w.Code || g.Device != w.Device {
			t.Fatalf("%s: beat %d = %+v, want %+v", what, i, g, w)
		}
	}
}

func testBeatRoundTrip(t *testing.T, open func(t *testing.T) BeatStores) {
	s := open(t)
	ctx := t.Context()
	a := beatTrain("p1", "patch", "131330", "m1", beatBase.Add(123456*time.Microsecond), 812345*time.Microsecond, 40)
	b := beatTrain("p1", "patch", "131329", "m2", beatBase.Add(400*time.Millisecond), 800*time.Millisecond, 40)
	other := beatTrain("p2", "patch", "131330", "m1", beatBase, time.Second, 10)
	if err := s.AppendBeats(ctx, slices.Concat(b, a, other)); err != nil {
		t.Fatalf("AppendBeats = %v", err)
	}
	all := slices.Concat(a, b)
	slices.SortStableFunc(all, func(x, y vigil.Beat) int { return x.Time.Compare(y.Time) })
	tests := []struct {
		name string
		q    vigil.BeatQuery
		want []vigil.Beat
	}{
		{"all", vigil.BeatQuery{Patient: "p1"}, all},
		{"lead", vigil.BeatQuery{Patient: "p1", Code: "131330"}, a},
		{"window", vigil.BeatQuery{Patient: "p1", Code: "131330", From: a[3].Time.Truncate(time.Millisecond), To: a[9].Time.Truncate(time.Millisecond)}, a[3:9]},
		{"from after a beat", vigil.BeatQuery{Patient: "p1", Code: "131330", From: a[3].Time.Truncate(time.Millisecond).Add(time.Microsecond)}, a[4:]},
		{"limit", vigil.BeatQuery{Patient: "p1", Limit: 5}, all[:5]},
		{"other patient", vigil.BeatQuery{Patient: "p2"}, other},
		{"nobody", vigil.BeatQuery{Patient: "p3"}, nil},
		{"empty window", vigil.BeatQuery{Patient: "p1", From: beatBase.Add(time.Hour), To: beatBase}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.QueryBeats(ctx, &tc.q)
			if err != nil {
				t.Fatalf("QueryBeats(%+v) = %v", tc.q, err)
			}
			sameBeats(t, fmt.Sprintf("QueryBeats(%+v)", tc.q), got, tc.want)
		})
	}
	if _, err := s.QueryBeats(ctx, &vigil.BeatQuery{}); !errors.Is(err, vigil.ErrInvalid) {
		t.Errorf("QueryBeats without a patient = %v, want ErrInvalid", err)
	}
}

func testBeatIdempotent(t *testing.T, open func(t *testing.T) BeatStores) {
	s := open(t)
	ctx := t.Context()
	a := beatTrain("p1", "patch", "131330", "m1", beatBase, 750*time.Millisecond, 30)
	for _, batch := range [][]vigil.Beat{a, a, a[10:20], a[5:25], slices.Concat(a[:3], a[:3])} {
		if err := s.AppendBeats(ctx, batch); err != nil {
			t.Fatalf("AppendBeats = %v", err)
		}
	}
	got, err := s.QueryBeats(ctx, &vigil.BeatQuery{Patient: "p1"})
	if err != nil {
		t.Fatal(err)
	}
	sameBeats(t, "after sending beats again", got, a)
}

func testBeatLongBatch(t *testing.T, open func(t *testing.T) BeatStores) {
	s := open(t)
	ctx := t.Context()
	// 2 hours at 120/min: 14,400 beats, more than any store keeps in one row.
	a := beatTrain("p1", "patch", "131330", "m1", beatBase, 500*time.Millisecond, 14400)
	if err := s.AppendBeats(ctx, a); err != nil {
		t.Fatalf("AppendBeats = %v", err)
	}
	got, err := s.QueryBeats(ctx, &vigil.BeatQuery{Patient: "p1"})
	if err != nil {
		t.Fatal(err)
	}
	sameBeats(t, "two hours", got, a)
	for _, w := range [][2]int{{0, 1}, {1000, 1001}, {7000, 9000}, {14399, 14400}, {3333, 14400}} {
		got, err := s.QueryBeats(ctx, &vigil.BeatQuery{Patient: "p1", From: a[w[0]].Time, To: a[w[1]-1].Time.Add(time.Millisecond)})
		if err != nil {
			t.Fatal(err)
		}
		sameBeats(t, fmt.Sprintf("beats %d to %d", w[0], w[1]), got, a[w[0]:w[1]])
	}
}

func testBeatInvalid(t *testing.T, open func(t *testing.T) BeatStores) {
	s := open(t)
	ctx := t.Context()
	good := beatTrain("p1", "patch", "131330", "m1", beatBase, time.Second, 3)
	tests := []struct {
		name string
		edit func(b *vigil.Beat)
	}{
		{"no patient", func(b *vigil.Beat) { b.Patient = "" }},
		{"no code", func(b *vigil.Beat) { b.Code = "" }},
		{"no time", func(b *vigil.Beat) { b.Time = time.Time{} }},
		{"unknown class", func(b *vigil.Beat) { b.Class = "X" }},
		{"two letters", func(b *vigil.Beat) { b.Class = "NV" }},
		{"negative RR", func(b *vigil.Beat) { b.RR = -time.Second }},
	}
	for _, tc := range tests {
		batch := slices.Clone(good)
		tc.edit(&batch[2])
		if err := s.AppendBeats(ctx, batch); !errors.Is(err, vigil.ErrInvalid) {
			t.Errorf("AppendBeats(%s) = %v, want ErrInvalid", tc.name, err)
		}
	}
	if got, err := s.QueryBeats(ctx, &vigil.BeatQuery{Patient: "p1"}); err != nil || len(got) != 0 {
		t.Errorf("after refused batches: %d beats, %v; want none", len(got), err)
	}
}

func finding(id, patient, kind string, start time.Time) vigil.ECGFinding {
	return vigil.ECGFinding{ID: id, Patient: patient, Device: "patch", Code: "131330", Kind: kind, Rule: "ecg-" + kind, Severity: "high",
		Title: "ECG: " + kind, Start: start, End: start.Add(3 * time.Second), Beats: 4, RateBPM: 150.5, Model: "m1",
		Explanation: "wide QRS (148 ms)", Evidence: []time.Time{start, start.Add(time.Second)}, Found: start.Add(time.Minute)}
}

func testFindings(t *testing.T, open func(t *testing.T) BeatStores) {
	s := open(t)
	ctx := t.Context()
	f1 := finding("f1", "p1", "ventricular-run", beatBase)
	f2 := finding("f2", "p1", "pvc-burden", beatBase.Add(time.Hour))
	f3 := finding("f3", "p2", "ventricular-run", beatBase)
	if err := s.AddECGFindings(ctx, []vigil.ECGFinding{f1, f2, f3}); err != nil {
		t.Fatalf("AddECGFindings = %v", err)
	}
	f2.Beats, f2.BurdenPct, f2.Total = 400, 12.5, 3200
	if err := s.AddECGFindings(ctx, []vigil.ECGFinding{f2}); err != nil {
		t.Fatalf("AddECGFindings (replace) = %v", err)
	}
	same := func(what string, got []vigil.ECGFinding, want ...vigil.ECGFinding) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: %d findings, want %d", what, len(got), len(want))
		}
		for i := range got {
			g, w := fmt.Sprintf("%+v", got[i]), fmt.Sprintf("%+v", want[i])
			if g != w {
				t.Errorf("%s: finding %d =\n%s\nwant\n%s", what, i, g, w)
			}
		}
	}
	got, err := s.ECGFindings(ctx, &vigil.ECGFindingQuery{Patient: "p1"})
	if err != nil {
		t.Fatal(err)
	}
	same("p1", got, f2, f1)
	got, _ = s.ECGFindings(ctx, &vigil.ECGFindingQuery{Patient: "p1", Kind: "ventricular-run"})
	same("p1 runs", got, f1)
	got, _ = s.ECGFindings(ctx, &vigil.ECGFindingQuery{Patient: "p1", From: beatBase.Add(time.Second)})
	same("p1 from", got, f2)
	got, _ = s.ECGFindings(ctx, &vigil.ECGFindingQuery{Patient: "p1", To: beatBase.Add(time.Hour)})
	same("p1 to", got, f1)
	got, _ = s.ECGFindings(ctx, &vigil.ECGFindingQuery{Patient: "p1", Limit: 1})
	same("p1 limit", got, f2)
	one, err := s.ECGFinding(ctx, "p1", "f1")
	if err != nil {
		t.Fatalf("ECGFinding = %v", err)
	}
	same("one", []vigil.ECGFinding{*one}, f1)
	if _, err := s.ECGFinding(ctx, "p2", "f1"); !errors.Is(err, vigil.ErrNotFound) {
		t.Errorf("another patient's finding: %v, want ErrNotFound", err)
	}
	bad := f1
	bad.ID = ""
	if err := s.AddECGFindings(ctx, []vigil.ECGFinding{bad}); !errors.Is(err, vigil.ErrInvalid) {
		t.Errorf("finding without id: %v, want ErrInvalid", err)
	}
}

func label(patient, action, suggested, lbl, model string, at time.Time) vigil.BeatLabel {
	return vigil.BeatLabel{Patient: patient, Code: "131330", Time: beatBase.Add(1234 * time.Millisecond), Suggested: suggested,
		Label: lbl, Action: action, Model: model, Finding: "f1", By: "acc-1", At: at}
}

func testLabels(t *testing.T, open func(t *testing.T) BeatStores) {
	s := open(t)
	ctx := t.Context()
	l1 := label("p1", vigil.LabelConfirm, "V", "V", "m1", beatBase.Add(time.Hour))
	l2 := label("p1", vigil.LabelRelabel, "V", "N", "m1", beatBase.Add(2*time.Hour))
	l3 := label("p1", vigil.LabelReject, "S", "", "m2", beatBase.Add(3*time.Hour))
	l4 := label("p2", vigil.LabelRelabel, "", "F", "", beatBase.Add(time.Hour))
	l4.Finding = ""
	if err := s.AddBeatLabels(ctx, []vigil.BeatLabel{l2, l3}); err != nil {
		t.Fatalf("AddBeatLabels = %v", err)
	}
	if err := s.AddBeatLabels(ctx, []vigil.BeatLabel{l1, l4}); err != nil {
		t.Fatalf("AddBeatLabels = %v", err)
	}
	tests := []struct {
		name string
		q    vigil.BeatLabelQuery
		want []vigil.BeatLabel
	}{
		{"all", vigil.BeatLabelQuery{}, []vigil.BeatLabel{l1, l4, l2, l3}},
		{"patient", vigil.BeatLabelQuery{Patient: "p1"}, []vigil.BeatLabel{l1, l2, l3}},
		{"model", vigil.BeatLabelQuery{Model: "m1"}, []vigil.BeatLabel{l1, l2}},
		{"since until", vigil.BeatLabelQuery{Since: beatBase.Add(2 * time.Hour), Until: beatBase.Add(3 * time.Hour)}, []vigil.BeatLabel{l2}},
		{"limit", vigil.BeatLabelQuery{Patient: "p1", Limit: 2}, []vigil.BeatLabel{l1, l2}},
	}
	for _, tc := range tests {
		got, err := s.BeatLabels(ctx, tc.q)
		if err != nil {
			t.Fatalf("BeatLabels(%s) = %v", tc.name, err)
		}
		if !slices.Equal(fmtLabels(got), fmtLabels(tc.want)) {
			t.Errorf("BeatLabels(%s) =\n%v\nwant\n%v", tc.name, fmtLabels(got), fmtLabels(tc.want))
		}
	}
	bad := []struct {
		name string
		edit func(l *vigil.BeatLabel)
	}{
		{"unknown action", func(l *vigil.BeatLabel) { l.Action = "approve" }},
		{"confirm another class", func(l *vigil.BeatLabel) { l.Label = "N" }},
		{"relabel to X", func(l *vigil.BeatLabel) { l.Action, l.Label = vigil.LabelRelabel, "X" }},
		{"reject with a class", func(l *vigil.BeatLabel) { l.Action, l.Label = vigil.LabelReject, "N" }},
		{"nobody", func(l *vigil.BeatLabel) { l.By = "" }},
		{"no time", func(l *vigil.BeatLabel) { l.Time = time.Time{} }},
	}
	for _, tc := range bad {
		l := label("p3", vigil.LabelConfirm, "V", "V", "m1", beatBase)
		tc.edit(&l)
		if err := s.AddBeatLabels(ctx, []vigil.BeatLabel{label("p3", vigil.LabelConfirm, "V", "V", "m1", beatBase), l}); !errors.Is(err, vigil.ErrInvalid) {
			t.Errorf("AddBeatLabels(%s) = %v, want ErrInvalid", tc.name, err)
		}
	}
	if got, err := s.BeatLabels(ctx, vigil.BeatLabelQuery{Patient: "p3"}); err != nil || len(got) != 0 {
		t.Errorf("after refused labels: %v %v", got, err)
	}
}

func fmtLabels(ls []vigil.BeatLabel) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		l.Time, l.At = l.Time.UTC(), l.At.UTC()
		out[i] = fmt.Sprintf("%+v", l)
	}
	return out
}

func testBeatReopen(t *testing.T, open func(t *testing.T) BeatStores) {
	s := open(t)
	ctx := t.Context()
	a := beatTrain("p1", "patch", "131330", "m1", beatBase, time.Second, 10)
	f := finding("f1", "p1", "ventricular-run", beatBase)
	l := label("p1", vigil.LabelConfirm, "V", "V", "m1", beatBase)
	if err := s.AppendBeats(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := s.AddECGFindings(ctx, []vigil.ECGFinding{f}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddBeatLabels(ctx, []vigil.BeatLabel{l}); err != nil {
		t.Fatal(err)
	}
	if c, ok := s.(interface{ Close() error }); ok {
		if err := c.Close(); err != nil {
			t.Fatalf("Close = %v", err)
		}
	}
	s = open(t)
	got, err := s.QueryBeats(ctx, &vigil.BeatQuery{Patient: "p1"})
	if err != nil {
		t.Fatal(err)
	}
	sameBeats(t, "after reopening", got, a)
	if _, err := s.ECGFinding(ctx, "p1", "f1"); err != nil {
		t.Errorf("finding after reopening: %v", err)
	}
	if got, err := s.BeatLabels(ctx, vigil.BeatLabelQuery{Patient: "p1"}); err != nil || len(got) != 1 {
		t.Errorf("labels after reopening: %v %v", got, err)
	}
}
