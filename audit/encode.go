package audit

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/vigilhealth/vigil"
)

// FormatVersion is the version byte that starts every encoded record. A
// later format gets a new number; Decode rejects numbers it does not know.
const FormatVersion = 1

// Limits on a record's fields, so that one record stays small and a
// corrupted length cannot make Decode allocate without bound.
const (
	maxID       = 128  // ActorID, RequestID
	maxName     = 256  // ActorName, Source
	maxRole     = 32   // Role
	maxDetail   = 1024 // Detail
	maxRef      = 256  // one resource or patient reference
	maxRefs     = 1 << 16
	maxRecord   = 4 << 20 // encoded size
	maxRefIDLen = 64      // FHIR id: [A-Za-z0-9\-\.]{1,64}
)

// Encode returns the canonical encoding of r (format version 1), the bytes
// the hash chain covers. r.Seq must be positive. Time is encoded in whole
// microseconds since the Unix epoch (UTC); anything finer is dropped. Encode
// returns an error wrapping vigil.ErrInvalid if r breaks a rule of
// validate (unknown action or outcome, malformed reference, control
// characters, a field too long).
//
// Layout: the version byte, then seq and time as unsigned LEB128 varints,
// then ActorID, ActorName, Role, Action, Outcome as strings, Resources and
// Patients as a varint count followed by strings, then Source, RequestID
// and Detail. A string is a varint byte length followed by UTF-8. Varints
// are minimal, so every record has exactly one encoding.
func Encode(r *vigil.AuditRecord) ([]byte, error) {
	return AppendEncode(nil, r)
}

// AppendEncode appends the encoding of r to b (see Encode).
func AppendEncode(b []byte, r *vigil.AuditRecord) ([]byte, error) {
	if r.Seq <= 0 {
		return nil, vigil.Errorf(vigil.ErrInvalid, "audit record sequence number must be positive")
	}
	if err := validate(r); err != nil {
		return nil, err
	}
	b = append(b, FormatVersion)
	b = binary.AppendUvarint(b, uint64(r.Seq))
	b = binary.AppendUvarint(b, uint64(r.Time.UnixMicro()))
	for _, s := range []string{r.ActorID, r.ActorName, r.Role, string(r.Action), string(r.Outcome)} {
		b = appendString(b, s)
	}
	for _, l := range [][]string{r.Resources, r.Patients} {
		b = binary.AppendUvarint(b, uint64(len(l)))
		for _, s := range l {
			b = appendString(b, s)
		}
	}
	for _, s := range []string{r.Source, r.RequestID, r.Detail} {
		b = appendString(b, s)
	}
	if len(b) > maxRecord {
		return nil, vigil.Errorf(vigil.ErrInvalid, "audit record too large (%d bytes)", len(b))
	}
	return b, nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// Decode parses a record encoded by Encode. It accepts exactly the
// encodings Encode produces: a known version, minimal varints, no trailing
// bytes, and field values that pass the same rules (so
// Encode(Decode(b)) == b). Errors wrap vigil.ErrInvalid.
func Decode(data []byte) (vigil.AuditRecord, error) {
	var r vigil.AuditRecord
	d := decoder{b: data}
	if len(data) > maxRecord {
		return r, d.fail("record too large")
	}
	if v := d.byte(); v != FormatVersion {
		if d.err != nil {
			return r, d.err
		}
		return r, d.fail(fmt.Sprintf("unknown format version %d", v))
	}
	seq := d.uvarint()
	us := d.uvarint()
	if d.err == nil && (seq == 0 || seq > 1<<62 || us > 1<<62) {
		return r, d.fail("sequence number or time out of range")
	}
	r.Seq = int64(seq)
	r.Time = time.UnixMicro(int64(us)).UTC()
	r.ActorID = d.string()
	r.ActorName = d.string()
	r.Role = d.string()
	r.Action = vigil.AuditAction(d.string())
	r.Outcome = vigil.AuditOutcome(d.string())
	r.Resources = d.list()
	r.Patients = d.list()
	r.Source = d.string()
	r.RequestID = d.string()
	r.Detail = d.string()
	if d.err != nil {
		return vigil.AuditRecord{}, d.err
	}
	if len(d.b) != 0 {
		return vigil.AuditRecord{}, d.fail("trailing bytes")
	}
	if err := validate(&r); err != nil {
		return vigil.AuditRecord{}, err
	}
	if !slices.IsSorted(r.Patients) || len(slices.Compact(slices.Clone(r.Patients))) != len(r.Patients) {
		return vigil.AuditRecord{}, d.fail("patients not sorted and unique")
	}
	return r, nil
}

// view is a record parsed only as far as Verify needs: its framing is
// checked like Decode's (version, minimal varints, lengths, no trailing
// bytes) but field values are not validated, and the fields Verify
// compares point into the encoding instead of being copied.
type view struct {
	seq, us  int64
	actorID  []byte
	action   []byte
	patients [][]byte // reused between parses
}

func (v *view) parse(data []byte) error {
	d := decoder{b: data}
	if d.byte() != FormatVersion {
		return d.fail("unknown format version")
	}
	seq, us := d.uvarint(), d.uvarint()
	if d.err == nil && (seq == 0 || seq > 1<<62 || us > 1<<62) {
		return d.fail("sequence number or time out of range")
	}
	v.seq, v.us = int64(seq), int64(us)
	v.actorID = d.bytes()
	d.bytes() // actor name
	d.bytes() // role
	v.action = d.bytes()
	d.bytes() // outcome
	for n := d.count(); n > 0 && d.err == nil; n-- {
		d.bytes()
	}
	v.patients = v.patients[:0]
	for n := d.count(); n > 0 && d.err == nil; n-- {
		v.patients = append(v.patients, d.bytes())
	}
	d.bytes() // source
	d.bytes() // request id
	d.bytes() // detail
	if d.err == nil && len(d.b) != 0 {
		d.fail("trailing bytes")
	}
	return d.err
}

// decoder reads fields off b, remembering the first error.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(msg string) error {
	if d.err == nil {
		d.err = vigil.Errorf(vigil.ErrInvalid, "audit record: %s", msg)
	}
	return d.err
}

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) == 0 {
		d.fail("truncated")
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	// Minimal encoding only: a longer form of the same number would give a
	// second encoding of one record.
	if n != uvarintLen(v) {
		d.fail("non-minimal varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// bytes returns the next length-prefixed field, pointing into the input.
func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail("truncated string")
		return nil
	}
	s := d.b[:n:n]
	d.b = d.b[n:]
	return s
}

func (d *decoder) string() string {
	return string(d.bytes())
}

// count reads a list length.
func (d *decoder) count() int {
	n := d.uvarint()
	if d.err != nil {
		return 0
	}
	if n > maxRefs || n > uint64(len(d.b)) { // each entry takes at least one byte
		d.fail("list too long")
		return 0
	}
	return int(n)
}

func (d *decoder) list() []string {
	n := d.count()
	if n == 0 {
		return nil
	}
	l := make([]string, n)
	for i := range l {
		l[i] = d.string()
	}
	return l
}

// validate checks the rules every stored record obeys. Messages name the
// field, never its value.
func validate(r *vigil.AuditRecord) error {
	if !knownAction(r.Action) {
		return vigil.Errorf(vigil.ErrInvalid, "audit record: unknown action")
	}
	switch r.Outcome {
	case vigil.AuditSuccess, vigil.AuditDenied, vigil.AuditFailed:
	default:
		return vigil.Errorf(vigil.ErrInvalid, "audit record: unknown outcome")
	}
	if r.Time.Before(time.Unix(0, 0)) || r.Time.Year() > 9999 {
		return vigil.Errorf(vigil.ErrInvalid, "audit record: time out of range")
	}
	for _, f := range []struct {
		name string
		v    string
		max  int
	}{
		{"actor id", r.ActorID, maxID}, {"actor name", r.ActorName, maxName}, {"role", r.Role, maxRole},
		{"source", r.Source, maxName}, {"request id", r.RequestID, maxID}, {"detail", r.Detail, maxDetail},
	} {
		if len(f.v) > f.max {
			return vigil.Errorf(vigil.ErrInvalid, "audit record: %s longer than %d bytes", f.name, f.max)
		}
		if !printable(f.v) {
			return vigil.Errorf(vigil.ErrInvalid, "audit record: %s is not printable UTF-8", f.name)
		}
	}
	if len(r.Resources) > maxRefs || len(r.Patients) > maxRefs {
		return vigil.Errorf(vigil.ErrInvalid, "audit record: more than %d references", maxRefs)
	}
	for _, ref := range r.Resources {
		if !validRef(ref, false) {
			return vigil.Errorf(vigil.ErrInvalid, "audit record: resource is not a Type/id reference")
		}
	}
	for _, ref := range r.Patients {
		if !validRef(ref, true) {
			return vigil.Errorf(vigil.ErrInvalid, "audit record: patient is not a Patient/id reference")
		}
	}
	return nil
}

// knownActions are the actions a record may carry, with their FHIR
// rendering (see fhir.go).
func knownAction(a vigil.AuditAction) bool {
	_, ok := eventTypes[a]
	return ok
}

// printable reports whether s is valid UTF-8 without control characters
// (which would let a field forge lines in logs or reports).
func printable(s string) bool {
	for _, c := range s {
		if c == utf8.RuneError || c < 0x20 || (c >= 0x7f && c < 0xa0) || c == 0x2028 || c == 0x2029 {
			return false
		}
	}
	return true
}

// validRef reports whether ref is "Type/id" or "Type/id/_history/N" (only
// "Patient/id" when patient is set), with a FHIR resource type name and id
// (https://hl7.org/fhir/R4/datatypes.html#id).
func validRef(ref string, patient bool) bool {
	if len(ref) > maxRef {
		return false
	}
	typ, rest, ok := strings.Cut(ref, "/")
	if !ok || !validType(typ) || (patient && typ != "Patient") {
		return false
	}
	id, hist, hasHist := strings.Cut(rest, "/")
	if !validID(id) {
		return false
	}
	if !hasHist {
		return true
	}
	if patient {
		return false
	}
	v, ok := strings.CutPrefix(hist, "_history/")
	if !ok || v == "" || len(v) > 18 || v[0] == '0' {
		return false
	}
	for _, c := range []byte(v) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func validType(t string) bool {
	if t == "" || len(t) > 64 || t[0] < 'A' || t[0] > 'Z' {
		return false
	}
	for _, c := range []byte(t) {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}

func validID(id string) bool {
	if id == "" || len(id) > maxRefIDLen {
		return false
	}
	for _, c := range []byte(id) {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}
