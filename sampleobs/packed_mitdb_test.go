package sampleobs_test

import (
	"encoding/binary"
	"os"
	"slices"
	"testing"

	"github.com/vigilhealth/vigil/ecg"
	"github.com/vigilhealth/vigil/sampleobs"
)

// TestPackMITBIH packs real ECG (MIT-BIH record 101, both leads, 360 Hz)
// in 10 s chunks, checks the round trip and logs the size per sample.
func TestPackMITBIH(t *testing.T) {
	dir := "../../shared/data/mitdb-ds1"
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("skipping: %s not found (the shared data set)", dir)
	}
	rec, err := ecg.ReadRecord(os.DirFS(dir), "101")
	if err != nil {
		t.Fatalf("ReadRecord(101) = %v", err)
	}
	chunk := int(rec.Fs * 10)
	var p sampleobs.Packer
	var samples, packed, deltaOnly int
	for _, sig := range rec.Signals {
		for i := 0; i+chunk <= len(sig.Samples); i += chunk {
			in := make([]int32, chunk)
			for j, v := range sig.Samples[i : i+chunk] {
				in[j] = int32(v)
			}
			b := p.Pack(in)
			got, err := sampleobs.Unpack(b)
			if err != nil || !slices.Equal(got, in) {
				t.Fatalf("chunk at %d: Unpack(Pack(x)) = %v, want x", i, err)
			}
			samples += chunk
			packed += len(b)
			deltaOnly += deltaBytes(in)
		}
	}
	perSample := float64(packed) / float64(samples)
	t.Logf("MIT-BIH 101, %d samples in 10 s chunks: %.3f bytes/sample packed (int32: 4, WFDB 212: 1.5; format 0x01 without DEFLATE: %.3f)",
		samples, perSample, float64(deltaOnly)/float64(samples))
	if perSample > 1.5 {
		t.Errorf("packed ECG takes %.2f bytes/sample, more than WFDB format 212", perSample)
	}
}

// deltaBytes is the size of format 0x01 (differences as zigzag varints).
func deltaBytes(in []int32) int {
	b := binary.AppendUvarint([]byte{1}, uint64(len(in)))
	prev := int64(0)
	for _, v := range in {
		b = binary.AppendVarint(b, int64(v)-prev)
		prev = int64(v)
	}
	return len(b)
}
