package sampleobs

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"io"
	"math"

	"github.com/vigilhealth/vigil"
)

// Formats of packed waveform samples (see the package doc).
const (
	formatDelta      = 0x01
	formatDeltaFlate = 0x02
)

// MaxPacked is the largest number of samples Unpack accepts, so that a
// hostile or corrupt blob cannot make it allocate without bound: 2^22
// samples is more than 4 hours of ECG at 250 Hz, far beyond one chunk.
const MaxPacked = 1 << 22

// flateMin is the number of samples below which Pack does not try DEFLATE:
// for short chunks its header and block costs outweigh the gain.
const flateMin = 64

// flateLevel is the DEFLATE level of Pack.
const flateLevel = flate.BestSpeed

// Pack encodes samples in the packed format (see the package doc). It
// allocates a DEFLATE compressor (about 1 MB) for chunks of 64 samples or
// more; a Packer reuses one.
func Pack(samples []int32) []byte {
	var p Packer
	return p.Pack(samples)
}

// Packer packs waveform samples, reusing its compressor from call to call.
// The zero value is ready to use. A Packer is not safe for concurrent use.
type Packer struct {
	w   *flate.Writer
	buf bytes.Buffer
}

// Pack is like the function Pack. The result is newly allocated.
func (p *Packer) Pack(samples []int32) []byte {
	deltas := make([]byte, 0, 1+binary.MaxVarintLen64+len(samples)+len(samples)/4)
	deltas = append(deltas, formatDelta)
	deltas = binary.AppendUvarint(deltas, uint64(len(samples)))
	head := len(deltas)
	prev := int64(0)
	for _, s := range samples {
		deltas = binary.AppendVarint(deltas, int64(s)-prev)
		prev = int64(s)
	}
	if len(samples) < flateMin {
		return deltas
	}
	buf := &p.buf
	buf.Reset()
	buf.WriteByte(formatDeltaFlate)
	buf.Write(deltas[1:head])
	if p.w == nil {
		w, err := flate.NewWriter(buf, flateLevel)
		if err != nil {
			return deltas // only for an invalid level
		}
		p.w = w
	} else {
		p.w.Reset(buf)
	}
	p.w.Write(deltas[head:]) // writes to a bytes.Buffer do not fail
	p.w.Close()
	if buf.Len() >= len(deltas) {
		return deltas
	}
	return bytes.Clone(buf.Bytes())
}

// Unpack decodes packed samples. Malformed data (unknown format, truncated
// or trailing bytes, a count above MaxPacked, a value outside int32) gives
// an error of kind vigil.ErrInvalid.
func Unpack(data []byte) ([]int32, error) {
	if len(data) == 0 {
		return nil, vigil.Errorf(vigil.ErrInvalid, "packed samples: empty")
	}
	format := data[0]
	n, k := binary.Uvarint(data[1:])
	if k <= 0 {
		return nil, vigil.Errorf(vigil.ErrInvalid, "packed samples: bad count")
	}
	if n > MaxPacked {
		return nil, vigil.Errorf(vigil.ErrInvalid, "packed samples: count %d above %d", n, MaxPacked)
	}
	body := data[1+k:]
	switch format {
	case formatDelta:
	case formatDeltaFlate:
		// A sample's difference takes at most 5 bytes (33 bits), so the
		// inflated body is bounded by 5n; one byte more detects excess.
		limit := int64(n)*5 + 1
		r := flate.NewReader(bytes.NewReader(body))
		out, err := io.ReadAll(io.LimitReader(r, limit))
		if err != nil {
			return nil, vigil.Errorf(vigil.ErrInvalid, "packed samples: bad DEFLATE data")
		}
		if int64(len(out)) == limit {
			return nil, vigil.Errorf(vigil.ErrInvalid, "packed samples: body longer than its count")
		}
		body = out
	default:
		return nil, vigil.Errorf(vigil.ErrInvalid, "packed samples: unknown format %#x", format)
	}
	if uint64(len(body)) < n {
		// Every sample takes at least one byte.
		return nil, vigil.Errorf(vigil.ErrInvalid, "packed samples: body shorter than its count")
	}
	out := make([]int32, n)
	prev := int64(0)
	for i := range out {
		d, k := binary.Varint(body)
		if k <= 0 {
			return nil, vigil.Errorf(vigil.ErrInvalid, "packed samples: bad difference at %d", i)
		}
		body = body[k:]
		v := prev + d
		if d > math.MaxUint32 || d < -math.MaxUint32 || v > math.MaxInt32 || v < math.MinInt32 {
			return nil, vigil.Errorf(vigil.ErrInvalid, "packed samples: value out of range at %d", i)
		}
		out[i] = int32(v)
		prev = v
	}
	if len(body) != 0 {
		return nil, vigil.Errorf(vigil.ErrInvalid, "packed samples: %d trailing bytes", len(body))
	}
	return out, nil
}
