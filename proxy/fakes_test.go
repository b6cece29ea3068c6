package proxy

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp/fasthttputil"

	"llmrouter/llm"
)

// testKey is the client key of tenant "acme" in the default test auth.
const testKey = "sk-test-acme-0123456789"

func testAuth() AuthOptions {
	return AuthOptions{Keys: []Key{{Tenant: "acme", Value: testKey, AllowTierOverride: true, MaxTier: llm.TierMedium}}}
}

// cannedCompleter answers every request with the same response or stream
// script, and records the last request it saw. It also lists models and
// embeds.
type cannedCompleter struct {
	resp   *llm.Response
	chunks []*llm.Chunk
	end    error // what Recv returns after the chunks; nil means io.EOF
	models []string
	embed  *llm.EmbeddingResponse

	mu       sync.Mutex
	last     llm.Request
	lastEmb  llm.EmbeddingRequest
	lastCtx  time.Time
	requests int
}

func (c *cannedCompleter) record(ctx context.Context, r *llm.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.last = *r
	c.requests++
	c.lastCtx, _ = ctx.Deadline()
	r.Meta.Update(func(m *llm.MetaValues) {
		m.Tier, m.Score, m.Provider, m.Model, m.Cache, m.Attempts = llm.TierSmall, 0.25, "openai", "gpt-4o-mini-2024-07-18", llm.CacheMiss, 1
	})
}

func (c *cannedCompleter) lastRequest() llm.Request {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}

func (c *cannedCompleter) Complete(ctx context.Context, r *llm.Request) (*llm.Response, error) {
	c.record(ctx, r)
	cp := *c.resp
	return &cp, nil
}

func (c *cannedCompleter) Stream(ctx context.Context, r *llm.Request) (llm.Stream, error) {
	c.record(ctx, r)
	end := c.end
	if end == nil {
		end = io.EOF
	}
	return &scriptedStream{chunks: c.chunks, end: end, closed: make(chan struct{})}, nil
}

func (c *cannedCompleter) Models() []string { return c.models }

func (c *cannedCompleter) Embed(_ context.Context, r *llm.EmbeddingRequest) (*llm.EmbeddingResponse, error) {
	c.mu.Lock()
	c.lastEmb = *r
	c.mu.Unlock()
	return c.embed, nil
}

// scriptedStream yields its chunks, then end. If hang is set, it blocks
// after the chunks until Close (or until release is closed, then ends with
// end).
type scriptedStream struct {
	chunks  []*llm.Chunk
	end     error
	hang    bool
	release chan struct{}

	mu        sync.Mutex
	i         int
	closeOnce sync.Once
	closed    chan struct{}
}

func (s *scriptedStream) Recv() (*llm.Chunk, error) {
	s.mu.Lock()
	if s.i < len(s.chunks) {
		c := s.chunks[s.i]
		s.i++
		s.mu.Unlock()
		return c, nil
	}
	s.mu.Unlock()
	if s.hang {
		select {
		case <-s.closed:
			return nil, &llm.Error{Kind: llm.KindCanceled, Message: "stream closed"}
		case <-s.release:
		}
	}
	return nil, s.end
}

func (s *scriptedStream) Close() error {
	s.closeOnce.Do(func() { close(s.closed) })
	return nil
}

func (s *scriptedStream) wasClosed() bool {
	select {
	case <-s.closed:
		return true
	default:
		return false
	}
}

// hangingStreamCompleter streams its chunks, then hangs until the stream is
// closed or release is closed. The last stream it made is in last.
type hangingStreamCompleter struct {
	chunks  []*llm.Chunk
	release chan struct{}
	end     error
	made    chan *scriptedStream
}

func (h *hangingStreamCompleter) Complete(context.Context, *llm.Request) (*llm.Response, error) {
	return nil, llm.NewError(llm.KindInternal, "not used")
}

func (h *hangingStreamCompleter) Stream(_ context.Context, _ *llm.Request) (llm.Stream, error) {
	end := h.end
	if end == nil {
		end = io.EOF
	}
	st := &scriptedStream{chunks: h.chunks, end: end, hang: true, release: h.release, closed: make(chan struct{})}
	h.made <- st
	return st, nil
}

// failingCompleter fails every call with err.
type failingCompleter struct{ err error }

func (f failingCompleter) Complete(context.Context, *llm.Request) (*llm.Response, error) {
	return nil, f.err
}
func (f failingCompleter) Stream(context.Context, *llm.Request) (llm.Stream, error) {
	return nil, f.err
}

// gatedCompleter blocks Complete until gate is closed, counting entries.
type gatedCompleter struct {
	entered chan struct{}
	gate    chan struct{}
	resp    *llm.Response
}

func (g *gatedCompleter) Complete(ctx context.Context, _ *llm.Request) (*llm.Response, error) {
	g.entered <- struct{}{}
	select {
	case <-g.gate:
		return g.resp, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
func (g *gatedCompleter) Stream(context.Context, *llm.Request) (llm.Stream, error) {
	return nil, llm.NewError(llm.KindInternal, "not used")
}

func cannedResponse() *llm.Response {
	return &llm.Response{
		ID: "chatcmpl-abc", Object: llm.ObjectChatCompletion, Created: 1700000000, Model: "gpt-4o-mini-2024-07-18",
		Choices: []llm.Choice{{Index: 0, Message: llm.Message{Role: "assistant", Content: llm.TextContent("Paris <b>")}, FinishReason: llm.FinishStop}},
		Usage:   &llm.Usage{PromptTokens: 12, CompletionTokens: 3, TotalTokens: 15},
	}
}

func textChunks() []*llm.Chunk {
	mk := func(d llm.Delta, fin *string) *llm.Chunk {
		return &llm.Chunk{ID: "chatcmpl-1", Object: llm.ObjectChatCompletionChunk, Created: 1, Model: "m-1",
			Choices: []llm.ChunkChoice{{Index: 0, Delta: d, FinishReason: fin}}}
	}
	return []*llm.Chunk{
		mk(llm.Delta{Role: "assistant", Content: llm.Ptr("")}, nil),
		mk(llm.Delta{Content: llm.Ptr("Hi")}, nil),
		mk(llm.Delta{}, llm.Ptr("stop")),
		{ID: "chatcmpl-1", Object: llm.ObjectChatCompletionChunk, Created: 1, Model: "m-1", Choices: []llm.ChunkChoice{},
			Usage: &llm.Usage{PromptTokens: 5, CompletionTokens: 1, TotalTokens: 6}},
	}
}

// harness runs a Server on an in-memory listener with a net/http client.
type harness struct {
	t      *testing.T
	s      *Server
	ln     *fasthttputil.InmemoryListener
	c      *http.Client
	served chan error
	down   bool
}

func start(t *testing.T, o Options) *harness {
	t.Helper()
	if o.Auth.Mode == "" && o.Auth.Keys == nil {
		o.Auth = testAuth()
	}
	s, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	h := &harness{t: t, s: s, ln: fasthttputil.NewInmemoryListener(), served: make(chan error, 1)}
	h.c = &http.Client{Transport: &http.Transport{
		DialContext: func(context.Context, string, string) (net.Conn, error) { return h.ln.Dial() },
	}}
	go func() { h.served <- s.Serve(h.ln) }()
	t.Cleanup(h.stop)
	return h
}

func (h *harness) stop() {
	if h.down {
		return
	}
	h.down = true
	h.c.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.s.Shutdown(ctx); err != nil {
		h.t.Errorf("Shutdown: %v", err)
	}
	select {
	case <-h.served:
	case <-time.After(5 * time.Second):
		h.t.Error("Serve did not return after Shutdown")
	}
}

// do sends a request; hdr is name, value pairs. The default Authorization
// is the test key unless hdr sets Authorization (to "" for none).
func (h *harness) do(method, path, body string, hdr ...string) (*http.Response, string) {
	h.t.Helper()
	resp := h.open(method, path, body, hdr...)
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		h.t.Fatalf("read body: %v", err)
	}
	return resp, string(b)
}

func (h *harness) open(method, path, body string, hdr ...string) *http.Response {
	h.t.Helper()
	req, err := http.NewRequest(method, "http://proxy.test"+path, strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testKey)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := h.c.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp
}

// sseEvents splits an SSE body into its events (without the blank line).
func sseEvents(body string) []string {
	var out []string
	for _, ev := range strings.Split(body, "\n\n") {
		if ev != "" {
			out = append(out, ev)
		}
	}
	return out
}

const chatBody = `{"model":"auto","messages":[{"role":"user","content":"What is the capital of France?"}]}`
