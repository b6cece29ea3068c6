package transport

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"llmrouter/llm"
)

// StreamReply is a response whose body is read as it arrives.
//
// Body reads are bounded by StreamIdleTimeout between reads and by the
// stream's ctx; their errors are *llm.Error (KindTimeout, KindCanceled,
// KindUpstreamError), except io.EOF at the end of the body. Body must not be
// read concurrently with itself, but Close may be called from any goroutine.
type StreamReply struct {
	Status int
	Header http.Header
	Body   io.Reader

	b *streamBody
}

// Close releases the response. It is idempotent, makes a pending Body read
// return, and when the body was not read to its end it marks the response
// Connection: close so the half-read connection is closed, never pooled.
func (s *StreamReply) Close() error {
	if s.b != nil {
		s.b.closeWith(nil)
	}
	return nil
}

// Stream sends a request and returns once the response headers arrived (by
// min(ctx deadline, now+ResponseHeaderTimeout)). Arguments are as for Do.
// Any HTTP status is a StreamReply; the caller must Close it. A failure
// before the headers is an *llm.Error and nothing needs closing.
//
// ctx bounds the whole stream: when it ends, the body is closed and a
// pending read returns KindCanceled or KindTimeout.
func (c *Client) Stream(ctx context.Context, path string, hdr func(*fasthttp.RequestHeader), body []byte) (*StreamReply, error) {
	if err := ctx.Err(); err != nil {
		return nil, c.ctxError(err)
	}
	deadline := time.Now().Add(c.o.ResponseHeaderTimeout)
	ctxDeadline, hasDeadline := ctx.Deadline()
	if hasDeadline && ctxDeadline.Before(deadline) {
		deadline = ctxDeadline
	}
	if hd, ok := llm.HeaderDeadline(ctx); ok && hd.Before(deadline) {
		deadline = hd // the router's first-token deadline
	}
	req := fasthttp.AcquireRequest()
	c.prepare(req, path, hdr, body)
	req.Header.Set("Accept", "text/event-stream")
	resp := fasthttp.AcquireResponse()
	err := c.stream.DoDeadline(req, resp, deadline)
	fasthttp.ReleaseRequest(req)
	if err != nil {
		fasthttp.ReleaseResponse(resp)
		return nil, c.mapError(ctx, err)
	}
	b := &streamBody{c: c, ctx: ctx, resp: resp, idle: c.o.StreamIdleTimeout}
	if hasDeadline {
		b.deadline = ctxDeadline
	}
	if a, ok := resp.LocalAddr().(*connAddr); ok {
		b.conn = a.conn
	}
	if rc, ok := resp.BodyStream().(interface {
		io.Reader
		CloseWithError(error) error
	}); ok {
		b.rc = rc
	} else {
		// Not streamed (no body): serve a copy; nothing to interrupt.
		b.rc = nopCloser{bytes.NewReader(append([]byte(nil), resp.Body()...))}
	}
	reply := &StreamReply{Status: resp.StatusCode(), Header: copyHeader(&resp.Header), Body: b, b: b}
	b.stop = context.AfterFunc(ctx, func() { b.closeWith(c.ctxError(ctx.Err())) })
	return reply, nil
}

type nopCloser struct{ io.Reader }

func (nopCloser) CloseWithError(error) error { return nil }

// streamBody reads a streamed fasthttp body with an idle deadline.
type streamBody struct {
	c    *Client
	ctx  context.Context
	resp *fasthttp.Response
	rc   interface {
		io.Reader
		CloseWithError(error) error
	}
	conn     net.Conn // the tracked connection, for read deadlines; may be nil
	idle     time.Duration
	deadline time.Time // ctx deadline, zero if none
	stop     func() bool

	eof    atomic.Bool
	closed atomic.Bool
	once   sync.Once
	cause  error // why the body was closed; written before closed is set
}

func (b *streamBody) Read(p []byte) (int, error) {
	if b.eof.Load() {
		return 0, io.EOF
	}
	if b.closed.Load() {
		return 0, b.cause
	}
	if b.conn != nil {
		d := time.Now().Add(b.idle)
		if !b.deadline.IsZero() && b.deadline.Before(d) {
			d = b.deadline
		}
		_ = b.conn.SetReadDeadline(d)
	}
	n, err := b.rc.Read(p)
	if err == nil {
		return n, nil
	}
	if errors.Is(err, io.EOF) {
		b.eof.Store(true)
		return n, io.EOF
	}
	if b.closed.Load() {
		return n, b.cause
	}
	if cerr := b.ctx.Err(); cerr != nil {
		return n, b.c.ctxError(cerr)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, fasthttp.ErrTimeout) {
		return n, &llm.Error{Kind: llm.KindTimeout, Provider: b.c.provider, Message: "upstream stream idle timeout", Err: err}
	}
	return n, &llm.Error{Kind: llm.KindUpstreamError, Provider: b.c.provider, Message: "upstream connection lost mid-stream", Err: err}
}

// closeWith closes the body once; cause (nil: closed by the owner) is what
// later reads return.
func (b *streamBody) closeWith(cause error) {
	b.once.Do(func() {
		if cause == nil {
			cause = &llm.Error{Kind: llm.KindCanceled, Provider: b.c.provider, Message: "stream closed"}
		}
		b.cause = cause
		b.closed.Store(true)
		if b.stop != nil {
			b.stop()
		}
		if !b.eof.Load() {
			// Never pool a half-read connection.
			b.resp.SetConnectionClose()
		}
		_ = b.rc.CloseWithError(nil)
		_ = b.resp.CloseBodyStream()
		fasthttp.ReleaseResponse(b.resp)
		b.resp = nil
	})
}

// trackedConn lets a streamed response find its connection (through
// Response.LocalAddr) to move the read deadline while the body streams.
// Options.Dial must therefore return plain connections; TLS is layered on
// top by fasthttp.
type trackedConn struct {
	net.Conn
	laddr connAddr
}

type connAddr struct {
	net.Addr
	conn net.Conn
}

type unknownAddr struct{}

func (unknownAddr) Network() string { return "unknown" }
func (unknownAddr) String() string  { return "unknown" }

func newTrackedConn(c net.Conn) *trackedConn {
	t := &trackedConn{Conn: c}
	t.laddr.Addr = c.LocalAddr()
	if t.laddr.Addr == nil {
		t.laddr.Addr = unknownAddr{}
	}
	t.laddr.conn = t
	return t
}

func (t *trackedConn) LocalAddr() net.Addr { return &t.laddr }
