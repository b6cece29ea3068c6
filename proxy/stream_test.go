package proxy

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"io"
	"math"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"llmrouter/llm"
)

const streamBody = `{"model":"auto","stream":true,"messages":[{"role":"user","content":"hi"}]}`
const streamUsageBody = `{"model":"auto","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`

func TestStreamWritesChunksThenDone(t *testing.T) {
	tests := []struct {
		name, body string
		want       []string
	}{
		{"without include_usage the usage chunk is dropped", streamBody, []string{
			`data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m-1","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}`,
			`data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m-1","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}`,
			`data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m-1","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`,
			`data: [DONE]`,
		}},
		{"with include_usage the usage chunk is forwarded", streamUsageBody, []string{
			`data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m-1","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}`,
			`data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m-1","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}`,
			`data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m-1","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`,
			`data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m-1","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}}`,
			`data: [DONE]`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := start(t, Options{Completer: &cannedCompleter{chunks: textChunks()}})
			resp, body := h.do("POST", "/v1/chat/completions", tt.body)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			for k, v := range map[string]string{"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache",
				"X-Accel-Buffering": "no", "x-llmrouter-tier": "small", "x-llmrouter-model": "gpt-4o-mini-2024-07-18"} {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
			if !strings.HasSuffix(body, "\n\n") {
				t.Errorf("body does not end with a blank line: %q", body)
			}
			got := sseEvents(body)
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Fatalf("events\n got %s\nwant %s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestStreamErrorBeforeFirstByteIsHTTPError(t *testing.T) {
	h := start(t, Options{Completer: failingCompleter{err: &llm.Error{Kind: llm.KindNoHealthyProvider, Message: "all targets open"}}})
	resp, body := h.do("POST", "/v1/chat/completions", streamBody)
	if resp.StatusCode != 503 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("status %d type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if _, _, _, code := openAIError(t, body); str(code) != "no_healthy_provider" {
		t.Fatalf("code %s", str(code))
	}
}

func TestStreamMidStreamErrorEndsWithErrorEventWithoutDone(t *testing.T) {
	c := &cannedCompleter{chunks: textChunks()[:2], end: &llm.Error{Kind: llm.KindUpstreamError, Status: 500, Message: "upstream cut the stream", Sent: true}}
	h := start(t, Options{Completer: c})
	resp, body := h.do("POST", "/v1/chat/completions", streamBody)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	ev := sseEvents(body)
	if len(ev) != 3 {
		t.Fatalf("events %q", ev)
	}
	if strings.Contains(body, "[DONE]") {
		t.Fatal("stream with an error ended with [DONE]")
	}
	last, ok := strings.CutPrefix(ev[2], "data: ")
	if !ok {
		t.Fatalf("last event %q", ev[2])
	}
	if _, typ, _, code := openAIError(t, last); typ != "server_error" || str(code) != "upstream_error" {
		t.Fatalf("error event type %q code %s", typ, str(code))
	}
}

func TestStreamSendsHeartbeatsWhileIdle(t *testing.T) {
	c := &hangingStreamCompleter{chunks: textChunks()[:1], release: make(chan struct{}), made: make(chan *scriptedStream, 1)}
	h := start(t, Options{Completer: c, HeartbeatInterval: 10 * time.Millisecond})
	resp := h.open("POST", "/v1/chat/completions", streamBody)
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	beats := 0
	deadline := time.After(5 * time.Second)
	for beats < 2 {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if line == ": keep-alive\n" {
			beats++
		}
		select {
		case <-deadline:
			t.Fatal("no heartbeats within 5 s")
		default:
		}
	}
	close(c.release)
	rest, _ := io.ReadAll(r)
	if !strings.HasSuffix(string(rest), "data: [DONE]\n\n") {
		t.Fatalf("stream did not finish after release: %q", rest)
	}
}

func TestClientDisconnectClosesUpstreamStreamWithoutLeaks(t *testing.T) {
	// fasthttp's worker-pool cleaner sleeps up to 10 s after Serve returns;
	// it belongs to fasthttp, not to the proxy.
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent(),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"))
	c := &hangingStreamCompleter{chunks: textChunks()[:1], release: make(chan struct{}), made: make(chan *scriptedStream, 1)}
	h := start(t, Options{Completer: c, HeartbeatInterval: 5 * time.Millisecond})
	resp := h.open("POST", "/v1/chat/completions", streamBody)
	st := <-c.made
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "data: ") {
		t.Fatalf("first line %q %v", line, err)
	}
	resp.Body.Close() // the client goes away mid-stream
	select {
	case <-st.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the proxy did not Close the upstream stream after the client left")
	}
	h.stop()
	if !st.wasClosed() {
		t.Fatal("stream not closed")
	}
}

func TestShutdownLetsInFlightStreamFinish(t *testing.T) {
	c := &hangingStreamCompleter{chunks: textChunks()[:2], release: make(chan struct{}), made: make(chan *scriptedStream, 1)}
	h := start(t, Options{Completer: c})
	resp := h.open("POST", "/v1/chat/completions", streamBody)
	defer resp.Body.Close()
	<-c.made
	r := bufio.NewReader(resp.Body)
	if line, _ := r.ReadString('\n'); !strings.HasPrefix(line, "data: ") {
		t.Fatalf("first line %q", line)
	}
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		shut <- h.s.Shutdown(ctx)
	}()
	// Shutdown is waiting for the stream; new connections are refused.
	for i := 0; ; i++ {
		conn, err := h.ln.Dial()
		if err != nil {
			break
		}
		conn.Close()
		if i > 500 {
			t.Fatal("listener still accepts after Shutdown")
		}
		time.Sleep(time.Millisecond)
	}
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned (%v) while a stream was in flight", err)
	default:
	}
	close(c.release)
	rest, _ := io.ReadAll(r)
	if !strings.HasSuffix(string(rest), "data: [DONE]\n\n") {
		t.Fatalf("in-flight stream was cut: %q", rest)
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	h.down = true
}

func TestShutdownDeadlineCancelsStreams(t *testing.T) {
	c := &hangingStreamCompleter{chunks: textChunks()[:1], release: make(chan struct{}), made: make(chan *scriptedStream, 1)}
	h := start(t, Options{Completer: c})
	resp := h.open("POST", "/v1/chat/completions", streamBody)
	defer resp.Body.Close()
	st := <-c.made
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := h.s.Shutdown(ctx); err == nil {
		t.Fatal("Shutdown reported a clean finish with a stream still hanging")
	}
	h.down = true
	body, _ := io.ReadAll(resp.Body)
	if strings.Contains(string(body), "[DONE]") || !strings.Contains(string(body), `"error"`) {
		t.Fatalf("cut stream should end with an error event: %q", body)
	}
	if !st.wasClosed() {
		t.Fatal("upstream stream not closed at hard shutdown")
	}
}

func TestEmbeddingsFloatAndBase64(t *testing.T) {
	vec := []float32{0.5, -1.25, 3.4028235e38, 1e-7}
	c := &cannedCompleter{resp: cannedResponse(), embed: &llm.EmbeddingResponse{Object: "list", Model: "text-embedding-3-small",
		Data: []llm.Embedding{{Object: "embedding", Index: 0, Embedding: vec}}, Usage: &llm.Usage{PromptTokens: 2, TotalTokens: 2}}}
	h := start(t, Options{Completer: c})
	t.Run("base64 decodes back to the floats", func(t *testing.T) {
		resp, body := h.do("POST", "/v1/embeddings", `{"model":"emb","input":"hello","encoding_format":"base64"}`)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		var out struct {
			Object string `json:"object"`
			Data   []struct {
				Object    string `json:"object"`
				Embedding string `json:"embedding"`
			} `json:"data"`
			Usage map[string]int `json:"usage"`
		}
		if err := json.Unmarshal([]byte(body), &out); err != nil || len(out.Data) != 1 || out.Object != "list" || out.Data[0].Object != "embedding" {
			t.Fatalf("body %s (%v)", body, err)
		}
		raw, err := base64.StdEncoding.DecodeString(out.Data[0].Embedding)
		if err != nil || len(raw) != 4*len(vec) {
			t.Fatalf("base64 %v len %d", err, len(raw))
		}
		for i, want := range vec {
			if got := math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:])); got != want {
				t.Fatalf("[%d] = %v, want %v", i, got, want)
			}
		}
		if out.Usage["prompt_tokens"] != 2 {
			t.Fatalf("usage %v", out.Usage)
		}
		if got := c.lastEmb.Input; len(got) != 1 || got[0] != "hello" || c.lastEmb.Tenant != "acme" {
			t.Fatalf("embedder saw %+v", c.lastEmb)
		}
	})
	t.Run("float is the default", func(t *testing.T) {
		_, body := h.do("POST", "/v1/embeddings", `{"model":"emb","input":["a","b"]}`)
		var out struct {
			Data []struct {
				Embedding []float32 `json:"embedding"`
			} `json:"data"`
		}
		if err := json.Unmarshal([]byte(body), &out); err != nil || len(out.Data) != 1 || out.Data[0].Embedding[1] != -1.25 {
			t.Fatalf("body %s (%v)", body, err)
		}
	})
	t.Run("token arrays are kept raw", func(t *testing.T) {
		resp, _ := h.do("POST", "/v1/embeddings", `{"model":"emb","input":[[1,2],[3]]}`)
		if resp.StatusCode != 200 || string(c.lastEmb.RawInput) != `[[1,2],[3]]` || len(c.lastEmb.Input) != 0 {
			t.Fatalf("status %d raw %s", resp.StatusCode, c.lastEmb.RawInput)
		}
	})
	for _, tt := range []struct{ name, body, param string }{
		{"model missing", `{"input":"x"}`, "model"},
		{"input missing", `{"model":"e"}`, "input"},
		{"input empty string", `{"model":"e","input":["a",""]}`, "input[1]"},
		{"input wrong type", `{"model":"e","input":{"a":1}}`, "input"},
		{"bad encoding", `{"model":"e","input":"x","encoding_format":"hex"}`, "encoding_format"},
		{"bad dimensions", `{"model":"e","input":"x","dimensions":0}`, "dimensions"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := h.do("POST", "/v1/embeddings", tt.body)
			if resp.StatusCode != 400 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if _, _, p, _ := openAIError(t, body); str(p) != tt.param {
				t.Fatalf("param %s, want %s", str(p), tt.param)
			}
		})
	}
}

func TestEmbeddingsWithoutEmbedderIs404(t *testing.T) {
	h := start(t, Options{Completer: failingCompleter{err: llm.NewError(llm.KindInternal, "x")}})
	resp, body := h.do("POST", "/v1/embeddings", `{"model":"e","input":"x"}`)
	if resp.StatusCode != 404 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	openAIError(t, body)
}

func TestLegacyCompletions(t *testing.T) {
	c := &cannedCompleter{resp: cannedResponse(), chunks: textChunks()}
	c.resp.Choices[0].Message.Content = llm.TextContent("The new holiday")
	c.resp.Choices[0].FinishReason = llm.FinishLength
	h := start(t, Options{Completer: c})
	t.Run("non-stream translates both ways", func(t *testing.T) {
		resp, body := h.do("POST", "/v1/completions", `{"model":"auto","prompt":["Say","this"],"max_tokens":16,"temperature":0}`)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		want := `{"id":"cmpl-abc","object":"text_completion","created":1700000000,"model":"gpt-4o-mini-2024-07-18","choices":[{"text":"The new holiday","index":0,"logprobs":null,"finish_reason":"length"}],"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15}}`
		if strings.TrimSpace(body) != want {
			t.Fatalf("body\n got %s\nwant %s", body, want)
		}
		r := c.lastRequest()
		if len(r.Messages) != 1 || r.Messages[0].Role != "user" || r.Messages[0].Content.Text() != "Say\nthis" ||
			r.MaxTokens == nil || *r.MaxTokens != 16 || r.Temperature == nil || *r.Temperature != 0 {
			t.Fatalf("chat request %+v", r)
		}
	})
	t.Run("stream", func(t *testing.T) {
		resp, body := h.do("POST", "/v1/completions", `{"model":"auto","prompt":"Say","stream":true,"stream_options":{"include_usage":true}}`)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		want := []string{
			`data: {"id":"cmpl-1","object":"text_completion","created":1,"model":"m-1","choices":[{"text":"Hi","index":0,"logprobs":null,"finish_reason":null}],"usage":null}`,
			`data: {"id":"cmpl-1","object":"text_completion","created":1,"model":"m-1","choices":[{"text":"","index":0,"logprobs":null,"finish_reason":"stop"}],"usage":null}`,
			`data: {"id":"cmpl-1","object":"text_completion","created":1,"model":"m-1","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}}`,
			`data: [DONE]`,
		}
		if got := sseEvents(body); strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("events\n got %s\nwant %s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
	for _, tt := range []struct{ name, body, param string }{
		{"prompt missing", `{"model":"auto"}`, "prompt"},
		{"token prompt", `{"model":"auto","prompt":[1,2,3]}`, "prompt"},
		{"echo", `{"model":"auto","prompt":"x","echo":true}`, "echo"},
		{"wrong type", `{"model":"auto","prompt":"x","max_tokens":"many"}`, "max_tokens"},
		{"range", `{"model":"auto","prompt":"x","top_p":7}`, "top_p"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := h.do("POST", "/v1/completions", tt.body)
			if resp.StatusCode != 400 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if _, _, p, _ := openAIError(t, body); str(p) != tt.param {
				t.Fatalf("param %s, want %s", str(p), tt.param)
			}
		})
	}
}
