package mqtt

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/eclipse/paho.golang/paho"
	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// IngestDirect makes the broker ingest device readings itself, inside the
// device's PUBLISH, instead of queueing them for a Subscriber: the device's
// PUBACK then comes only after its readings are durable (MQTT v5 devices
// get reason code 0x80 on a transient failure and should send again; an
// MQTT 3.1.1 device gets no PUBACK and resends after reconnecting), and
// nothing acknowledged lives only in the broker's memory. Results go to the
// device's results topic as with a Subscriber. cfg is a Subscriber's
// configuration (Ingester, Principal, Limits, Source, IngestTimeout,
// AllResults, Logger; the connection fields are ignored); the returned
// Subscriber only counts (Stats) and must not be Run.
//
// This is what Vigil uses with its embedded broker: mochi v2.7.9 delivers
// QoS 1 messages to a slow subscriber unreliably (a send-quota leak stalls
// delivery after Receive Maximum queued messages, measured with 8 devices
// publishing flat out), and a direct hand-over has no second hop to lose
// messages on.
func (b *Broker) IngestDirect(cfg Config) (*Subscriber, error) {
	cfg.Broker = b.URL()
	s, err := NewSubscriber(cfg)
	if err != nil {
		return nil, err
	}
	// Results are published by an inline client of the broker's own
	// (no connection, no ACL check).
	h := &ingestHook{b: b, s: s, out: b.srv.NewClient(nil, "local", "$vigil-results", true)}
	if err := b.srv.AddHook(h, nil); err != nil {
		return nil, fmt.Errorf("mqtt: %w", err)
	}
	return s, nil
}

// ingestHook ingests readings in OnPublish (see IngestDirect).
type ingestHook struct {
	mochi.HookBase
	b   *Broker
	s   *Subscriber
	out *mochi.Client // publishes results
}

func (h *ingestHook) ID() string { return "vigil-ingest" }

func (h *ingestHook) Provides(b byte) bool { return b == mochi.OnPublish }

// OnPublish runs after the ACL check, on the publishing client's
// connection: one device's messages are ingested in order, different
// devices' concurrently.
func (h *ingestHook) OnPublish(cl *mochi.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline {
		return pk, nil // a result this hook publishes
	}
	dev, ok := h.s.cfg.Topics.deviceOf(pk.TopicName)
	if !ok {
		return pk, nil
	}
	req := &paho.Publish{Topic: pk.TopicName, Payload: pk.Payload, QoS: pk.FixedHeader.Qos,
		Properties: &paho.PublishProperties{CorrelationData: pk.Properties.CorrelationData}}
	j := &job{p: req, dev: dev}
	if h.s.prepare(j) {
		if err := h.s.ingest(context.Background(), dev, []*job{j}); err != nil {
			h.s.stats.failures.Add(1)
			h.s.cfg.Logger.Warn("mqtt readings not stored; the device is asked to send them again", "device", dev, "error", err)
			if cl.Properties.ProtocolVersion == 5 && pk.FixedHeader.Qos > 0 {
				return pk, packets.ErrUnspecifiedError // PUBACK 0x80
			}
			return pk, packets.ErrRejectPacket // no PUBACK: resent on reconnect
		}
	}
	h.s.stats.messages.Add(1)
	if j.res.Error != "" || h.s.cfg.AllResults || hasRejection(j.res.Items) {
		h.publishResult(dev, pk, j.res)
	}
	return pk, packets.CodeSuccessIgnore // acknowledged; not passed on to subscribers
}

// publishResult sends res to the device's results topic, echoing the
// request's correlation data.
func (h *ingestHook) publishResult(dev string, req packets.Packet, res Result) {
	body, err := json.Marshal(res)
	if err != nil {
		return
	}
	out := packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1},
		TopicName:   h.s.cfg.Topics.Results(dev),
		Payload:     body,
		PacketID:    1, // inline packets need an id to pass validation; the server assigns per subscriber
		Properties:  packets.Properties{ContentType: "application/json", CorrelationData: req.Properties.CorrelationData},
	}
	if err := h.b.srv.InjectPacket(h.out, out); err != nil {
		h.s.cfg.Logger.Warn("mqtt result not published", "error", err)
	}
}
