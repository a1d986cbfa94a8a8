package sampleobs

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"github.com/vigilhealth/vigil"
)

// Kind says what an Observation id refers to.
type Kind byte

// The kinds of derived Observation ids. The zero value is unknown.
const (
	KindUnknown  Kind = 0
	KindSample   Kind = 'v' // a vigil.Sample
	KindWaveform Kind = 'w' // a vigil.Waveform chunk
)

// maxID is the length limit of a FHIR id.
const maxID = 64

// tagLen is the length of a device tag in hex digits.
const tagLen = 6

// ID is a parsed Observation id (see the package doc).
type ID struct {
	Kind    Kind
	Patient string
	Code    string
	// Time is the sample's effective time or the chunk's start, UTC, in
	// milliseconds.
	Time time.Time
	// tag is the device tag, "" for no device.
	tag string
}

// SampleID returns the Observation id of the sample with key k. It fails
// with vigil.ErrInvalid when the key's fields cannot make a valid FHIR id
// (characters outside [A-Za-z0-9-.], a code with a dot, or more than 64
// characters in all, which leaves about 36 for the patient id).
func SampleID(k vigil.SampleKey) (string, error) {
	return makeID(KindSample, k.Patient, k.Code, k.Device, k.Time)
}

// WaveformID returns the Observation id of the waveform chunk w (from its
// patient, device, code and start), under the same rules as SampleID.
func WaveformID(w *vigil.Waveform) (string, error) {
	return makeID(KindWaveform, w.Patient, w.Code, w.Device, w.Start)
}

func makeID(kind Kind, patient, code, device string, t time.Time) (string, error) {
	if patient == "" || code == "" {
		return "", vigil.Errorf(vigil.ErrInvalid, "observation id: patient and code are required")
	}
	if !idChars(patient) || !idChars(code) || strings.Contains(code, ".") {
		return "", vigil.Errorf(vigil.ErrInvalid, "observation id: patient or code has characters a FHIR id may not hold")
	}
	var b strings.Builder
	b.Grow(maxID)
	b.WriteString(patient)
	b.WriteByte('.')
	b.WriteString(code)
	b.WriteByte('.')
	b.WriteString(strconv.FormatInt(t.UnixMilli(), 36))
	b.WriteByte('.')
	b.WriteByte(byte(kind))
	b.WriteString(deviceTag(device))
	if b.Len() > maxID {
		return "", vigil.Errorf(vigil.ErrInvalid, "observation id: %d characters, more than %d", b.Len(), maxID)
	}
	return b.String(), nil
}

// deviceTag returns the tag of a device id: "" for none, else the first
// hex digits of its SHA-256.
func deviceTag(device string) string {
	if device == "" {
		return ""
	}
	h := sha256.Sum256([]byte(device))
	return hex.EncodeToString(h[:tagLen/2])
}

// idChars reports whether s has only characters a FHIR id allows.
func idChars(s string) bool {
	for i := range len(s) {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// ParseID parses an id made by SampleID or WaveformID. Anything else gives
// an error of kind vigil.ErrNotFound: an id this package did not make
// names no stored reading.
func ParseID(id string) (ID, error) {
	bad := func() (ID, error) { return ID{}, vigil.Errorf(vigil.ErrNotFound, "not a sample observation id") }
	if len(id) > maxID || !idChars(id) {
		return bad()
	}
	rest, tail, ok := cutLast(id)
	if !ok || tail == "" {
		return bad()
	}
	kind, tag := Kind(tail[0]), tail[1:]
	if kind != KindSample && kind != KindWaveform || tag != "" && (len(tag) != tagLen || !lowerHex(tag)) {
		return bad()
	}
	rest, ts, ok := cutLast(rest)
	if !ok {
		return bad()
	}
	ms, err := strconv.ParseInt(ts, 36, 64)
	if err != nil || strconv.FormatInt(ms, 36) != ts {
		return bad() // only the canonical spelling, so that one reading has one id
	}
	patient, code, ok := cutLast(rest)
	if !ok || patient == "" || code == "" {
		return bad()
	}
	return ID{Kind: kind, Patient: patient, Code: code, Time: time.UnixMilli(ms).UTC(), tag: tag}, nil
}

// Device reports whether a reading from device matches the id's device tag
// (device "" matches only an id made without a device). Two devices of one
// patient whose tags collide (one chance in 16 million) and which sent the
// same code at the same millisecond cannot be told apart by id.
func (id ID) Device(device string) bool { return deviceTag(device) == id.tag }

// Query returns the query that finds the reading an id of KindSample names
// (filter its answer with Device).
func (id ID) Query() *vigil.SampleQuery {
	return &vigil.SampleQuery{Patient: id.Patient, Codes: []string{id.Code}, From: id.Time, To: id.Time.Add(time.Millisecond)}
}

// cutLast splits s around its last dot.
func cutLast(s string) (before, after string, ok bool) {
	i := strings.LastIndexByte(s, '.')
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+1:], true
}

func lowerHex(s string) bool {
	for i := range len(s) {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
