package openai_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"llmrouter/llm"
	"llmrouter/llm/llmtest"
	"llmrouter/provider/fake"
	"llmrouter/provider/openai"
	"llmrouter/provider/transport"
)

// fixturesDir is the recorded OpenAI wire traffic in shared/fixtures.
func fixturesDir(t testing.TB) string {
	return filepath.Join(llmtest.SharedDir(t), "fixtures", "openai")
}

func newClient(t *testing.T, url string, mod func(*openai.Options)) *openai.Client {
	t.Helper()
	o := openai.Options{Name: "oa", BaseURL: url + "/v1", APIKey: "sk-test", Headers: map[string]string{"X-Extra": "1"}}
	if mod != nil {
		mod(&o)
	}
	c, err := openai.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

func chatReq(text string) *llm.Request {
	return &llm.Request{Model: "gpt-4o-mini", Messages: []llm.Message{
		{Role: "system", Content: llm.TextContent("be brief")},
		{Role: "user", Content: llm.TextContent(text)},
	}}
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

func checkNoLeaks(t *testing.T) {
	t.Cleanup(func() {
		goleak.VerifyNone(t,
			// fasthttp's pool cleaners exit on their own after their idle periods.
			goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*HostClient).connsCleaner"),
			goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
			// fasthttp's process-wide Date header ticker (started by any server).
			goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
			// fasthttp's DNS cache cleaner exits once its entries expire.
			goleak.IgnoreTopFunction("github.com/valyala/fasthttp.(*TCPDialer).tcpAddrsClean"),
		)
	})
}

// assembled is a stream read to its end.
type assembled struct {
	chunks  int
	content string
	model   string
	finish  string
	usage   *llm.Usage
	tools   map[int]*llm.ToolCall
	err     error
}

func drain(s llm.Stream, first ...*llm.Chunk) assembled {
	a := assembled{tools: map[int]*llm.ToolCall{}}
	for {
		var c *llm.Chunk
		var err error
		if len(first) > 0 {
			c, first = first[0], first[1:]
		} else {
			c, err = s.Recv()
		}
		if err != nil {
			if err != io.EOF {
				a.err = err
			}
			return a
		}
		a.chunks++
		a.model = c.Model
		if c.Usage != nil {
			a.usage = c.Usage
		}
		for _, ch := range c.Choices {
			if ch.Delta.Content != nil {
				a.content += *ch.Delta.Content
			}
			if ch.FinishReason != nil {
				a.finish = *ch.FinishReason
			}
			for _, tc := range ch.Delta.ToolCalls {
				i := 0
				if tc.Index != nil {
					i = *tc.Index
				}
				cur := a.tools[i]
				if cur == nil {
					cur = &llm.ToolCall{}
					a.tools[i] = cur
				}
				if tc.ID != "" {
					cur.ID = tc.ID
				}
				if tc.Function.Name != "" {
					cur.Function.Name = tc.Function.Name
				}
				cur.Function.Arguments += tc.Function.Arguments
			}
		}
	}
}

func TestComplete(t *testing.T) {
	rec := &fake.Recorder{}
	srv := fake.Start(t, fake.OpenAI(fake.OpenAIOptions{Recorder: rec, APIKey: "sk-test"}))
	c := newClient(t, srv.URL, nil)
	req := chatReq("hello there world")
	req.Extra = map[string]json.RawMessage{"reasoning_effort": json.RawMessage(`"low"`)}
	req.Stream = true // must be removed for a unary call
	resp, err := c.Complete(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Choices[0].Message.Content.Text(); got != "echo: hello there world" {
		t.Fatalf("content %q", got)
	}
	if resp.Model != "gpt-4o-mini-2024-07-18" || resp.Usage == nil || resp.Usage.CompletionTokens != 4 || resp.Choices[0].FinishReason != "stop" {
		t.Fatalf("resp %+v", resp)
	}
	last := rec.Last()
	if last.Path != "/v1/chat/completions" || last.Header.Get("Authorization") != "Bearer sk-test" || last.Header.Get("X-Extra") != "1" {
		t.Fatalf("request %s %v", last.Path, last.Header)
	}
	var sent map[string]json.RawMessage
	if err := json.Unmarshal(last.Body, &sent); err != nil {
		t.Fatal(err)
	}
	if string(sent["reasoning_effort"]) != `"low"` || sent["stream"] != nil || string(sent["model"]) != `"gpt-4o-mini"` {
		t.Fatalf("sent %s", last.Body)
	}
	if !req.Stream {
		t.Fatal("caller's request was modified")
	}
}

func TestCompleteToolCalls(t *testing.T) {
	calls := []llm.ToolCall{
		{ID: "call_1", Type: "function", Function: llm.ToolCallFunction{Name: "get_weather", Arguments: `{"city":"Paris","unit":"c"}`}},
		{ID: "call_2", Type: "function", Function: llm.ToolCallFunction{Name: "get_time", Arguments: `{"tz":"Europe/Paris"}`}},
	}
	srv := fake.Start(t, fake.OpenAI(fake.OpenAIOptions{ToolCalls: calls}))
	c := newClient(t, srv.URL, nil)
	resp, err := c.Complete(context.Background(), chatReq("weather?"))
	if err != nil {
		t.Fatal(err)
	}
	got := resp.Choices[0].Message.ToolCalls
	if len(got) != 2 || got[1].Function.Arguments != calls[1].Function.Arguments || resp.Choices[0].FinishReason != "tool_calls" {
		t.Fatalf("tool calls %+v", got)
	}
	s, err := c.Stream(context.Background(), chatReq("weather?"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a := drain(s)
	if a.err != nil || len(a.tools) != 2 || a.finish != "tool_calls" {
		t.Fatalf("stream %+v", a)
	}
	for i, want := range calls {
		tc := a.tools[i]
		if tc.ID != want.ID || tc.Function.Name != want.Function.Name || tc.Function.Arguments != want.Function.Arguments {
			t.Fatalf("call %d = %+v, want %+v", i, tc, want)
		}
	}
}

func TestStream(t *testing.T) {
	checkNoLeaks(t)
	rec := &fake.Recorder{}
	srv := fake.Start(t, fake.OpenAI(fake.OpenAIOptions{Recorder: rec}))
	c := newClient(t, srv.URL, nil)
	for range 2 {
		s, err := c.Stream(context.Background(), chatReq("one two three"))
		if err != nil {
			t.Fatal(err)
		}
		a := drain(s)
		_ = s.Close()
		if a.err != nil || a.content != "echo: one two three" || a.finish != "stop" || a.model != "gpt-4o-mini-2024-07-18" {
			t.Fatalf("stream %+v", a)
		}
		if a.usage == nil || a.usage.CompletionTokens != 4 {
			t.Fatalf("usage %+v", a.usage)
		}
		if _, err := s.Recv(); err != io.EOF {
			t.Fatalf("Recv after EOF = %v", err)
		}
	}
	var sent llm.Request
	if err := json.Unmarshal(rec.Last().Body, &sent); err != nil {
		t.Fatal(err)
	}
	if !sent.Stream || !sent.WantsUsage() {
		t.Fatalf("upstream request did not force stream usage: %s", rec.Last().Body)
	}
	if srv.Conns() != 1 {
		t.Fatalf("conns = %d, want 1: a stream read to [DONE] should pool its connection", srv.Conns())
	}
}

func TestStreamCloseEarly(t *testing.T) {
	checkNoLeaks(t)
	long := strings.Repeat("word ", 2000)
	srv := fake.Start(t, fake.OpenAI(fake.OpenAIOptions{Answer: func(*llm.Request) string { return long }, ChunkDelay: 2 * time.Millisecond}))
	c := newClient(t, srv.URL, nil)
	s, err := c.Stream(context.Background(), chatReq("x"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Recv(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	if !srv.WaitClosedEarly(1, 5*time.Second) {
		t.Fatal("fake never saw the client close the connection")
	}
	if _, err := s.Recv(); err == nil {
		t.Fatal("Recv after Close succeeded")
	}
}

func TestStreamCloseUnblocksRecv(t *testing.T) {
	checkNoLeaks(t)
	srv := fake.Start(t, fake.OpenAI(fake.OpenAIOptions{Fault: fake.StallsMidStream()}))
	c := newClient(t, srv.URL, nil)
	s, err := c.Stream(context.Background(), chatReq("a b c d"))
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- drain(s).err }()
	time.Sleep(20 * time.Millisecond)
	_ = s.Close()
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("stalled stream ended cleanly")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not unblock Recv")
	}
}

func TestFaults(t *testing.T) {
	short := func(o *openai.Options) {
		o.Transport.ResponseHeaderTimeout = 200 * time.Millisecond
		o.Transport.TotalTimeout = 200 * time.Millisecond
		o.Transport.StreamIdleTimeout = 200 * time.Millisecond
	}
	tests := []struct {
		name       string
		fault      fake.Fault
		streamErr  llm.Kind // from Stream
		recvErr    llm.Kind // from Recv, when Stream succeeds
		completeEr llm.Kind
		check      func(t *testing.T, e *llm.Error)
	}{
		{name: "500", fault: fake.AlwaysFails500(), streamErr: llm.KindUpstreamError, completeEr: llm.KindUpstreamError,
			check: func(t *testing.T, e *llm.Error) {
				if e.Status != 500 || !e.SafeToRetry() {
					t.Fatalf("%+v", e)
				}
			}},
		{name: "429 forever", fault: fake.RateLimitedForever(), streamErr: llm.KindUpstreamRateLimited, completeEr: llm.KindUpstreamRateLimited,
			check: func(t *testing.T, e *llm.Error) {
				if e.RetryAfter != time.Second || e.Status != 429 {
					t.Fatalf("%+v", e)
				}
			}},
		{name: "hangs", fault: fake.HangsBeforeHeaders(), streamErr: llm.KindTimeout, completeEr: llm.KindTimeout},
		{name: "slow first token", fault: fake.SlowFirstToken(time.Hour), streamErr: llm.KindTimeout, completeEr: llm.KindTimeout},
		{name: "context too long", fault: fake.ContextTooLong(), streamErr: llm.KindInvalidRequest, completeEr: llm.KindInvalidRequest,
			check: func(t *testing.T, e *llm.Error) {
				if !e.IsContextLength() || e.Param != "messages" {
					t.Fatalf("%+v", e)
				}
			}},
		{name: "content policy", fault: fake.ContentPolicyReject(), streamErr: llm.KindInvalidRequest, completeEr: llm.KindInvalidRequest,
			check: func(t *testing.T, e *llm.Error) {
				if e.Code != llm.CodeContentFilter {
					t.Fatalf("%+v", e)
				}
			}},
		{name: "cut mid answer", fault: fake.CutsStreamMidAnswer(3), recvErr: llm.KindUpstreamError},
		{name: "stalls", fault: fake.StallsMidStream(), recvErr: llm.KindTimeout},
		{name: "malformed", fault: fake.MalformedChunk(), recvErr: llm.KindUpstreamError},
		{name: "no done", fault: fake.NoDoneMarker(), recvErr: llm.KindUpstreamError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := fake.Start(t, fake.OpenAI(fake.OpenAIOptions{Fault: tt.fault}))
			// Only the timeout cases get the short limits: elsewhere a 200 ms
			// stall of a loaded CI machine would turn the expected error into
			// a timeout.
			opts := func(*openai.Options) {}
			if tt.streamErr == llm.KindTimeout || tt.recvErr == llm.KindTimeout {
				opts = short
			}
			c := newClient(t, srv.URL, opts)
			s, err := c.Stream(context.Background(), chatReq("a b c d e f"))
			if tt.recvErr == 0 {
				e := wantKind(t, err, tt.streamErr)
				if tt.check != nil {
					tt.check(t, e)
				}
				_, err = c.Complete(context.Background(), chatReq("a b c d e f"))
				e = wantKind(t, err, tt.completeEr)
				if tt.check != nil {
					tt.check(t, e)
				}
				return
			}
			if err != nil {
				t.Fatalf("Stream: %v", err)
			}
			defer s.Close()
			a := drain(s)
			wantKind(t, a.err, tt.recvErr)
			if a.chunks == 0 {
				t.Fatal("no chunk before the failure")
			}
		})
	}
}

func TestRecoveringFaults(t *testing.T) {
	t.Run("rate limited once", func(t *testing.T) {
		srv := fake.Start(t, fake.OpenAI(fake.OpenAIOptions{Fault: fake.RateLimitedWithRetryAfter(1500 * time.Millisecond)}))
		c := newClient(t, srv.URL, nil)
		_, err := c.Complete(context.Background(), chatReq("x"))
		if e := wantKind(t, err, llm.KindUpstreamRateLimited); e.RetryAfter != 1500*time.Millisecond {
			t.Fatalf("retry after %v", e.RetryAfter)
		}
		if _, err := c.Complete(context.Background(), chatReq("x")); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("down then up", func(t *testing.T) {
		srv := fake.Start(t, fake.OpenAI(fake.OpenAIOptions{Fault: fake.DownThenUp(2)}))
		c := newClient(t, srv.URL, nil)
		_, err := c.Complete(context.Background(), chatReq("x"))
		if e := wantKind(t, err, llm.KindUpstreamError); e.Status != 0 {
			t.Fatalf("status %d", e.Status)
		}
		_, err = c.Stream(context.Background(), chatReq("x"))
		wantKind(t, err, llm.KindUpstreamError)
		s, err := c.Stream(context.Background(), chatReq("x"))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if a := drain(s); a.err != nil || a.content != "echo: x" {
			t.Fatalf("%+v", a)
		}
	})
	t.Run("refuses connections", func(t *testing.T) {
		c := newClient(t, fake.RefusesConnections(t), nil)
		_, err := c.Stream(context.Background(), chatReq("x"))
		if e := wantKind(t, err, llm.KindUpstreamError); e.Status != 0 || !e.SafeToRetry() {
			t.Fatalf("%+v", e)
		}
	})
	t.Run("unknown model and bad key", func(t *testing.T) {
		srv := fake.Start(t, fake.OpenAI(fake.OpenAIOptions{Models: []string{"gpt-4o"}, APIKey: "sk-right"}))
		_, err := newClient(t, srv.URL, nil).Complete(context.Background(), chatReq("x"))
		if e := wantKind(t, err, llm.KindUpstreamError); e.Status != 401 || e.Code != "invalid_api_key" {
			t.Fatalf("%+v", e)
		}
		_, err = newClient(t, srv.URL, func(o *openai.Options) { o.APIKey = "sk-right" }).Complete(context.Background(), chatReq("x"))
		if e := wantKind(t, err, llm.KindUpstreamError); e.Status != 404 || e.Code != "model_not_found" {
			t.Fatalf("%+v", e)
		}
	})
}

func TestStreamFixtures(t *testing.T) {
	checkNoLeaks(t)
	tests := []struct {
		file    string
		content string // substring expected in content
		usage   bool
		tools   int
		finish  string
		model   string
	}{
		{file: "chat-stream-text-include-usage.sse", content: "The capital of the UK is", usage: true, finish: "stop", model: "gpt-4o-mini-2024-07-18"},
		{file: "chat-stream-text-no-usage.sse", content: "six", finish: "stop", model: "gpt-5.1-2025-11-13"},
		{file: "chat-stream-text.sse", usage: true, finish: "stop", model: "gpt-4o-2024-08-06"},
		{file: "chat-stream-tool-call-include-usage.sse", usage: true, tools: 1, finish: "tool_calls"},
		{file: "chat-stream-parallel-tool-calls.sse", usage: true, tools: 2, finish: "tool_calls"},
		{file: "chat-stream-azure-content-filter.sse", content: "Capital of Denmark", usage: true, finish: "stop", model: "gpt-5-nano-2025-08-07"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			srv := fake.Start(t, fake.ReplayFixture(t, filepath.Join(fixturesDir(t), tt.file)))
			c := newClient(t, srv.URL, nil)
			s, err := c.Stream(context.Background(), chatReq("x"))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			first, err := s.Recv()
			if err != nil {
				t.Fatal(err)
			}
			if first.ID == "" {
				t.Fatal("azure prompt_filter_results chunk was not skipped")
			}
			a := drain(s, first)
			if a.err != nil {
				t.Fatal(a.err)
			}
			if !strings.Contains(a.content, tt.content) || a.finish != tt.finish || (a.usage != nil) != tt.usage || len(a.tools) != tt.tools {
				t.Fatalf("got %+v", a)
			}
			if tt.model != "" && a.model != tt.model {
				t.Fatalf("model %q", a.model)
			}
			for i, tc := range a.tools {
				if tc.ID == "" || tc.Function.Name == "" || !json.Valid([]byte(tc.Function.Arguments)) {
					t.Fatalf("tool %d = %+v", i, tc)
				}
			}
		})
	}
}

func TestCompleteFixtures(t *testing.T) {
	t.Run("text", func(t *testing.T) {
		srv := fake.Start(t, fake.ReplayFixture(t, filepath.Join(fixturesDir(t), "chat-completion.json")))
		resp, err := newClient(t, srv.URL, nil).Complete(context.Background(), chatReq("x"))
		if err != nil {
			t.Fatal(err)
		}
		if resp.Model != "gpt-4.1-nano-2025-04-14" || !strings.HasPrefix(resp.Choices[0].Message.Content.Text(), "**Holiday Name:**") ||
			resp.Usage.TotalTokens != 379 {
			t.Fatalf("%+v", resp)
		}
	})
	t.Run("parallel tool calls", func(t *testing.T) {
		srv := fake.Start(t, fake.ReplayFixture(t, filepath.Join(fixturesDir(t), "chat-completion-parallel-tool-calls.json")))
		resp, err := newClient(t, srv.URL, nil).Complete(context.Background(), chatReq("x"))
		if err != nil {
			t.Fatal(err)
		}
		tcs := resp.Choices[0].Message.ToolCalls
		if len(tcs) != 2 || resp.Choices[0].FinishReason != "tool_calls" {
			t.Fatalf("%+v", resp.Choices[0])
		}
		for _, tc := range tcs {
			if !json.Valid([]byte(tc.Function.Arguments)) {
				t.Fatalf("arguments %q", tc.Function.Arguments)
			}
		}
	})
}

func TestErrorFixtures(t *testing.T) {
	tests := []struct {
		file   string
		kind   llm.Kind
		status int
		code   string
		param  string
	}{
		{"error-400-unsupported-parameter.json", llm.KindInvalidRequest, 400, "unsupported_parameter", "max_tokens"},
		{"error-401-invalid-api-key.json", llm.KindUpstreamError, 401, "invalid_api_key", ""},
		{"error-404-model-not-found.json", llm.KindUpstreamError, 404, "model_not_found", ""},
		{"error-insufficient-quota.json", llm.KindUpstreamRateLimited, 429, "insufficient_quota", ""},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			srv := fake.Start(t, fake.ReplayFixture(t, filepath.Join(fixturesDir(t), tt.file)))
			c := newClient(t, srv.URL, nil)
			_, err := c.Complete(context.Background(), chatReq("x"))
			_, serr := c.Stream(context.Background(), chatReq("x"))
			for _, err := range []error{err, serr} {
				e := wantKind(t, err, tt.kind)
				if e.Status != tt.status || e.Code != tt.code || e.Param != tt.param || e.Provider != "oa" {
					t.Fatalf("%+v", e)
				}
			}
		})
	}
}

func TestEmbed(t *testing.T) {
	t.Run("fixtures", func(t *testing.T) {
		for _, f := range []struct {
			file string
			n    int
			dim  int
		}{{"embeddings-float-truncated.json", 2, 5}, {"embeddings-base64.json", 1, 1536}} {
			srv := fake.Start(t, fake.ReplayFixture(t, filepath.Join(fixturesDir(t), f.file)))
			resp, err := newClient(t, srv.URL, nil).Embed(context.Background(), &llm.EmbeddingRequest{Model: "m", Input: llm.EmbeddingInput{"a"}})
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.Data) != f.n || len(resp.Data[0].Embedding) != f.dim {
				t.Fatalf("%s: %d vectors of %d", f.file, len(resp.Data), len(resp.Data[0].Embedding))
			}
			for _, x := range resp.Data[0].Embedding {
				if x < -1 || x > 1 {
					t.Fatalf("%s: value %v out of range", f.file, x)
				}
			}
		}
	})
	t.Run("fake float and base64 agree", func(t *testing.T) {
		srv := fake.Start(t, fake.OpenAI(fake.OpenAIOptions{EmbeddingDim: 16}))
		c := newClient(t, srv.URL, nil)
		var got [2]*llm.EmbeddingResponse
		for i, format := range []string{"", "base64"} {
			resp, err := c.Embed(context.Background(), &llm.EmbeddingRequest{Model: "text-embedding-3-small", Input: llm.EmbeddingInput{"hello", "world"}, EncodingFormat: format})
			if err != nil {
				t.Fatal(err)
			}
			got[i] = resp
		}
		want := fake.Vector("world", 16)
		for i := range want {
			if got[0].Data[1].Embedding[i] != want[i] || got[1].Data[1].Embedding[i] != want[i] {
				t.Fatalf("vector %d differs: %v %v %v", i, got[0].Data[1].Embedding, got[1].Data[1].Embedding, want)
			}
		}
		if got[0].Usage == nil || got[0].Usage.PromptTokens != 2 {
			t.Fatalf("usage %+v", got[0].Usage)
		}
	})
	t.Run("error", func(t *testing.T) {
		srv := fake.Start(t, fake.OpenAI(fake.OpenAIOptions{Fault: fake.AlwaysFails500()}))
		_, err := newClient(t, srv.URL, nil).Embed(context.Background(), &llm.EmbeddingRequest{Model: "m", Input: llm.EmbeddingInput{"a"}})
		wantKind(t, err, llm.KindUpstreamError)
	})
}

func TestNew(t *testing.T) {
	if _, err := openai.New(openai.Options{BaseURL: "ftp://x"}); err == nil {
		t.Fatal("bad scheme accepted")
	}
	c, err := openai.New(openai.Options{Transport: transport.Options{MaxConns: 2}})
	if err != nil || c.Name() != "openai" {
		t.Fatalf("defaults: %v %v", c, err)
	}
}
