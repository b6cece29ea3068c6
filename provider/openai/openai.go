// Package openai is the client for OpenAI-compatible Chat Completions and
// Embeddings APIs (OpenAI, Azure OpenAI via Headers, vLLM, ...). It
// implements llm.Completer and llm.Embedder.
package openai

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/valyala/fasthttp"

	"llmrouter/llm"
	"llmrouter/provider/transport"
)

// DefaultBaseURL is used when Options.BaseURL is empty.
const DefaultBaseURL = "https://api.openai.com/v1"

// maxEventBytes bounds one SSE event of a stream.
const maxEventBytes = 4 << 20

// maxErrorBody bounds how much of an error body is read.
const maxErrorBody = 64 << 10

// Options configures a Client.
type Options struct {
	// Name is the provider name used in errors and logs (default "openai").
	Name string
	// BaseURL is the API prefix, e.g. "https://api.openai.com/v1"
	// (default DefaultBaseURL). Paths "/chat/completions", "/embeddings"
	// are appended.
	BaseURL string
	// APIKey is sent as "Authorization: Bearer <APIKey>"; empty sends no
	// Authorization header (use Headers for e.g. Azure's api-key).
	APIKey string
	// Headers are extra request headers sent on every call.
	Headers map[string]string
	// Transport configures timeouts and pools; its BaseURL is set from
	// BaseURL.
	Transport transport.Options
	// Logger receives debug logs; nil discards them.
	Logger *slog.Logger
}

// Client talks to one OpenAI-compatible endpoint. It is safe for concurrent
// use.
type Client struct {
	name    string
	t       *transport.Client
	auth    string
	headers [][2]string
	log     *slog.Logger
}

var (
	_ llm.Completer = (*Client)(nil)
	_ llm.Embedder  = (*Client)(nil)
)

// New returns a Client for o.
func New(o Options) (*Client, error) {
	if o.Name == "" {
		o.Name = "openai"
	}
	if o.BaseURL == "" {
		o.BaseURL = DefaultBaseURL
	}
	o.Transport.BaseURL = o.BaseURL
	t, err := transport.New(o.Name, o.Transport)
	if err != nil {
		return nil, fmt.Errorf("openai %s: %w", o.Name, err)
	}
	c := &Client{name: o.Name, t: t, log: o.Logger}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if o.APIKey != "" {
		c.auth = "Bearer " + o.APIKey
	}
	for k, v := range o.Headers {
		c.headers = append(c.headers, [2]string{k, v})
	}
	return c, nil
}

// Name returns the provider name.
func (c *Client) Name() string { return c.name }

// CloseIdleConnections closes pooled idle connections.
func (c *Client) CloseIdleConnections() { c.t.CloseIdleConnections() }

func (c *Client) setHeaders(h *fasthttp.RequestHeader) {
	if c.auth != "" {
		h.Set("Authorization", c.auth)
	}
	for _, kv := range c.headers {
		h.Set(kv[0], kv[1])
	}
}

// Complete sends a non-streamed chat completion. req.Model must already be
// the upstream model; the request is sent as json.Marshal(req) (unknown
// client fields included) with stream and stream_options removed. The
// returned Response.Model is the snapshot name the upstream reported.
func (c *Client) Complete(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	r2 := *req
	r2.Stream = false
	r2.StreamOptions = nil
	if r2.Native != nil {
		stripNative(&r2)
	}
	body, err := r2.MarshalJSON()
	if err != nil {
		return nil, &llm.Error{Kind: llm.KindInvalidRequest, Message: "cannot encode request", Err: err}
	}
	reply, err := c.t.Do(ctx, "/chat/completions", c.setHeaders, body)
	if err != nil {
		return nil, err
	}
	if reply.Status < 200 || reply.Status > 299 {
		return nil, c.statusError(reply.Status, reply.Header, reply.Body)
	}
	var resp llm.Response
	if err := json.Unmarshal(reply.Body, &resp); err != nil {
		return nil, &llm.Error{Kind: llm.KindUpstreamError, Provider: c.name, Status: reply.Status,
			Message: "malformed upstream response", Err: err}
	}
	return &resp, nil
}

// wireError is the OpenAI error object. Code and param may be strings,
// numbers or null.
type wireError struct {
	Message string          `json:"message"`
	Type    string          `json:"type"`
	Param   json.RawMessage `json:"param"`
	Code    json.RawMessage `json:"code"`
}

func rawString(b json.RawMessage) string {
	if len(b) == 0 || string(b) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(b, &s) == nil {
		return s
	}
	return string(b)
}

// statusError maps a non-2xx reply with an OpenAI error body (or any body)
// to an *llm.Error.
func (c *Client) statusError(status int, h http.Header, body []byte) *llm.Error {
	var env struct {
		Error *wireError `json:"error"`
	}
	if json.Unmarshal(body, &env) == nil && env.Error != nil {
		e := env.Error
		return transport.StatusError(c.name, status, h, e.Message, e.Type, rawString(e.Code), rawString(e.Param))
	}
	msg := strings.TrimSpace(string(body))
	if len(msg) > 200 {
		msg = msg[:200]
	}
	return transport.StatusError(c.name, status, h, msg, "", "", "")
}

// Stream sends a streamed chat completion with stream=true and
// stream_options.include_usage=true (the proxy decides whether the client
// sees the usage chunk). It reads the first event before returning, so a
// failure before the first chunk is returned here. The Stream's chunks are
// the upstream's, except that chunks with neither choices nor usage (Azure's
// prompt_filter_results) are skipped.
func (c *Client) Stream(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	r2 := *req
	r2.Stream = true
	r2.StreamOptions = &llm.StreamOptions{IncludeUsage: true}
	if r2.Native != nil {
		stripNative(&r2)
	}
	body, err := r2.MarshalJSON()
	if err != nil {
		return nil, &llm.Error{Kind: llm.KindInvalidRequest, Message: "cannot encode request", Err: err}
	}
	sr, err := c.t.Stream(ctx, "/chat/completions", c.setHeaders, body)
	if err != nil {
		return nil, err
	}
	if sr.Status < 200 || sr.Status > 299 {
		b, rerr := io.ReadAll(io.LimitReader(sr.Body, maxErrorBody))
		_ = sr.Close()
		if rerr != nil && len(b) == 0 {
			return nil, rerr
		}
		return nil, c.statusError(sr.Status, sr.Header, b)
	}
	s := newStream(c.name, sr.Body, sr.Close)
	first, err := s.next()
	if err != nil && err != io.EOF {
		_ = s.Close()
		return nil, err
	}
	s.pending = first
	return s, nil
}

// Embed sends an embeddings request (req.Model must be the upstream
// model). Vectors come back as float32 whether the upstream answered with
// floats or base64 (little-endian float32).
func (c *Client) Embed(ctx context.Context, req *llm.EmbeddingRequest) (*llm.EmbeddingResponse, error) {
	wire := struct {
		Model          string `json:"model"`
		Input          any    `json:"input"`
		EncodingFormat string `json:"encoding_format,omitempty"`
		Dimensions     *int   `json:"dimensions,omitempty"`
		User           string `json:"user,omitempty"`
	}{Model: req.Model, Input: []string(req.Input), EncodingFormat: req.EncodingFormat, Dimensions: req.Dimensions, User: req.User}
	if len(req.RawInput) > 0 {
		wire.Input = req.RawInput
	}
	body, err := json.Marshal(wire)
	if err != nil {
		return nil, &llm.Error{Kind: llm.KindInvalidRequest, Message: "cannot encode request", Err: err}
	}
	reply, err := c.t.Do(ctx, "/embeddings", c.setHeaders, body)
	if err != nil {
		return nil, err
	}
	if reply.Status < 200 || reply.Status > 299 {
		return nil, c.statusError(reply.Status, reply.Header, reply.Body)
	}
	var resp struct {
		Object string `json:"object"`
		Data   []struct {
			Object    string          `json:"object"`
			Index     int             `json:"index"`
			Embedding json.RawMessage `json:"embedding"`
		} `json:"data"`
		Model string     `json:"model"`
		Usage *llm.Usage `json:"usage"`
	}
	bad := func(err error) error {
		return &llm.Error{Kind: llm.KindUpstreamError, Provider: c.name, Status: reply.Status,
			Message: "malformed upstream embeddings response", Err: err}
	}
	if err := json.Unmarshal(reply.Body, &resp); err != nil {
		return nil, bad(err)
	}
	out := &llm.EmbeddingResponse{Object: resp.Object, Model: resp.Model, Usage: resp.Usage,
		Data: make([]llm.Embedding, len(resp.Data))}
	for i, d := range resp.Data {
		v, err := llm.DecodeVector(d.Embedding)
		if err != nil {
			return nil, bad(err)
		}
		out.Data[i] = llm.Embedding{Object: d.Object, Index: d.Index, Embedding: v}
	}
	return out, nil
}

// stripNative removes from a request decoded from another wire API what an
// OpenAI-compatible upstream does not take: that API's own top-level fields
// (Extra) and Anthropic's cache breakpoints and thinking blocks. It copies
// what it changes; the caller's request is not modified.
func stripNative(r *llm.Request) {
	r.Extra = nil
	if len(r.Tools) > 0 {
		tools := make([]llm.Tool, len(r.Tools))
		for i, t := range r.Tools {
			t.CacheControl = nil
			tools[i] = t
		}
		r.Tools = tools
	}
	msgs := make([]llm.Message, len(r.Messages))
	for i, m := range r.Messages {
		m.MessageExtras = nil
		if m.Content.Parts != nil {
			parts := make([]llm.ContentPart, len(m.Content.Parts))
			for j, p := range m.Content.Parts {
				p.CacheControl = nil
				parts[j] = p
			}
			m.Content.Parts = parts
		}
		msgs[i] = m
	}
	r.Messages = msgs
}
