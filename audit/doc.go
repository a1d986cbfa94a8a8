// Package audit keeps Vigil's audit trail: an append-only, tamper-evident
// record of every access to health data and every security event (HIPAA
// Security Rule, 45 CFR 164.312(b) audit controls and 164.312(c)(1)
// integrity), shown to FHIR clients as AuditEvent resources.
//
// # Design
//
// Each record (vigil.AuditRecord) has a canonical, versioned binary
// encoding (Encode, Decode) that includes its sequence number. Records are
// chained: the hash of record n is SHA-256(hash(n-1) || encoding(n)), with
// 32 zero bytes before record 1 — the hash chain of Schneier and Kelsey,
// "Secure audit logs to support computer forensics" (ACM TISSEC 2(2),
// 1999). Each record also carries an HMAC-SHA-256 of its encoding under a
// key derived from the signing key, so that a record changed or inserted
// by someone who can write the database but cannot read the key file is
// named exactly, even if they recompute the chain after it. Every
// Options.CheckpointEvery records or Options.CheckpointInterval, and at
// Close, the trail signs (Ed25519, RFC 8032) its head (sequence number,
// hash, time) and stores the checkpoint in the database and in a witness
// file outside it. The key lives outside the database too (a 0600 PEM file:
// audit.key in a SQLite data directory, a path given by flag for
// PostgreSQL), so that write access to the database is not enough to
// rewrite history and re-sign it.
//
// Trail appends with group commit: concurrent Appends share one
// transaction, and Append returns once its record is durable. The writer
// keeps the chain head in memory, checks the stored head before each
// transaction (a head that moved back means truncation: Append fails with
// ErrTampered) and checks, with their MACs, records appended by other
// processes or nodes before building on them.
//
// Verify walks the whole trail, streaming, and names the first broken
// record: changed, missing, inserted, reordered, truncated, a bad
// checkpoint signature, a rewritten stretch, or index columns that
// disagree with the record. ToFHIR renders a record as a FHIR R4
// AuditEvent (https://hl7.org/fhir/R4/auditevent.html) with the DICOM and
// FHIR event codes (DICOM PS3.16 CID 400-403).
//
// README.md in this directory describes what the trail protects against,
// what it does not, and the measured figures.
package audit
