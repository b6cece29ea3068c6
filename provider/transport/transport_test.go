package transport_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"llmrouter/llm"
	"llmrouter/provider/fake"
	"llmrouter/provider/transport"
)

func newClient(t *testing.T, url string, mod func(*transport.Options)) *transport.Client {
	t.Helper()
	o := transport.Options{BaseURL: url + "/v1"}
	if mod != nil {
		mod(&o)
	}
	c, err := transport.New("p1", o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

func wantKind(t *testing.T, err error, k llm.Kind) *llm.Error {
	t.Helper()
	var e *llm.Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v (%T), want *llm.Error of kind %v", err, err, k)
	}
	if e.Kind != k {
		t.Fatalf("kind = %v, want %v (err %v)", e.Kind, k, err)
	}
	return e
}

func TestNewRejectsBadURL(t *testing.T) {
	for _, u := range []string{"", "ftp://x", "://", "localhost"} {
		if _, err := transport.New("p", transport.Options{BaseURL: u}); err == nil {
			t.Errorf("New(%q) succeeded", u)
		}
	}
}

func TestDo(t *testing.T) {
	srv := fake.Start(t, func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.Set("X-Method", string(ctx.Method()))
		ctx.Response.Header.Set("X-Auth", string(ctx.Request.Header.Peek("Authorization")))
		ctx.Response.Header.Set("Retry-After", "3")
		ctx.SetContentType("application/json")
		ctx.SetStatusCode(201)
		ctx.SetBody(append([]byte(string(ctx.Path())+" "), ctx.PostBody()...))
	})
	c := newClient(t, srv.URL, nil)
	tests := []struct {
		name, path string
		body       []byte
		method     string
		wantBody   string
	}{
		{"post", "/chat/completions", []byte(`{"a":1}`), "POST", `/v1/chat/completions {"a":1}`},
		{"get", "/models", nil, "GET", `/v1/models `},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := c.Do(context.Background(), tt.path, func(h *fasthttp.RequestHeader) { h.Set("Authorization", "Bearer k") }, tt.body)
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != 201 || string(r.Body) != tt.wantBody || r.Header.Get("X-Method") != tt.method ||
				r.Header.Get("X-Auth") != "Bearer k" || r.Header.Get("Retry-After") != "3" {
				t.Fatalf("reply = %d %q %v", r.Status, r.Body, r.Header)
			}
		})
	}
	if srv.Conns() != 1 {
		t.Fatalf("unary calls used %d connections, want 1 (pooled)", srv.Conns())
	}
}

func TestDoFailures(t *testing.T) {
	hang := func(ctx *fasthttp.RequestCtx) { <-ctx.Done() }
	t.Run("refused", func(t *testing.T) {
		c := newClient(t, fake.RefusesConnections(t), nil)
		_, err := c.Do(context.Background(), "/x", nil, []byte("{}"))
		e := wantKind(t, err, llm.KindUpstreamError)
		if e.Status != 0 || e.Provider != "p1" || !e.SafeToRetry() {
			t.Fatalf("err = %+v", e)
		}
	})
	t.Run("closed before headers", func(t *testing.T) {
		srv := fake.Start(t, func(ctx *fasthttp.RequestCtx) {
			ctx.HijackSetNoResponse(true)
			ctx.Hijack(func(net.Conn) {})
		})
		_, err := newClient(t, srv.URL, nil).Do(context.Background(), "/x", nil, []byte("{}"))
		wantKind(t, err, llm.KindUpstreamError)
	})
	t.Run("total timeout", func(t *testing.T) {
		srv := fake.Start(t, hang)
		c := newClient(t, srv.URL, func(o *transport.Options) { o.TotalTimeout = 100 * time.Millisecond })
		_, err := c.Do(context.Background(), "/x", nil, []byte("{}"))
		wantKind(t, err, llm.KindTimeout)
	})
	t.Run("ctx deadline", func(t *testing.T) {
		srv := fake.Start(t, hang)
		c := newClient(t, srv.URL, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_, err := c.Do(ctx, "/x", nil, []byte("{}"))
		wantKind(t, err, llm.KindTimeout)
	})
	t.Run("ctx canceled before", func(t *testing.T) {
		srv := fake.Start(t, hang)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := newClient(t, srv.URL, nil).Do(ctx, "/x", nil, []byte("{}"))
		wantKind(t, err, llm.KindCanceled)
		if srv.Requests() != 0 {
			t.Fatal("request sent despite canceled ctx")
		}
	})
	t.Run("pool full", func(t *testing.T) {
		release := make(chan struct{})
		srv := fake.Start(t, func(ctx *fasthttp.RequestCtx) {
			select {
			case <-release:
			case <-ctx.Done():
			}
		})
		c := newClient(t, srv.URL, func(o *transport.Options) {
			o.MaxConns = 1
			o.MaxConnWaitTimeout = 20 * time.Millisecond
		})
		var wg sync.WaitGroup
		wg.Go(func() { _, _ = c.Do(context.Background(), "/x", nil, []byte("{}")) })
		for srv.Requests() == 0 {
			time.Sleep(time.Millisecond)
		}
		_, err := c.Do(context.Background(), "/x", nil, []byte("{}"))
		wantKind(t, err, llm.KindOverloaded)
		close(release)
		wg.Wait()
	})
}

// slowStream writes numbered SSE events forever (every 5 ms) until a write
// fails or the server closes; with n > 0 it writes n events and ends.
func slowStream(n int) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		done := ctx.Done()
		ctx.SetContentType("text/event-stream")
		ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
			for i := 0; n <= 0 || i < n; i++ {
				if _, err := w.WriteString("data: " + strings.Repeat("x", 100) + "\n\n"); err != nil {
					return
				}
				if err := w.Flush(); err != nil {
					return
				}
				select {
				case <-done:
					return
				case <-time.After(5 * time.Millisecond):
				}
			}
		})
	}
}

func TestStreamReadToEndReusesConnection(t *testing.T) {
	srv := fake.Start(t, slowStream(3))
	c := newClient(t, srv.URL, nil)
	for range 2 {
		s, err := c.Stream(context.Background(), "/s", nil, []byte("{}"))
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(s.Body)
		if err != nil || strings.Count(string(b), "data: ") != 3 || s.Status != 200 {
			t.Fatalf("read %q, %v", b, err)
		}
		if s.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("header %v", s.Header)
		}
		_ = s.Close()
		_ = s.Close() // idempotent
	}
	if srv.Conns() != 1 {
		t.Fatalf("conns = %d, want 1: a fully read stream should return its connection", srv.Conns())
	}
}

func TestStreamCloseEarlyClosesConnection(t *testing.T) {
	srv := fake.Start(t, slowStream(0))
	c := newClient(t, srv.URL, nil)
	s, err := c.Stream(context.Background(), "/s", nil, []byte("{}"))
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 10)
	if _, err := io.ReadFull(s.Body, buf); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	if _, err := s.Body.Read(buf); err == nil {
		t.Fatal("read after close succeeded")
	}
	if !srv.WaitClosedEarly(1, 5*time.Second) {
		t.Fatal("server never saw the connection closed")
	}
	// The next call must not get the half-read connection.
	s2, err := c.Stream(context.Background(), "/s", nil, []byte("{}"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(s2.Body, buf); err != nil || string(buf) != "data: xxxx" {
		t.Fatalf("second stream read %q, %v", buf, err)
	}
	_ = s2.Close()
	if srv.Conns() != 2 {
		t.Fatalf("conns = %d, want 2", srv.Conns())
	}
}

func stallAfterOne(ctx *fasthttp.RequestCtx) {
	done := ctx.Done()
	ctx.SetContentType("text/event-stream")
	ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
		_, _ = w.WriteString("data: 1\n\n")
		_ = w.Flush()
		<-done
	})
}

func TestStreamIdleTimeout(t *testing.T) {
	srv := fake.Start(t, stallAfterOne)
	c := newClient(t, srv.URL, func(o *transport.Options) { o.StreamIdleTimeout = 100 * time.Millisecond })
	s, err := c.Stream(context.Background(), "/s", nil, []byte("{}"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = io.ReadAll(s.Body)
	wantKind(t, err, llm.KindTimeout)
}

func TestStreamCancelAndCloseUnblockRead(t *testing.T) {
	tests := []struct {
		name string
		stop func(cancel context.CancelFunc, s *transport.StreamReply)
		kind llm.Kind
	}{
		{"ctx canceled", func(cancel context.CancelFunc, _ *transport.StreamReply) { cancel() }, llm.KindCanceled},
		{"closed", func(_ context.CancelFunc, s *transport.StreamReply) { _ = s.Close() }, llm.KindCanceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := fake.Start(t, stallAfterOne)
			c := newClient(t, srv.URL, nil)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			s, err := c.Stream(ctx, "/s", nil, []byte("{}"))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			errc := make(chan error, 1)
			go func() { _, err := io.ReadAll(s.Body); errc <- err }()
			time.Sleep(20 * time.Millisecond)
			tt.stop(cancel, s)
			select {
			case err := <-errc:
				wantKind(t, err, tt.kind)
			case <-time.After(5 * time.Second):
				t.Fatal("read did not return")
			}
		})
	}
}

func TestStreamHeaderTimeout(t *testing.T) {
	srv := fake.Start(t, func(ctx *fasthttp.RequestCtx) { <-ctx.Done() })
	c := newClient(t, srv.URL, func(o *transport.Options) { o.ResponseHeaderTimeout = 100 * time.Millisecond })
	_, err := c.Stream(context.Background(), "/s", nil, []byte("{}"))
	wantKind(t, err, llm.KindTimeout)
}

// TestProxyFromEnvironment checks that HTTP_PROXY is honoured: the request
// to a non-loopback host name goes through a CONNECT proxy.
func TestProxyFromEnvironment(t *testing.T) {
	srv := fake.Start(t, func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("via proxy") })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	connects := make(chan string, 4)
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer conn.Close()
				br := bufio.NewReader(conn)
				req, err := http.ReadRequest(br)
				if err != nil || req.Method != http.MethodConnect {
					return
				}
				connects <- req.Host
				up, err := net.Dial("tcp", srv.Addr)
				if err != nil {
					return
				}
				defer up.Close()
				_, _ = io.WriteString(conn, "HTTP/1.1 200 Connection established\r\n\r\n")
				go func() { _, _ = io.Copy(up, br); _ = up.Close() }()
				_, _ = io.Copy(conn, up)
			})
		}
	})
	t.Setenv("HTTP_PROXY", "http://"+ln.Addr().String())
	t.Setenv("NO_PROXY", "")
	c := newClient(t, "http://upstream.example:8080", nil)
	r, err := c.Do(context.Background(), "/x", nil, []byte("{}"))
	if err != nil {
		t.Fatal(err)
	}
	if string(r.Body) != "via proxy" {
		t.Fatalf("body %q", r.Body)
	}
	if got := <-connects; got != "upstream.example:8080" {
		t.Fatalf("CONNECT to %q", got)
	}
	c.CloseIdleConnections()
	srv.Close()
	_ = ln.Close()
}
