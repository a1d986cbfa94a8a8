package mllp

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// Handler processes one message and returns the acknowledgment to send
// back. Vigil's handler returns only after the message's data is durable
// (or with an AE/AR ACK when it is not). msg is owned by the handler.
// Returning nil closes the connection without an answer, so the sender will
// retry later. ctx is cancelled when the server is closed forcibly.
type Handler func(ctx context.Context, msg []byte) (ack []byte)

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = errors.New("mllp: server closed")

// Server accepts MLLP connections and answers each message with the ACK its
// Handler returns. Messages on one connection are handled one at a time, in
// order; connections are handled concurrently. Set the fields before Serve;
// the zero timeouts mean "no limit", which a server facing the network
// should not use.
type Server struct {
	// Handler is required.
	Handler Handler
	// MaxMessageSize limits one message; DefaultMaxSize when zero.
	MaxMessageSize int
	// IdleTimeout closes a connection that does not start a new frame in
	// time.
	IdleTimeout time.Duration
	// ReadTimeout limits reading one frame once its start block arrived.
	ReadTimeout time.Duration
	// WriteTimeout limits writing one ACK.
	WriteTimeout time.Duration
	// Reject, when set, is called for a frame that exceeds MaxMessageSize
	// with its first bytes (enough for the MSH segment) and the error; the
	// bytes it returns are sent as the ACK (typically an AR built with
	// hl7.ParseHeader and hl7.NewACK). When it is nil or returns nil the
	// connection is closed.
	Reject func(ctx context.Context, head []byte, err error) []byte
	// MaxConnections, when positive, limits open connections; a connection
	// beyond the limit is closed as soon as it is accepted.
	MaxConnections int
	// Logger receives connection-level errors; slog.Default() when nil.
	// Message content is never logged.
	Logger *slog.Logger

	mu         sync.Mutex
	listeners  map[net.Listener]struct{}
	conns      map[*conn]struct{}
	inShutdown atomic.Bool
	ctx        context.Context
	cancel     context.CancelFunc
	wg         sync.WaitGroup
}

type conn struct {
	nc   net.Conn
	idle atomic.Bool // waiting for the start of a frame
}

func (s *Server) init() {
	if s.listeners == nil {
		s.listeners = make(map[net.Listener]struct{})
		s.conns = make(map[*conn]struct{})
		s.ctx, s.cancel = context.WithCancel(context.Background())
	}
}

func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// ListenAndServe listens on the TCP address addr and calls Serve.
func (s *Server) ListenAndServe(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return s.Serve(l)
}

// Serve accepts connections on l until Shutdown or Close, and then returns
// ErrServerClosed. It closes l.
func (s *Server) Serve(l net.Listener) error {
	if s.Handler == nil {
		l.Close()
		return errors.New("mllp: Server.Handler is nil")
	}
	s.mu.Lock()
	s.init()
	if s.inShutdown.Load() {
		s.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
		l.Close()
	}()
	var backoff time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			if s.inShutdown.Load() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		c := &conn{nc: nc}
		s.mu.Lock()
		if s.inShutdown.Load() {
			s.mu.Unlock()
			nc.Close()
			return ErrServerClosed
		}
		if s.MaxConnections > 0 && len(s.conns) >= s.MaxConnections {
			s.mu.Unlock()
			s.logger().Warn("mllp: connection limit reached", "limit", s.MaxConnections)
			nc.Close()
			continue
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serveConn(c)
	}
}

func (s *Server) serveConn(c *conn) {
	defer func() {
		c.nc.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		s.wg.Done()
	}()
	r := NewReader(c.nc, s.MaxMessageSize)
	out := make([]byte, 0, 512)
	for {
		c.idle.Store(true)
		if s.inShutdown.Load() {
			return
		}
		setDeadline(c.nc.SetReadDeadline, s.IdleTimeout)
		if err := r.waitStart(); err != nil {
			return // EOF, idle timeout, shutdown wake-up or a broken connection
		}
		c.idle.Store(false)
		setDeadline(c.nc.SetReadDeadline, s.ReadTimeout)
		msg, err := r.readBody()
		var ack []byte
		var tl *FrameTooLargeError
		switch {
		case errors.As(err, &tl):
			s.logger().Warn("mllp: message too large", "remote", c.nc.RemoteAddr().String(), "limit", tl.Limit)
			if s.Reject != nil {
				ack = s.Reject(s.ctx, tl.Head, err)
			}
		case err != nil:
			return
		default:
			ack = s.handle(msg)
		}
		if ack == nil {
			return
		}
		setDeadline(c.nc.SetWriteDeadline, s.WriteTimeout)
		out = AppendFrame(out[:0], ack)
		if _, err := c.nc.Write(out); err != nil {
			s.logger().Warn("mllp: writing ACK", "remote", c.nc.RemoteAddr().String(), "err", err)
			return
		}
	}
}

// handle calls the Handler; a panic closes the connection without an ACK
// (the sender will resend) instead of taking the server down. Only the
// stack is logged: the panic value might hold message content.
func (s *Server) handle(msg []byte) (ack []byte) {
	defer func() {
		if v := recover(); v != nil {
			s.logger().Error("mllp: handler panicked", "stack", string(debug.Stack()))
			ack = nil
		}
	}()
	return s.Handler(s.ctx, msg)
}

func setDeadline(set func(time.Time) error, d time.Duration) {
	if d > 0 {
		_ = set(time.Now().Add(d))
	} else {
		_ = set(time.Time{})
	}
}

// Shutdown stops the server gracefully: it stops accepting, closes idle
// connections, and waits for messages being read or handled to be
// acknowledged before closing their connections. If ctx ends first it
// closes everything (cancelling handlers' context) and returns ctx.Err().
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.init()
	s.inShutdown.Store(true)
	for l := range s.listeners {
		l.Close()
	}
	s.mu.Unlock()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		s.mu.Lock()
		n := len(s.conns)
		for c := range s.conns {
			if c.idle.Load() {
				_ = c.nc.SetReadDeadline(time.Now()) // wake it up; it sees inShutdown
			}
		}
		s.mu.Unlock()
		if n == 0 {
			s.wg.Wait()
			return nil
		}
		select {
		case <-ctx.Done():
			s.Close()
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// Close closes all listeners and connections immediately and cancels the
// context passed to handlers. Messages not yet acknowledged are not; their
// senders will resend them.
func (s *Server) Close() error {
	s.mu.Lock()
	s.init()
	s.inShutdown.Store(true)
	for l := range s.listeners {
		l.Close()
	}
	for c := range s.conns {
		c.nc.Close()
	}
	s.cancel()
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}
