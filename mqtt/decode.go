package mqtt

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/vigilhealth/vigil"
)

// Default bounds of a payload (see Limits).
const (
	DefaultMaxBytes = 1 << 20
	DefaultMaxItems = 10_000
)

// Limits bound what Decode accepts. Zero fields take the defaults.
type Limits struct {
	MaxBytes int // payload size in bytes (DefaultMaxBytes)
	MaxItems int // readings per payload (DefaultMaxItems)
}

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxItems <= 0 {
		l.MaxItems = DefaultMaxItems
	}
	return l
}

// Payload is one decoded message: the well-formed readings, and a rejection
// for each malformed item.
type Payload struct {
	// Readings are the items that decoded, in message order.
	Readings []vigil.Reading
	// Index[i] is the position of Readings[i] in the message.
	Index []int
	// Rejected holds one result per malformed item, with its position and a
	// safe message.
	Rejected []vigil.ItemResult
	// Items is the number of items in the message.
	Items int
}

// Decode parses an MQTT readings payload: a JSON array of vigil.Reading, a
// single reading object, or NDJSON (objects separated by line feeds).
//
// Whole-payload problems (empty, not JSON, not an array or object, too
// large, too many items, NDJSON values on one line) return an error
// wrapping vigil.ErrInvalid or vigil.ErrTooLarge whose message is safe to
// send back to the device. An item that is not an object, has an unknown
// field or a value of the wrong type is rejected on its own: it appears in
// Payload.Rejected and the other items are still returned. Decode does not
// check codes, units or ranges; the Ingester does.
func Decode(data []byte, lim Limits) (*Payload, error) {
	lim = lim.withDefaults()
	if len(data) > lim.MaxBytes {
		return nil, vigil.Errorf(vigil.ErrTooLarge, "payload of %d bytes exceeds the limit of %d bytes", len(data), lim.MaxBytes)
	}
	if !utf8.Valid(data) {
		return nil, vigil.Errorf(vigil.ErrInvalid, "payload is not UTF-8")
	}
	start := skipSpace(data, 0)
	if start == len(data) {
		return nil, vigil.Errorf(vigil.ErrInvalid, "empty payload: want a JSON array, an object or NDJSON of readings")
	}
	if p, ok := decodeFast(data, data[start], lim.MaxItems); ok {
		return p, nil
	}
	return decodeSlow(data, start, lim)
}

// decodeSlow decodes item by item, so that one malformed item is rejected
// alone.
func decodeSlow(data []byte, start int, lim Limits) (*Payload, error) {
	var raws []json.RawMessage
	switch data[start] {
	case '[':
		if err := json.Unmarshal(data, &raws); err != nil {
			return nil, vigil.Errorf(vigil.ErrInvalid, "payload is not a JSON array of readings: %s", syntaxMessage(err))
		}
		if len(raws) > lim.MaxItems {
			return nil, vigil.Errorf(vigil.ErrTooLarge, "payload has %d readings, more than the limit of %d", len(raws), lim.MaxItems)
		}
	case '{':
		var err error
		if raws, err = splitObjects(data, start, lim.MaxItems); err != nil {
			return nil, err
		}
	default:
		return nil, vigil.Errorf(vigil.ErrInvalid, "payload must be a JSON array, an object or NDJSON of readings")
	}
	if len(raws) == 0 {
		return nil, vigil.Errorf(vigil.ErrInvalid, "payload holds no readings")
	}
	p := &Payload{Items: len(raws), Readings: make([]vigil.Reading, 0, len(raws)), Index: make([]int, 0, len(raws))}
	for i, raw := range raws {
		r, err := decodeItem(raw)
		if err != nil {
			p.Rejected = append(p.Rejected, vigil.ItemResult{Index: i, Status: vigil.ItemRejected, Error: err.Error()})
			continue
		}
		p.Readings = append(p.Readings, r)
		p.Index = append(p.Index, i)
	}
	return p, nil
}

// decodeFast decodes a payload in which every item is well formed in one
// pass. It reports false when anything is wrong; Decode then takes the
// slower path that locates the problem and keeps the good items.
func decodeFast(data []byte, first byte, maxItems int) (*Payload, bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var rs []vigil.Reading
	switch first {
	case '[':
		if bytes.Contains(data, []byte("null")) { // null items decode as zero readings
			return nil, false
		}
		if dec.Decode(&rs) != nil || len(rs) == 0 || len(rs) > maxItems {
			return nil, false
		}
		if _, err := dec.Token(); err != io.EOF {
			return nil, false
		}
	case '{':
		end := 0
		for {
			next := skipSpace(data, end)
			if next == len(data) {
				break
			}
			if data[next] != '{' || (len(rs) > 0 && bytes.IndexByte(data[end:next], '\n') < 0) || len(rs) == maxItems {
				return nil, false
			}
			var r vigil.Reading
			if dec.Decode(&r) != nil {
				return nil, false
			}
			rs = append(rs, r)
			end = int(dec.InputOffset())
		}
	default:
		return nil, false
	}
	p := &Payload{Readings: rs, Index: make([]int, len(rs)), Items: len(rs)}
	for i := range p.Index {
		p.Index[i] = i
	}
	return p, true
}

// splitObjects splits a single object or NDJSON into its values. Values
// must be objects and consecutive values must be separated by a line feed.
func splitObjects(data []byte, start, maxItems int) ([]json.RawMessage, error) {
	var raws []json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	end := 0
	for line := 1; ; line++ {
		next := skipSpace(data, end)
		if next == len(data) {
			return raws, nil
		}
		if len(raws) > 0 && bytes.IndexByte(data[end:next], '\n') < 0 {
			return nil, vigil.Errorf(vigil.ErrInvalid, "NDJSON: value %d does not start on a new line", line)
		}
		if data[next] != '{' {
			return nil, vigil.Errorf(vigil.ErrInvalid, "NDJSON: value %d is not an object", line)
		}
		if len(raws) == maxItems {
			return nil, vigil.Errorf(vigil.ErrTooLarge, "payload has more than the limit of %d readings", maxItems)
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, vigil.Errorf(vigil.ErrInvalid, "NDJSON: value %d is not JSON: %s", line, syntaxMessage(err))
		}
		raws = append(raws, raw)
		end = int(dec.InputOffset())
	}
}

// decodeItem decodes one reading strictly: it must be an object with only
// known fields.
func decodeItem(raw json.RawMessage) (vigil.Reading, error) {
	var r vigil.Reading
	i := skipSpace(raw, 0)
	if i == len(raw) || raw[i] != '{' {
		return r, errors.New("item is not a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return vigil.Reading{}, errors.New(itemMessage(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return vigil.Reading{}, errors.New("trailing data after the item")
	}
	return r, nil
}

// itemMessage describes a decoding error without echoing the values sent
// (they may be measurements; encoding/json quotes numbers and times).
func itemMessage(err error) string {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		if te.Field == "" {
			return "wrong JSON type"
		}
		return fmt.Sprintf("field %q has the wrong type or is out of range (want %s)", clip(te.Field), jsonKind(te.Type.Kind().String()))
	case errors.As(err, &se):
		return fmt.Sprintf("malformed JSON at byte %d", se.Offset)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.TrimPrefix(err.Error(), "json: unknown field ")
		return "unknown field " + clip(name)
	case strings.Contains(err.Error(), "parsing time") || strings.Contains(err.Error(), "Time.UnmarshalJSON"):
		return "a time is not RFC 3339 (e.g. 2026-11-25T10:00:00Z)"
	}
	return "malformed reading"
}

// jsonKind names a Go kind as the JSON type a sender should use.
func jsonKind(k string) string {
	switch k {
	case "float64", "float32":
		return "number"
	case "int", "int32", "int64":
		return "32-bit integer"
	case "slice":
		return "array"
	case "struct", "ptr":
		return "object or string"
	}
	return k
}

func syntaxMessage(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("malformed JSON at byte %d", se.Offset)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return "truncated JSON"
	}
	return "malformed JSON"
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// clip bounds a sender-chosen string echoed in an error.
func clip(s string) string {
	const max = 40
	if len(s) > max {
		s = s[:max] + "…"
	}
	return s
}
