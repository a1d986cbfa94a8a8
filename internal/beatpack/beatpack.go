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
	"cmp"
	"encoding/binary"
	"slices"
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

// Group is the beats of one lead and model of a batch, in time order, one
// per time.
type Group struct {
	Patient, Code, Device, Model string
	Items                        []Item
}

// GroupBeats splits a batch (validated by vigil.ValidateBeats) by lead
// and model, in the order they first appear; each group's beats are sorted
// by time, and a beat at the time of an earlier one is dropped.
func GroupBeats(beats []vigil.Beat) []Group {
	type key struct{ patient, code, device, model string }
	idx := map[key]int{}
	var gs []Group
	for i := range beats {
		b := &beats[i]
		k := key{b.Patient, b.Code, b.Device, b.Model}
		j, ok := idx[k]
		if !ok {
			j = len(gs)
			idx[k] = j
			gs = append(gs, Group{Patient: b.Patient, Code: b.Code, Device: b.Device, Model: b.Model})
		}
		gs[j].Items = append(gs[j].Items, Item{T: b.Time.UnixMilli(), Class: b.Class[0], RR: b.RR.Milliseconds()})
	}
	for i := range gs {
		slices.SortStableFunc(gs[i].Items, func(a, b Item) int { return cmp.Compare(a.T, b.T) })
		gs[i].Items = slices.CompactFunc(gs[i].Items, func(a, b Item) bool { return a.T == b.T })
	}
	return gs
}

// Rows splits time-ordered items into rows of at most maxBeats beats
// spanning less than maxSpan milliseconds each.
func Rows(items []Item, maxBeats int, maxSpan int64) [][]Item {
	var rows [][]Item
	for len(items) > 0 {
		n := 1
		for n < len(items) && n < maxBeats && items[n].T-items[0].T < maxSpan {
			n++
		}
		rows = append(rows, items[:n])
		items = items[n:]
	}
	return rows
}
