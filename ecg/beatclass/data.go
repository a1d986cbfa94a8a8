package beatclass

import (
	"fmt"
	"io/fs"
	"math"
	"slices"
	"strings"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/ecg"
)

// Recording is one annotated record: the features of its beats and their
// AAMI classes. At reference positions (LoadRecording) every beat is an
// annotated one. At detector positions (LoadRecordingAt with
// PositionsDetector) the beats are those Vigil's QRS detector finds, as in
// service; a detection that matches no annotated beat is labelled
// NoReference, and the annotated beats no detection matched are counted
// in Missed.
type Recording struct {
	Name     string
	Features *Features
	Labels   []byte // 'N', 'S', 'V', 'F', 'Q' or NoReference per beat
	// Positions is where the beats are.
	Positions Positions
	// Missed counts, by class (index into Classes), the annotated beats
	// that no detected beat matched; always zero at reference positions.
	Missed [len(Classes)]int
}

// Labels of detected beats without an annotated class. NoReference marks
// a detection that matches no annotated beat (a false detection): training
// skips it and evaluation counts it against the positive predictivity of
// the class it is given (Confusion.Extra). InFlutter marks a detection
// inside an annotated episode of ventricular flutter or fibrillation
// ('[' to ']'), which ANSI/AAMI EC57 leaves out of beat statistics (as
// ecg.CompareBeats and `vigil ecg eval` do): neither trained on nor
// counted.
const (
	NoReference = '-'
	InFlutter   = '!'
)

// Positions says where a recording's beats are taken.
type Positions string

// The beat positions: the reference annotations (.atr), or the beats
// Vigil's QRS detector (ecg.DetectBeats) finds in channel 0, as `vigil ecg
// annotate` and the streaming classifier see them.
const (
	PositionsReference Positions = "reference"
	PositionsDetector  Positions = "detector"
)

// DefaultPositions is where the default model's training beats are: the
// detector's, the positions the model sees in service.
const DefaultPositions = PositionsDetector

// ParsePositions parses "reference" or "detector"; anything else is an
// error wrapping vigil.ErrInvalid.
func ParsePositions(s string) (Positions, error) {
	switch p := Positions(s); p {
	case PositionsReference, PositionsDetector:
		return p, nil
	}
	return "", fmt.Errorf("%w: beat positions %q (want reference or detector)", vigil.ErrInvalid, s)
}

// Signal returns channel ch of rec in mV, with NaN for missing samples.
func Signal(rec *ecg.Record, ch int) ([]float32, error) {
	if ch < 0 || ch >= len(rec.Signals) {
		return nil, fmt.Errorf("%w: record %s has %d signals, no channel %d", vigil.ErrInvalid, rec.Name, len(rec.Signals), ch)
	}
	s := &rec.Signals[ch]
	if !(s.Gain > 0) {
		return nil, fmt.Errorf("%w: record %s channel %d gain %v", vigil.ErrInvalid, rec.Name, ch, s.Gain)
	}
	x := make([]float32, len(s.Samples))
	for i, v := range s.Samples {
		if v == ecg.InvalidSample {
			x[i] = float32(math.NaN())
		} else {
			x[i] = float32(float64(int(v)-s.Baseline) / s.Gain)
		}
	}
	return x, nil
}

// LoadRecording reads record name (WFDB header, signals and the reference
// annotation file name+".atr") from fsys and computes the features of its
// reference beats on channel 0.
func LoadRecording(fsys fs.FS, name string) (*Recording, error) {
	return LoadRecordingAt(fsys, name, PositionsReference)
}

// LoadRecordingAt is LoadRecording with the beats taken at pos. At
// PositionsDetector the beats are those ecg.DetectBeats finds in channel 0
// (the call `vigil ecg annotate` makes), their features are computed at
// the detected R peaks over the whole detected sequence (so RR features
// include false detections, as in service), and each detection takes the
// class of the annotated beat it matches (ANSI/AAMI EC57 beat matching:
// each annotated beat, in order, takes the nearest unmatched detection
// within ecg.MatchWindow, 150 ms).
func LoadRecordingAt(fsys fs.FS, name string, pos Positions) (*Recording, error) {
	if _, err := ParsePositions(string(pos)); err != nil {
		return nil, err
	}
	rec, err := ecg.ReadRecord(fsys, name)
	if err != nil {
		return nil, err
	}
	f, err := fsys.Open(name + ".atr")
	if err != nil {
		return nil, fmt.Errorf("%s.atr: %w", name, err)
	}
	defer f.Close()
	anns, err := ecg.ReadAnnotations(f)
	if err != nil {
		return nil, fmt.Errorf("%s.atr: %w", name, err)
	}
	x, err := Signal(rec, 0)
	if err != nil {
		return nil, err
	}
	var beats []int
	var labels []byte
	for _, a := range anns {
		c, ok := ecg.AAMIClass(a.Symbol)
		if !ok || a.Sample < 0 || a.Sample >= len(x) || (len(beats) > 0 && a.Sample <= beats[len(beats)-1]) {
			continue
		}
		beats = append(beats, a.Sample)
		labels = append(labels, c)
	}
	out := &Recording{Name: rec.Name, Positions: pos}
	if pos == PositionsDetector {
		s := &rec.Signals[0]
		det, err := ecg.DetectBeats(s.Samples, rec.Fs, s.Gain)
		if err != nil {
			return nil, fmt.Errorf("record %s: %w", name, err)
		}
		pos := make([]int, len(det))
		for i, b := range det {
			pos[i] = int(b.Sample)
		}
		match := MatchBeats(beats, pos, int(ecg.MatchWindow*rec.Fs))
		_, vf := ecg.ReferenceBeats(anns)
		detLabels := make([]byte, len(pos))
		matched := make([]bool, len(beats))
		for i, j := range match {
			switch {
			case j >= 0:
				detLabels[i] = labels[j]
				matched[j] = true
			case inIntervals(pos[i], vf):
				detLabels[i] = InFlutter
			default:
				detLabels[i] = NoReference
			}
		}
		for j, ok := range matched {
			if !ok {
				out.Missed[classIndex(labels[j])]++
			}
		}
		beats, labels = pos, detLabels
	}
	feat, err := Extract(x, rec.Fs, beats)
	if err != nil {
		return nil, fmt.Errorf("record %s: %w", name, err)
	}
	out.Features, out.Labels = feat, labels
	return out, nil
}

// MatchBeats pairs detections with reference beats (both ascending sample
// indices) as ANSI/AAMI EC57 does (and ecg.CompareBeats): each reference
// beat, in order, takes the nearest detection not yet taken within window
// samples. It returns, for each detection, the index of its reference beat
// or -1.
func MatchBeats(ref, det []int, window int) []int {
	match := make([]int, len(det))
	for i := range match {
		match[i] = -1
	}
	j := 0
	for r, p := range ref {
		for j < len(det) && det[j] < p-window {
			j++
		}
		best := -1
		for i := j; i < len(det) && det[i] <= p+window; i++ {
			if match[i] < 0 && (best < 0 || abs(det[i]-p) < abs(det[best]-p)) {
				best = i
			}
		}
		if best >= 0 {
			match[best] = r
		}
	}
	return match
}

func inIntervals(t int, iv []ecg.Interval) bool {
	for _, v := range iv {
		if t >= v.From && t < v.To {
			return true
		}
	}
	return false
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

// RecordNames lists the records of fsys's root that have a header and a
// reference annotation file, in ascending order.
func RecordNames(fsys fs.FS) ([]string, error) {
	ents, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, err
	}
	have := map[string]bool{}
	for _, e := range ents {
		have[e.Name()] = true
	}
	var names []string
	for _, e := range ents {
		if n, ok := strings.CutSuffix(e.Name(), ".hea"); ok && have[n+".atr"] {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	if len(names) == 0 {
		return nil, fmt.Errorf("%w: no annotated WFDB records", vigil.ErrNotFound)
	}
	return names, nil
}
