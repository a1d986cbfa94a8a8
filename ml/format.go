package ml

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/vigilhealth/vigil"
)

// Model is a trained classifier: a *GBT or a *LogReg.
type Model interface {
	NumClasses() int
	NumFeatures() int
	// Margins writes the raw class margins for x into out.
	Margins(x []float32, out []float64)
	// Proba writes calibrated class probabilities for x into out.
	Proba(x []float32, out []float64)
}

var (
	_ Model = (*GBT)(nil)
	_ Model = (*LogReg)(nil)
)

// File is a model with the names and metadata stored beside it.
type File struct {
	Model    Model
	Classes  []string          // class names, len NumClasses (optional)
	Features []string          // feature names, len NumFeatures (optional)
	Info     map[string]string // free metadata (task, data, metrics); keys are sorted on write
}

// Magic opens every model file; FormatVersion is the version written.
// See FORMAT.md.
const (
	Magic         = "VGML"
	FormatVersion = 1
	// MaxPayload bounds the JSON payload accepted by Read.
	MaxPayload = 256 << 20
)

type fileJSON struct {
	Kind     string            `json:"kind"`
	Classes  []string          `json:"classes,omitempty"`
	Features []string          `json:"features,omitempty"`
	Info     map[string]string `json:"info,omitempty"`
	GBT      *gbtJSON          `json:"gbt,omitempty"`
	LogReg   *logregJSON       `json:"logreg,omitempty"`
}

type gbtJSON struct {
	NumClasses  int        `json:"num_classes"`
	NumFeatures int        `json:"num_features"`
	Base        []float64  `json:"base"`
	Temperature float64    `json:"temperature"`
	Trees       []treeJSON `json:"trees"`
}

type treeJSON struct {
	Feature   []int32   `json:"feature"`
	Threshold []float32 `json:"threshold"`
	Left      []int32   `json:"left"`
	Value     []float32 `json:"value"`
	Cover     []float32 `json:"cover"`
}

type logregJSON struct {
	NumClasses  int       `json:"num_classes"`
	NumFeatures int       `json:"num_features"`
	Mean        []float64 `json:"mean"`
	Scale       []float64 `json:"scale"`
	Weights     []float64 `json:"weights"`
	Bias        []float64 `json:"bias"`
	Temperature float64   `json:"temperature"`
}

// Write encodes f in the current format version. The output is a pure
// function of the model and metadata (no timestamps), so retraining with the
// same data and seed reproduces the file byte for byte.
func Write(w io.Writer, f *File) error {
	j := fileJSON{Classes: f.Classes, Features: f.Features, Info: f.Info}
	switch m := f.Model.(type) {
	case *GBT:
		j.Kind = "gbt"
		g := &gbtJSON{NumClasses: m.classes, NumFeatures: m.features, Base: m.base, Temperature: m.temp, Trees: make([]treeJSON, len(m.trees))}
		for i, t := range m.trees {
			g.Trees[i] = treeJSON(t)
		}
		j.GBT = g
	case *LogReg:
		j.Kind = "logreg"
		j.LogReg = &logregJSON{NumClasses: m.classes, NumFeatures: m.features, Mean: m.mean, Scale: m.scale, Weights: m.w, Bias: m.b, Temperature: m.temp}
	default:
		return fmt.Errorf("%w: model type %T", vigil.ErrInvalid, f.Model)
	}
	if err := checkNames(&j, f.Model); err != nil {
		return err
	}
	payload, err := json.Marshal(j)
	if err != nil {
		return fmt.Errorf("encode model: %w", err)
	}
	var hdr [12]byte
	copy(hdr[:4], Magic)
	binary.BigEndian.PutUint16(hdr[4:], FormatVersion)
	binary.BigEndian.PutUint16(hdr[6:], 0) // flags
	binary.BigEndian.PutUint32(hdr[8:], uint32(len(payload)))
	var crc [4]byte
	binary.BigEndian.PutUint32(crc[:], crc32.ChecksumIEEE(payload))
	for _, b := range [][]byte{hdr[:], payload, crc[:]} {
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}

func checkNames(j *fileJSON, m Model) error {
	if j.Classes != nil && len(j.Classes) != m.NumClasses() {
		return fmt.Errorf("%w: %d class names for %d classes", vigil.ErrInvalid, len(j.Classes), m.NumClasses())
	}
	if j.Features != nil && len(j.Features) != m.NumFeatures() {
		return fmt.Errorf("%w: %d feature names for %d features", vigil.ErrInvalid, len(j.Features), m.NumFeatures())
	}
	return nil
}

// Read decodes a model file. It returns an error wrapping vigil.ErrInvalid
// for a bad magic, an unknown format version, unknown flags or fields, a
// checksum mismatch or a malformed model, and vigil.ErrTooLarge when the
// payload exceeds MaxPayload.
func Read(r io.Reader) (*File, error) {
	var hdr [12]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, fmt.Errorf("%w: model header: %v", vigil.ErrInvalid, err)
	}
	if string(hdr[:4]) != Magic {
		return nil, fmt.Errorf("%w: not a model file (magic %q)", vigil.ErrInvalid, hdr[:4])
	}
	if v := binary.BigEndian.Uint16(hdr[4:]); v != FormatVersion {
		return nil, fmt.Errorf("%w: model format version %d (this build reads %d)", vigil.ErrInvalid, v, FormatVersion)
	}
	if fl := binary.BigEndian.Uint16(hdr[6:]); fl != 0 {
		return nil, fmt.Errorf("%w: unknown model flags %#x", vigil.ErrInvalid, fl)
	}
	n := binary.BigEndian.Uint32(hdr[8:])
	if n > MaxPayload {
		return nil, fmt.Errorf("%w: model payload of %d bytes", vigil.ErrTooLarge, n)
	}
	var buf bytes.Buffer
	if _, err := io.CopyN(&buf, r, int64(n)+4); err != nil {
		return nil, fmt.Errorf("%w: truncated model: %v", vigil.ErrInvalid, err)
	}
	b := buf.Bytes()
	payload := b[:n]
	if crc32.ChecksumIEEE(payload) != binary.BigEndian.Uint32(b[n:]) {
		return nil, fmt.Errorf("%w: model checksum mismatch", vigil.ErrInvalid)
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	var j fileJSON
	if err := dec.Decode(&j); err != nil {
		return nil, fmt.Errorf("%w: model payload: %v", vigil.ErrInvalid, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data in model payload", vigil.ErrInvalid)
	}
	f := &File{Classes: j.Classes, Features: j.Features, Info: j.Info}
	switch {
	case j.Kind == "gbt" && j.GBT != nil && j.LogReg == nil:
		g := j.GBT
		trees := make([]Tree, len(g.Trees))
		for i, t := range g.Trees {
			trees[i] = Tree(t)
		}
		m, err := newGBT(g.NumClasses, g.NumFeatures, g.Base, trees, g.Temperature)
		if err != nil {
			return nil, err
		}
		f.Model = m
	case j.Kind == "logreg" && j.LogReg != nil && j.GBT == nil:
		l := j.LogReg
		m := &LogReg{classes: l.NumClasses, features: l.NumFeatures, mean: l.Mean, scale: l.Scale, w: l.Weights, b: l.Bias, temp: l.Temperature}
		if err := m.check(); err != nil {
			return nil, err
		}
		f.Model = m
	default:
		return nil, fmt.Errorf("%w: unknown model kind %q", vigil.ErrInvalid, j.Kind)
	}
	if err := checkNames(&j, f.Model); err != nil {
		return nil, err
	}
	return f, nil
}
