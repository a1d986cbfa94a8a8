package hl7

import (
	"errors"
	"strconv"
	"time"
)

// AckCode is MSA-1, the acknowledgment code (HL7 table 0008).
type AckCode string

// Original-mode acknowledgment codes (HL7 v2.5 section 2.9.2).
const (
	// AA: the message was accepted (for Vigil: processed and stored durably).
	AA AckCode = "AA"
	// AE: the message was processed and an error found in its content; the
	// sender should not resend it unchanged.
	AE AckCode = "AE"
	// AR: the message was rejected for a reason unrelated to its content
	// (unsupported type/version/processing id, or the receiver failed); the
	// sender may retry.
	AR AckCode = "AR"
)

// HL7 table 0357 (message error condition codes), used in ERR-3.
const (
	CodeAccepted            = 0
	CodeSegmentSequence     = 100
	CodeRequiredMissing     = 101
	CodeDataType            = 102
	CodeTableValue          = 103
	CodeUnsupportedMessage  = 200
	CodeUnsupportedEvent    = 201
	CodeUnsupportedProcID   = 202
	CodeUnsupportedVersion  = 203
	CodeUnknownKey          = 204
	CodeDuplicateKey        = 205
	CodeRecordLocked        = 206
	CodeApplicationInternal = 207
)

// codeText returns the table 0357 text of an error code.
func codeText(code int) string {
	switch code {
	case CodeAccepted:
		return "Message accepted"
	case CodeSegmentSequence:
		return "Segment sequence error"
	case CodeRequiredMissing:
		return "Required field missing"
	case CodeDataType:
		return "Data type error"
	case CodeTableValue:
		return "Table value not found"
	case CodeUnsupportedMessage:
		return "Unsupported message type"
	case CodeUnsupportedEvent:
		return "Unsupported event code"
	case CodeUnsupportedProcID:
		return "Unsupported processing id"
	case CodeUnsupportedVersion:
		return "Unsupported version id"
	case CodeUnknownKey:
		return "Unknown key identifier"
	case CodeDuplicateKey:
		return "Duplicate key identifier"
	case CodeRecordLocked:
		return "Application record locked"
	case CodeApplicationInternal:
		return "Application internal error"
	}
	return ""
}

// AckError is the content of an ERR segment (HL7 v2.5 section 2.15.5).
type AckError struct {
	Code     int    // ERR-3, table 0357
	Severity string // ERR-4: "E" error (default), "W" warning, "I" information
	Segment  string // ERR-2.1, segment id, e.g. "OBX"; empty when unknown
	Sequence int    // ERR-2.2, occurrence of that segment id (1 = first)
	Field    int    // ERR-2.3, field position
	Text     string // ERR-8, user message; must hold no patient data
}

// AckErrorFor turns a parse or access error from this package into an ERR
// description, with the location counted within orig (which may be nil or
// header-only). Other errors become 207 application internal error with a
// generic text.
func AckErrorFor(err error, orig *Message) *AckError {
	var e *Error
	if !errors.As(err, &e) {
		return &AckError{Code: CodeApplicationInternal, Text: codeText(CodeApplicationInternal)}
	}
	a := &AckError{Code: e.Code, Segment: e.Name, Field: e.Field, Text: e.Error()}
	if a.Code == 0 {
		a.Code = CodeApplicationInternal
	}
	if e.Segment > 0 {
		a.Sequence = e.Segment
		if orig != nil && e.Segment <= len(orig.Segments) && orig.Segments[e.Segment-1].Name == e.Name {
			n := 0
			for i := 0; i < e.Segment; i++ {
				if orig.Segments[i].Name == e.Name {
					n++
				}
			}
			a.Sequence = n
		}
	}
	return a
}

// Ack describes the acknowledgment to build.
type Ack struct {
	Code      AckCode   // MSA-1
	ControlID string    // MSH-10 of the ACK itself; must be unique per sender
	Time      time.Time // MSH-7
	Error     *AckError // optional ERR segment
}

// NewACK builds the original-mode acknowledgment of orig (HL7 v2.5 section
// 2.9.2): MSH with sending and receiving application/facility swapped,
// MSH-9 ACK^<trigger>^ACK, MSH-11 and MSH-12 copied from orig (version
// defaults to 2.5), the delimiters of orig; MSA-1 a.Code, MSA-2 the control
// id of orig; and an ERR segment when a.Error is set. orig may be nil (the
// message could not even be parsed); the ACK then has default delimiters
// and empty addressing and MSA-2.
func NewACK(orig *Message, a Ack) *Message {
	d := DefaultDelimiters()
	var h *Segment
	if orig != nil {
		d = orig.Delims
		h = orig.Segment("MSH")
	}
	if h == nil {
		h = &Segment{Name: "MSH"}
	}
	version := h.Value(12, 1)
	if version == "" {
		version = "2.5"
	}
	proc := h.Field(11)
	if proc.Empty() {
		proc = Text("P")
	}
	copyOr := func(n int) Field {
		if f := h.Field(n); f != nil {
			return f
		}
		return Text("")
	}
	m := NewMessage(d,
		copyOr(5), copyOr(6), copyOr(3), copyOr(4), // MSH-3..6 swapped
		Text(FormatTime(a.Time)), // MSH-7
		Text(""),                 // MSH-8
		Components("ACK", h.Value(9, 2), "ACK"),
		Text(a.ControlID),
		proc,
		Text(version),
	)
	m.Add("MSA", Text(string(a.Code)), Text(h.Value(10, 1)))
	if e := a.Error; e != nil {
		sev := e.Severity
		if sev == "" {
			sev = "E"
		}
		loc := Text("")
		if e.Segment != "" {
			loc = Components(e.Segment, itoa(e.Sequence), itoa(e.Field))
		}
		m.Add("ERR", Text(""), loc,
			Components(strconv.Itoa(e.Code), codeText(e.Code), "HL70357"),
			Text(sev), Text(""), Text(""), Text(""), Text(e.Text))
	}
	return m
}

func itoa(n int) string {
	if n <= 0 {
		return ""
	}
	return strconv.Itoa(n)
}
