// Package mllp carries HL7 v2 messages over TCP with the Minimal Lower Layer
// Protocol: each message is framed as
//
//	<VT 0x0B> message <FS 0x1C><CR 0x0D>
//
// as defined in HL7 Version 2 Implementation Guide, Transport Specification:
// MLLP, release 2 (HL7 v2.5 appendix C). The receiver answers every message
// with an acknowledgment message in the same framing, on the same
// connection, before the sender sends the next one.
//
// Reader and WriteFrame do the framing; Server accepts connections and calls
// a Handler for each message, writing back the ACK it returns; Client sends
// a message and waits for its ACK. Building ACKs is package hl7's job.
//
// Robustness rules: bytes outside frames (noise between frames, a stray CR
// after a frame) are skipped; a start byte inside a frame restarts the
// frame (the truncated one is dropped and, never acknowledged, will be
// resent by the sender); a frame longer than the maximum size is discarded
// up to its end marker and reported as *FrameTooLargeError; an end block not
// followed by CR still ends the frame (the standard requires the CR; no
// valid HL7 text contains 0x1C, so accepting it loses nothing).
package mllp
