package mqtt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/vigilhealth/vigil"
)

// PrincipalFunc returns the principal a device's readings are ingested
// as (the device account bound to that Device). It should return an error
// wrapping vigil.ErrNotFound, vigil.ErrForbidden or vigil.ErrUnauthorized
// for a device that may not submit; other errors are taken as transient.
type PrincipalFunc func(ctx context.Context, device string) (*vigil.Principal, error)

// Config configures a Subscriber. Broker, Ingester and Principal are
// required; the zero value of every other field takes the default given.
type Config struct {
	// Broker is the broker's URL: tcp://host:port (mqtt:// is a synonym).
	Broker string
	// ClientID identifies Vigil's session at the broker; it must be stable
	// across restarts so the broker keeps the session (default
	// "vigil-ingest"). Two Vigil processes must not share it.
	ClientID string
	// Username and Password authenticate to the broker (optional).
	Username string
	Password string
	// Ingester receives the readings.
	Ingester vigil.Ingester
	// Principal maps a topic's device id to the principal Ingest runs as.
	Principal PrincipalFunc
	// Topics sets the topic prefix (default vigil/v1).
	Topics Topics
	// Source is passed to Ingest (default "mqtt").
	Source string
	// SessionExpiry is how long the broker keeps the session, and queues
	// QoS 1 messages, while Vigil is disconnected (default 7 days).
	SessionExpiry time.Duration
	// Limits bound each payload.
	Limits Limits
	// Workers is the number of messages ingested concurrently (default 4).
	// A device's messages always go to the same worker, in order.
	Workers int
	// ReceiveMaximum bounds the unacknowledged messages the broker sends
	// (MQTT v5 section 3.1.2.11.3; default 512).
	ReceiveMaximum uint16
	// IngestTimeout bounds one Ingest call (default 30 s); on shutdown the
	// calls in progress run to completion within it.
	IngestTimeout time.Duration
	// AllResults publishes a Result for every message; by default a
	// Result is published only when an item or the message was rejected.
	AllResults bool
	// MinBackoff and MaxBackoff bound the wait between reconnection
	// attempts, which doubles after each failure (defaults 100 ms, 30 s).
	MinBackoff, MaxBackoff time.Duration
	// Logger receives connection events and transient failures (default:
	// discard).
	Logger *slog.Logger
	// Dial opens the network connection (default net.Dialer.DialContext).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Result is what Vigil publishes to a device's results topic about one
// message it sent.
type Result struct {
	// Error is set when the whole message was rejected (malformed, another
	// device's readings, device not allowed); no item was stored.
	Error string `json:"error,omitempty"`
	// Items answers each item of the message, in order.
	Items []vigil.ItemResult `json:"items,omitempty"`
}

// Stats counts what a Subscriber has done since it was created.
type Stats struct {
	Connects  int64 // successful connections (subscribed)
	Messages  int64 // messages acknowledged
	Readings  int64 // readings passed to Ingest in acknowledged messages
	Stored    int64 // items the Ingester stored
	Duplicate int64 // items the Ingester already had
	Rejected  int64 // items rejected (malformed or by the Ingester)
	Refused   int64 // messages rejected as a whole (then acknowledged)
	Failures  int64 // transient failures that left a message unacknowledged
}

// Subscriber consumes device readings from an MQTT broker and ingests them
// (see the package doc for the topics and the delivery guarantee). Create
// it with NewSubscriber and start it with Run.
type Subscriber struct {
	cfg   Config
	addr  string
	ready chan struct{}
	once  sync.Once
	stats struct {
		connects, messages, readings, stored, duplicate, rejected, refused, failures atomic.Int64
	}
}

// NewSubscriber checks cfg and returns a Subscriber. It does not connect.
func NewSubscriber(cfg Config) (*Subscriber, error) {
	if cfg.Ingester == nil || cfg.Principal == nil {
		return nil, errors.New("mqtt: Config.Ingester and Config.Principal are required")
	}
	u, err := url.Parse(cfg.Broker)
	if err != nil || (u.Scheme != "tcp" && u.Scheme != "mqtt") || u.Host == "" {
		return nil, fmt.Errorf("mqtt: broker %q: want tcp://host:port", cfg.Broker)
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "1883")
	}
	if cfg.ClientID == "" {
		cfg.ClientID = "vigil-ingest"
	}
	if cfg.Source == "" {
		cfg.Source = "mqtt"
	}
	if cfg.SessionExpiry <= 0 {
		cfg.SessionExpiry = 7 * 24 * time.Hour
	}
	cfg.SessionExpiry = min(cfg.SessionExpiry, time.Duration(1<<32-2)*time.Second)
	cfg.Limits = cfg.Limits.withDefaults()
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	if cfg.IngestTimeout <= 0 {
		cfg.IngestTimeout = 30 * time.Second
	}
	if cfg.ReceiveMaximum == 0 {
		cfg.ReceiveMaximum = 512
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 100 * time.Millisecond
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(30*time.Second, cfg.MinBackoff)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Dial == nil {
		var d net.Dialer
		cfg.Dial = d.DialContext
	}
	return &Subscriber{cfg: cfg, addr: addr, ready: make(chan struct{})}, nil
}

// Ready is closed once the Subscriber has connected and subscribed for
// the first time.
func (s *Subscriber) Ready() <-chan struct{} { return s.ready }

// Stats returns the counters. It is safe to call concurrently with Run.
func (s *Subscriber) Stats() Stats {
	st := &s.stats
	return Stats{Connects: st.connects.Load(), Messages: st.messages.Load(), Readings: st.readings.Load(),
		Stored: st.stored.Load(), Duplicate: st.duplicate.Load(), Rejected: st.rejected.Load(),
		Refused: st.refused.Load(), Failures: st.failures.Load()}
}

// Run connects, subscribes and ingests until ctx ends, reconnecting with
// exponential backoff (and jitter) whenever the connection is lost or a
// transient failure left a message unacknowledged. It returns nil when ctx
// ends, after the messages being ingested have finished and been
// acknowledged; messages received but not yet started are delivered again
// by the broker on the next run.
func (s *Subscriber) Run(ctx context.Context) error {
	attempt := 0
	for {
		subscribed, err := s.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if subscribed {
			attempt = 0
		}
		d := s.backoff(attempt)
		attempt++
		s.cfg.Logger.Warn("mqtt connection ended, reconnecting", "broker", s.addr, "error", err, "in", d)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

func (s *Subscriber) backoff(attempt int) time.Duration {
	d := s.cfg.MinBackoff << min(attempt, 20)
	if d <= 0 || d > s.cfg.MaxBackoff {
		d = s.cfg.MaxBackoff
	}
	return d/2 + rand.N(d/2+1)
}

// conn is one network connection's worth of state.
type conn struct {
	s     *Subscriber
	cli   *paho.Client
	work  []chan *paho.Publish
	sem   chan struct{}   // bounds result publications in flight
	done  chan struct{}   // closed when the connection is being torn down
	ctx   context.Context // ends when the connection is torn down
	stop  context.CancelFunc
	fail  chan error  // first transient failure
	bad   atomic.Bool // a transient failure happened: take no more messages
	wg    sync.WaitGroup
	pubWG sync.WaitGroup
	once  sync.Once
}

// ackInterval is how often paho sends the PUBACKs of acknowledged messages.
const ackInterval = time.Millisecond

func (c *conn) failed(err error) {
	c.bad.Store(true)
	select {
	case c.fail <- err:
	default:
	}
}

// session runs one connection until it ends. subscribed reports whether it
// got as far as subscribing.
func (s *Subscriber) session(ctx context.Context) (subscribed bool, err error) {
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	nc, err := s.cfg.Dial(dctx, "tcp", s.addr)
	cancel()
	if err != nil {
		return false, fmt.Errorf("dial: %w", err)
	}
	c := &conn{s: s, work: make([]chan *paho.Publish, s.cfg.Workers), sem: make(chan struct{}, 64),
		done: make(chan struct{}), fail: make(chan error, 1)}
	c.ctx, c.stop = context.WithCancel(ctx)
	c.cli = paho.NewClient(paho.ClientConfig{
		ClientID:                   s.cfg.ClientID,
		Conn:                       BufferedConn(nc),
		EnableManualAcknowledgment: true,
		SendAcksInterval:           ackInterval,
		OnPublishReceived:          []func(paho.PublishReceived) (bool, error){c.received},
		OnClientError:              func(err error) { c.failed(fmt.Errorf("connection: %w", err)) },
		OnServerDisconnect: func(d *paho.Disconnect) {
			c.failed(fmt.Errorf("broker disconnected (reason code %#x)", d.ReasonCode))
		},
	})
	for i := range c.work {
		c.work[i] = make(chan *paho.Publish, s.cfg.ReceiveMaximum)
		c.wg.Go(func() { c.worker(ctx, c.work[i]) })
	}
	defer func() {
		c.quiesce()
		c.stop()
		c.pubWG.Wait()
		_ = nc.Close()
	}()

	expiry := uint32(s.cfg.SessionExpiry / time.Second)
	rm := s.cfg.ReceiveMaximum
	cp := &paho.Connect{
		ClientID:   s.cfg.ClientID,
		KeepAlive:  30,
		CleanStart: false,
		Properties: &paho.ConnectProperties{SessionExpiryInterval: &expiry, ReceiveMaximum: &rm},
	}
	if s.cfg.Username != "" {
		cp.UsernameFlag, cp.Username = true, s.cfg.Username
	}
	if s.cfg.Password != "" {
		cp.PasswordFlag, cp.Password = true, []byte(s.cfg.Password)
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	ca, err := c.cli.Connect(cctx, cp)
	cancel()
	if err != nil {
		if ca != nil {
			return false, fmt.Errorf("connect refused (reason code %#x): %w", ca.ReasonCode, err)
		}
		return false, fmt.Errorf("connect: %w", err)
	}
	if err := s.subscribe(ctx, c.cli, ca.SessionPresent); err != nil {
		_ = c.cli.Disconnect(&paho.Disconnect{ReasonCode: 0})
		return false, fmt.Errorf("subscribe: %w", err)
	}
	if !ca.SessionPresent && s.stats.connects.Load() > 0 {
		s.cfg.Logger.Warn("mqtt broker had no session for Vigil: messages published while Vigil was disconnected may be lost",
			"broker", s.addr, "client_id", s.cfg.ClientID)
	}
	s.stats.connects.Add(1)
	s.once.Do(func() { close(s.ready) })
	s.cfg.Logger.Info("mqtt subscribed", "broker", s.addr, "session_present", ca.SessionPresent)

	select {
	case <-ctx.Done():
		err = ctx.Err()
	case <-c.cli.Done():
		err = errors.New("connection closed")
	case err = <-c.fail:
	}
	// Let the messages being ingested finish and their PUBACKs go out;
	// those still queued here are delivered again on the next connection.
	c.quiesce()
	_ = c.cli.Disconnect(&paho.Disconnect{ReasonCode: 0})
	return true, err
}

// subscribe subscribes to the readings of every device with QoS 1.
//
// A broker that keeps its own and the client's packet identifiers in one
// table (mochi-mqtt v2.7.9) answers 0x91 "packet identifier in use" when
// the SUBSCRIBE reuses the id of a QoS 1 message it is resending from the
// session; paho takes the next id on each attempt. Those messages exist
// only because the session holds the subscription, so with the session
// present a lasting 0x91 means the subscription is in place.
func (s *Subscriber) subscribe(ctx context.Context, cli *paho.Client, sessionPresent bool) error {
	const idInUse = 0x91
	var reasons []byte
	for range 8 {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		sa, err := cli.Subscribe(sctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: s.cfg.Topics.ReadingsFilter(), QoS: 1}}})
		cancel()
		if sa == nil {
			return err
		}
		reasons = sa.Reasons
		switch {
		case len(reasons) == 1 && reasons[0] == 1:
			return nil
		case len(reasons) == 1 && reasons[0] == idInUse:
			continue
		}
		break
	}
	if sessionPresent && len(reasons) == 1 && reasons[0] == idInUse {
		return nil
	}
	return fmt.Errorf("subscription not granted with QoS 1 (reason codes %v)", reasons)
}

// quiesce stops handing messages to the workers and waits for the ones
// being ingested, then gives paho time to send their PUBACKs (it flushes
// them every SendAcksInterval).
func (c *conn) quiesce() {
	c.once.Do(func() {
		close(c.done)
		c.wg.Wait()
		time.Sleep(5 * ackInterval)
	})
}

// received is paho's callback; it hands the message to its device's worker.
// Blocking here (all workers busy) stops reading from the broker.
func (c *conn) received(pr paho.PublishReceived) (bool, error) {
	h := fnv.New32a()
	_, _ = h.Write([]byte(pr.Packet.Topic))
	select {
	case c.work[h.Sum32()%uint32(len(c.work))] <- pr.Packet:
	case <-c.done:
	}
	return true, nil
}

// permanent reports whether a batch error would recur on redelivery, so
// holding the message back would only block the device's later messages
// (and, since acknowledgments go in order, everyone's).
func permanent(err error) bool {
	for _, k := range []error{vigil.ErrInvalid, vigil.ErrForbidden, vigil.ErrUnauthorized, vigil.ErrNotFound,
		vigil.ErrTooLarge, vigil.ErrUnprocessable, vigil.ErrGone} {
		if errors.Is(err, k) {
			return true
		}
	}
	return false
}

func hasRejection(items []vigil.ItemResult) bool {
	for _, r := range items {
		if r.Status == vigil.ItemRejected {
			return true
		}
	}
	return false
}

// publish sends res to the device's results topic in the background; at
// most cap(c.sem) publications are in flight, then ingestion waits.
func (c *conn) publish(dev string, req *paho.Publish, res Result) {
	body, err := json.Marshal(res)
	if err != nil {
		return
	}
	out := &paho.Publish{QoS: 1, Topic: c.s.cfg.Topics.Results(dev), Payload: body,
		Properties: &paho.PublishProperties{ContentType: "application/json"}}
	if req.Properties != nil && req.Properties.CorrelationData != nil {
		out.Properties.CorrelationData = req.Properties.CorrelationData
	}
	select {
	case c.sem <- struct{}{}:
	case <-c.done:
		return
	}
	c.pubWG.Go(func() {
		defer func() { <-c.sem }()
		pctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
		defer cancel()
		if _, err := c.cli.Publish(pctx, out); err != nil {
			c.s.cfg.Logger.Warn("mqtt result not published", "error", err)
		}
	})
}
