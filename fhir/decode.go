package fhir

import (
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/vigilhealth/vigil"
)

// Decode parses a FHIR resource from its JSON representation
// (https://hl7.org/fhir/R4/json.html) and validates it with Validate.
//
// Parsing is strict: the body must be one UTF-8 JSON object with no
// trailing data and no repeated property names, and its "resourceType"
// must be a known resource type. Numbers are kept as json.Number, so
// decimals keep their precision. A body that fails these checks gives a
// *vigil.Error of kind vigil.ErrInvalid; a resource that does not conform
// to its structure definition gives one of kind vigil.ErrUnprocessable
// whose Issues locate each problem. Neither message contains data from the
// body.
//
// The returned map is the caller's; Decode keeps no reference to it.
func (m *Model) Decode(body []byte) (map[string]any, error) {
	v, err := parseStrictJSON(body)
	if err != nil {
		// The syntax error names an offset and a kind of problem, never
		// bytes of the body, so it is safe in the public message.
		return nil, vigil.Errorf(vigil.ErrInvalid, "malformed JSON: %v", err)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, vigil.Errorf(vigil.ErrInvalid, "a resource must be a JSON object")
	}
	rt, ok := obj["resourceType"].(string)
	if !ok {
		return nil, vigil.Errorf(vigil.ErrInvalid, "missing resourceType")
	}
	if !m.IsResourceType(rt) {
		return nil, vigil.Errorf(vigil.ErrInvalid, "unknown resourceType")
	}
	if issues := m.Validate(obj); hasError(issues) {
		return nil, &vigil.Error{Kind: vigil.ErrUnprocessable, Message: "resource does not conform to FHIR R4", Issues: issues}
	}
	return obj, nil
}

func hasError(issues []vigil.Issue) bool {
	for _, is := range issues {
		if is.Severity == "error" || is.Severity == "fatal" {
			return true
		}
	}
	return false
}

// maxJSONDepth bounds the nesting of objects and arrays, so that a hostile
// body cannot exhaust the stack. FHIR resources nest a few dozen levels.
const maxJSONDepth = 200

// syntaxError is a JSON syntax error at a byte offset. Its text names the
// offset and the kind of problem, never the bytes found there.
type syntaxError struct {
	offset int
	msg    string
}

func (e *syntaxError) Error() string {
	return e.msg + " at offset " + strconv.Itoa(e.offset)
}

// strictParser is a JSON parser (RFC 8259) that decodes into the same
// values as encoding/json with UseNumber (map[string]any, []any, string,
// json.Number, bool, nil) but rejects what encoding/json lets through:
// repeated property names, invalid UTF-8, lone UTF-16 surrogates in
// escapes, and trailing data.
type strictParser struct {
	data []byte
	// src is data as one string: strings without escapes and numbers are
	// substrings of it, which saves an allocation for each (the decoded
	// value keeps the body's memory alive, which it mostly holds anyway).
	src   string
	pos   int
	depth int
}

// parseStrictJSON parses one JSON value that makes up all of data.
func parseStrictJSON(data []byte) (any, error) {
	p := &strictParser{data: data, src: string(data)}
	v, err := p.value()
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos != len(p.data) {
		return nil, p.errorf("trailing data")
	}
	return v, nil
}

func (p *strictParser) errorf(format string, args ...any) error {
	return &syntaxError{offset: p.pos, msg: fmt.Sprintf(format, args...)}
}

func (p *strictParser) skipSpace() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *strictParser) value() (any, error) {
	p.skipSpace()
	if p.pos >= len(p.data) {
		return nil, p.errorf("unexpected end of input")
	}
	switch c := p.data[p.pos]; {
	case c == '{':
		return p.object()
	case c == '[':
		return p.array()
	case c == '"':
		return p.str()
	case c == '-' || isASCIIDigit(c):
		n := scanNumber(p.data[p.pos:])
		if n == 0 {
			return nil, p.errorf("invalid number")
		}
		s := p.src[p.pos : p.pos+n]
		p.pos += n
		return json.Number(s), nil
	case c == 't':
		return true, p.literal("true")
	case c == 'f':
		return false, p.literal("false")
	case c == 'n':
		return nil, p.literal("null")
	}
	return nil, p.errorf("unexpected character")
}

func (p *strictParser) literal(lit string) error {
	if len(p.data)-p.pos < len(lit) || string(p.data[p.pos:p.pos+len(lit)]) != lit {
		return p.errorf("invalid literal")
	}
	p.pos += len(lit)
	return nil
}

func (p *strictParser) enter() error {
	p.depth++
	if p.depth > maxJSONDepth {
		return p.errorf("nesting too deep")
	}
	p.pos++ // the opening bracket
	return nil
}

func (p *strictParser) object() (any, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	obj := make(map[string]any)
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
		p.depth--
		return obj, nil
	}
	for {
		p.skipSpace()
		if p.pos >= len(p.data) || p.data[p.pos] != '"' {
			return nil, p.errorf("expected property name")
		}
		keyAt := p.pos
		key, err := p.str()
		if err != nil {
			return nil, err
		}
		if _, dup := obj[key]; dup {
			return nil, &syntaxError{offset: keyAt, msg: "repeated property name"}
		}
		p.skipSpace()
		if p.pos >= len(p.data) || p.data[p.pos] != ':' {
			return nil, p.errorf("expected colon")
		}
		p.pos++
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		obj[key] = v
		p.skipSpace()
		if p.pos >= len(p.data) {
			return nil, p.errorf("unexpected end of input")
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case '}':
			p.pos++
			p.depth--
			return obj, nil
		default:
			return nil, p.errorf("expected comma or closing brace")
		}
	}
}

func (p *strictParser) array() (any, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	arr := []any{}
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == ']' {
		p.pos++
		p.depth--
		return arr, nil
	}
	for {
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		arr = append(arr, v)
		p.skipSpace()
		if p.pos >= len(p.data) {
			return nil, p.errorf("unexpected end of input")
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case ']':
			p.pos++
			p.depth--
			return arr, nil
		default:
			return nil, p.errorf("expected comma or closing bracket")
		}
	}
}

// str parses a string starting at the opening quote.
func (p *strictParser) str() (string, error) {
	p.pos++
	start := p.pos
	// Fast path: printable ASCII without escapes.
	for p.pos < len(p.data) {
		c := p.data[p.pos]
		if c == '"' {
			s := p.src[start:p.pos]
			p.pos++
			return s, nil
		}
		if c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
			break
		}
		p.pos++
	}
	buf := append([]byte(nil), p.data[start:p.pos]...)
	for p.pos < len(p.data) {
		c := p.data[p.pos]
		switch {
		case c == '"':
			p.pos++
			return string(buf), nil
		case c < 0x20:
			return "", p.errorf("control character in string")
		case c == '\\':
			r, err := p.escape()
			if err != nil {
				return "", err
			}
			buf = utf8.AppendRune(buf, r)
		case c < utf8.RuneSelf:
			buf = append(buf, c)
			p.pos++
		default:
			r, n := utf8.DecodeRune(p.data[p.pos:])
			if r == utf8.RuneError && n <= 1 {
				return "", p.errorf("invalid UTF-8")
			}
			buf = append(buf, p.data[p.pos:p.pos+n]...)
			p.pos += n
		}
	}
	return "", p.errorf("unterminated string")
}

// escape decodes the escape sequence at p.pos (at the backslash).
func (p *strictParser) escape() (rune, error) {
	if p.pos+1 >= len(p.data) {
		return 0, p.errorf("unterminated string")
	}
	c := p.data[p.pos+1]
	p.pos += 2
	switch c {
	case '"', '\\', '/':
		return rune(c), nil
	case 'b':
		return '\b', nil
	case 'f':
		return '\f', nil
	case 'n':
		return '\n', nil
	case 'r':
		return '\r', nil
	case 't':
		return '\t', nil
	case 'u':
		r, err := p.hex4()
		if err != nil {
			return 0, err
		}
		if !utf16.IsSurrogate(r) {
			return r, nil
		}
		if r >= 0xDC00 || p.pos+1 >= len(p.data) || p.data[p.pos] != '\\' || p.data[p.pos+1] != 'u' {
			return 0, p.errorf("unpaired surrogate")
		}
		p.pos += 2
		r2, err := p.hex4()
		if err != nil {
			return 0, err
		}
		if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
			return d, nil
		}
		return 0, p.errorf("unpaired surrogate")
	}
	return 0, p.errorf("invalid escape")
}

func (p *strictParser) hex4() (rune, error) {
	if p.pos+4 > len(p.data) {
		return 0, p.errorf("invalid escape")
	}
	var r rune
	for _, c := range p.data[p.pos : p.pos+4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, p.errorf("invalid escape")
		}
	}
	p.pos += 4
	return r, nil
}
