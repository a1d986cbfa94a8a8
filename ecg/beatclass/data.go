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

// Recording is one annotated record: the features of its reference beats
// and their AAMI classes.
type Recording struct {
	Name     string
	Features *Features
	Labels   []byte // 'N', 'S', 'V', 'F' or 'Q' per beat
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
	feat, err := Extract(x, rec.Fs, beats)
	if err != nil {
		return nil, fmt.Errorf("record %s: %w", name, err)
	}
	return &Recording{Name: rec.Name, Features: feat, Labels: labels}, nil
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
