package sampleobs_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/sampleobs"
)

// ecgLike returns n samples of a synthetic ECG-like signal at 250 Hz: a
// beat every 0.8 s, baseline wander and noise, in ADC counts.
func ecgLike(n int, seed uint64) []int32 {
	r := rand.New(rand.NewPCG(seed, 1))
	out := make([]int32, n)
	for i := range out {
		t := float64(i) / 250
		phase := math.Mod(t, 0.8)
		v := 1024 + 40*math.Sin(2*math.Pi*0.3*t) + 4*r.NormFloat64()
		if phase < 0.04 {
			v += 600 * math.Sin(math.Pi*phase/0.04)
		}
		out[i] = int32(v)
	}
	return out
}

func TestPackRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		in   []int32
	}{
		{"empty", []int32{}},
		{"one", []int32{7}},
		{"extremes", []int32{math.MaxInt32, math.MinInt32, math.MaxInt32, 0, -1, math.MinInt32}},
		{"short", []int32{1, 2, 3, 2, 1, 0, -1}},
		{"flat", make([]int32, 5000)},
		{"ecg 10 s", ecgLike(2500, 1)},
		{"noise", func() []int32 {
			r := rand.New(rand.NewPCG(2, 2))
			s := make([]int32, 3000)
			for i := range s {
				s[i] = int32(r.Uint32())
			}
			return s
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := sampleobs.Pack(tt.in)
			got, err := sampleobs.Unpack(p)
			if err != nil {
				t.Fatalf("Unpack(Pack(%d samples)) = %v", len(tt.in), err)
			}
			if !slices.Equal(got, tt.in) {
				t.Fatalf("Unpack(Pack(x)) differs from x (%d samples)", len(tt.in))
			}
		})
	}
}

// TestPackSize checks the point of packing: an ECG chunk takes well under
// the 4 bytes per sample of raw int32.
func TestPackSize(t *testing.T) {
	in := ecgLike(2500, 3)
	p := sampleobs.Pack(in)
	if perSample := float64(len(p)) / float64(len(in)); perSample > 1.5 {
		t.Errorf("Pack(ECG) = %.2f bytes/sample, want <= 1.5", perSample)
	}
	t.Logf("ECG-like 2500 samples: %d bytes (%.2f bytes/sample)", len(p), float64(len(p))/2500)
}

func TestUnpackRejects(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"unknown format", []byte{0x07, 0x01, 0x00}},
		{"no count", []byte{0x01}},
		{"truncated", []byte{0x01, 0x03, 0x02, 0x02}},
		{"trailing", []byte{0x01, 0x01, 0x02, 0x02}},
		{"huge count", []byte{0x01, 0xff, 0xff, 0xff, 0xff, 0x0f}},
		{"overflow", []byte{0x01, 0x02, 0xfe, 0xff, 0xff, 0xff, 0x0f, 0xfe, 0xff, 0xff, 0xff, 0x0f}},
		{"bad deflate", []byte{0x02, 0x05, 0xff, 0xff, 0xff}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := sampleobs.Unpack(tt.in)
			if !errors.Is(err, vigil.ErrInvalid) {
				t.Fatalf("Unpack(%x) = %v, %v; want ErrInvalid", tt.in, got, err)
			}
		})
	}
}

func FuzzUnpack(f *testing.F) {
	f.Add(sampleobs.Pack([]int32{1, 2, 3}))
	f.Add(sampleobs.Pack(ecgLike(300, 4)))
	f.Add([]byte{0x02, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := sampleobs.Unpack(data)
		if err != nil {
			if !errors.Is(err, vigil.ErrInvalid) {
				t.Fatalf("Unpack error %v is not ErrInvalid", err)
			}
			return
		}
		again, err := sampleobs.Unpack(sampleobs.Pack(s))
		if err != nil || !slices.Equal(again, s) {
			t.Fatalf("Unpack(Pack(Unpack(data))) = %v, %v; want the same samples", again, err)
		}
	})
}

func BenchmarkPack(b *testing.B) {
	in := ecgLike(2500, 5)
	b.SetBytes(int64(4 * len(in)))
	b.ReportAllocs()
	var n int
	for b.Loop() {
		n = len(sampleobs.Pack(in))
	}
	b.ReportMetric(float64(n)/float64(len(in)), "bytes/sample")
}

func BenchmarkUnpack(b *testing.B) {
	p := sampleobs.Pack(ecgLike(2500, 5))
	b.SetBytes(4 * 2500)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := sampleobs.Unpack(p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPacker(b *testing.B) {
	in := ecgLike(2500, 5)
	b.SetBytes(int64(4 * len(in)))
	b.ReportAllocs()
	var p sampleobs.Packer
	var n int
	for b.Loop() {
		n = len(p.Pack(in))
	}
	b.ReportMetric(float64(n)/float64(len(in)), "bytes/sample")
}
