package ecg

import (
	"bytes"
	"reflect"
	"testing"
	"testing/fstest"
)

func FuzzParseHeader(f *testing.F) {
	f.Add([]byte("101 2 360 650000\r\n101.dat 212 200 11 1024 955 29832 0 MLII\r\n101.dat 212 200 11 1024 992 19589 0 V1\r\n"))
	f.Add([]byte("x 1 250/250(0)\nx.dat 16+24 0(-5)/uV 16 0 0 0 0 lead I\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := ParseHeader(data)
		if err == nil && h == nil {
			t.Fatal("nil header without error")
		}
	})
}

func FuzzRead212(f *testing.F) {
	f.Add([]byte("r 2 360 3\nr.dat 212\nr.dat 212\n"), encode212([]int{1, 2, 3, -4, -2048, 2047}))
	f.Add([]byte("r 3 360\nr.dat 212\nr.dat 212\nr.dat 212\n"), encode212([]int{1, 2, 3, -4, 5}))
	f.Add([]byte("r 1 360 2\nr.dat 16+2 200 16 0 0 3\n"), []byte{9, 9, 1, 0, 2, 0})
	f.Fuzz(func(t *testing.T, hea, dat []byte) {
		fsys := fstest.MapFS{"r.hea": {Data: hea}, "r.dat": {Data: dat}}
		rec, err := ReadRecord(fsys, "r")
		if err != nil {
			return
		}
		for _, s := range rec.Signals {
			if len(s.Samples) != rec.Len {
				t.Fatalf("signal has %d samples, record %d", len(s.Samples), rec.Len)
			}
			if s.Format == 212 {
				for _, v := range s.Samples {
					if v != InvalidSample && (v < -2048 || v > 2047) {
						t.Fatalf("212 sample %d out of range", v)
					}
				}
			}
		}
	})
}

func FuzzAnnotations(f *testing.F) {
	var buf bytes.Buffer
	_ = WriteAnnotations(&buf, []Annotation{{Sample: 0, Symbol: "+", Aux: "(AFIB"}, {Sample: 10, Symbol: "N", Sub: -3, Chan: 1, Num: 5}, {Sample: 100000, Symbol: "V"}})
	f.Add(buf.Bytes())
	f.Add([]byte{5, 4, 0, 59 << 2, 1, 0, 0x70, 0x11, 0, 5 << 2, 2, 61 << 2, 2, 63 << 2, 'a', 'b', 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := ReadAnnotations(bytes.NewReader(data))
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := WriteAnnotations(&out, a); err != nil {
			// Files may hold annotations out of time order (via negative
			// SKIP), which the writer refuses; anything else must encode.
			for i := 1; i < len(a); i++ {
				if a[i].Sample < a[i-1].Sample {
					return
				}
			}
			t.Fatalf("WriteAnnotations(ReadAnnotations(x)): %v", err)
		}
		b, err := ReadAnnotations(&out)
		if err != nil {
			t.Fatalf("re-read: %v", err)
		}
		if !reflect.DeepEqual(a, b) && !(len(a) == 0 && len(b) == 0) {
			t.Fatalf("round trip differs:\n%+v\n%+v", a, b)
		}
	})
}

// FuzzDetector feeds arbitrary samples, in arbitrary chunks, at any
// supported rate: no panic, beats in order, inside the stream, decided no
// earlier than their R peak.
func FuzzDetector(f *testing.F) {
	f.Add(uint16(250), []byte{0, 1, 2, 3, 255, 255, 0, 128}, uint8(7))
	f.Add(uint16(1000), make([]byte, 4000), uint8(0))
	f.Fuzz(func(t *testing.T, rate uint16, data []byte, chunk uint8) {
		fs := float64(125 + int(rate)%876)
		x := make([]int16, len(data)/2)
		for i := range x {
			x[i] = int16(uint16(data[2*i]) | uint16(data[2*i+1])<<8)
		}
		// Repeat short inputs so the detector gets past its learning period.
		for len(x) > 0 && len(x) < int(3*fs) {
			x = append(x, x...)
		}
		d, err := NewDetector(DetectorConfig{Fs: fs})
		if err != nil {
			t.Fatal(err)
		}
		var beats []Beat
		step := int(chunk) + 1
		for i := 0; i < len(x); i += step {
			beats = d.Process(x[i:min(len(x), i+step)], beats)
		}
		beats = d.Flush(beats)
		for i, b := range beats {
			if b.Sample < 0 || b.Sample >= int64(len(x)) || b.Decided < b.Sample {
				t.Fatalf("beat %+v outside [0,%d) or decided before its peak", b, len(x))
			}
			if i > 0 && b.Sample <= beats[i-1].Sample {
				t.Fatalf("beats out of order: %+v after %+v", b, beats[i-1])
			}
		}
	})
}
