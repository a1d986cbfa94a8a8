package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/internal/testenv"
	"github.com/vigilhealth/vigil/mqtt"
	"github.com/vigilhealth/vigil/sim"
)

// TestMQTTIngestion sends device readings through a real broker —
// Mosquitto, and the embedded broker with device credentials — into the
// server's store.
func TestMQTTIngestion(t *testing.T) {
	var b [6]byte
	_, _ = rand.Read(b[:])
	prefix := "vigil-test-" + hex.EncodeToString(b[:])
	cases := []struct {
		name string
		cfg  func(t *testing.T) Config
	}{
		{"mosquitto", func(t *testing.T) Config {
			return Config{Addr: "127.0.0.1:0", DataDir: t.TempDir(), MQTT: testenv.MQTT(t), MQTTClientID: prefix + "-ingest", MQTTPrefix: prefix}
		}},
		{"embedded", func(t *testing.T) Config {
			return Config{Addr: "127.0.0.1:0", DataDir: t.TempDir(), MQTTListen: "127.0.0.1:0", MQTTPrefix: prefix}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := c.cfg(t)
			f := startFixture(t, cfg)
			broker := cfg.MQTT
			if broker == "" {
				broker = f.app.Mon.MQTTURL()
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			sink, err := sim.NewMQTTSink(ctx, broker, f.tokens["dev"], []sim.Patient{{ID: "pA", Device: "devA"}}, mqtt.Topics{Prefix: prefix})
			if err != nil {
				t.Fatal(err)
			}
			defer sink.Close()
			at := time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
			var rs []vigil.Reading
			for i := range 50 {
				ts := at.Add(time.Duration(i) * time.Second)
				v := 60 + float64(i%20)
				rs = append(rs, vigil.Reading{Device: "devA", Code: "8867-4", Time: &ts, Value: &v, Unit: "/min"})
			}
			if _, err := sink.Send(ctx, rs); err != nil {
				t.Fatal(err)
			}
			for ctx.Err() == nil {
				got, err := f.app.Mon.Samples.QuerySamples(ctx, &vigil.SampleQuery{Patient: "pA", Codes: []string{"8867-4"}})
				if err != nil {
					t.Fatal(err)
				}
				if len(got) == 50 {
					if got[0].Source != "mqtt" {
						t.Errorf("source %q", got[0].Source)
					}
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
			t.Fatal("the 50 readings did not arrive within 20 s")
		})
	}
}
