package mqtt

import (
	"bufio"
	"net"
	"sync"
)

// BufferedConn wraps c for a paho.golang client (and only for one: see
// below). Reads go through a buffer: paho reads each packet's fixed header
// byte by byte (packets.ReadPacket), three or more system calls per packet
// without it. The wrapper is a sync.Locker, which paho's
// ControlPacket.WriteTo holds while it writes the parts of one packet; the
// parts are collected and written with one system call when the lock is
// released, so packets written by several goroutines never interleave.
// Every write must be made while holding the lock, as paho does; a write
// error closes the connection, which paho then reports.
func BufferedConn(c net.Conn) net.Conn {
	return &bufferedConn{Conn: c, r: bufio.NewReaderSize(c, 32<<10), w: bufio.NewWriterSize(c, 32<<10)}
}

type bufferedConn struct {
	net.Conn
	r  *bufio.Reader
	mu sync.Mutex
	w  *bufio.Writer // guarded by mu
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// Write buffers p; the caller holds the lock.
func (c *bufferedConn) Write(p []byte) (int, error) { return c.w.Write(p) }

// Lock starts a packet.
func (c *bufferedConn) Lock() { c.mu.Lock() }

// Unlock writes the packet out.
func (c *bufferedConn) Unlock() {
	if c.w.Flush() != nil {
		_ = c.Conn.Close()
	}
	c.mu.Unlock()
}
