package mqtt

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/vigilhealth/vigil"
)

// ServiceClientID is the client id Vigil's Subscriber uses on the embedded
// broker. Device client ids start with the device id, which never starts
// with '$', so no device can take over Vigil's session.
const ServiceClientID = "$vigil-ingest"

// AuthFunc checks a device's MQTT credentials: the user name is the device
// id and the password a bearer token of that device's account. It returns
// the account's principal, or an error when the token is not valid.
type AuthFunc func(ctx context.Context, user, pass string) (*vigil.Principal, error)

// BrokerConfig configures an embedded broker. Auth is required.
type BrokerConfig struct {
	// Addr is the TCP address to listen on (default "127.0.0.1:1883";
	// "127.0.0.1:0" picks a free port).
	Addr string
	// Auth checks device credentials.
	Auth AuthFunc
	// Topics sets the topic prefix (default vigil/v1).
	Topics Topics
	// MaxPacketSize bounds a packet (default DefaultMaxBytes plus 4 KiB for
	// the topic and properties).
	MaxPacketSize uint32
	// SessionExpiry caps how long the broker keeps a disconnected client's
	// session (default 7 days).
	SessionExpiry time.Duration
	// Logger receives the broker's logs (default: discard).
	Logger *slog.Logger
}

// Broker is an embedded MQTT broker (mochi-mqtt, MQTT 3.1.1 and 5) for
// setups with nothing installed. It keeps sessions and queued messages in
// memory only: a message a device published, and the broker acknowledged,
// is lost if the process stops before the Subscriber has ingested it. Use
// Mosquitto with persistence where that matters.
//
// Access rules, enforced by an authentication and ACL hook:
//   - a device logs in with user name = its device id and password = a
//     bearer token that Auth maps to a device principal of that device;
//     its client id must be the device id or start with "{device}:";
//   - a device may publish only to its readings topic and subscribe only
//     to its results topic; retained messages are not available;
//   - Vigil's Subscriber logs in with the service credential generated at
//     start (ServiceConfig) and may subscribe to every device's readings
//     and publish to every device's results.
type Broker struct {
	srv     *mochi.Server
	ln      net.Listener
	svcUser string
	svcPass []byte
}

// NewBroker listens on cfg.Addr and starts serving.
func NewBroker(cfg BrokerConfig) (*Broker, error) {
	if cfg.Auth == nil {
		return nil, errors.New("mqtt: BrokerConfig.Auth is required")
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:1883"
	}
	if cfg.MaxPacketSize == 0 {
		cfg.MaxPacketSize = DefaultMaxBytes + 4096
	}
	if cfg.SessionExpiry <= 0 {
		cfg.SessionExpiry = 7 * 24 * time.Hour
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	var secret [24]byte
	if _, err := rand.Read(secret[:]); err != nil {
		return nil, err
	}
	b := &Broker{svcUser: "$vigil", svcPass: []byte(base64.RawURLEncoding.EncodeToString(secret[:]))}

	caps := mochi.NewDefaultServerCapabilities()
	caps.MaximumPacketSize = cfg.MaxPacketSize
	caps.MaximumSessionExpiryInterval = uint32(min(cfg.SessionExpiry/time.Second, 1<<32-2))
	caps.RetainAvailable = 0
	b.srv = mochi.New(&mochi.Options{Capabilities: caps, Logger: cfg.Logger})
	h := &aclHook{b: b, auth: cfg.Auth, topics: cfg.Topics}
	if err := b.srv.AddHook(h, nil); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("mqtt broker: %w", err)
	}
	b.ln = ln
	if err := b.srv.AddListener(listeners.NewNet("vigil", ln)); err != nil {
		ln.Close()
		return nil, err
	}
	if err := b.srv.Serve(); err != nil {
		ln.Close()
		return nil, err
	}
	return b, nil
}

// Addr returns the address the broker listens on.
func (b *Broker) Addr() string { return b.ln.Addr().String() }

// URL returns tcp://Addr(), the value for Config.Broker.
func (b *Broker) URL() string { return "tcp://" + b.Addr() }

// ServiceConfig returns cfg with Broker, ClientID and the service
// credential set, so a Subscriber built from it ingests from this broker.
func (b *Broker) ServiceConfig(cfg Config) Config {
	cfg.Broker = b.URL()
	cfg.ClientID = ServiceClientID
	cfg.Username = b.svcUser
	cfg.Password = string(b.svcPass)
	return cfg
}

// Close disconnects every client and stops the broker.
func (b *Broker) Close() error { return b.srv.Close() }

// identity is who a connected client is.
type identity struct {
	service bool
	device  string
}

// aclHook authenticates clients and enforces the topic rules.
type aclHook struct {
	mochi.HookBase
	b      *Broker
	auth   AuthFunc
	topics Topics
	// clients maps a client id to who logged in with it. It outlives the
	// connection: messages for a disconnected client's session are checked
	// against it while they are queued. A client id names one identity
	// only (the login rules tie it to the user name).
	clients sync.Map // client id → identity
}

func (h *aclHook) ID() string { return "vigil-acl" }

func (h *aclHook) Provides(b byte) bool {
	return bytes.Contains([]byte{mochi.OnConnectAuthenticate, mochi.OnACLCheck, mochi.OnDisconnect, mochi.OnClientExpired}, []byte{b})
}

func (h *aclHook) OnConnectAuthenticate(cl *mochi.Client, pk packets.Packet) bool {
	user, pass := string(pk.Connect.Username), pk.Connect.Password
	if user == h.b.svcUser {
		if subtle.ConstantTimeCompare(pass, h.b.svcPass) != 1 || !strings.HasPrefix(cl.ID, "$vigil") {
			return false
		}
		h.clients.Store(cl.ID, identity{service: true})
		return true
	}
	if !ValidDeviceID(user) || (cl.ID != user && !strings.HasPrefix(cl.ID, user+":")) {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p, err := h.auth(ctx, user, string(pass))
	if err != nil || p == nil || p.Role != vigil.RoleDevice || p.Device != user {
		h.Log.Info("mqtt login refused", "client", cl.ID, "error", err)
		return false
	}
	h.clients.Store(cl.ID, identity{device: user})
	return true
}

func (h *aclHook) OnACLCheck(cl *mochi.Client, topic string, write bool) bool {
	v, ok := h.clients.Load(cl.ID)
	if !ok {
		return false
	}
	id := v.(identity)
	if id.service {
		if write {
			dev, ok := strings.CutSuffix(strings.TrimPrefix(topic, h.topics.root()), "/results")
			return ok && strings.HasPrefix(topic, h.topics.root()) && ValidDeviceID(dev)
		}
		// Subscribing to the filter, and each message delivered on it.
		_, ok := h.topics.deviceOf(topic)
		return ok || topic == h.topics.ReadingsFilter()
	}
	if write {
		return topic == h.topics.Readings(id.device)
	}
	return topic == h.topics.Results(id.device)
}

// OnDisconnect forgets a client whose session ends with the connection.
func (h *aclHook) OnDisconnect(cl *mochi.Client, err error, expire bool) {
	if expire && !cl.IsTakenOver() {
		h.clients.Delete(cl.ID)
	}
}

// OnClientExpired forgets a client whose session expired.
func (h *aclHook) OnClientExpired(cl *mochi.Client) { h.clients.Delete(cl.ID) }
