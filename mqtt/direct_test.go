package mqtt

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/vigilhealth/vigil"
)

// TestIngestDirect checks the embedded broker's direct hand-over: the
// device's PUBACK comes after Ingest returned (success), a transient
// failure answers PUBACK 0x80 and stores nothing until the device sends
// again, results reach the results topic with the correlation data, and
// many devices publishing at once lose nothing (the mochi queueing path a
// Subscriber would take stalls under that load).
func TestIngestDirect(t *testing.T) {
	devices := make([]string, 16)
	for i := range devices {
		devices[i] = fmt.Sprintf("dev%d", i)
	}
	b := startBroker(t, devices...)
	rec := newRecorder()
	s, err := b.IngestDirect(Config{Ingester: rec, Principal: devicePrincipals(devices...)})
	if err != nil {
		t.Fatal(err)
	}
	dev := dialClient(t, b.URL(), "dev0", "dev0", "token-dev0")
	dev.subscribe(t, ResultsTopic("dev0"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	// Acknowledged only once ingested.
	pr, err := dev.Publish(ctx, &paho.Publish{QoS: 1, Topic: ReadingsTopic("dev0"),
		Payload:    []byte(`[{"code":"8867-4","time":"2026-11-25T10:00:00Z","value":72,"unit":"/min"},{"value":1}]`),
		Properties: &paho.PublishProperties{CorrelationData: []byte("req-1")}})
	if err != nil || (pr != nil && pr.ReasonCode >= 0x80) {
		t.Fatalf("publish: %v %+v", err, pr)
	}
	if calls := rec.snapshot(); len(calls) != 1 || calls[0].principal.Device != "dev0" || len(calls[0].items) != 2 {
		t.Fatalf("after the PUBACK: Ingest calls %+v, want one with dev0's 2 items", calls)
	}
	msg := dev.next(t, 5*time.Second)
	var res Result
	if err := json.Unmarshal(msg.Payload, &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Items) != 2 || res.Items[0].Status != vigil.ItemStored || res.Items[1].Status != vigil.ItemRejected {
		t.Errorf("result = %+v, want stored then rejected", res)
	}
	if msg.Properties == nil || string(msg.Properties.CorrelationData) != "req-1" {
		t.Errorf("result correlation data = %+v, want req-1", msg.Properties)
	}

	// A transient failure: PUBACK 0x80, and the device's resend is stored.
	rec.mu.Lock()
	rec.fail = 1
	rec.mu.Unlock()
	reading := []byte(`{"code":"8867-4","time":"2026-11-25T10:01:00Z","value":73,"unit":"/min"}`)
	pr, err = dev.Publish(ctx, &paho.Publish{QoS: 1, Topic: ReadingsTopic("dev0"), Payload: reading})
	if err == nil && (pr == nil || pr.ReasonCode != 0x80) {
		t.Fatalf("publish while the store fails: PUBACK %+v, want reason 0x80", pr)
	}
	if pr, err = dev.Publish(ctx, &paho.Publish{QoS: 1, Topic: ReadingsTopic("dev0"), Payload: reading}); err != nil || pr.ReasonCode >= 0x80 {
		t.Fatalf("resend: %v %+v", err, pr)
	}

	// Load: 16 devices, 2 publishers each, 100 messages of 10 readings.
	var wg sync.WaitGroup
	for _, d := range devices[1:] {
		c := dialClient(t, b.URL(), d, d, "token-"+d)
		for g := range 2 {
			wg.Go(func() {
				for m := range 100 {
					var body []byte
					body = append(body, '[')
					for i := range 10 {
						if i > 0 {
							body = append(body, ',')
						}
						at := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC).Add(time.Duration((g*100+m)*10+i) * time.Second)
						body = fmt.Appendf(body, `{"code":"8867-4","time":%q,"value":70,"unit":"/min"}`, at.Format(time.RFC3339))
					}
					body = append(body, ']')
					pctx, pcancel := context.WithTimeout(context.Background(), 10*time.Second)
					pr, err := c.Publish(pctx, &paho.Publish{QoS: 1, Topic: ReadingsTopic(d), Payload: body})
					pcancel()
					if err != nil || pr.ReasonCode >= 0x80 {
						t.Errorf("%s publish: %v %+v", d, err, pr)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	st := s.Stats()
	if want := int64(1 + 1 + 15*2*100); st.Messages != want || st.Stored != 1+1+15*2*100*10 || st.Failures != 1 {
		t.Errorf("stats = %+v, want %d messages, %d stored, 1 failure", st, want, 1+1+15*2*100*10)
	}
}
