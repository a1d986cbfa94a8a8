// Package sim simulates remote-monitoring patients for demos, load tests and
// alerting tests, and streams their readings to a Vigil server.
//
// A Generator produces, deterministically for a seed, the vital signs of N
// patients — heart rate, respiratory rate, SpO2 every minute, blood
// pressure every 30 minutes, temperature hourly, weight daily — with
// circadian variation, autocorrelated noise, artefacts (motion spikes in
// heart rate, spuriously low SpO2), SpO2 probe dropouts and device-off
// gaps, and the trend of each patient's Scenario: Stable, Sepsis,
// HeartFailure or Hypoxia. A Replay reads recorded readings (NDJSON of
// vigil.Reading) instead.
//
// A Runner drives a Source against an injected clock at a speed (simulated
// seconds per real second) and hands batches to a Sink: HTTP (POST
// /api/v1/ingest with a bearer token), MQTT (QoS 1 to
// vigil/v1/devices/{device}/readings with the device's credentials) or
// MLLP (HL7 v2.5 ORU^R01, one message per patient and time, waiting for
// each ACK).
//
// Readings use LOINC codes and UCUM units as in the FHIR R4 vital-signs
// profiles (see package vitals); blood pressure is a 85354-9 panel with
// systolic and diastolic components.
package sim
