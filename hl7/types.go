package hl7

import (
	"strconv"
	"strings"
)

// Header holds the MSH fields Vigil uses.
type Header struct {
	SendingApp, SendingFacility     string // MSH-3, MSH-4 (HD namespace id)
	ReceivingApp, ReceivingFacility string // MSH-5, MSH-6
	Time                            Time   // MSH-7; zero when empty
	MessageCode                     string // MSH-9.1, e.g. "ORU"
	TriggerEvent                    string // MSH-9.2, e.g. "R01"
	Structure                       string // MSH-9.3, e.g. "ORU_R01"; may be empty
	ControlID                       string // MSH-10
	ProcessingID                    string // MSH-11.1: P, T or D
	Version                         string // MSH-12.1, e.g. "2.5"
}

// Header returns the typed MSH fields. MSH-9 (code and trigger), MSH-10,
// MSH-11 and MSH-12 are required (HL7 v2.5 section 2.15.9); a malformed
// MSH-7 is an error.
func (m *Message) Header() (Header, error) {
	s := m.Segment("MSH")
	if s == nil {
		return Header{}, &Error{Reason: "no MSH segment", Code: CodeSegmentSequence}
	}
	h := Header{
		SendingApp: s.Value(3, 1), SendingFacility: s.Value(4, 1),
		ReceivingApp: s.Value(5, 1), ReceivingFacility: s.Value(6, 1),
		MessageCode: s.Value(9, 1), TriggerEvent: s.Value(9, 2), Structure: s.Value(9, 3),
		ControlID: s.Value(10, 1), ProcessingID: s.Value(11, 1), Version: s.Value(12, 1),
	}
	missing := func(f int) error {
		return &Error{Segment: 1, Name: "MSH", Field: f, Reason: "required field is empty", Code: CodeRequiredMissing}
	}
	switch {
	case h.MessageCode == "" || h.TriggerEvent == "":
		return h, missing(9)
	case h.ControlID == "":
		return h, missing(10)
	case h.ProcessingID == "":
		return h, missing(11)
	case h.Version == "":
		return h, missing(12)
	}
	if v := s.Value(7, 1); v != "" {
		t, err := ParseTime(v)
		if err != nil {
			return h, &Error{Segment: 1, Name: "MSH", Field: 7, Reason: "invalid timestamp", Code: CodeDataType}
		}
		h.Time = t
	}
	return h, nil
}

// Identifier is one CX identifier (HL7 v2.5 2A.14) from PID-3:
// ID^check digit^check scheme^assigning authority^identifier type code.
type Identifier struct {
	ID           string // CX.1
	Authority    string // CX.4.1, assigning authority namespace id
	AuthorityUID string // CX.4.2, its universal id (e.g. an OID)
	Type         string // CX.5, identifier type code (table 0203), e.g. "MR"
}

// PatientIdentifiers returns the repetitions of PID-3 of the first PID
// segment. It is an error when there is no PID, PID-3 is empty, or a
// repetition has no ID.
func (m *Message) PatientIdentifiers() ([]Identifier, error) {
	i := m.index("PID")
	if i < 0 {
		return nil, &Error{Reason: "no PID segment", Code: CodeSegmentSequence}
	}
	s := &m.Segments[i]
	f := s.Field(3)
	if f.Empty() {
		return nil, &Error{Segment: i + 1, Name: "PID", Field: 3, Reason: "required field is empty", Code: CodeRequiredMissing}
	}
	out := make([]Identifier, 0, len(f))
	for r := range f {
		id := Identifier{ID: f.Get(r, 1, 1), Authority: f.Get(r, 4, 1), AuthorityUID: f.Get(r, 4, 2), Type: f.Get(r, 5, 1)}
		if id.ID == "" {
			return nil, &Error{Segment: i + 1, Name: "PID", Field: 3, Reason: "identifier without an ID", Code: CodeRequiredMissing}
		}
		out = append(out, id)
	}
	return out, nil
}

// Coded is a coded element (CE/CWE, HL7 v2.5 2A.8 and 2A.13): identifier,
// text and coding system (e.g. "LN" for LOINC, "UCUM" for units). Only the
// first triplet is kept.
type Coded struct {
	Code, Text, System string
}

func coded(f Field) Coded { return Coded{Code: f.Value(1), Text: f.Value(2), System: f.Value(3)} }

// Order holds the OBR fields Vigil uses.
type Order struct {
	Segment         int    // index in Message.Segments
	SetID           string // OBR-1
	PlacerOrder     string // OBR-2.1
	FillerOrder     string // OBR-3.1
	Service         Coded  // OBR-4
	ObservationTime Time   // OBR-7; zero when empty
}

// Orders returns every OBR segment, in order.
func (m *Message) Orders() ([]Order, error) {
	var out []Order
	for _, i := range m.All("OBR") {
		s := &m.Segments[i]
		o := Order{Segment: i, SetID: s.Value(1, 1), PlacerOrder: s.Value(2, 1), FillerOrder: s.Value(3, 1), Service: coded(s.Field(4))}
		if v := s.Value(7, 1); v != "" {
			t, err := ParseTime(v)
			if err != nil {
				return nil, &Error{Segment: i + 1, Name: "OBR", Field: 7, Reason: "invalid timestamp", Code: CodeDataType}
			}
			o.ObservationTime = t
		}
		out = append(out, o)
	}
	return out, nil
}

// Observation holds the OBX fields Vigil uses (HL7 v2.5 section 7.4.2).
type Observation struct {
	Segment        int    // index in Message.Segments
	Order          int    // index in Message.Segments of the preceding OBR; -1 if none
	SetID          string // OBX-1
	ValueType      string // OBX-2: NM, SN, ST, CWE, …
	Code           Coded  // OBX-3: e.g. 8867-4^Heart rate^LN
	SubID          string // OBX-4
	Value          Field  // OBX-5, all repetitions
	Units          Coded  // OBX-6: e.g. /min^^UCUM, or ISO+ text
	ReferenceRange string // OBX-7
	AbnormalFlags  string // OBX-8, first repetition
	Status         string // OBX-11, table 0085: F, C, P, R, …
	Time           Time   // OBX-14; zero when empty
	Equipment      string // OBX-18.1, equipment instance identifier
}

// resultStatus is HL7 table 0085 (observation result status).
const resultStatus = "CDFINOPRSUWX"

// Observations returns every OBX segment, in order. OBX-2, OBX-3 and OBX-11
// are required; OBX-11 must be a table 0085 code and OBX-14 a valid
// timestamp when present.
func (m *Message) Observations() ([]Observation, error) {
	var out []Observation
	order := -1
	for i := range m.Segments {
		s := &m.Segments[i]
		if s.Name == "OBR" {
			order = i
		}
		if s.Name != "OBX" {
			continue
		}
		bad := func(f, code int, reason string) error {
			return &Error{Segment: i + 1, Name: "OBX", Field: f, Reason: reason, Code: code}
		}
		o := Observation{
			Segment: i, Order: order, SetID: s.Value(1, 1), ValueType: s.Value(2, 1),
			Code: coded(s.Field(3)), SubID: s.Value(4, 1), Value: s.Field(5), Units: coded(s.Field(6)),
			ReferenceRange: s.Value(7, 1), AbnormalFlags: s.Value(8, 1), Status: s.Value(11, 1),
			Equipment: s.Value(18, 1),
		}
		switch {
		case o.ValueType == "" && !o.Value.Empty():
			return nil, bad(2, CodeRequiredMissing, "required field is empty")
		case o.Code.Code == "":
			return nil, bad(3, CodeRequiredMissing, "required field is empty")
		case o.Status == "":
			return nil, bad(11, CodeRequiredMissing, "required field is empty")
		case len(o.Status) != 1 || !strings.Contains(resultStatus, o.Status):
			return nil, bad(11, CodeTableValue, "unknown result status")
		}
		if v := s.Value(14, 1); v != "" {
			t, err := ParseTime(v)
			if err != nil {
				return nil, bad(14, CodeDataType, "invalid timestamp")
			}
			o.Time = t
		}
		out = append(out, o)
	}
	return out, nil
}

// Number returns the numeric value of an NM observation, or of an SN
// observation that is a plain number (no comparator other than "=", no
// range or ratio). Anything else — other value types, repetitions, text,
// "<5", "10-20" — is an error: a clinical value is never guessed.
func (o *Observation) Number() (float64, error) {
	bad := func(reason string) error {
		return &Error{Segment: o.Segment + 1, Name: "OBX", Field: 5, Reason: reason, Code: CodeDataType}
	}
	if len(o.Value) != 1 {
		return 0, bad("expected exactly one numeric value")
	}
	var s string
	switch o.ValueType {
	case "NM":
		if len(o.Value[0]) != 1 {
			return 0, bad("numeric value has components")
		}
		s = o.Value.Value(1)
	case "SN":
		r := o.Value[0]
		cmp := o.Value.Value(1)
		if len(r) > 4 || (cmp != "" && cmp != "=") || o.Value.Value(3) != "" || o.Value.Value(4) != "" {
			return 0, bad("structured numeric is a comparison, range or ratio")
		}
		s = o.Value.Value(2)
	default:
		return 0, bad("value type is not NM or SN")
	}
	v, ok := parseNM(s)
	if !ok {
		return 0, bad("invalid number")
	}
	return v, nil
}

// parseNM parses the NM data type (HL7 v2.5 2A.47): optional sign, digits,
// optional decimal point; no exponent, no spaces inside.
func parseNM(s string) (float64, bool) {
	s = strings.TrimSpace(s)
	body := strings.TrimLeft(s, "+-")
	if len(s)-len(body) > 1 || body == "" || body == "." {
		return 0, false
	}
	dot := false
	for i := 0; i < len(body); i++ {
		c := body[i]
		if c == '.' && !dot {
			dot = true
			continue
		}
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	v, err := strconv.ParseFloat(s, 64)
	return v, err == nil
}

func (m *Message) index(name string) int {
	for i := range m.Segments {
		if m.Segments[i].Name == name {
			return i
		}
	}
	return -1
}
