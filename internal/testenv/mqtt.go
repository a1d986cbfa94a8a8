package testenv

import (
	"net"
	"net/url"
	"os"
	"testing"
	"time"
)

// DefaultMQTT is the MQTT broker URL used when VIGIL_TEST_MQTT is unset.
const DefaultMQTT = "tcp://127.0.0.1:1883"

// MQTT returns the URL of the test MQTT broker (VIGIL_TEST_MQTT, default
// DefaultMQTT; Mosquitto in CI). It skips the test, or fails it when
// services are required, when nothing accepts TCP connections there. The
// broker is shared: tests must use topics and client ids of their own.
func MQTT(t testing.TB) string {
	t.Helper()
	broker := os.Getenv("VIGIL_TEST_MQTT")
	if broker == "" {
		broker = DefaultMQTT
	}
	u, err := url.Parse(broker)
	if err != nil || u.Host == "" {
		t.Fatalf("VIGIL_TEST_MQTT %q is not a URL like tcp://127.0.0.1:1883", broker)
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "1883")
	}
	c, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		Missing(t, "MQTT broker at "+broker, "start Mosquitto (apt install mosquitto) or set VIGIL_TEST_MQTT; dial: "+err.Error())
		return ""
	}
	_ = c.Close()
	return broker
}
