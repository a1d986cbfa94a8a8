package mllp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// start runs s on 127.0.0.1:0 and returns its address; the server is
// closed when the test ends.
func start(t *testing.T, s *Server) string {
	t.Helper()
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	t.Cleanup(func() {
		s.Close()
		if err := <-done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return l.Addr().String()
}

func echo(_ context.Context, msg []byte) []byte { return append([]byte("ACK:"), msg...) }

func dial(t *testing.T, addr string) *Client {
	t.Helper()
	c, err := Dial(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func ctxTimeout(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestServerClient(t *testing.T) {
	addr := start(t, &Server{Handler: echo, IdleTimeout: 5 * time.Second, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second})
	c := dial(t, addr)
	for i := range 3 {
		msg := fmt.Sprintf("MSH|^~\\&|%d\rPID|1", i)
		ack, err := c.Send(ctxTimeout(t), []byte(msg))
		if err != nil || string(ack) != "ACK:"+msg {
			t.Fatalf("Send(%q) = %q, %v", msg, ack, err)
		}
	}
}

func TestServerGarbageBetweenFrames(t *testing.T) {
	addr := start(t, &Server{Handler: echo})
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	// Noise, a frame, noise, a frame without its CR, a truncated frame
	// restarted by a new one.
	io.WriteString(nc, "GET / HTTP/1.0\r\n"+frame("A")+"\n\x00\xff"+"\x0bB\x1c"+"\x0bTRUNC"+frame("C"))
	r := NewReader(nc, 0)
	for _, want := range []string{"ACK:A", "ACK:B", "ACK:C"} {
		got, err := r.ReadMessage()
		if err != nil || string(got) != want {
			t.Fatalf("read %q, %v; want %q", got, err, want)
		}
	}
}

func TestServerOversize(t *testing.T) {
	reject := func(_ context.Context, head []byte, err error) []byte {
		return append([]byte("AR:"), head[:4]...)
	}
	addr := start(t, &Server{Handler: echo, MaxMessageSize: 100, Reject: reject})
	c := dial(t, addr)
	ack, err := c.Send(ctxTimeout(t), []byte("MSH|"+strings.Repeat("x", 500)))
	if err != nil || string(ack) != "AR:MSH|" {
		t.Fatalf("oversize: %q, %v", ack, err)
	}
	// The connection stays usable.
	if ack, err := c.Send(ctxTimeout(t), []byte("small")); err != nil || string(ack) != "ACK:small" {
		t.Fatalf("after oversize: %q, %v", ack, err)
	}

	// Without Reject the connection is closed.
	addr = start(t, &Server{Handler: echo, MaxMessageSize: 100})
	c = dial(t, addr)
	if ack, err := c.Send(ctxTimeout(t), []byte(strings.Repeat("x", 500))); err == nil {
		t.Fatalf("oversize without Reject answered %q", ack)
	}
}

func TestServerHalfClose(t *testing.T) {
	addr := start(t, &Server{Handler: echo})
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	WriteFrame(nc, []byte("A"))
	WriteFrame(nc, []byte("B"))
	nc.(*net.TCPConn).CloseWrite()
	all, err := io.ReadAll(nc) // the server answers both, then closes
	if err != nil {
		t.Fatal(err)
	}
	if want := frame("ACK:A") + frame("ACK:B"); string(all) != want {
		t.Errorf("got %q, want %q", all, want)
	}
	// A connection closed in the middle of a frame gets no ACK.
	nc2, _ := net.Dial("tcp", addr)
	defer nc2.Close()
	nc2.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(nc2, "\x0bHALF")
	nc2.(*net.TCPConn).CloseWrite()
	if all, err := io.ReadAll(nc2); err != nil || len(all) != 0 {
		t.Errorf("truncated frame answered %q, %v", all, err)
	}
}

func TestServerConcurrentClients(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{}
	h := func(_ context.Context, msg []byte) []byte {
		mu.Lock()
		seen[string(msg)]++
		mu.Unlock()
		return echo(nil, msg)
	}
	addr := start(t, &Server{Handler: h})
	const clients, per = 16, 50
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := range clients {
		wg.Go(func() {
			c, err := Dial(context.Background(), addr)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			for j := range per {
				msg := fmt.Sprintf("c%d-m%d", i, j)
				ack, err := c.Send(ctxTimeout(t), []byte(msg))
				if err != nil || string(ack) != "ACK:"+msg {
					errs <- fmt.Errorf("Send(%q) = %q, %v", msg, ack, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if len(seen) != clients*per {
		t.Errorf("handler saw %d distinct messages, want %d", len(seen), clients*per)
	}
	for m, n := range seen {
		if n != 1 {
			t.Errorf("message %q handled %d times", m, n)
		}
	}
}

func TestServerIdleTimeout(t *testing.T) {
	addr := start(t, &Server{Handler: echo, IdleTimeout: 100 * time.Millisecond})
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	begin := time.Now()
	if n, err := nc.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("Read = %d, %v; want EOF from idle close", n, err)
	}
	if d := time.Since(begin); d > 3*time.Second {
		t.Errorf("idle connection closed after %v", d)
	}
}

func TestServerReadTimeout(t *testing.T) {
	addr := start(t, &Server{Handler: echo, ReadTimeout: 100 * time.Millisecond})
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(nc, "\x0bslow") // a frame that never ends
	if all, err := io.ReadAll(nc); err != nil || len(all) != 0 {
		t.Errorf("stalled frame: %q, %v; want close without answer", all, err)
	}
}

func TestHandlerNilClosesConnection(t *testing.T) {
	addr := start(t, &Server{Handler: func(context.Context, []byte) []byte { return nil }})
	c := dial(t, addr)
	if ack, err := c.Send(ctxTimeout(t), []byte("A")); err == nil {
		t.Errorf("Send answered %q, want an error", ack)
	}
}

func TestHandlerPanic(t *testing.T) {
	addr := start(t, &Server{Handler: func(_ context.Context, msg []byte) []byte {
		if string(msg) == "boom" {
			panic("boom")
		}
		return echo(nil, msg)
	}})
	c := dial(t, addr)
	if ack, err := c.Send(ctxTimeout(t), []byte("boom")); err == nil {
		t.Errorf("panicking handler answered %q", ack)
	}
	// The server still serves.
	c2 := dial(t, addr)
	if ack, err := c2.Send(ctxTimeout(t), []byte("ok")); err != nil || string(ack) != "ACK:ok" {
		t.Errorf("after a panic: %q, %v", ack, err)
	}
}

func TestMaxConnections(t *testing.T) {
	addr := start(t, &Server{Handler: echo, MaxConnections: 1})
	c1 := dial(t, addr)
	if _, err := c1.Send(ctxTimeout(t), []byte("a")); err != nil {
		t.Fatal(err)
	}
	c2 := dial(t, addr)
	if ack, err := c2.Send(ctxTimeout(t), []byte("b")); err == nil {
		t.Errorf("second connection answered %q", ack)
	}
	c1.Close()
	// Once the first closes, a new one is accepted (the server notices the
	// close asynchronously, so retry briefly).
	deadline := time.Now().Add(3 * time.Second)
	for {
		c3 := dial(t, addr)
		ack, err := c3.Send(ctxTimeout(t), []byte("c"))
		if err == nil && string(ack) == "ACK:c" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no connection accepted after the first closed: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestShutdownWaitsForInFlight(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	h := func(_ context.Context, msg []byte) []byte {
		close(entered)
		<-release
		return echo(nil, msg)
	}
	s := &Server{Handler: h, Logger: slog.New(slog.DiscardHandler)}
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()
	busy := dial(t, l.Addr().String())
	idle := dial(t, l.Addr().String())
	got := make(chan string, 1)
	go func() {
		ack, err := busy.Send(ctxTimeout(t), []byte("X"))
		got <- fmt.Sprintf("%s %v", ack, err)
	}()
	<-entered
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(ctxTimeout(t)) }()
	// The idle connection is closed promptly.
	idle.conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := idle.conn.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("idle connection: %v, want EOF", err)
	}
	// New connections are refused.
	if nc, err := net.DialTimeout("tcp", l.Addr().String(), time.Second); err == nil {
		nc.SetReadDeadline(time.Now().Add(time.Second))
		if _, err := nc.Read(make([]byte, 1)); err == nil {
			t.Error("accepted a connection during shutdown")
		}
		nc.Close()
	}
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v before the handler finished", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	if s := <-got; s != "ACK:X <nil>" {
		t.Errorf("in-flight message got %q", s)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown = %v", err)
	}
	if err := <-served; !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve = %v", err)
	}
}

func TestShutdownTimeoutCancelsHandlers(t *testing.T) {
	entered := make(chan struct{})
	cancelled := make(chan struct{})
	h := func(ctx context.Context, msg []byte) []byte {
		close(entered)
		<-ctx.Done()
		close(cancelled)
		return nil
	}
	s := &Server{Handler: h}
	addr := start(t, s)
	c := dial(t, addr)
	go c.Send(context.Background(), []byte("X"))
	<-entered
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown = %v, want DeadlineExceeded", err)
	}
	select {
	case <-cancelled:
	case <-time.After(3 * time.Second):
		t.Error("handler context not cancelled")
	}
}

func TestClientContext(t *testing.T) {
	// A server that never answers: Send must honour ctx.
	block := make(chan struct{})
	defer close(block)
	addr := start(t, &Server{Handler: func(ctx context.Context, _ []byte) []byte {
		select {
		case <-block:
		case <-ctx.Done():
		}
		return nil
	}})
	c := dial(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.Send(ctx, []byte("X")); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Send = %v, want DeadlineExceeded", err)
	}
}

func BenchmarkRoundTrip(b *testing.B) {
	s := &Server{Handler: func(_ context.Context, msg []byte) []byte { return msg[:min(len(msg), 64)] }, Logger: slog.New(slog.DiscardHandler)}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go s.Serve(l)
	defer s.Close()
	c, err := Dial(context.Background(), l.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	msg := bytes.Repeat([]byte("OBX|1|NM|8867-4^Heart rate^LN||72|/min^^UCUM|||||F\r"), 8)
	ctx := context.Background()
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Send(ctx, msg); err != nil {
			b.Fatal(err)
		}
	}
}
