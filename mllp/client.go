package mllp

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"
)

// Client sends messages over one MLLP connection and waits for each
// acknowledgment. It is safe for concurrent use; messages are sent one at a
// time, as MLLP requires.
type Client struct {
	mu   sync.Mutex
	conn net.Conn
	r    *Reader
	buf  []byte
}

// Dial connects to an MLLP server at the TCP address addr.
func Dial(ctx context.Context, addr string) (*Client, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return NewClient(nc, 0), nil
}

// NewClient returns a client on an open connection, accepting ACKs of at
// most maxSize bytes (DefaultMaxSize when maxSize <= 0).
func NewClient(nc net.Conn, maxSize int) *Client {
	return &Client{conn: nc, r: NewReader(nc, maxSize)}
}

// Send writes msg and returns the next message the server sends back, its
// ACK. ctx's deadline bounds the exchange; when ctx ends or any error
// occurs the connection is no longer usable (an ACK may still be in
// flight) and the caller should Close it and dial again.
func (c *Client) Send(ctx context.Context, msg []byte) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	dl, _ := ctx.Deadline()
	_ = c.conn.SetDeadline(dl)
	stop := context.AfterFunc(ctx, func() { _ = c.conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	c.buf = AppendFrame(c.buf[:0], msg)
	if _, err := c.conn.Write(c.buf); err != nil {
		return nil, ctxErr(ctx, err)
	}
	ack, err := c.r.ReadMessage()
	if err != nil {
		return nil, ctxErr(ctx, err)
	}
	return ack, nil
}

// ctxErr reports ctx's error for an I/O error caused by ctx ending. The
// connection deadline can fire a moment before ctx's own timer does.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
			return context.DeadlineExceeded
		}
	}
	return err
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }
