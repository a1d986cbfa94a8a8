package hl7

import "log/slog"

// Delimiters are a message's separator and escape characters (HL7 v2.5
// section 2.5.4). Truncation is zero unless MSH-2 declares it (v2.7+).
type Delimiters struct {
	Field, Component, Repetition, Escape, Subcomponent, Truncation byte
}

// DefaultDelimiters returns the recommended |^~\& characters.
func DefaultDelimiters() Delimiters {
	return Delimiters{Field: '|', Component: '^', Repetition: '~', Escape: '\\', Subcomponent: '&'}
}

// encodingChars returns the MSH-2 value.
func (d Delimiters) encodingChars() string {
	b := []byte{d.Component, d.Repetition, d.Escape, d.Subcomponent}
	if d.Truncation != 0 {
		b = append(b, d.Truncation)
	}
	return string(b)
}

// Component is a list of subcomponents; most have exactly one.
type Component []string

// Repetition is one occurrence of a field: a list of components.
type Repetition []Component

// Field is a list of repetitions; most fields have exactly one.
type Field []Repetition

// Segment is one segment. Fields is indexed by HL7 sequence number:
// Fields[1] is SEG-1 and Fields[0] is unused.
type Segment struct {
	Name   string
	Fields []Field
}

// Message is a parsed HL7 v2 message. The zero value is not usable; build
// messages with Parse or NewMessage.
type Message struct {
	Delims   Delimiters
	Segments []Segment
}

// Text returns a field holding one plain value.
func Text(s string) Field { return Field{Repetition{Component{s}}} }

// Components returns a field with one repetition made of the given
// components, each a plain value: Components("ORU", "R01", "ORU_R01").
func Components(c ...string) Field {
	r := make(Repetition, len(c))
	for i, s := range c {
		r[i] = Component{s}
	}
	return Field{r}
}

// Get returns subcomponent sub of component comp of repetition rep
// (comp and sub 1-based, rep 0-based), or "" when absent.
func (f Field) Get(rep, comp, sub int) string {
	if rep < 0 || rep >= len(f) || comp < 1 || comp > len(f[rep]) {
		return ""
	}
	c := f[rep][comp-1]
	if sub < 1 || sub > len(c) {
		return ""
	}
	return c[sub-1]
}

// Value returns the first subcomponent of component comp in the first
// repetition: the usual way to read a simple field (comp 1) or component.
func (f Field) Value(comp int) string { return f.Get(0, comp, 1) }

// Empty reports whether the field has no non-empty value.
func (f Field) Empty() bool {
	for _, r := range f {
		for _, c := range r {
			for _, s := range c {
				if s != "" {
					return false
				}
			}
		}
	}
	return true
}

// Field returns field n (1-based), or nil when the segment is shorter.
func (s *Segment) Field(n int) Field {
	if n < 1 || n >= len(s.Fields) {
		return nil
	}
	return s.Fields[n]
}

// Value returns component comp of the first repetition of field n.
func (s *Segment) Value(n, comp int) string { return s.Field(n).Value(comp) }

// Set sets field n, growing the segment as needed. Setting MSH-1 or MSH-2
// has no effect: they come from the message's Delimiters.
func (s *Segment) Set(n int, f Field) {
	if n < 1 || (s.Name == "MSH" && n <= 2) {
		return
	}
	for len(s.Fields) <= n {
		s.Fields = append(s.Fields, Field{Repetition{Component{""}}})
	}
	s.Fields[n] = f
}

// Segment returns the first segment named name, or nil.
func (m *Message) Segment(name string) *Segment {
	for i := range m.Segments {
		if m.Segments[i].Name == name {
			return &m.Segments[i]
		}
	}
	return nil
}

// All returns the indexes of all segments named name, in order.
func (m *Message) All(name string) []int {
	var out []int
	for i := range m.Segments {
		if m.Segments[i].Name == name {
			out = append(out, i)
		}
	}
	return out
}

// NewMessage returns a message with delimiters d and an MSH segment whose
// fields 3 onwards are the given fields.
func NewMessage(d Delimiters, msh ...Field) *Message {
	s := Segment{Name: "MSH", Fields: make([]Field, 3, 3+len(msh))}
	s.Fields[1] = Text(string(d.Field))
	s.Fields[2] = Text(d.encodingChars())
	s.Fields = append(s.Fields, msh...)
	return &Message{Delims: d, Segments: []Segment{s}}
}

// Add appends a segment with the given fields (SEG-1 first) and returns it.
func (m *Message) Add(name string, fields ...Field) *Segment {
	s := Segment{Name: name, Fields: make([]Field, 1, 1+len(fields))}
	s.Fields = append(s.Fields, fields...)
	m.Segments = append(m.Segments, s)
	return &m.Segments[len(m.Segments)-1]
}

// LogValue implements slog.LogValuer: a message holds patient data, so
// only its type and control id are logged.
func (m *Message) LogValue() slog.Value {
	var typ, id string
	if h := m.Segment("MSH"); h != nil {
		typ = h.Value(9, 1) + "^" + h.Value(9, 2)
		id = h.Value(10, 1)
	}
	return slog.GroupValue(slog.String("type", typ), slog.String("control_id", id),
		slog.Int("segments", len(m.Segments)))
}
