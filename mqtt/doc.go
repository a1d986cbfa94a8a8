// Package mqtt ingests device readings over MQTT and runs an embedded
// broker for setups with nothing installed.
//
// # Topics and payloads
//
// A device publishes its readings with QoS 1 to
//
//	vigil/v1/devices/{device}/readings
//
// The payload is UTF-8 JSON in one of three forms, told apart by its first
// non-blank byte: a JSON array of readings, a single reading object, or
// NDJSON (several objects, one per line). A reading is a vigil.Reading, the
// same wire form as POST /api/v1/ingest. Decoding is strict: unknown fields,
// trailing data and oversized payloads are errors; one malformed element of
// an array rejects that element only. A reading without "device" takes the
// device from the topic; a payload naming another device is rejected as a
// whole.
//
// Vigil answers on
//
//	vigil/v1/devices/{device}/results
//
// with a Result (QoS 1): the outcome of each item of a message, so a device
// learns which readings were rejected and why. MQTT v5 correlation data of
// the request is echoed back.
//
// # Delivery guarantee
//
// Subscriber connects with a fixed client id, Clean Start 0 and a session
// expiry interval (MQTT v5, OASIS Standard 2019, sections 3.1.2.4 and
// 3.1.2.11), so the broker keeps its subscription and queues QoS 1 messages
// while Vigil is down. It acknowledges a PUBLISH (PUBACK, section 3.4) only
// after Ingest has returned, that is after every stored reading is durable.
// When Ingest fails for the whole batch with a transient error (store down),
// the message is not acknowledged and the connection is dropped, so the
// broker delivers it again after the reconnect (section 4.4). Redelivered
// messages are ingested again; the ingester's idempotence stores them once.
// PUBACKs are sent in the order the PUBLISH packets arrived (section 4.6).
//
// # Embedded broker
//
// Broker wraps the mochi-mqtt broker (github.com/mochi-mqtt/server/v2) with
// an authentication and ACL hook: a device logs in with its id as user name
// and a bearer token as password, may publish only to its own readings topic
// and subscribe only to its own results topic. Vigil's own Subscriber uses a
// service credential the Broker generates at start.
package mqtt
