// Package anthropic is an llm.Completer over the Anthropic Messages API
// (POST {base}/v1/messages). It translates OpenAI-shaped requests into
// Messages requests and translates answers back, streamed answers included:
// Anthropic stream events become OpenAI chat.completion.chunk values.
package anthropic

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"llmrouter/llm"
	"llmrouter/llm/anthropicwire"
	"llmrouter/provider/sse"
	"llmrouter/provider/transport"
)

// Defaults used when Options leaves a field zero.
const (
	DefaultBaseURL   = "https://api.anthropic.com"
	DefaultVersion   = "2023-06-01"
	DefaultMaxTokens = 4096
	defaultName      = "anthropic"
	messagesPath     = "/v1/messages"
	maxEventBytes    = 4 << 20 // one stream event
	maxErrorBody     = 1 << 20 // error bodies read from a failed stream
)

// Options configures a Client.
type Options struct {
	// Name is the provider name used in errors and logs; default "anthropic".
	Name string
	// BaseURL is the API root without /v1; default https://api.anthropic.com.
	// It overrides Transport.BaseURL.
	BaseURL string
	// APIKey is sent as x-api-key. It never appears in errors or logs.
	APIKey string
	// Version is the anthropic-version header; default 2023-06-01.
	Version string
	// DefaultMaxTokens is max_tokens when the request sets neither
	// max_tokens nor max_completion_tokens (the API requires it); default 4096.
	DefaultMaxTokens int
	// Headers are added to every request (for example anthropic-beta).
	Headers map[string]string
	// Transport holds timeouts and pool sizes; see transport.Options.
	Transport transport.Options
	// Logger receives debug lines about failed calls; nil discards.
	Logger *slog.Logger
}

// Client is an llm.Completer for one Anthropic endpoint. It is safe for
// concurrent use.
type Client struct {
	name      string
	apiKey    string
	version   string
	maxTokens int
	headers   map[string]string
	http      *transport.Client
	log       *slog.Logger
	now       func() time.Time
}

var _ llm.Completer = (*Client)(nil)

// New returns a Client. It fails when the transport options are invalid.
func New(o Options) (*Client, error) {
	c := &Client{
		name:      o.Name,
		apiKey:    o.APIKey,
		version:   o.Version,
		maxTokens: o.DefaultMaxTokens,
		headers:   make(map[string]string, len(o.Headers)),
		log:       o.Logger,
		now:       time.Now,
	}
	if c.name == "" {
		c.name = defaultName
	}
	if c.version == "" {
		c.version = DefaultVersion
	}
	if c.maxTokens <= 0 {
		c.maxTokens = DefaultMaxTokens
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	for k, v := range o.Headers {
		c.headers[k] = v
	}
	to := o.Transport
	switch {
	case o.BaseURL != "":
		to.BaseURL = o.BaseURL
	case to.BaseURL == "":
		to.BaseURL = DefaultBaseURL
	}
	// Accept a base that already ends in /v1: the path adds it.
	to.BaseURL = strings.TrimSuffix(strings.TrimRight(to.BaseURL, "/"), "/v1")
	hc, err := transport.New(c.name, to)
	if err != nil {
		return nil, fmt.Errorf("anthropic %s: %w", c.name, err)
	}
	c.http = hc
	return c, nil
}

// header sets the API headers on an outgoing request (transport sets the
// method, content-type and accept).
func (c *Client) header(h *fasthttp.RequestHeader) {
	h.Set("anthropic-version", c.version)
	for k, v := range c.headers {
		h.Set(k, v)
	}
	h.Set("x-api-key", c.apiKey)
}

// headerFor is header plus, for a client that spoke Messages, its own
// anthropic-version (it knows the shape it sent) and its anthropic-beta
// flags (after the configured ones).
func (c *Client) headerFor(req *llm.Request) func(*fasthttp.RequestHeader) {
	n := req.Native
	if n == nil || n.API != llm.APIAnthropicMessages || (n.Version == "" && n.Beta == "") {
		return c.header
	}
	return func(h *fasthttp.RequestHeader) {
		c.header(h)
		if n.Version != "" {
			h.Set("anthropic-version", n.Version)
		}
		if n.Beta != "" {
			if cur := h.Peek("anthropic-beta"); len(cur) > 0 {
				h.Set("anthropic-beta", string(cur)+","+n.Beta)
			} else {
				h.Set("anthropic-beta", n.Beta)
			}
		}
	}
}

// encode returns the upstream body. A request whose client spoke Messages
// is forwarded as the client wrote it, with only model and stream replaced
// (and a continuation prefill appended); any other is translated.
func (c *Client) encode(req *llm.Request, stream bool) (body []byte, prefillWS string, err error) {
	if n := req.Native; n != nil && n.API == llm.APIAnthropicMessages {
		var extra []turn
		if len(req.Messages) > n.Messages && n.Messages >= 0 {
			extra, _, err = convertMessages(req.Messages[n.Messages:])
			if err != nil {
				return nil, "", err
			}
			tmp := &msgRequest{Messages: extra}
			prefillWS = trimPrefill(tmp)
			extra = tmp.Messages
		}
		model, _ := json.Marshal(req.Model)
		st := json.RawMessage("false")
		if stream {
			st = json.RawMessage("true")
		}
		body, err = anthropicwire.Rewrite(n.Body, map[string]json.RawMessage{"model": model, "stream": st}, extra)
		if err != nil {
			return nil, "", &llm.Error{Kind: llm.KindInvalidRequest, Message: "cannot forward the messages request: " + err.Error()}
		}
		return body, prefillWS, nil
	}
	mr, prefillWS, err := buildRequest(req, c.maxTokens)
	if err != nil {
		return nil, "", err
	}
	mr.Stream = stream
	body, err = json.Marshal(mr)
	if err != nil {
		return nil, "", &llm.Error{Kind: llm.KindInternal, Message: "encode anthropic request", Err: err}
	}
	return body, prefillWS, nil
}

// Complete sends one Messages request and translates the answer. Errors are
// *llm.Error: KindInvalidRequest for requests that cannot be translated or
// that the API rejects, upstream kinds otherwise.
func (c *Client) Complete(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	body, prefillWS, err := c.encode(req, false)
	if err != nil {
		return nil, err
	}
	reply, err := c.http.Do(ctx, messagesPath, c.headerFor(req), body)
	if err != nil {
		c.log.DebugContext(ctx, "anthropic call failed", "provider", c.name, "err", err)
		return nil, err
	}
	if reply.Status < 200 || reply.Status > 299 {
		e := errorFromReply(c.name, reply.Status, reply.Header, reply.Body)
		c.log.DebugContext(ctx, "anthropic error reply", "provider", c.name, "status", reply.Status, "err", e)
		return nil, e
	}
	var m msgResponse
	if err := json.Unmarshal(reply.Body, &m); err != nil {
		return nil, &llm.Error{Kind: llm.KindUpstreamError, Provider: c.name, Status: reply.Status,
			Message: "malformed anthropic response", Err: err}
	}
	if m.Type != "message" {
		return nil, &llm.Error{Kind: llm.KindUpstreamError, Provider: c.name, Status: reply.Status,
			Message: fmt.Sprintf("unexpected anthropic response type %q", m.Type)}
	}
	return toResponse(&m, prefillWS, c.now().Unix()), nil
}

// Stream sends a streaming Messages request. It reads up to the first
// translated chunk (message_start) before returning, so an error status, an
// immediate error event or a dead stream is returned here, never sent.
func (c *Client) Stream(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	body, prefillWS, err := c.encode(req, true)
	if err != nil {
		return nil, err
	}
	sr, err := c.http.Stream(ctx, messagesPath, c.headerFor(req), body)
	if err != nil {
		c.log.DebugContext(ctx, "anthropic stream failed", "provider", c.name, "err", err)
		return nil, err
	}
	if sr.Status < 200 || sr.Status > 299 {
		b, _ := io.ReadAll(io.LimitReader(sr.Body, maxErrorBody))
		_ = sr.Close()
		e := errorFromReply(c.name, sr.Status, sr.Header, b)
		c.log.DebugContext(ctx, "anthropic error reply", "provider", c.name, "status", sr.Status, "err", e)
		return nil, e
	}
	s := &stream{
		name:  c.name,
		reply: sr,
		sse:   sse.NewReader(sr.Body, maxEventBytes),
		tr:    newTranslator(c.name, prefillWS, c.now().Unix()),
	}
	if err := s.fill(); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

// stream is an llm.Stream over one Anthropic SSE body.
type stream struct {
	name  string
	reply *transport.StreamReply
	sse   *sse.Reader
	tr    *translator
	queue []*llm.Chunk
	err   error // sticky: the error Recv returns once the queue is empty

	closeOnce sync.Once
	closeErr  error
}

// Recv returns the next chunk, io.EOF after message_stop, or an *llm.Error
// when the stream fails, carries an error event, or ends early.
func (s *stream) Recv() (*llm.Chunk, error) {
	if len(s.queue) == 0 && s.err == nil {
		s.err = s.fill()
	}
	if len(s.queue) > 0 {
		c := s.queue[0]
		s.queue[0] = nil
		s.queue = s.queue[1:]
		return c, nil
	}
	return nil, s.err
}

// fill reads events until it has chunks to return or the stream ends. It
// returns io.EOF after message_stop (once its chunks are queued) and an
// *llm.Error on failure; the connection is released in both cases.
func (s *stream) fill() error {
	for len(s.queue) == 0 {
		if s.tr.done {
			s.finish()
			return io.EOF
		}
		ev, err := s.sse.Next()
		if err != nil {
			_ = s.Close()
			return s.readError(err)
		}
		if len(ev.Data) == 0 {
			continue
		}
		chunks, err := s.tr.event(ev.Data)
		if err != nil {
			_ = s.Close()
			return err
		}
		s.queue = append(s.queue, chunks...)
	}
	return nil
}

// finish reads past message_stop to the end of the body, so the
// connection can be reused, then releases it.
func (s *stream) finish() {
	for {
		if _, err := s.sse.Next(); err != nil {
			break
		}
	}
	_ = s.Close()
}

// readError turns a body read failure into an *llm.Error.
func (s *stream) readError(err error) error {
	sent := s.tr.sent
	if errors.Is(err, io.EOF) {
		return &llm.Error{Kind: llm.KindUpstreamError, Provider: s.name, Sent: sent,
			Message: "anthropic stream ended before message_stop"}
	}
	var le *llm.Error
	if errors.As(err, &le) {
		cp := *le
		cp.Sent = cp.Sent || sent
		if cp.Provider == "" {
			cp.Provider = s.name
		}
		return &cp
	}
	e := llm.AsError(err)
	if e.Kind == llm.KindInternal {
		e = &llm.Error{Kind: llm.KindUpstreamError, Provider: s.name, Message: "reading anthropic stream", Err: err}
	}
	e.Sent = e.Sent || sent
	return e
}

// Close releases the upstream connection. Idempotent; safe to call while
// Recv blocks, which then returns an error.
func (s *stream) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.reply.Close() })
	return s.closeErr
}
