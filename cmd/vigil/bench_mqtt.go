package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/auth"
	"github.com/vigilhealth/vigil/mqtt"
)

// mqttBenchWindow bounds the messages published but not yet ingested:
// Mosquitto drops QoS 1 messages queued beyond max_queued_messages (1000
// by default) for a subscriber that falls behind (see mqtt/README.md).
const mqttBenchWindow = 400

// benchMQTT publishes readings with QoS 1 from devices publishers (one
// MQTT connection each, device accounts bench-d-0…) for d, through the
// broker the app's subscriber reads (an external one with --mqtt, else
// the embedded one), and reports the readings per second stored end to
// end: from the first publish until the subscriber has acknowledged the
// last message, after its readings were durable and analysed.
func benchMQTT(ctx context.Context, env *Env, app *App, devices, batch int, d time.Duration) error {
	sub := app.Mon.sub
	if sub == nil {
		return fmt.Errorf("bench mqtt: no MQTT subscriber")
	}
	broker := app.cfg.MQTT
	embedded := broker == ""
	if embedded {
		broker = app.Mon.MQTTURL()
	}
	topics := mqtt.Topics{Prefix: app.cfg.MQTTPrefix}
	clients := make([]*paho.Client, devices)
	for i := range devices {
		dev := fmt.Sprintf("bench-d-%d", i)
		acc, err := app.Auth.CreateAccount(ctx, auth.AccountSpec{Username: "bench-mqtt-" + dev, Role: vigil.RoleDevice, Device: dev})
		if err != nil {
			return fmt.Errorf("bench mqtt: device account: %w", err)
		}
		user, pass := "", ""
		if embedded {
			tok, _, err := app.Auth.IssueToken(ctx, acc.ID, time.Hour, nil)
			if err != nil {
				return err
			}
			user, pass = dev, tok
		}
		c, err := dialMQTT(ctx, broker, dev+":bench", user, pass)
		if err != nil {
			return err
		}
		defer c.Disconnect(&paho.Disconnect{})
		clients[i] = c
	}
	fmt.Fprintf(env.Stdout, "mqtt: %s broker %s, %d devices, %d readings per message, QoS 1\n",
		map[bool]string{true: "embedded", false: "external"}[embedded], broker, devices, batch)
	base := sub.Stats()
	processed := func() int64 {
		st := sub.Stats()
		return st.Readings - base.Readings
	}
	var published atomic.Int64 // messages
	var firstErr atomic.Value
	pctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	start := time.Now()
	t0 := start.Add(-48 * time.Hour).Truncate(time.Second)
	// At most mqttBenchWindow messages are between the publishers and the
	// subscriber's Ingest: a publisher takes a slot before it publishes,
	// and one goroutine gives slots back as the subscriber's count of
	// readings grows (rather than every publisher polling that count).
	slots := make(chan struct{}, mqttBenchWindow)
	stopRelease := make(chan struct{})
	defer close(stopRelease)
	go func() {
		tick := time.NewTicker(200 * time.Microsecond)
		defer tick.Stop()
		var released int64
		for {
			select {
			case <-stopRelease:
				return
			case <-tick.C:
			}
			for done := processed() / int64(batch); released < done; released++ {
				select {
				case <-slots:
				case <-stopRelease:
					return
				}
			}
		}
	}()
	var wg sync.WaitGroup
	for i, c := range clients {
		dev := fmt.Sprintf("bench-d-%d", i)
		topic := topics.Readings(dev)
		// Two goroutines per device keep messages in flight on each
		// connection; each writes its own times (distinct readings).
		for g := range 2 {
			wg.Go(func() {
				for seq := 0; pctx.Err() == nil; seq++ {
					select {
					case slots <- struct{}{}:
					case <-pctx.Done():
						return
					}
					payload := mqttBenchPayload(t0, g, seq, batch)
					published.Add(1)
					tctx, tcancel := context.WithTimeout(ctx, 10*time.Second)
					_, err := c.Publish(tctx, &paho.Publish{QoS: 1, Topic: topic, Payload: payload})
					tcancel()
					if err != nil {
						published.Add(-1)
						<-slots
						if pctx.Err() == nil {
							firstErr.CompareAndSwap(nil, err)
						}
						return
					}
				}
			})
		}
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return fmt.Errorf("bench mqtt: publish: %w", err)
	}
	want := published.Load() * int64(batch)
	deadline := time.Now().Add(2 * time.Minute)
	for processed() < want && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	elapsed := time.Since(start)
	st := sub.Stats()
	got := processed()
	stored := st.Stored - base.Stored
	fmt.Fprintf(env.Stdout, "mqtt readings (QoS 1, end to end) %8.0f readings/s  (%d messages, %d readings: %d stored, %d duplicate, %d rejected; %s)\n",
		float64(got)/elapsed.Seconds(), published.Load(), got, stored, st.Duplicate-base.Duplicate, st.Rejected-base.Rejected, elapsed.Round(time.Millisecond))
	if got != want {
		return fmt.Errorf("bench mqtt: the subscriber took %d of %d readings in time "+
			"(an external broker may drop queued messages: Mosquitto needs max_queued_messages above its default 1000, see mqtt/README.md)", got, want)
	}
	if stored != want {
		return fmt.Errorf("bench mqtt: %d of %d readings stored", stored, want)
	}
	return nil
}

// mqttBenchPayload is a JSON array of batch readings of one device, with
// times distinct per (goroutine g, message seq, index).
func mqttBenchPayload(t0 time.Time, g, seq, batch int) []byte {
	b := make([]byte, 0, batch*80)
	b = append(b, '[')
	for i := range batch {
		if i > 0 {
			b = append(b, ',')
		}
		code := benchCodes[i%4]
		u := benchUnits[code]
		// Millisecond steps keep every reading distinct; values stay normal.
		at := t0.Add(time.Duration((seq*batch+i)*2+g) * time.Millisecond)
		b = fmt.Appendf(b, `{"code":"%s","time":"%s","value":%.1f,"unit":"%s"}`, code, at.UTC().Format("2006-01-02T15:04:05.000Z"), u[2].(float64), u[1])
	}
	return append(b, ']')
}

// dialMQTT connects a device-side MQTT v5 client.
func dialMQTT(ctx context.Context, broker, clientID, user, pass string) (*paho.Client, error) {
	u, err := url.Parse(broker)
	if err != nil {
		return nil, err
	}
	nc, err := (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return nil, fmt.Errorf("bench mqtt: dial: %w", err)
	}
	c := paho.NewClient(paho.ClientConfig{ClientID: clientID, Conn: mqtt.BufferedConn(nc)})
	cp := &paho.Connect{ClientID: clientID, KeepAlive: 30, CleanStart: true}
	if user != "" {
		cp.UsernameFlag, cp.Username = true, user
		cp.PasswordFlag, cp.Password = true, []byte(pass)
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := c.Connect(cctx, cp); err != nil {
		nc.Close()
		return nil, fmt.Errorf("bench mqtt: connect: %w", err)
	}
	return c, nil
}

// randomHex returns n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
