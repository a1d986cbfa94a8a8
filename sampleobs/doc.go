// Package sampleobs shows Vigil's compactly stored device data to FHIR
// clients, and packs waveform chunks for storage. It is pure: no I/O.
//
// A vital-sign vigil.Sample becomes a FHIR R4 Observation that follows the
// vital-signs profile (https://hl7.org/fhir/R4/observation-vitalsigns.html):
// category vital-signs, a LOINC code, subject Patient/{id}, device
// Device/{id}, effectiveDateTime and a valueQuantity in UCUM
// (https://ucum.org). A vigil.Waveform chunk becomes an Observation with
// valueSampledData (https://hl7.org/fhir/R4/datatypes.html#SampledData):
// origin 0, period in milliseconds, factor = gain, one dimension, the raw
// ADC values as space-separated integers.
//
// # Ids
//
// The Observation ids are derived from the stored key, so the same reading
// always has the same id and GET /Observation/{id} needs no lookup table:
//
//	{patient}.{code}.{time}.{kind}{device tag}
//
// time is the effective (or chunk start) time in Unix milliseconds in base
// 36, kind is "v" for a sample and "w" for a waveform chunk, and the device
// tag is the first 6 hex digits of SHA-256 of the device id (empty without
// a device). A FHIR id allows 64 characters ([A-Za-z0-9\-\.]{1,64},
// https://hl7.org/fhir/R4/datatypes.html#id), too few to hold a patient
// UUID and a device UUID, hence the tag: ParseID gives back the patient,
// code and time, and ID.Device tells whether a stored reading's device is
// the one named. Fields are read from the right, so patient ids may contain
// dots; codes may not.
//
// # Packed waveform samples
//
// Pack and Unpack are the storage format of waveform chunks (both stores
// use it). The first byte names the format:
//
//	0x01  uvarint n, then n zigzag-encoded uvarints: the first sample, then
//	      the difference of each sample from the one before
//	0x02  uvarint n, then the bytes of format 0x01 after n, compressed
//	      with raw DEFLATE (RFC 1951)
//
// Varints and zigzag encoding are those of encoding/binary (as in Protocol
// Buffers). ECG samples change little from one to the next, so most
// differences take one byte; DEFLATE then removes the repetition of the
// beats. Pack uses 0x02 when it is smaller.
package sampleobs
