package sim

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/vigilhealth/vigil"
	"github.com/vigilhealth/vigil/mqtt"
)

// MQTTSink publishes each device's readings with QoS 1 to its readings
// topic, over one connection per device that logs in with user name = the
// device id and password = its token (client id = the device id), and
// counts the rejections Vigil reports on the device's results topic.
type MQTTSink struct {
	topics   mqtt.Topics
	clients  map[string]*paho.Client
	rejected atomic.Int64
	reported int64
}

// NewMQTTSink connects every patient's device to broker (tcp://host:port),
// with token as the password of devices without a Token of their own.
func NewMQTTSink(ctx context.Context, broker, token string, patients []Patient, topics mqtt.Topics) (*MQTTSink, error) {
	u, err := url.Parse(broker)
	if err != nil || (u.Scheme != "tcp" && u.Scheme != "mqtt") || u.Host == "" {
		return nil, fmt.Errorf("sim: broker %q: want tcp://host:port", broker)
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "1883")
	}
	s := &MQTTSink{topics: topics, clients: map[string]*paho.Client{}}
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for _, p := range patients {
		pass := p.Token
		if pass == "" {
			pass = token
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			c, err := s.connect(ctx, addr, p.Device, pass)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = fmt.Errorf("device %s: %w", p.Device, err)
				}
				return
			}
			s.clients[p.Device] = c
		})
	}
	wg.Wait()
	if firstErr != nil {
		s.Close()
		return nil, firstErr
	}
	return s, nil
}

func (s *MQTTSink) connect(ctx context.Context, addr, device, pass string) (*paho.Client, error) {
	var d net.Dialer
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	nc, err := d.DialContext(dctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	results := s.topics.Results(device)
	c := paho.NewClient(paho.ClientConfig{
		ClientID: device,
		Conn:     mqtt.BufferedConn(nc),
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			var res mqtt.Result
			if pr.Packet.Topic != results || json.Unmarshal(pr.Packet.Payload, &res) != nil {
				return false, nil
			}
			n := 0
			for _, it := range res.Items {
				if it.Status == vigil.ItemRejected {
					n++
				}
			}
			if res.Error != "" && n == 0 {
				n = 1 // a whole message refused; its size is not in the Result
			}
			s.rejected.Add(int64(n))
			return true, nil
		}},
	})
	cp := &paho.Connect{ClientID: device, KeepAlive: 30, CleanStart: true, UsernameFlag: true, Username: device}
	if pass != "" {
		cp.PasswordFlag, cp.Password = true, []byte(pass)
	}
	ca, err := c.Connect(dctx, cp)
	if err != nil {
		nc.Close()
		if ca != nil && (ca.ReasonCode == 0x86 || ca.ReasonCode == 0x87) {
			return nil, vigil.Errorf(vigil.ErrUnauthorized, "broker refused the credentials (reason %#x)", ca.ReasonCode)
		}
		return nil, err
	}
	if _, err := c.Subscribe(dctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: results, QoS: 1}}}); err != nil {
		_ = c.Disconnect(&paho.Disconnect{})
		return nil, fmt.Errorf("subscribe to results: %w", err)
	}
	return c, nil
}

// Send publishes each device's readings as one JSON array, devices in
// parallel, and waits for every PUBACK.
func (s *MQTTSink) Send(ctx context.Context, rs []vigil.Reading) (int, error) {
	byDev := map[string][]vigil.Reading{}
	for _, r := range rs {
		byDev[r.Device] = append(byDev[r.Device], r)
	}
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for dev, batch := range byDev {
		c, ok := s.clients[dev]
		if !ok {
			return 0, fmt.Errorf("sim: no MQTT connection for device %s", dev)
		}
		body, err := json.Marshal(batch)
		if err != nil {
			return 0, err
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			pr, err := c.Publish(pctx, &paho.Publish{QoS: 1, Topic: s.topics.Readings(dev), Payload: body})
			if err != nil {
				if pr != nil && pr.ReasonCode == 0x87 {
					err = vigil.Errorf(vigil.ErrForbidden, "broker refused publishing to %s", s.topics.Readings(dev))
				}
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	total := s.rejected.Load()
	n := total - s.reported
	s.reported = total
	return int(n), firstErr
}

// Close disconnects every device.
func (s *MQTTSink) Close() error {
	for _, c := range s.clients {
		_ = c.Disconnect(&paho.Disconnect{})
	}
	return nil
}
