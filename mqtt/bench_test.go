package mqtt

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/internal/testenv"
)

// countingSink is the benchmark's Ingester: it counts readings and answers
// "stored", so the benchmark measures the MQTT path alone.
type countingSink struct{ n atomic.Int64 }

func (c *countingSink) Ingest(ctx context.Context, source string, items []vigil.Reading) ([]vigil.ItemResult, error) {
	c.n.Add(int64(len(items)))
	out := make([]vigil.ItemResult, len(items))
	for i := range out {
		out[i] = vigil.ItemResult{Index: i, Status: vigil.ItemStored}
	}
	return out, nil
}

// processCPU is the user and system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benchPayload(batch int) []byte {
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	rs := make([]vigil.Reading, batch)
	for i := range rs {
		ts, v := t0.Add(time.Duration(i)*time.Second), 60.0+float64(i%40)
		rs[i] = vigil.Reading{Code: "8867-4", Time: &ts, Value: &v, Unit: "/min"}
	}
	if batch == 1 {
		b, _ := json.Marshal(rs[0])
		return b
	}
	b, _ := json.Marshal(rs)
	return b
}

// BenchmarkThroughput measures readings/s from QoS 1 publishers through the
// test broker (Mosquitto) and the Subscriber into a counting Ingester:
// every message is acknowledged by the broker to its publisher and by the
// Subscriber to the broker. 16 devices publish, each from its own
// connection with several messages in flight; publishers pause while more
// than window messages are between them and the Ingester, because
// Mosquitto's default max_queued_messages (1000, counting the messages in
// flight beyond max_inflight_messages) drops QoS 1 messages queued beyond
// it for a slow subscriber; the window plus the Subscriber's unacknowledged
// messages (ReceiveMaximum) stays under it.
func BenchmarkThroughput(b *testing.B) {
	broker := testenv.MQTT(b)
	for _, batch := range []int{1, 50} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			sink := &countingSink{}
			topics := Topics{Prefix: randomID("vigilbench-") + "/v1"}
			devices := []string{"d0", "d1", "d2", "d3", "d4", "d5", "d6", "d7", "d8", "d9", "d10", "d11", "d12", "d13", "d14", "d15"}
			s := startSubscriber(b, Config{Broker: broker, ClientID: randomID("vigil-bench-"), Topics: topics,
				Ingester: sink, Principal: devicePrincipals(devices...), SessionExpiry: time.Minute})
			clients := make([]*client, len(devices))
			for i, d := range devices {
				clients[i] = dialClient(b, broker, randomID(d+"-"), "", "")
			}
			payload := benchPayload(batch)
			var next, published atomic.Int64
			const window = 400
			b.SetBytes(int64(len(payload)))
			b.ReportAllocs()
			b.SetParallelism(32) // 32 × GOMAXPROCS publishing goroutines
			cpu0 := processCPU()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				i := next.Add(1)
				c, topic := clients[i%int64(len(clients))], topics.Readings(devices[i%int64(len(devices))])
				for pb.Next() {
					for published.Load()-sink.n.Load()/int64(batch) > window {
						time.Sleep(50 * time.Microsecond)
					}
					published.Add(1)
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					_, err := c.Publish(ctx, &paho.Publish{QoS: 1, Topic: topic, Payload: payload})
					cancel()
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
			want := int64(b.N * batch)
			deadline := time.Now().Add(60 * time.Second)
			for sink.n.Load() < want && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			elapsed := time.Since(start)
			if got := sink.n.Load(); got != want {
				b.Fatalf("ingested %d readings, want %d (published %d messages; subscriber %+v)", got, want, published.Load(), s.Stats())
			}
			b.ReportMetric(float64(want)/elapsed.Seconds(), "readings/s")
			// CPU of this process (publishers, Subscriber, sink) per reading:
			// a figure that does not depend on what else the machine runs.
			b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(want), "cpu-µs/reading")
			if st := s.Stats(); st.Messages < int64(b.N) {
				b.Errorf("acknowledged %d messages, want %d", st.Messages, b.N)
			}
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, batch := range []int{1, 50} {
		payload := benchPayload(batch)
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			b.SetBytes(int64(len(payload)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Decode(payload, Limits{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSubscriberDrain isolates the Subscriber: b.N messages are queued
// at the broker while Vigil's session is offline, then a Subscriber is
// started and timed until it has ingested them all (broker delivery,
// decoding, Ingest, PUBACK). The broker must keep that many queued messages
// (Mosquitto: max_queued_messages ≥ b.N; the default 1000 drops the rest,
// and the benchmark then fails saying so).
func BenchmarkSubscriberDrain(b *testing.B) {
	broker := testenv.MQTT(b)
	for _, batch := range []int{1, 50} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			sink := &countingSink{}
			devices := []string{"d0", "d1", "d2", "d3", "d4", "d5", "d6", "d7"}
			cfg := Config{Broker: broker, ClientID: randomID("vigil-drain-"), Topics: Topics{Prefix: randomID("vigildrain-") + "/v1"},
				Ingester: sink, Principal: devicePrincipals(devices...), SessionExpiry: time.Minute}
			s, err := NewSubscriber(cfg)
			if err != nil {
				b.Fatal(err)
			}
			// Create the session and its subscription, then go offline.
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- s.Run(ctx) }()
			<-s.Ready()
			cancel()
			<-done
			pub := dialClient(b, broker, randomID("drainpub-"), "", "")
			payload := benchPayload(batch)
			var wg sync.WaitGroup
			sem := make(chan struct{}, 64)
			for i := range b.N {
				sem <- struct{}{}
				wg.Go(func() {
					defer func() { <-sem }()
					pub.publish(b, cfg.Topics.Readings(devices[i%len(devices)]), payload)
				})
			}
			wg.Wait()
			s, err = NewSubscriber(cfg)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(payload)))
			b.ReportAllocs()
			cpu0 := processCPU()
			b.ResetTimer()
			ctx, cancel = context.WithCancel(context.Background())
			go func() { done <- s.Run(ctx) }()
			want := int64(b.N * batch)
			deadline := time.Now().Add(2 * time.Minute)
			for sink.n.Load() < want && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			b.StopTimer()
			elapsed := b.Elapsed()
			cpu := processCPU() - cpu0
			cancel()
			<-done
			if got := sink.n.Load(); got != want {
				b.Fatalf("ingested %d of %d queued readings: does the broker drop queued messages (Mosquitto max_queued_messages)?", got, want)
			}
			b.ReportMetric(float64(want)/elapsed.Seconds(), "readings/s")
			b.ReportMetric(float64(cpu.Microseconds())/float64(want), "cpu-µs/reading")
		})
	}
}
