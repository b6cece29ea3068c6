package embeddings

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"llmrouter/llm"
)

// OpenAIOptions configures an OpenAI-compatible /v1/embeddings client.
type OpenAIOptions struct {
	// BaseURL is the API root that "/embeddings" is appended to, e.g.
	// "https://api.openai.com/v1" or "http://localhost:11434/v1". Required.
	BaseURL string
	// APIKey is sent as "Authorization: Bearer <key>"; empty sends none.
	APIKey string
	// Model is the upstream embeddings model. Required.
	Model string
	// Dim is the vector length the model returns (1536 for
	// text-embedding-3-small). Required: a reply of another length is an
	// error, so vectors of a misconfigured model never reach the cache.
	Dim int
	// Timeout bounds each call (connect, write, read); default 10 s. A
	// shorter ctx deadline wins.
	Timeout time.Duration
	// MaxConns bounds the connection pool; default 16. A call waits up to
	// 100 ms for a free connection, then fails with KindOverloaded.
	MaxConns int
	// Dial replaces the network dialer (tests). nil dials TCP.
	Dial fasthttp.DialFunc
}

// OpenAI embeds texts with an OpenAI-compatible embeddings server (OpenAI,
// Azure-compatible gateways, Ollama, TEI, vLLM). It is safe for concurrent
// use.
type OpenAI struct {
	hc      *fasthttp.HostClient
	uri     string
	auth    string
	model   string
	dim     int
	timeout time.Duration
	name    string
}

var _ Embedder = (*OpenAI)(nil)

// NewOpenAI validates o and returns a client. It does not connect.
func NewOpenAI(o OpenAIOptions) (*OpenAI, error) {
	if o.Model == "" {
		return nil, errors.New("embeddings: openai: model is required")
	}
	if o.Dim <= 0 {
		return nil, errors.New("embeddings: openai: dim must be > 0")
	}
	u, err := url.Parse(o.BaseURL)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("embeddings: openai: base url %q must be http(s)://host[:port][/path]", o.BaseURL)
	}
	addr := u.Host
	if u.Port() == "" {
		port := "80"
		if u.Scheme == "https" {
			port = "443"
		}
		addr = net.JoinHostPort(u.Hostname(), port)
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.MaxConns <= 0 {
		o.MaxConns = 16
	}
	c := &OpenAI{
		hc: &fasthttp.HostClient{
			Addr:                addr,
			IsTLS:               u.Scheme == "https",
			Dial:                o.Dial,
			Name:                "llmrouter",
			MaxConns:            o.MaxConns,
			MaxConnWaitTimeout:  100 * time.Millisecond,
			MaxIdleConnDuration: 30 * time.Second,
			ReadTimeout:         o.Timeout,
			WriteTimeout:        o.Timeout,
			MaxResponseBodySize: 256 << 20,
		},
		uri:     u.Scheme + "://" + u.Host + strings.TrimRight(u.Path, "/") + "/embeddings",
		model:   o.Model,
		dim:     o.Dim,
		timeout: o.Timeout,
		name:    "openai:" + o.Model,
	}
	if o.APIKey != "" {
		c.auth = "Bearer " + o.APIKey
	}
	return c, nil
}

// Name returns "openai:<model>".
func (c *OpenAI) Name() string { return c.name }

// Dim returns the configured vector length.
func (c *OpenAI) Dim() int { return c.dim }

// Close closes idle connections. In-flight calls finish.
func (c *OpenAI) Close() { c.hc.CloseIdleConnections() }

type embedRequest struct {
	Model          string   `json:"model"`
	Input          []string `json:"input"`
	EncodingFormat string   `json:"encoding_format"`
}

type embedReply struct {
	vecs [][]float32
	err  error
}

// Embed sends one POST {base}/embeddings with all texts (encoding_format
// "float") and returns the vectors ordered by their index. The call's
// deadline is the earlier of ctx's and now+Timeout; when ctx is canceled the
// call returns at once (the abandoned request finishes in the background,
// bounded by that deadline). Errors are *llm.Error: 429 ->
// KindUpstreamRateLimited (with RetryAfter), 400/409/413/422 ->
// KindInvalidRequest, other statuses, transport failures and malformed
// replies -> KindUpstreamError, timeouts -> KindTimeout, a full pool ->
// KindOverloaded, ctx canceled -> KindCanceled.
func (c *OpenAI) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	if len(texts) == 0 {
		return nil, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, ctxError(err)
	}
	body, err := json.Marshal(embedRequest{Model: c.model, Input: texts, EncodingFormat: "float"})
	if err != nil {
		return nil, &llm.Error{Kind: llm.KindInternal, Message: "encode embeddings request", Err: err}
	}
	deadline := time.Now().Add(c.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	done := make(chan embedReply, 1)
	go func() { // bounded by deadline; owns req and resp
		vecs, err := c.do(body, len(texts), deadline)
		done <- embedReply{vecs, err}
	}()
	select {
	case r := <-done:
		if r.err != nil && ctx.Err() != nil {
			return nil, ctxError(ctx.Err())
		}
		return r.vecs, r.err
	case <-ctx.Done():
		return nil, ctxError(ctx.Err())
	}
}

func (c *OpenAI) do(body []byte, n int, deadline time.Time) ([][]float32, error) {
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(c.uri)
	req.Header.SetMethod(fasthttp.MethodPost)
	req.Header.SetContentType("application/json")
	if c.auth != "" {
		req.Header.Set(fasthttp.HeaderAuthorization, c.auth)
	}
	req.SetBodyRaw(body)
	if err := c.hc.DoDeadline(req, resp, deadline); err != nil {
		return nil, c.transportError(err)
	}
	if st := resp.StatusCode(); st != fasthttp.StatusOK {
		return nil, c.statusError(st, &resp.Header, resp.Body())
	}
	return c.parse(resp.Body(), n)
}

func (c *OpenAI) transportError(err error) *llm.Error {
	e := &llm.Error{Kind: llm.KindUpstreamError, Provider: c.name, Message: "embeddings request failed", Err: err}
	var ne net.Error
	switch {
	case errors.Is(err, fasthttp.ErrTimeout), errors.Is(err, fasthttp.ErrDialTimeout),
		errors.As(err, &ne) && ne.Timeout():
		e.Kind, e.Message = llm.KindTimeout, "embeddings request timed out"
	case errors.Is(err, fasthttp.ErrNoFreeConns):
		e.Kind, e.Message = llm.KindOverloaded, "embeddings connection pool is full"
	}
	return e
}

type apiError struct {
	Error struct {
		Message string `json:"message"`
		Code    any    `json:"code"`
	} `json:"error"`
}

func (c *OpenAI) statusError(status int, h *fasthttp.ResponseHeader, body []byte) *llm.Error {
	e := &llm.Error{Kind: llm.KindUpstreamError, Provider: c.name, Status: status,
		Message: "embeddings upstream returned status " + strconv.Itoa(status)}
	var ae apiError
	if json.Unmarshal(body, &ae) == nil && ae.Error.Message != "" {
		e.Message += ": " + ae.Error.Message
		if code, ok := ae.Error.Code.(string); ok {
			e.Code = code
		}
	}
	switch {
	case status == fasthttp.StatusTooManyRequests:
		e.Kind = llm.KindUpstreamRateLimited
		e.RetryAfter = retryAfter(h)
	case status == 400 || status == 409 || status == 413 || status == 422:
		e.Kind = llm.KindInvalidRequest
	}
	return e
}

// retryAfter reads retry-after-ms or retry-after (seconds), capped at 60 s.
func retryAfter(h *fasthttp.ResponseHeader) time.Duration {
	var d time.Duration
	if ms, err := strconv.ParseFloat(string(h.Peek("retry-after-ms")), 64); err == nil && ms > 0 {
		d = time.Duration(ms * float64(time.Millisecond))
	} else if s, err := strconv.ParseFloat(string(h.Peek("retry-after")), 64); err == nil && s > 0 {
		d = time.Duration(s * float64(time.Second))
	}
	return min(d, 60*time.Second)
}

type embedResponse struct {
	Data []struct {
		Index     int             `json:"index"`
		Embedding json.RawMessage `json:"embedding"`
	} `json:"data"`
}

// parse decodes the reply; a vector may be a float array or (from servers
// that ignore encoding_format) base64 little-endian float32.
func (c *OpenAI) parse(body []byte, n int) ([][]float32, error) {
	bad := func(msg string, err error) error {
		return &llm.Error{Kind: llm.KindUpstreamError, Provider: c.name, Status: 200, Message: "bad embeddings reply: " + msg, Err: err}
	}
	var r embedResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, bad("invalid json", err)
	}
	if len(r.Data) != n {
		return nil, bad(fmt.Sprintf("%d vectors for %d inputs", len(r.Data), n), nil)
	}
	out := make([][]float32, n)
	for _, d := range r.Data {
		if d.Index < 0 || d.Index >= n || out[d.Index] != nil {
			return nil, bad(fmt.Sprintf("index %d missing, repeated or out of range", d.Index), nil)
		}
		v, err := llm.DecodeVector(d.Embedding)
		if err != nil {
			return nil, bad("vector "+strconv.Itoa(d.Index), err)
		}
		if len(v) != c.dim {
			return nil, bad(fmt.Sprintf("vector of length %d, configured dim is %d", len(v), c.dim), nil)
		}
		out[d.Index] = v
	}
	return out, nil
}
