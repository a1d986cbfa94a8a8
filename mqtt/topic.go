package mqtt

import "strings"

// DefaultPrefix is the root of Vigil's topics.
const DefaultPrefix = "vigil/v1"

// ReadingsTopic is the topic a device publishes its readings to:
// vigil/v1/devices/{device}/readings.
func ReadingsTopic(device string) string { return Topics{}.Readings(device) }

// ResultsTopic is the topic Vigil publishes a device's results to:
// vigil/v1/devices/{device}/results.
func ResultsTopic(device string) string { return Topics{}.Results(device) }

// Topics is the topic layout under a prefix. The zero value uses
// DefaultPrefix; another prefix lets several Vigil instances (or tests)
// share one broker.
type Topics struct {
	Prefix string
}

func (t Topics) root() string {
	if t.Prefix == "" {
		return DefaultPrefix + "/devices/"
	}
	return t.Prefix + "/devices/"
}

// Readings is {prefix}/devices/{device}/readings.
func (t Topics) Readings(device string) string { return t.root() + device + "/readings" }

// Results is {prefix}/devices/{device}/results.
func (t Topics) Results(device string) string { return t.root() + device + "/results" }

// ReadingsFilter is the subscription receiving every device's readings:
// {prefix}/devices/+/readings.
func (t Topics) ReadingsFilter() string { return t.root() + "+/readings" }

// deviceOf returns the device of a readings topic.
func (t Topics) deviceOf(topic string) (string, bool) {
	rest, ok := strings.CutPrefix(topic, t.root())
	if !ok {
		return "", false
	}
	dev, ok := strings.CutSuffix(rest, "/readings")
	if !ok || !ValidDeviceID(dev) {
		return "", false
	}
	return dev, true
}

// ValidDeviceID reports whether id can name a device in a topic: a FHIR
// resource id (1–64 of A–Z, a–z, 0–9, '-' and '.'; FHIR R4 datatypes,
// "id"), which keeps MQTT wildcards and separators out of topics.
func ValidDeviceID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}
