// Package ingest is the one entrance for device data, whatever path it
// came by (HTTP batch API, FHIR, MQTT, HL7 v2 over MLLP): it authorizes
// each reading against the caller (a device submits only for the patient
// its Device is bound to), validates and normalises it (LOINC codes, UCUM
// units with conversion, physiologically plausible values, no readings
// from the future — package vitals), stores the accepted ones durably in
// the sample store (idempotently: a reading sent twice is stored once),
// and only then hands them to the analysers (the Sink).
//
// Each item of a batch gets its own answer (stored, duplicate or rejected
// with a reason); valid items are kept even when others are rejected.
package ingest
