// Package fake runs real loopback HTTP servers that speak the upstream wire
// protocols (OpenAI Chat Completions, Anthropic Messages) exactly as the
// recorded fixtures in /work/shared/fixtures do, plus fault behaviours named
// by what they do (AlwaysFails500, CutsStreamMidAnswer, ...). Provider,
// router, proxy and cmd tests use them instead of the real services.
//
// Every handler is deterministic: answers are derived from the request, so
// tests can assert on content. Handlers that wait (hangs, stalls, slow
// tokens) end when the server closes, so nothing leaks past t.Cleanup.
package fake

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// Server is a fasthttp server on 127.0.0.1:<random port>.
type Server struct {
	// URL is "http://127.0.0.1:port" (no trailing slash, no /v1).
	URL string
	// Addr is "127.0.0.1:port".
	Addr string

	srv         *fasthttp.Server
	ln          net.Listener
	requests    atomic.Int64
	conns       atomic.Int64
	closedEarly atomic.Int64
	served      chan struct{}
	closeOnce   sync.Once

	mu   sync.Mutex
	open map[*countingConn]struct{}
}

// Start serves h on a new loopback listener and closes the server on
// t.Cleanup. h may use ctx.Done() to stop waiting when the server closes.
func Start(t testing.TB, h fasthttp.RequestHandler) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("fake: listen: %v", err)
	}
	s := &Server{
		Addr:   ln.Addr().String(),
		served: make(chan struct{}),
		open:   make(map[*countingConn]struct{}),
	}
	s.URL = "http://" + s.Addr
	s.ln = &countingListener{Listener: ln, s: s}
	s.srv = &fasthttp.Server{
		Handler: func(ctx *fasthttp.RequestCtx) {
			s.requests.Add(1)
			h(ctx)
		},
		Name:                  "fake",
		NoDefaultServerHeader: true,
		CloseOnShutdown:       true,
		IdleTimeout:           10 * time.Second, // longer than any Retry-After a test waits out (a client reusing a connection the server closed meanwhile would see a false failure)
		MaxRequestBodySize:    64 << 20,
		Logger:                quietLogger{},
	}
	go func() {
		defer close(s.served)
		_ = s.srv.Serve(s.ln)
	}()
	t.Cleanup(s.Close)
	return s
}

// Requests returns the number of requests the handler has seen.
func (s *Server) Requests() int { return int(s.requests.Load()) }

// Conns returns the number of TCP connections accepted. A client that pools
// connections well opens few; one that closes a half-read stream must open a
// new connection for the next request.
func (s *Server) Conns() int { return int(s.conns.Load()) }

// ClosedEarly returns the number of connections on which writing a response
// failed because the client had closed its end: a client that abandons a
// stream shows up here once the server writes again.
func (s *Server) ClosedEarly() int { return int(s.closedEarly.Load()) }

// Close stops the server: handlers waiting on ctx.Done() return, open
// connections are closed, and Close waits for the serve loop. Idempotent;
// also run by t.Cleanup. After Close, the URL refuses connections.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		err := s.srv.ShutdownWithContext(ctx)
		// Serve may not have registered the listener yet: close it here too.
		_ = s.ln.Close()
		if err != nil {
			s.mu.Lock()
			for c := range s.open {
				_ = c.Conn.Close()
			}
			s.mu.Unlock()
		}
		<-s.served
	})
}

// WaitClosedEarly waits until ClosedEarly() >= n or the timeout passes, and
// reports whether it got there. It is a hang guard for tests, not a timing
// assertion.
func (s *Server) WaitClosedEarly(n int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for s.ClosedEarly() < n {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

type countingListener struct {
	net.Listener
	s *Server
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.s.conns.Add(1)
	cc := &countingConn{Conn: c, s: l.s}
	l.s.mu.Lock()
	l.s.open[cc] = struct{}{}
	l.s.mu.Unlock()
	return cc, nil
}

type countingConn struct {
	net.Conn
	s       *Server
	flagged atomic.Bool
	closed  atomic.Bool
}

func (c *countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if err != nil && !c.closed.Load() && !errors.Is(err, net.ErrClosed) && !isTimeout(err) {
		if c.flagged.CompareAndSwap(false, true) {
			c.s.closedEarly.Add(1)
		}
	}
	return n, err
}

func (c *countingConn) Close() error {
	c.closed.Store(true)
	c.s.mu.Lock()
	delete(c.s.open, c)
	c.s.mu.Unlock()
	return c.Conn.Close()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

type quietLogger struct{}

func (quietLogger) Printf(string, ...any) {}

// RefusesConnections returns a URL ("http://127.0.0.1:port") on which
// nothing listens: dialing it fails at once with connection refused.
func RefusesConnections(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("fake: listen: %v", err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return "http://" + addr
}
