package hl7

// Encode returns the message in the HL7 v2 encoding: segments terminated by
// CR, values escaped per HL7 v2.5 section 2.7.
func (m *Message) Encode() []byte { return m.AppendEncode(nil) }

// AppendEncode appends the encoded message to dst and returns it.
func (m *Message) AppendEncode(dst []byte) []byte {
	d := &m.Delims
	for i := range m.Segments {
		s := &m.Segments[i]
		dst = append(dst, s.Name...)
		start := 1
		if s.Name == "MSH" {
			dst = append(dst, d.Field)
			dst = append(dst, d.encodingChars()...)
			start = 3
		}
		for n := start; n < len(s.Fields); n++ {
			dst = append(dst, d.Field)
			dst = appendField(dst, s.Fields[n], d)
		}
		dst = append(dst, '\r')
	}
	return dst
}

func appendField(dst []byte, f Field, d *Delimiters) []byte {
	for i, r := range f {
		if i > 0 {
			dst = append(dst, d.Repetition)
		}
		for j, c := range r {
			if j > 0 {
				dst = append(dst, d.Component)
			}
			for k, v := range c {
				if k > 0 {
					dst = append(dst, d.Subcomponent)
				}
				dst = appendEscaped(dst, v, d)
			}
		}
	}
	return dst
}

// appendEscaped writes v with delimiters, the escape character, CR and LF
// replaced by escape sequences.
func appendEscaped(dst []byte, v string, d *Delimiters) []byte {
	esc := func(dst []byte, code string) []byte {
		dst = append(dst, d.Escape)
		dst = append(dst, code...)
		return append(dst, d.Escape)
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == d.Field:
			dst = esc(dst, "F")
		case c == d.Component:
			dst = esc(dst, "S")
		case c == d.Subcomponent:
			dst = esc(dst, "T")
		case c == d.Repetition:
			dst = esc(dst, "R")
		case c == d.Escape:
			dst = esc(dst, "E")
		case d.Truncation != 0 && c == d.Truncation:
			dst = esc(dst, "P")
		case c == '\r':
			dst = esc(dst, "X0D")
		case c == '\n':
			dst = esc(dst, "X0A")
		default:
			dst = append(dst, c)
		}
	}
	return dst
}
