package beatclass

import (
	"bytes"
	"errors"
	"os"
	"slices"
	"testing"

	"github.com/vigilhealth/vigil"
)

func TestMatchBeats(t *testing.T) {
	tests := []struct {
		name     string
		ref, det []int
		window   int
		want     []int
	}{
		{"exact", []int{100, 200, 300}, []int{100, 200, 300}, 10, []int{0, 1, 2}},
		{"within the window", []int{100, 200}, []int{95, 210}, 10, []int{0, 1}},
		{"outside the window", []int{100, 200}, []int{89, 200}, 10, []int{-1, 1}},
		{"extra detection", []int{100, 200}, []int{100, 150, 200}, 10, []int{0, -1, 1}},
		{"missed beat", []int{100, 200, 300}, []int{100, 300}, 10, []int{0, 2}},
		{"nearest of two wins, the other stays unmatched", []int{100}, []int{95, 102}, 10, []int{-1, 0}},
		{"one detection for one beat only", []int{100, 110}, []int{105}, 10, []int{0}},
		{"no detections", []int{100}, nil, 10, []int{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := MatchBeats(tc.ref, tc.det, tc.window); !slices.Equal(got, tc.want) {
				t.Errorf("MatchBeats(%v, %v, %d) = %v, want %v", tc.ref, tc.det, tc.window, got, tc.want)
			}
		})
	}
}

func TestParsePositions(t *testing.T) {
	for _, s := range []string{"reference", "detector"} {
		if p, err := ParsePositions(s); err != nil || string(p) != s {
			t.Errorf("ParsePositions(%q) = %q, %v", s, p, err)
		}
	}
	for _, s := range []string{"", "Detector", "annotated"} {
		if _, err := ParsePositions(s); !errors.Is(err, vigil.ErrInvalid) {
			t.Errorf("ParsePositions(%q) error = %v, want ErrInvalid", s, err)
		}
	}
}

// TestLoadRecordingAtDetector loads DS1 record 119 (ventricular bigeminy)
// at the detector's beats and checks them against the reference ones.
func TestLoadRecordingAtDetector(t *testing.T) {
	fsys := os.DirFS(needData(t))
	ref, err := LoadRecordingAt(fsys, "119", PositionsReference)
	if err != nil {
		t.Fatal(err)
	}
	det, err := LoadRecordingAt(fsys, "119", PositionsDetector)
	if err != nil {
		t.Fatal(err)
	}
	if det.Positions != PositionsDetector || ref.Positions != PositionsReference {
		t.Errorf("Positions = %q, %q", ref.Positions, det.Positions)
	}
	if det.Features.Len() != len(det.Labels) {
		t.Fatalf("%d feature rows, %d labels", det.Features.Len(), len(det.Labels))
	}
	count := func(r *Recording, c byte) int { return bytes.Count(r.Labels, []byte{c}) }
	missed := 0
	for k, n := range det.Missed {
		missed += n
		// Every annotated beat is matched or missed.
		if c := Classes[k]; count(det, c)+n != count(ref, c) {
			t.Errorf("class %c: %d matched + %d missed, %d annotated", c, count(det, c), n, count(ref, c))
		}
	}
	if missed > 10 || count(det, NoReference) > 10 {
		t.Errorf("%d beats missed, %d detections without reference; want ≤ 10 each", missed, count(det, NoReference))
	}
	if count(det, 'V') < 400 {
		t.Errorf("%d V beats matched, want ≥ 400", count(det, 'V'))
	}
	if _, err := LoadRecordingAt(fsys, "119", "somewhere"); !errors.Is(err, vigil.ErrInvalid) {
		t.Errorf("LoadRecordingAt(positions somewhere) error = %v, want ErrInvalid", err)
	}
}

func TestConfusionMissedExtra(t *testing.T) {
	r := &Recording{Labels: []byte("NNVV-"), Positions: PositionsDetector}
	r.Missed[classIndex('V')] = 2
	var c Confusion
	c.AddRecording(r, []byte("NNVNV"))
	tests := []struct {
		name      string
		got, want float64
	}{
		{"accuracy", c.Accuracy(), 3.0 / 7},
		{"matched accuracy", c.MatchedAccuracy(), 3.0 / 4},
		{"V Se", c.Se('V'), 1.0 / 4},
		{"V +P", c.PP('V'), 1.0 / 2},
		{"N Se", c.Se('N'), 1},
		{"N +P", c.PP('N'), 2.0 / 3},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
	var m Confusion
	m.Merge(c)
	m.Merge(c)
	if m.Total() != 14 || m.Missed[classIndex('V')] != 4 || m.Extra[classIndex('V')] != 2 {
		t.Errorf("merged twice: total %d, V missed %d, extra %d; want 14, 4, 2", m.Total(), m.Missed[classIndex('V')], m.Extra[classIndex('V')])
	}
	var b bytes.Buffer
	c.Print(&b)
	for _, want := range []string{"missed", "no ref", "accuracy 42.86 % over 7 beats", "75.00 % over the 4 matched beats"} {
		if !bytes.Contains(b.Bytes(), []byte(want)) {
			t.Errorf("Print lacks %q:\n%s", want, b.String())
		}
	}
}
