// Package transport is the HTTP layer shared by the provider clients: one
// unary and one streaming fasthttp.HostClient per upstream endpoint, with
// deadlines on every call, bounded connection pools, proxy support, and the
// mapping of transport failures and upstream statuses to *llm.Error.
package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpproxy"

	"llmrouter/llm"
)

// Defaults applied by New to zero Options fields.
const (
	DefaultConnectTimeout        = 5 * time.Second
	DefaultResponseHeaderTimeout = 60 * time.Second
	DefaultTotalTimeout          = 10 * time.Minute
	DefaultStreamIdleTimeout     = 2 * time.Minute
	DefaultMaxConns              = 256
	DefaultMaxConnWaitTimeout    = 200 * time.Millisecond

	// maxResponseBodySize bounds a unary response (embeddings of large
	// batches are the biggest legitimate bodies).
	maxResponseBodySize = 256 << 20
)

// Options configures a Client. Zero fields take the Default* values.
type Options struct {
	// BaseURL is the endpoint prefix, e.g. "https://api.openai.com/v1".
	// Its scheme (http or https) decides TLS; its path is prepended to every
	// request path.
	BaseURL string
	// ConnectTimeout bounds dialing (and the proxy CONNECT) per connection.
	ConnectTimeout time.Duration
	// ResponseHeaderTimeout bounds the wait for a streamed response's
	// headers, and the sending of any request.
	ResponseHeaderTimeout time.Duration
	// TotalTimeout bounds a whole unary exchange (request to last body
	// byte). The caller's ctx deadline applies too; the earlier one wins.
	TotalTimeout time.Duration
	// StreamIdleTimeout bounds the silence between two reads of a streamed
	// body.
	StreamIdleTimeout time.Duration
	// MaxConns bounds the connections of each of the two pools.
	MaxConns int
	// MaxConnWaitTimeout is how long a call waits for a free connection of
	// a full pool before failing with KindOverloaded. Keep it short.
	MaxConnWaitTimeout time.Duration
	// Dial replaces the network dialer (tests inject in-memory or counting
	// dialers). nil means TCP with ConnectTimeout, through the proxy named
	// by HTTPS_PROXY / HTTP_PROXY unless NO_PROXY excludes the host.
	Dial fasthttp.DialFunc
	// TLSConfig is used for https base URLs; nil means the default config.
	TLSConfig *tls.Config
}

func (o *Options) setDefaults() {
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	if o.ResponseHeaderTimeout <= 0 {
		o.ResponseHeaderTimeout = DefaultResponseHeaderTimeout
	}
	if o.TotalTimeout <= 0 {
		o.TotalTimeout = DefaultTotalTimeout
	}
	if o.StreamIdleTimeout <= 0 {
		o.StreamIdleTimeout = DefaultStreamIdleTimeout
	}
	if o.MaxConns <= 0 {
		o.MaxConns = DefaultMaxConns
	}
	if o.MaxConnWaitTimeout <= 0 {
		o.MaxConnWaitTimeout = DefaultMaxConnWaitTimeout
	}
}

// Client sends requests to one upstream endpoint. It is safe for concurrent
// use and holds no per-request state.
type Client struct {
	provider string
	base     string // scheme://host[:port]/prefix without trailing slash
	host     string
	o        Options
	unary    *fasthttp.HostClient
	stream   *fasthttp.HostClient
}

// New returns a Client for provider (the name used in errors) and o.
func New(provider string, o Options) (*Client, error) {
	o.setDefaults()
	u, err := url.Parse(o.BaseURL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("transport: invalid base url %q", o.BaseURL)
	}
	var isTLS bool
	switch u.Scheme {
	case "https":
		isTLS = true
	case "http":
	default:
		return nil, fmt.Errorf("transport: base url %q: scheme must be http or https", o.BaseURL)
	}
	dial := o.Dial
	if dial == nil {
		d := &fasthttpproxy.Dialer{Timeout: o.ConnectTimeout, ConnectTimeout: o.ConnectTimeout, DialDualStack: true}
		dial, err = d.GetDialFuncForTLS(true, isTLS)
		if err != nil {
			return nil, fmt.Errorf("transport: proxy settings: %w", err)
		}
	}
	addr := fasthttp.AddMissingPort(u.Host, isTLS)
	newHC := func(streaming bool) *fasthttp.HostClient {
		hc := &fasthttp.HostClient{
			Addr:                      addr,
			Name:                      "llmrouter",
			IsTLS:                     isTLS,
			TLSConfig:                 o.TLSConfig,
			Dial:                      dial,
			MaxConns:                  o.MaxConns,
			MaxConnWaitTimeout:        o.MaxConnWaitTimeout,
			MaxIdemponentCallAttempts: 1, // the router owns retries
			WriteTimeout:              o.ResponseHeaderTimeout,
			ReadTimeout:               o.TotalTimeout,
			MaxResponseBodySize:       maxResponseBodySize,
		}
		if streaming {
			hc.StreamResponseBody = true
			hc.ReadTimeout = o.ResponseHeaderTimeout
			hc.MaxResponseBodySize = 0
			hc.Dial = func(addr string) (net.Conn, error) {
				c, err := dial(addr)
				if err != nil {
					return nil, err
				}
				return newTrackedConn(c), nil
			}
		}
		return hc
	}
	return &Client{
		provider: provider,
		base:     u.Scheme + "://" + u.Host + strings.TrimSuffix(u.EscapedPath(), "/"),
		host:     u.Host,
		o:        o,
		unary:    newHC(false),
		stream:   newHC(true),
	}, nil
}

// Provider returns the provider name given to New.
func (c *Client) Provider() string { return c.provider }

// Reply is a whole upstream response. Header and Body are copies owned by
// the caller.
type Reply struct {
	Status int
	Header http.Header
	Body   []byte
}

// Do sends one request and reads the whole response. path is appended to
// the base URL ("/chat/completions"); hdr, if not nil, sets request headers
// (it must not keep the header); body is sent as application/json with POST,
// or a GET is sent when body is nil. body is not retained after Do returns.
//
// The exchange ends by min(ctx deadline, now+TotalTimeout). A cancellation
// of ctx without a deadline is noticed before sending and when the exchange
// ends (no goroutine watches it). Any HTTP status is a Reply, not an error;
// transport failures are *llm.Error (see mapError).
func (c *Client) Do(ctx context.Context, path string, hdr func(*fasthttp.RequestHeader), body []byte) (*Reply, error) {
	if err := ctx.Err(); err != nil {
		return nil, c.ctxError(err)
	}
	deadline := time.Now().Add(c.o.TotalTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	c.prepare(ctx, req, path, hdr, body)
	if err := c.unary.DoDeadline(req, resp, deadline); err != nil {
		return nil, c.mapError(ctx, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, c.ctxError(err)
	}
	return &Reply{
		Status: resp.StatusCode(),
		Header: copyHeader(&resp.Header),
		Body:   append([]byte(nil), resp.Body()...),
	}, nil
}

// prepare builds the request; the trace context of ctx (when tracing is on)
// goes upstream as traceparent/tracestate, so the provider's own spans are
// children of the attempt's.
func (c *Client) prepare(ctx context.Context, req *fasthttp.Request, path string, hdr func(*fasthttp.RequestHeader), body []byte) {
	req.SetRequestURI(c.base + path)
	if body != nil {
		req.Header.SetMethod(fasthttp.MethodPost)
		req.Header.SetContentType("application/json")
		req.SetBodyRaw(body)
	} else {
		req.Header.SetMethod(fasthttp.MethodGet)
	}
	req.Header.Set("Accept", "application/json")
	if hdr != nil {
		hdr(&req.Header)
	}
	llm.InjectTrace(ctx, &req.Header)
}

func copyHeader(h *fasthttp.ResponseHeader) http.Header {
	out := make(http.Header, h.Len())
	for k, v := range h.All() {
		out.Add(string(k), string(v))
	}
	return out
}

// mapError turns a fasthttp/net error into an *llm.Error.
func (c *Client) mapError(ctx context.Context, err error) *llm.Error {
	if cerr := ctx.Err(); cerr != nil {
		return c.ctxError(cerr)
	}
	var ne net.Error
	switch {
	case errors.Is(err, fasthttp.ErrNoFreeConns):
		return &llm.Error{Kind: llm.KindOverloaded, Provider: c.provider, Message: "upstream connection pool is full", Err: err}
	case errors.Is(err, fasthttp.ErrTimeout), errors.Is(err, fasthttp.ErrDialTimeout),
		errors.Is(err, fasthttp.ErrTLSHandshakeTimeout), errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		return &llm.Error{Kind: llm.KindTimeout, Provider: c.provider, Message: "upstream timed out", Err: err}
	}
	return &llm.Error{Kind: llm.KindUpstreamError, Provider: c.provider, Message: "upstream connection failed", Err: err}
}

func (c *Client) ctxError(err error) *llm.Error {
	if errors.Is(err, context.DeadlineExceeded) {
		return &llm.Error{Kind: llm.KindTimeout, Provider: c.provider, Message: "request deadline exceeded", Err: err}
	}
	return &llm.Error{Kind: llm.KindCanceled, Provider: c.provider, Message: "request canceled", Err: err}
}

// CloseIdleConnections closes pooled idle connections (for example when a
// reload drops this provider). In-flight calls are not interrupted.
func (c *Client) CloseIdleConnections() {
	c.unary.CloseIdleConnections()
	c.stream.CloseIdleConnections()
}
