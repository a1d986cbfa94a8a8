// Package hl7 parses and encodes HL7 version 2 messages (pure: no I/O).
//
// It follows HL7 v2.5 chapter 2 (Control): section 2.5 message
// construction rules, 2.5.4 delimiters, 2.7 escape sequences in text fields,
// 2.9 acknowledgment (MSA, ERR), and the data types of chapter 2A (CX, CWE/CE,
// HD, SN, NM, TS/DTM). It is enough for ORU^R01 observation messages from
// bedside monitors and labs and for building their ACKs; it is not a full
// HL7 v2 schema: segments and fields are kept generically and a few typed
// accessors read the fields Vigil needs.
//
// # Structure
//
// A Message is a list of Segments. Segment.Fields is indexed by HL7
// sequence number (Fields[3] is PID-3; Fields[0] is unused). A Field is a
// list of repetitions, a Repetition a list of components, a Component a list
// of subcomponents, each an unescaped string. In the MSH segment Fields[1]
// holds the field separator and Fields[2] the encoding characters, as
// written; every other field is split normally.
//
// # Parsing rules
//
//   - The first segment must be MSH; its 4th byte is the field separator
//     and MSH-2 gives the component, repetition, escape and subcomponent
//     separators (and, from v2.7, a fifth truncation character). Any
//     characters may be used as long as they are distinct and neither
//     letters, digits nor control characters.
//   - Segments end with CR; LF and CRLF are accepted too and empty lines are
//     skipped. Segment names are three upper-case letters or digits.
//   - Escape sequences \F\ \S\ \T\ \R\ \E\ (and \P\ when a truncation
//     character is declared) become the delimiter characters and \Xhh…\ the
//     bytes written in hex. Formatting and character-set escapes (\H\, \N\,
//     \.br\, \C…\, \M…\, \Z…\) and malformed sequences are kept verbatim,
//     escape characters included, so nothing is silently lost.
//   - Encode escapes delimiters, the escape character, and CR and LF (as
//     \X0D\ and \X0A\), so Parse(Encode(m)) yields m again.
//
// Message.Reading turns an OBX into a normalised vitals.Reading with its
// time, failing closed on local codes, unknown units and implausible values,
// so an ORU^R01 handler needs only Parse, Header, PatientIdentifiers,
// Observations, Reading and NewACK.
//
// Errors wrap vigil.ErrInvalid and are *Error values that locate the problem
// (segment index and name, field number). Their text never includes message
// content, so it is safe to return in an ACK or HTTP response.
//
// Batches (FHS/BHS) and the v2.xml encoding are not supported.
package hl7
