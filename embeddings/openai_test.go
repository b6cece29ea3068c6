package embeddings

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"

	"llmrouter/llm"
)

// fakeServer serves h over an in-memory listener and returns a client whose
// Dial reaches it.
func fakeServer(t *testing.T, h fasthttp.RequestHandler, o OpenAIOptions) *OpenAI {
	t.Helper()
	ln := fasthttputil.NewInmemoryListener()
	srv := &fasthttp.Server{Handler: h}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	if o.BaseURL == "" {
		o.BaseURL = "http://embed.test/v1"
	}
	if o.Model == "" {
		o.Model = "text-embedding-3-small"
	}
	if o.Dim == 0 {
		o.Dim = 3
	}
	o.Dial = func(string) (net.Conn, error) { return ln.Dial() }
	c, err := NewOpenAI(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		_ = srv.Shutdown()
		_ = ln.Close()
		<-done
	})
	return c
}

// servesReversedIndexes answers with vectors [i, len(text), 0.5] listed in
// reverse index order, and records the request.
func servesReversedIndexes(seen *atomic.Value) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		var req struct {
			Model          string   `json:"model"`
			Input          []string `json:"input"`
			EncodingFormat string   `json:"encoding_format"`
		}
		_ = json.Unmarshal(ctx.PostBody(), &req)
		seen.Store([]string{string(ctx.Path()), string(ctx.Request.Header.Peek("Authorization")), req.Model, req.EncodingFormat, strings.Join(req.Input, "|")})
		type item struct {
			Object    string    `json:"object"`
			Index     int       `json:"index"`
			Embedding []float32 `json:"embedding"`
		}
		var data []item
		for i := len(req.Input) - 1; i >= 0; i-- {
			data = append(data, item{"embedding", i, []float32{float32(i), float32(len(req.Input[i])), 0.5}})
		}
		b, _ := json.Marshal(map[string]any{"object": "list", "data": data, "model": req.Model})
		ctx.SetContentType("application/json")
		ctx.SetBody(b)
	}
}

func TestOpenAIEmbed(t *testing.T) {
	var seen atomic.Value
	c := fakeServer(t, servesReversedIndexes(&seen), OpenAIOptions{APIKey: "sk-test"})
	if c.Name() != "openai:text-embedding-3-small" || c.Dim() != 3 {
		t.Errorf("Name, Dim = %q, %d", c.Name(), c.Dim())
	}
	vs, err := c.Embed(context.Background(), []string{"a", "bb", "ccc"})
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range vs {
		if v[0] != float32(i) || v[1] != float32(i+1) {
			t.Errorf("vector %d = %v: not in input order", i, v)
		}
	}
	got := seen.Load().([]string)
	want := []string{"/v1/embeddings", "Bearer sk-test", "text-embedding-3-small", "float", "a|bb|ccc"}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("request field %d = %q, want %q", i, got[i], want[i])
		}
	}
}

func TestOpenAIBase64Reply(t *testing.T) {
	// servers that ignore encoding_format send base64 little-endian float32
	c := fakeServer(t, func(ctx *fasthttp.RequestCtx) {
		ctx.SetBodyString(`{"data":[{"index":0,"embedding":"AACAPwAAAEAAAEBA"}]}`) // 1, 2, 3
	}, OpenAIOptions{})
	vs, err := c.Embed(context.Background(), []string{"x"})
	if err != nil || len(vs) != 1 || vs[0][0] != 1 || vs[0][2] != 3 {
		t.Fatalf("Embed = %v, %v", vs, err)
	}
}

func replies(status int, headers map[string]string, body string) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		for k, v := range headers {
			ctx.Response.Header.Set(k, v)
		}
		ctx.SetStatusCode(status)
		ctx.SetBodyString(body)
	}
}

func hangsBeforeHeaders(release <-chan struct{}) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		select {
		case <-release:
		case <-ctx.Done(): // server shutdown
		case <-time.After(5 * time.Second):
		}
	}
}

func TestOpenAIErrors(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	tests := []struct {
		name       string
		h          fasthttp.RequestHandler
		timeout    time.Duration
		kind       llm.Kind
		retryAfter time.Duration
	}{
		{"RateLimitedWithRetryAfter", replies(429, map[string]string{"retry-after": "2"}, `{"error":{"message":"slow down","code":"rate_limit_exceeded"}}`), 0, llm.KindUpstreamRateLimited, 2 * time.Second},
		{"RateLimitedWithRetryAfterMs", replies(429, map[string]string{"retry-after-ms": "250"}, `{}`), 0, llm.KindUpstreamRateLimited, 250 * time.Millisecond},
		{"AlwaysFails500", replies(500, nil, `{"error":{"message":"boom"}}`), 0, llm.KindUpstreamError, 0},
		{"Overloaded529", replies(529, nil, ``), 0, llm.KindUpstreamError, 0},
		{"RejectsInput400", replies(400, nil, `{"error":{"message":"input too long"}}`), 0, llm.KindInvalidRequest, 0},
		{"WrongKey401", replies(401, nil, `{"error":{"message":"bad key"}}`), 0, llm.KindUpstreamError, 0},
		{"MalformedJSON", replies(200, nil, `{"data":[`), 0, llm.KindUpstreamError, 0},
		{"TooFewVectors", replies(200, nil, `{"data":[{"index":0,"embedding":[1,2,3]}]}`), 0, llm.KindUpstreamError, 0},
		{"WrongDimension", replies(200, nil, `{"data":[{"index":0,"embedding":[1,2]},{"index":1,"embedding":[1,2]}]}`), 0, llm.KindUpstreamError, 0},
		{"RepeatedIndex", replies(200, nil, `{"data":[{"index":0,"embedding":[1,2,3]},{"index":0,"embedding":[1,2,3]}]}`), 0, llm.KindUpstreamError, 0},
		{"HangsBeforeHeaders", hangsBeforeHeaders(release), 100 * time.Millisecond, llm.KindTimeout, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := fakeServer(t, tt.h, OpenAIOptions{Timeout: tt.timeout})
			_, err := c.Embed(context.Background(), []string{"a", "b"})
			var e *llm.Error
			if !errors.As(err, &e) || e.Kind != tt.kind || e.RetryAfter != tt.retryAfter {
				t.Fatalf("err = %#v, want kind %v retry-after %v", err, tt.kind, tt.retryAfter)
			}
		})
	}
}

func TestOpenAIRefusesConnections(t *testing.T) {
	c, err := NewOpenAI(OpenAIOptions{BaseURL: "http://embed.test/v1", Model: "m", Dim: 3,
		Dial: func(string) (net.Conn, error) { return nil, errors.New("connection refused") }})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Embed(context.Background(), []string{"a"})
	if e := llm.AsError(err); e.Kind != llm.KindUpstreamError {
		t.Fatalf("err = %v, want KindUpstreamError", err)
	}
}

func TestOpenAICtx(t *testing.T) {
	release := make(chan struct{})
	c := fakeServer(t, hangsBeforeHeaders(release), OpenAIOptions{})
	defer close(release)

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.Embed(ctx, []string{"a"}); llm.AsError(err).Kind != llm.KindTimeout {
		t.Errorf("deadline: err = %v, want KindTimeout", err)
	}

	ctx, cancel = context.WithCancel(context.Background())
	go func() { time.Sleep(20 * time.Millisecond); cancel() }()
	if _, err := c.Embed(ctx, []string{"a"}); llm.AsError(err).Kind != llm.KindCanceled {
		t.Errorf("cancel: err = %v, want KindCanceled", err)
	}
}

func TestNewOpenAIValidates(t *testing.T) {
	for _, o := range []OpenAIOptions{
		{BaseURL: "http://x/v1", Dim: 3},
		{BaseURL: "http://x/v1", Model: "m"},
		{BaseURL: "ftp://x", Model: "m", Dim: 3},
		{BaseURL: "not a url", Model: "m", Dim: 3},
	} {
		if _, err := NewOpenAI(o); err == nil {
			t.Errorf("NewOpenAI(%+v) succeeded", o)
		}
	}
}
