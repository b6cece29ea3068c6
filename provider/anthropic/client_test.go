package anthropic

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"llmrouter/llm"
	"llmrouter/provider/fake"
)

// TestMain checks that no goroutine outlives the tests (stream readers,
// context watchers, body pumps). fasthttp's own background cleaners, which
// exit on their own timers (DNS cache, idle workers, idle conns), are not
// ours to wait for.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*HostClient).connsCleaner"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*TCPDialer).tcpAddrsClean"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"), // process-wide, by design
	)
}

const testKey = "test-key-123"

// newClient starts the fake with o and returns a client for it.
func newClient(t *testing.T, o fake.AnthropicOptions) (*Client, *fake.Server) {
	t.Helper()
	if o.APIKey == "" {
		o.APIKey = testKey
	}
	srv := fake.Start(t, fake.Anthropic(o))
	c, err := New(Options{Name: "claude-test", BaseURL: srv.URL, APIKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	c.now = func() time.Time { return time.Unix(1700000000, 0) }
	t.Cleanup(c.http.CloseIdleConnections)
	return c, srv
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // hang guard
	t.Cleanup(cancel)
	return ctx
}

// collect drains a stream into its chunks and the terminal error.
func collect(t *testing.T, s llm.Stream) ([]*llm.Chunk, error) {
	t.Helper()
	defer s.Close()
	var out []*llm.Chunk
	for {
		c, err := s.Recv()
		if err != nil {
			if err == io.EOF {
				if _, again := s.Recv(); again != io.EOF {
					t.Errorf("Recv after EOF = %v, want io.EOF again", again)
				}
			}
			return out, err
		}
		out = append(out, c)
	}
}

func TestClientCompleteAndStream(t *testing.T) {
	tool := &fake.AnthropicToolUse{Name: "get_weather", Input: json.RawMessage(`{"city": "Paris", "units": "c"}`)}
	weatherTools := `"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}]`
	tests := []struct {
		name    string
		opts    fake.AnthropicOptions
		req     string
		content string
		reason  string
		finish  string
		tool    string // expected tool call arguments
	}{
		{
			name:    "echo",
			req:     `{"model":"claude-test","messages":[{"role":"system","content":"be nice"},{"role":"user","content":"hello there friend"}]}`,
			content: "echo: hello there friend", finish: "stop",
		},
		{
			name:    "image parts pass the API's validation",
			req:     `{"model":"claude-test","messages":[{"role":"user","content":[{"type":"text","text":"see"},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}},{"type":"image_url","image_url":{"url":"https://example.com/a.png"}}]}]}`,
			content: "echo: see (+2 images)", finish: "stop",
		},
		{
			name:    "prefill continues the last assistant message",
			req:     `{"model":"claude-test","messages":[{"role":"user","content":"one two three four"},{"role":"assistant","content":"echo: one two "}]}`,
			content: "three four", finish: "stop",
		},
		{
			name:    "stop sequence",
			req:     `{"model":"claude-test","stop":["three"],"messages":[{"role":"user","content":"one two three four"}]}`,
			content: "echo: one two ", finish: "stop",
		},
		{
			name:    "max_tokens cut is length",
			req:     `{"model":"claude-test","max_tokens":2,"messages":[{"role":"user","content":"one two three four"}]}`,
			content: "echo: one ", finish: "length",
		},
		{
			name:    "thinking goes to reasoning_content",
			opts:    fake.AnthropicOptions{Thinking: "I should echo politely"},
			req:     `{"model":"claude-test","messages":[{"role":"user","content":"hi"}]}`,
			content: "echo: hi", reason: "I should echo politely", finish: "stop",
		},
		{
			name:    "tool call",
			opts:    fake.AnthropicOptions{ToolUse: tool},
			req:     `{"model":"claude-test","tool_choice":"required","parallel_tool_calls":false,"messages":[{"role":"user","content":"weather in Paris?"}],` + weatherTools + `}`,
			content: "Calling get_weather.", finish: "tool_calls", tool: `{"city":"Paris","units":"c"}`,
		},
		{
			name:    "tool with no arguments",
			opts:    fake.AnthropicOptions{ToolUse: &fake.AnthropicToolUse{Name: "get_weather"}},
			req:     `{"model":"claude-test","messages":[{"role":"user","content":"weather?"}],` + weatherTools + `}`,
			content: "Calling get_weather.", finish: "tool_calls", tool: `{}`,
		},
		{
			name: "tool results round trip",
			opts: fake.AnthropicOptions{ToolUse: tool},
			req: `{"model":"claude-test","messages":[
				{"role":"user","content":"weather in Paris and Rome?"},
				{"role":"assistant","content":"Calling get_weather.","tool_calls":[
					{"id":"toolu_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}},
					{"id":"toolu_2","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Rome\"}"}}]},
				{"role":"tool","tool_call_id":"toolu_1","content":"18C"},
				{"role":"tool","tool_call_id":"toolu_2","content":"24C"}],` + weatherTools + `}`,
			content: "tool results: 18C; 24C", finish: "stop",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, srv := newClient(t, tt.opts)
			t.Run("complete", func(t *testing.T) {
				resp, err := c.Complete(testCtx(t), decodeReq(t, tt.req))
				if err != nil {
					t.Fatalf("Complete: %v", err)
				}
				if resp.Object != "chat.completion" || resp.Created != 1700000000 || resp.Model != "claude-test-20250929" || !strings.HasPrefix(resp.ID, "msg_") {
					t.Errorf("header fields: %+v", resp)
				}
				ch := resp.Choices[0]
				got := ch.Message.Content.Text()
				if got != tt.content || ch.FinishReason != tt.finish || ch.Message.ReasoningContent != tt.reason {
					t.Errorf("got content %q reasoning %q finish %q; want %q %q %q", got, ch.Message.ReasoningContent, ch.FinishReason, tt.content, tt.reason, tt.finish)
				}
				if tt.tool != "" {
					if len(ch.Message.ToolCalls) != 1 || ch.Message.ToolCalls[0].Function.Arguments != tt.tool || ch.Message.ToolCalls[0].Function.Name != "get_weather" {
						t.Errorf("tool calls %+v", ch.Message.ToolCalls)
					}
				}
				if u := resp.Usage; u == nil || u.PromptTokens <= 0 || u.CompletionTokens <= 0 || u.TotalTokens != u.PromptTokens+u.CompletionTokens {
					t.Errorf("usage %+v", resp.Usage)
				}
			})
			t.Run("stream", func(t *testing.T) {
				s, err := c.Stream(testCtx(t), decodeReq(t, tt.req))
				if err != nil {
					t.Fatalf("Stream: %v", err)
				}
				chunks, err := collect(t, s)
				if err != io.EOF {
					t.Fatalf("stream ended with %v", err)
				}
				for _, ch := range chunks {
					ch.Created = 42 // assemble checks the translator's clock
				}
				a := assemble(t, chunks)
				if a.content != tt.content || a.reasoning != tt.reason || len(a.finish) != 1 || a.finish[0] != tt.finish {
					t.Errorf("got content %q reasoning %q finish %v; want %q %q %q", a.content, a.reasoning, a.finish, tt.content, tt.reason, tt.finish)
				}
				if !a.models["claude-test-20250929"] || a.role != "assistant" {
					t.Errorf("models %v role %q", a.models, a.role)
				}
				if tt.tool != "" && (len(a.tools) != 1 || a.tools[0].Function.Arguments != tt.tool || !strings.HasPrefix(a.tools[0].ID, "toolu_")) {
					t.Errorf("tools %+v", a.tools)
				}
				if a.usageChunks != 1 || a.usage.CompletionTokens <= 0 {
					t.Errorf("usage chunks %d usage %+v", a.usageChunks, a.usage)
				}
				for _, c := range chunks {
					for _, ch := range c.Choices {
						if d := ch.Delta; (d.Content != nil && strings.Contains(*d.Content, "RmFrZVNpZ25hdHVyZ")) ||
							(d.ReasoningContent != nil && strings.Contains(*d.ReasoningContent, "RmFrZVNpZ25hdHVyZ")) {
							t.Errorf("thinking signature leaked into the text")
						}
					}
				}
			})
			if srv.Requests() != 2 {
				t.Errorf("fake saw %d requests, want 2", srv.Requests())
			}
		})
	}
}

func TestClientSendsWhatTheAPIExpects(t *testing.T) {
	var mu sync.Mutex
	var bodies []string
	c, _ := newClient(t, fake.AnthropicOptions{OnRequest: func(b []byte) {
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
	}})
	req := decodeReq(t, `{"model":"claude-test","user":"u-9","stop":"zz","temperature":0.2,"messages":[{"role":"user","content":"a"},{"role":"user","content":"b"}]}`)
	if _, err := c.Complete(testCtx(t), req); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	jsonEqual(t, []byte(bodies[0]), `{"model":"claude-test","max_tokens":4096,"messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}],
		"stop_sequences":["zz"],"temperature":0.2,"metadata":{"user_id":"u-9"}}`)
}

func TestClientErrors(t *testing.T) {
	tests := []struct {
		name   string
		opts   fake.AnthropicOptions
		key    string
		req    string
		kind   llm.Kind
		status int
		code   string
		retry  time.Duration
		msg    string
	}{
		{name: "429 with retry-after", opts: fake.AnthropicOptions{RateLimited429: true, RetryAfterSeconds: 7},
			kind: llm.KindUpstreamRateLimited, status: 429, retry: 7 * time.Second, code: llm.CodeRateLimitExceeded},
		{name: "529 overloaded", opts: fake.AnthropicOptions{Overloaded529: true},
			kind: llm.KindUpstreamError, status: 529},
		{name: "401 wrong key", key: "wrong", kind: llm.KindUpstreamError, status: 401},
		{name: "400 tool_result without tool_use", kind: llm.KindInvalidRequest, status: 400,
			req: `{"model":"claude-test","messages":[{"role":"user","content":"x"},{"role":"tool","tool_call_id":"toolu_9","content":"r"}]}`,
			msg: "unexpected `tool_use_id`"},
		{name: "400 prompt too long", opts: fake.AnthropicOptions{MaxPromptChars: 10}, kind: llm.KindInvalidRequest, status: 400,
			code: llm.CodeContextLengthExceeded, msg: "prompt is too long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, srv := newClient(t, tt.opts)
			if tt.key != "" {
				c.apiKey = tt.key
			}
			body := tt.req
			if body == "" {
				body = `{"model":"claude-test","messages":[{"role":"user","content":"a question that is long enough"}]}`
			}
			check := func(t *testing.T, err error) {
				var e *llm.Error
				if !errors.As(err, &e) {
					t.Fatalf("err = %v, want *llm.Error", err)
				}
				if e.Kind != tt.kind || e.Status != tt.status || e.Code != tt.code || e.RetryAfter != tt.retry || e.Sent {
					t.Errorf("got %#v", e)
				}
				if e.Provider != "claude-test" {
					t.Errorf("provider %q", e.Provider)
				}
				if tt.msg != "" && !strings.Contains(e.Message, tt.msg) {
					t.Errorf("message %q lacks %q", e.Message, tt.msg)
				}
				if strings.Contains(e.Error(), testKey) {
					t.Errorf("key leaked: %v", e)
				}
			}
			t.Run("complete", func(t *testing.T) {
				_, err := c.Complete(testCtx(t), decodeReq(t, body))
				check(t, err)
			})
			t.Run("stream", func(t *testing.T) {
				s, err := c.Stream(testCtx(t), decodeReq(t, body))
				if err == nil {
					s.Close()
					t.Fatal("Stream returned a stream; want the error before any chunk")
				}
				check(t, err)
			})
			if srv.Requests() != 2 {
				t.Errorf("requests %d", srv.Requests())
			}
		})
	}
}

func TestClientMidStreamFailures(t *testing.T) {
	tests := []struct {
		name   string
		opts   fake.AnthropicOptions
		status int
		msg    string
	}{
		{"error event after content", fake.AnthropicOptions{ErrorEventMidStream: true}, 529, ""},
		{"body cut before message_stop", fake.AnthropicOptions{CutMidStream: true}, 0, "before message_stop"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := newClient(t, tt.opts)
			s, err := c.Stream(testCtx(t), decodeReq(t, `{"model":"claude-test","messages":[{"role":"user","content":"one two three four five"}]}`))
			if err != nil {
				t.Fatalf("Stream: %v", err)
			}
			chunks, err := collect(t, s)
			var e *llm.Error
			if !errors.As(err, &e) || e.Kind != llm.KindUpstreamError || e.Status != tt.status || !e.Sent || !strings.Contains(e.Message, tt.msg) {
				t.Fatalf("err = %#v", err)
			}
			for _, ch := range chunks {
				ch.Created = 42
			}
			if a := assemble(t, chunks); a.content != "echo: one " || len(a.finish) != 0 || a.usageChunks != 0 {
				t.Errorf("content %q finish %v usage chunks %d", a.content, a.finish, a.usageChunks)
			}
		})
	}
}

func TestClientStreamConnections(t *testing.T) {
	c, srv := newClient(t, fake.AnthropicOptions{})
	body := `{"model":"claude-test","messages":[{"role":"user","content":"one two three four five six"}]}`

	t.Run("fully read streams reuse one connection", func(t *testing.T) {
		for range 2 {
			s, err := c.Stream(testCtx(t), decodeReq(t, body))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := collect(t, s); err != io.EOF {
				t.Fatal(err)
			}
		}
		if srv.Conns() != 1 {
			t.Errorf("conns = %d, want 1", srv.Conns())
		}
	})
	t.Run("close mid-stream unblocks and does not poison the pool", func(t *testing.T) {
		s, err := c.Stream(testCtx(t), decodeReq(t, body))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Recv(); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Recv(); err == nil || err == io.EOF {
			// A queued chunk may still be returned; the stream must then fail, never EOF.
			for err == nil {
				_, err = s.Recv()
			}
			if err == io.EOF {
				t.Fatal("closed stream ended with io.EOF")
			}
		}
		s2, err := c.Stream(testCtx(t), decodeReq(t, body))
		if err != nil {
			t.Fatal(err)
		}
		if chunks, err := collect(t, s2); err != io.EOF || len(chunks) == 0 {
			t.Fatalf("next stream: %v", err)
		}
	})
	t.Run("canceled context ends a stream with an error", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		s, err := c.Stream(ctx, decodeReq(t, body))
		if err != nil {
			t.Fatal(err)
		}
		cancel()
		_, err = collect(t, s)
		if err == io.EOF {
			// The whole (short) answer may already be buffered; that is a clean end.
			return
		}
		var e *llm.Error
		if !errors.As(err, &e) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestNewDefaults(t *testing.T) {
	c, err := New(Options{APIKey: "k"})
	if err != nil {
		t.Fatal(err)
	}
	if c.name != "anthropic" || c.version != "2023-06-01" || c.maxTokens != 4096 {
		t.Errorf("defaults: %+v", c)
	}
	if _, err := New(Options{BaseURL: "::not a url"}); err == nil {
		t.Error("New accepted a bad base url")
	}
}
