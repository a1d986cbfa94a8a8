// Package beatpack is the compact encoding of a lead's classified beats
// that the SQLite and PostgreSQL beat stores keep, one blob per batch:
// about four bytes a beat instead of a row each.
//
// A blob is a version byte (1) followed, per beat, by two unsigned
// varints (encoding/binary): the time in milliseconds since the previous
// beat (the first since the row's start time), and the RR interval in
// milliseconds shifted left by three bits, or'ed with the class index in
// vigil.BeatClasses.
package beatpack

import (
	"encoding/binary"
	"strings"

	"github.com/vigilhealth/vigil"
)

// Item is one beat: its time in Unix milliseconds, its class (a letter
// of vigil.BeatClasses) and its RR interval in milliseconds (0 unknown).
type Item struct {
	T     int64
	Class byte
	RR    int64
}

const version = 1

// maxRR is the largest RR interval encoded (an hour).
const maxRR = 3_600_000

// Append encodes items, ascending in time and none before start, after
// dst. It fails with vigil.ErrInvalid on an item out of order, an unknown
// class or an RR interval outside 0 to an hour.
func Append(dst []byte, start int64, items []Item) ([]byte, error) {
	dst = append(dst, version)
	prev := start
	for i, it := range items {
		k := strings.IndexByte(vigil.BeatClasses, it.Class)
		switch {
		case it.T < prev:
			return nil, vigil.Errorf(vigil.ErrInvalid, "beatpack: beat %d is out of order", i)
		case k < 0:
			return nil, vigil.Errorf(vigil.ErrInvalid, "beatpack: beat %d has an unknown class", i)
		case it.RR < 0 || it.RR > maxRR:
			return nil, vigil.Errorf(vigil.ErrInvalid, "beatpack: beat %d has an RR interval out of range", i)
		}
		dst = binary.AppendUvarint(dst, uint64(it.T-prev))
		dst = binary.AppendUvarint(dst, uint64(it.RR)<<3|uint64(k))
		prev = it.T
	}
	return dst, nil
}

// Decode appends the items of data, a blob written by Append with the
// same start, to out. It fails with vigil.ErrInvalid on a corrupt blob.
func Decode(data []byte, start int64, out []Item) ([]Item, error) {
	if len(data) == 0 || data[0] != version {
		return out, vigil.Errorf(vigil.ErrInvalid, "beatpack: unknown version")
	}
	data = data[1:]
	t := start
	for len(data) > 0 {
		dt, n := binary.Uvarint(data)
		if n <= 0 || dt > 1<<40 {
			return out, vigil.Errorf(vigil.ErrInvalid, "beatpack: corrupt time")
		}
		data = data[n:]
		v, n := binary.Uvarint(data)
		if n <= 0 || v>>3 > maxRR || v&7 >= uint64(len(vigil.BeatClasses)) {
			return out, vigil.Errorf(vigil.ErrInvalid, "beatpack: corrupt beat")
		}
		data = data[n:]
		t += int64(dt)
		out = append(out, Item{T: t, Class: vigil.BeatClasses[v&7], RR: int64(v >> 3)})
	}
	return out, nil
}
