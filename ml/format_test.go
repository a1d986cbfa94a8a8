package ml

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"testing"

	"github.com/vigilhealth/vigil"
)

func trainedFiles(t testing.TB) []*File {
	t.Helper()
	d := synth(600, 4, 1)
	g, _, err := TrainGBT(context.Background(), d, 3, Config{Rounds: 3, MaxLeaves: 4})
	if err != nil {
		t.Fatal(err)
	}
	l, err := TrainLogReg(context.Background(), d, 3, LogRegConfig{MaxIter: 20})
	if err != nil {
		t.Fatal(err)
	}
	return []*File{
		{Model: g, Classes: []string{"a", "b", "c"}, Features: []string{"w", "x", "y", "z"}, Info: map[string]string{"task": "test"}},
		{Model: l},
	}
}

func TestRoundTrip(t *testing.T) {
	d := synth(50, 4, 9)
	for _, f := range trainedFiles(t) {
		var b bytes.Buffer
		if err := Write(&b, f); err != nil {
			t.Fatalf("Write: %v", err)
		}
		g, err := Read(bytes.NewReader(b.Bytes()))
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		var b2 bytes.Buffer
		if err := Write(&b2, g); err != nil {
			t.Fatalf("Write again: %v", err)
		}
		if !bytes.Equal(b.Bytes(), b2.Bytes()) {
			t.Errorf("%T: decode∘encode is not the identity", f.Model)
		}
		p, q := make([]float64, 3), make([]float64, 3)
		for i := 0; i < d.Rows; i++ {
			f.Model.Proba(d.Row(i), p)
			g.Model.Proba(d.Row(i), q)
			for k := range p {
				if p[k] != q[k] {
					t.Fatalf("%T row %d: decoded model predicts %v, original %v", f.Model, i, q, p)
				}
			}
		}
	}
}

// reencode returns data with its payload replaced and the checksum fixed.
func reencode(version uint16, payload []byte) []byte {
	var b bytes.Buffer
	b.WriteString(Magic)
	binary.Write(&b, binary.BigEndian, version)
	binary.Write(&b, binary.BigEndian, uint16(0))
	binary.Write(&b, binary.BigEndian, uint32(len(payload)))
	b.Write(payload)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(payload))
	return b.Bytes()
}

func TestReadRejects(t *testing.T) {
	var good bytes.Buffer
	if err := Write(&good, trainedFiles(t)[0]); err != nil {
		t.Fatal(err)
	}
	g := good.Bytes()
	payload := g[12 : len(g)-4]
	flip := bytes.Clone(g)
	flip[20] ^= 1
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, vigil.ErrInvalid},
		{"bad magic", append([]byte("XXXX"), g[4:]...), vigil.ErrInvalid},
		{"future version", reencode(2, payload), vigil.ErrInvalid},
		{"version zero", reencode(0, payload), vigil.ErrInvalid},
		{"truncated", g[:len(g)-10], vigil.ErrInvalid},
		{"checksum", flip, vigil.ErrInvalid},
		{"huge length", append(append([]byte(Magic), 0, 1, 0, 0), 0xff, 0xff, 0xff, 0xff), vigil.ErrTooLarge},
		{"unknown kind", reencode(1, []byte(`{"kind":"forest"}`)), vigil.ErrInvalid},
		{"unknown field", reencode(1, []byte(`{"kind":"gbt","extra":1}`)), vigil.ErrInvalid},
		{"tree cycle", reencode(1, []byte(`{"kind":"gbt","gbt":{"num_classes":2,"num_features":1,"base":[0,0],"temperature":1,
			"trees":[{"feature":[0,-1,-1],"threshold":[0,0,0],"left":[0,0,0],"value":[0,1,2],"cover":[2,1,1]},
			         {"feature":[-1],"threshold":[0],"left":[0],"value":[0],"cover":[1]}]}}`)), vigil.ErrInvalid},
		{"feature out of range", reencode(1, []byte(`{"kind":"gbt","gbt":{"num_classes":2,"num_features":1,"base":[0,0],"temperature":1,
			"trees":[{"feature":[3,-1,-1],"threshold":[0,0,0],"left":[1,0,0],"value":[0,1,2],"cover":[2,1,1]},
			         {"feature":[-1],"threshold":[0],"left":[0],"value":[0],"cover":[1]}]}}`)), vigil.ErrInvalid},
		{"trees not a multiple of classes", reencode(1, []byte(`{"kind":"gbt","gbt":{"num_classes":2,"num_features":1,"base":[0,0],"temperature":1,
			"trees":[{"feature":[-1],"threshold":[0],"left":[0],"value":[0],"cover":[1]}]}}`)), vigil.ErrInvalid},
		{"logreg shapes", reencode(1, []byte(`{"kind":"logreg","logreg":{"num_classes":2,"num_features":1,"mean":[0],"scale":[1],"weights":[1],"bias":[0,0],"temperature":1}}`)), vigil.ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Read(bytes.NewReader(tc.data))
			if !errors.Is(err, tc.want) {
				t.Errorf("Read = %v, %v; want %v", f, err, tc.want)
			}
		})
	}
}

func FuzzRead(f *testing.F) {
	for _, m := range trainedFiles(f) {
		var b bytes.Buffer
		if err := Write(&b, m); err != nil {
			f.Fatal(err)
		}
		f.Add(b.Bytes())
	}
	f.Add(reencode(1, []byte(`{"kind":"gbt","gbt":{"num_classes":2,"num_features":1,"base":[0,0],"temperature":1,"trees":[{"feature":[0,-1,-1],"threshold":[0.5,0,0],"left":[1,0,0],"value":[0,1,2],"cover":[2,1,1]},{"feature":[-1],"threshold":[0],"left":[0],"value":[0],"cover":[1]}]}}`)))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Read(bytes.NewReader(data))
		if err != nil {
			return
		}
		// A decoded model must predict, explain and re-encode without panic.
		x := make([]float32, file.Model.NumFeatures())
		out := make([]float64, file.Model.NumClasses())
		file.Model.Proba(x, out)
		if g, ok := file.Model.(*GBT); ok {
			NewExplainer(g).Explain(x, 0, make([]float64, len(x)))
		}
		var b bytes.Buffer
		if err := Write(&b, file); err != nil {
			t.Fatalf("Write of a decoded model: %v", err)
		}
		again, err := Read(&b)
		if err != nil {
			t.Fatalf("Read of a re-encoded model: %v", err)
		}
		var b2 bytes.Buffer
		if err := Write(&b2, again); err != nil {
			t.Fatal(err)
		}
		var b1 bytes.Buffer
		_ = Write(&b1, file)
		if !bytes.Equal(b1.Bytes(), b2.Bytes()) {
			t.Fatalf("encode∘decode∘encode differs from encode")
		}
	})
}

func TestLogReg(t *testing.T) {
	train, test := synth(4000, 6, 1), synth(2000, 6, 2)
	m, err := TrainLogReg(context.Background(), train, 3, LogRegConfig{})
	if err != nil {
		t.Fatalf("TrainLogReg: %v", err)
	}
	// Class 1 depends on a product of features, which a linear model cannot
	// capture; it still must beat the majority class clearly.
	count := make([]int, 3)
	for _, y := range test.Y {
		count[y]++
	}
	majority := float64(max(count[0], count[1], count[2])) / float64(test.Rows)
	if acc := accuracy(m, test); acc < majority+0.05 {
		t.Errorf("test accuracy %.3f, want ≥ majority %.3f + 0.05", acc, majority)
	}
	strong, _ := TrainLogReg(context.Background(), train, 3, LogRegConfig{L2: 10})
	norm := func(l *LogReg) float64 {
		s := 0.0
		for _, w := range l.w {
			s += w * w
		}
		return s
	}
	if norm(strong) >= norm(m) {
		t.Errorf("‖W‖² with λ=10 is %.3g, with default λ %.3g: L2 does not shrink", norm(strong), norm(m))
	}
}
