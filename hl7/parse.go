package hl7

import (
	"fmt"
	"strings"

	"github.com/vigilhealth/vigil"
)

// Error locates a problem in a message. Its text names the segment and field
// but never their content, so it is safe to show to the sender.
type Error struct {
	Segment int    // 1-based position of the segment in the message; 0 if unknown
	Name    string // segment name, e.g. "OBX"; may be empty
	Field   int    // HL7 field sequence number; 0 for the whole segment
	Reason  string // what is wrong, e.g. "invalid timestamp"
	// Code is the HL7 table 0357 error code for an ERR segment: 100
	// segment sequence/structure, 101 required field missing, 102 data type
	// error, 103 table value not found.
	Code int
}

// Error implements error: "hl7: segment 4 (OBX) field 14: invalid timestamp".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("hl7: ")
	if e.Segment > 0 {
		fmt.Fprintf(&b, "segment %d ", e.Segment)
	}
	if e.Name != "" {
		fmt.Fprintf(&b, "(%s) ", e.Name)
	}
	if e.Field > 0 {
		fmt.Fprintf(&b, "field %d", e.Field)
		if e.Name != "" {
			fmt.Fprintf(&b, " (%s-%d)", e.Name, e.Field)
		}
		b.WriteString(" ")
	}
	s := strings.TrimSuffix(b.String(), " ")
	if s == "hl7:" {
		return "hl7: " + e.Reason
	}
	return s + ": " + e.Reason
}

// Unwrap makes errors.Is(err, vigil.ErrInvalid) true.
func (e *Error) Unwrap() error { return vigil.ErrInvalid }

// Parse parses one HL7 v2 message (see the package doc for the rules). The
// message must start with an MSH segment.
func Parse(data []byte) (*Message, error) {
	return parse(string(data), false)
}

// ParseHeader parses only the MSH segment of data. Use it to build an ACK
// (AR/AE) for a message that Parse rejects.
func ParseHeader(data []byte) (*Message, error) {
	end := len(data)
	for i, c := range data {
		if c == '\r' || c == '\n' {
			end = i
			break
		}
	}
	return parse(string(data[:end]), true)
}

func parse(s string, headerOnly bool) (*Message, error) {
	s = strings.TrimLeft(s, "\r\n")
	if !strings.HasPrefix(s, "MSH") {
		return nil, &Error{Segment: 1, Reason: "message does not start with an MSH segment", Code: CodeSegmentSequence}
	}
	if len(s) < 8 {
		return nil, &Error{Segment: 1, Name: "MSH", Field: 2, Reason: "MSH segment too short for the encoding characters", Code: CodeDataType}
	}
	d, err := delimiters(s)
	if err != nil {
		return nil, err
	}
	m := &Message{Delims: d}
	n := strings.Count(s, "\r") + strings.Count(s, "\n") + 1
	m.Segments = make([]Segment, 0, n)
	a := newArena(len(s))
	seq := 0
	for len(s) > 0 {
		i := strings.IndexAny(s, "\r\n")
		var line string
		if i < 0 {
			line, s = s, ""
		} else {
			line, s = s[:i], s[i+1:]
		}
		if line == "" {
			continue
		}
		seq++
		seg, err := parseSegment(line, &d, seq, a)
		if err != nil {
			return nil, err
		}
		m.Segments = append(m.Segments, seg)
		if headerOnly {
			break
		}
	}
	return m, nil
}

// delimiters reads MSH-1 and MSH-2 from the start of an MSH line.
func delimiters(s string) (Delimiters, error) {
	bad := func(reason string) error {
		return &Error{Segment: 1, Name: "MSH", Field: 2, Reason: reason, Code: CodeDataType}
	}
	d := Delimiters{Field: s[3]}
	enc := s[4:]
	if i := strings.IndexByte(enc, d.Field); i >= 0 {
		enc = enc[:i]
	}
	if i := strings.IndexAny(enc, "\r\n"); i >= 0 {
		enc = enc[:i]
	}
	if len(enc) < 4 || len(enc) > 5 {
		return d, bad("encoding characters must be 4 (or 5 with truncation) characters")
	}
	d.Component, d.Repetition, d.Escape, d.Subcomponent = enc[0], enc[1], enc[2], enc[3]
	if len(enc) == 5 {
		d.Truncation = enc[4]
	}
	seen := [256]bool{}
	for _, c := range []byte(string(d.Field) + enc) {
		if seen[c] {
			return d, bad("delimiter characters must be distinct")
		}
		seen[c] = true
		if c < 0x20 || c == 0x7f || c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' {
			return d, bad("delimiter characters must not be letters, digits or control characters")
		}
	}
	return d, nil
}

func validName(n string) bool {
	if len(n) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		c := n[i]
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return n[0] >= 'A' && n[0] <= 'Z'
}

func parseSegment(line string, d *Delimiters, seq int, a *arena) (Segment, error) {
	if len(line) < 3 || !validName(line[:3]) || (len(line) > 3 && line[3] != d.Field) {
		return Segment{}, &Error{Segment: seq, Reason: "invalid segment name", Code: CodeSegmentSequence}
	}
	name := line[:3]
	if seq == 1 && name != "MSH" {
		return Segment{}, &Error{Segment: seq, Name: name, Reason: "message does not start with an MSH segment", Code: CodeSegmentSequence}
	}
	if seq > 1 && name == "MSH" {
		return Segment{}, &Error{Segment: seq, Name: name, Reason: "more than one MSH segment (batches are not supported)", Code: CodeSegmentSequence}
	}
	seg := Segment{Name: name}
	rest := ""
	if len(line) > 3 {
		rest = line[4:]
	}
	if name == "MSH" {
		enc := rest
		rest = ""
		if i := strings.IndexByte(enc, d.Field); i >= 0 {
			enc, rest = enc[:i], enc[i+1:]
		}
		seg.Fields = make([]Field, 3, 3+strings.Count(rest, string(d.Field))+1)
		seg.Fields[1] = Text(string(d.Field))
		seg.Fields[2] = Text(enc)
		if len(line) == 3+1+len(enc) { // no MSH-3
			return seg, nil
		}
	} else {
		if len(line) == 3 {
			seg.Fields = []Field{nil}
			return seg, nil
		}
		seg.Fields = make([]Field, 1, 2+strings.Count(rest, string(d.Field)))
	}
	for {
		i := strings.IndexByte(rest, d.Field)
		var f string
		if i < 0 {
			f = rest
		} else {
			f, rest = rest[:i], rest[i+1:]
		}
		seg.Fields = append(seg.Fields, parseField(f, d, a))
		if i < 0 {
			break
		}
	}
	return seg, nil
}

// arena hands out small slices from shared blocks, so that parsing a
// message costs a few allocations instead of one per value. Slices are
// capped at their length: appending to one never overwrites another.
type arena struct {
	strs  []string
	comps []Component
	reps  []Repetition
	block int
}

func newArena(size int) *arena { return &arena{block: max(64, size/4)} }

func (a *arena) strings(n int) []string {
	if cap(a.strs)-len(a.strs) < n {
		a.strs = make([]string, 0, max(n, a.block))
	}
	l := len(a.strs)
	a.strs = a.strs[:l+n]
	return a.strs[l : l+n : l+n]
}

func (a *arena) components(n int) []Component {
	if cap(a.comps)-len(a.comps) < n {
		a.comps = make([]Component, 0, max(n, a.block/2))
	}
	l := len(a.comps)
	a.comps = a.comps[:l+n]
	return a.comps[l : l+n : l+n]
}

func (a *arena) repetitions(n int) []Repetition {
	if cap(a.reps)-len(a.reps) < n {
		a.reps = make([]Repetition, 0, max(n, a.block/4))
	}
	l := len(a.reps)
	a.reps = a.reps[:l+n]
	return a.reps[l : l+n : l+n]
}

// splitInto cuts s at every sep into dst, which has one element per part.
func splitInto(dst []string, s string, sep byte) {
	for i := range dst[:len(dst)-1] {
		j := strings.IndexByte(s, sep)
		dst[i], s = s[:j], s[j+1:]
	}
	dst[len(dst)-1] = s
}

func parseField(f string, d *Delimiters, a *arena) Field {
	nr := strings.Count(f, string(d.Repetition)) + 1
	field := Field(a.repetitions(nr))
	for i := range field {
		r := f
		if j := strings.IndexByte(f, d.Repetition); j >= 0 && i < nr-1 {
			r, f = f[:j], f[j+1:]
		}
		nc := strings.Count(r, string(d.Component)) + 1
		rep := Repetition(a.components(nc))
		for j := range rep {
			c := r
			if k := strings.IndexByte(r, d.Component); k >= 0 && j < nc-1 {
				c, r = r[:k], r[k+1:]
			}
			subs := a.strings(strings.Count(c, string(d.Subcomponent)) + 1)
			splitInto(subs, c, d.Subcomponent)
			for k, v := range subs {
				subs[k] = unescape(v, d)
			}
			rep[j] = subs
		}
		field[i] = rep
	}
	return field
}

// unescape decodes the escape sequences of HL7 v2.5 section 2.7. Unknown or
// malformed sequences are kept verbatim.
func unescape(s string, d *Delimiters) string {
	if strings.IndexByte(s, d.Escape) < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for {
		i := strings.IndexByte(s, d.Escape)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		s = s[i+1:]
		j := strings.IndexByte(s, d.Escape)
		if j < 0 { // unterminated: literal
			b.WriteByte(d.Escape)
			continue
		}
		seq := s[:j]
		if decodeEscape(seq, d, &b) {
			s = s[j+1:]
			continue
		}
		// Unknown: keep "\seq\" verbatim and go on after it.
		b.WriteByte(d.Escape)
		b.WriteString(seq)
		b.WriteByte(d.Escape)
		s = s[j+1:]
	}
}

// decodeEscape writes the decoded form of a known escape sequence to b and
// reports whether it knew it.
func decodeEscape(seq string, d *Delimiters, b *strings.Builder) bool {
	switch seq {
	case "F":
		b.WriteByte(d.Field)
		return true
	case "S":
		b.WriteByte(d.Component)
		return true
	case "T":
		b.WriteByte(d.Subcomponent)
		return true
	case "R":
		b.WriteByte(d.Repetition)
		return true
	case "E":
		b.WriteByte(d.Escape)
		return true
	case "P":
		if d.Truncation != 0 {
			b.WriteByte(d.Truncation)
			return true
		}
		return false
	}
	if len(seq) >= 3 && seq[0] == 'X' && len(seq)%2 == 1 {
		hex := seq[1:]
		for i := 0; i < len(hex); i++ {
			if unhex(hex[i]) < 0 {
				return false
			}
		}
		for i := 0; i < len(hex); i += 2 {
			b.WriteByte(byte(unhex(hex[i])<<4 | unhex(hex[i+1])))
		}
		return true
	}
	return false
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'A' && c <= 'F':
		return int(c - 'A' + 10)
	case c >= 'a' && c <= 'f':
		return int(c - 'a' + 10)
	}
	return -1
}
