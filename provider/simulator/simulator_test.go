package simulator

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"llmrouter/llm"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newClient(t *testing.T, o Options) *Client {
	t.Helper()
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func userReq(model, text string) *llm.Request {
	return &llm.Request{Model: model, Messages: []llm.Message{
		{Role: "system", Content: llm.TextContent("be brief")},
		{Role: "user", Content: llm.TextContent(text)},
	}}
}

// collect reads a stream to the end (checking io.EOF repeats), closes it
// and returns its chunks.
func collect(t *testing.T, s llm.Stream) []*llm.Chunk {
	t.Helper()
	defer s.Close()
	var out []*llm.Chunk
	for {
		ch, err := s.Recv()
		if err == io.EOF {
			if _, err := s.Recv(); err != io.EOF {
				t.Errorf("recv after the end = %v, want io.EOF again", err)
			}
			return out
		}
		if err != nil {
			t.Fatalf("recv: %v", err)
		}
		out = append(out, ch)
	}
}

func streamText(chunks []*llm.Chunk) (text, finish string, usage *llm.Usage) {
	var b strings.Builder
	for _, ch := range chunks {
		if ch.Usage != nil {
			usage = ch.Usage
		}
		for _, c := range ch.Choices {
			if c.Delta.Content != nil {
				b.WriteString(*c.Delta.Content)
			}
			if c.FinishReason != nil {
				finish = *c.FinishReason
			}
		}
	}
	return b.String(), finish, usage
}

func TestNewRejectsBadOptions(t *testing.T) {
	cases := []struct {
		name string
		o    Options
	}{
		{"negative ttft", Options{TimeToFirstToken: -time.Second}},
		{"negative tps", Options{TokensPerSecond: -1}},
		{"infinite tps", Options{TokensPerSecond: math.Inf(1)}},
		{"error rate", Options{ErrorRate: 1.1}},
		{"nan rate", Options{RateLimitRate: math.NaN()}},
		{"sum", Options{ErrorRate: 0.7, RateLimitRate: 0.7}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.o); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

func TestCompleteIsDeterministicAndSaysSimulated(t *testing.T) {
	c := newClient(t, Options{Name: "sim"})
	ctx := context.Background()
	r1, err := c.Complete(ctx, userReq("llama-3-70b", "What is the capital of France?"))
	if err != nil {
		t.Fatal(err)
	}
	r2, err := c.Complete(ctx, userReq("llama-3-70b", "What is the capital of France?"))
	if err != nil {
		t.Fatal(err)
	}
	text := r1.Choices[0].Message.Content.Text()
	if text != r2.Choices[0].Message.Content.Text() || r1.ID != r2.ID {
		t.Errorf("answers differ:\n%q\n%q", text, r2.Choices[0].Message.Content.Text())
	}
	if !strings.HasPrefix(text, "[simulated llama-3-70b] ") || !strings.Contains(text, "capital of France?") {
		t.Errorf("text = %q", text)
	}
	if r1.Model != "llama-3-70b" || r1.Object != llm.ObjectChatCompletion || r1.Choices[0].FinishReason != llm.FinishStop {
		t.Errorf("response = %+v", r1)
	}
	u := r1.Usage
	if u == nil || u.PromptTokens <= 0 || u.CompletionTokens != len(splitWords(text)) || u.TotalTokens != u.PromptTokens+u.CompletionTokens {
		t.Errorf("usage = %+v", u)
	}
	other, _ := c.Complete(ctx, userReq("llama-3-70b", "Write a haiku about rain"))
	if other.Choices[0].Message.Content.Text() == text {
		t.Error("different questions got the same answer")
	}
}

func TestCompleteN(t *testing.T) {
	c := newClient(t, Options{})
	req := userReq("m", "hello there")
	req.N = llm.Ptr(3)
	r, err := c.Complete(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Choices) != 3 || r.Choices[2].Index != 2 {
		t.Fatalf("choices = %+v", r.Choices)
	}
	if r.Usage.CompletionTokens != 3*len(splitWords(r.Choices[0].Message.Content.Text())) {
		t.Errorf("usage = %+v", r.Usage)
	}
}

func TestStreamMatchesComplete(t *testing.T) {
	c := newClient(t, Options{TokensPerSecond: 10000})
	ctx := context.Background()
	req := userReq("claude-sonnet", "Explain circuit breakers in two sentences.")
	whole, err := c.Complete(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.Stream(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	chunks := collect(t, s)
	text, finish, usage := streamText(chunks)
	if want := whole.Choices[0].Message.Content.Text(); text != want {
		t.Errorf("stream text %q, want %q", text, want)
	}
	if finish != llm.FinishStop {
		t.Errorf("finish = %q", finish)
	}
	if usage == nil || *usage != *whole.Usage {
		t.Errorf("usage = %+v, want %+v", usage, whole.Usage)
	}
	first := chunks[0].Choices[0].Delta
	if first.Role != "assistant" || first.Content == nil || *first.Content != "" {
		t.Errorf("first delta = %+v", first)
	}
	last := chunks[len(chunks)-1]
	if len(last.Choices) != 0 || last.Usage == nil {
		t.Errorf("last chunk is not the usage chunk: %+v", last)
	}
	for _, ch := range chunks {
		if ch.Object != llm.ObjectChatCompletionChunk || ch.Model != "claude-sonnet" || ch.ID != whole.ID {
			t.Fatalf("chunk header = %+v", ch)
		}
	}
}

func TestPrefillContinues(t *testing.T) {
	c := newClient(t, Options{})
	ctx := context.Background()
	base := userReq("claude-opus", "List three uses of a hash map in practice.")
	whole, err := c.Complete(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	full := whole.Choices[0].Message.Content.Text()
	words := splitWords(full)
	cases := []struct {
		name, model, prefill, want string
	}{
		{"same model", "claude-opus", strings.Join(words[:5], ""), strings.Join(words[5:], "")},
		{"other model", "claude-sonnet", strings.Join(words[:6], ""), strings.Join(words[6:], "")},
		{"unrelated prefill", "claude-opus", "Sure! ", " " + stripTag(full)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := userReq(tc.model, base.Messages[1].Content.Text())
			req.Messages = append(req.Messages, llm.Message{Role: "assistant", Content: llm.TextContent(tc.prefill)})
			r, err := c.Complete(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			if got := r.Choices[0].Message.Content.Text(); got != tc.want {
				t.Errorf("continuation %q, want %q", got, tc.want)
			}
			s, err := c.Stream(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			if got, _, _ := streamText(collect(t, s)); got != tc.want {
				t.Errorf("streamed continuation %q, want %q", got, tc.want)
			}
		})
	}
}

func TestMaxTokensTruncates(t *testing.T) {
	c := newClient(t, Options{})
	req := userReq("m", "Tell me everything about distributed systems")
	req.MaxTokens = llm.Ptr(4)
	r, err := c.Complete(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if r.Choices[0].FinishReason != llm.FinishLength || r.Usage.CompletionTokens != 4 || len(splitWords(r.Choices[0].Message.Content.Text())) != 4 {
		t.Errorf("got %q finish %s usage %+v", r.Choices[0].Message.Content.Text(), r.Choices[0].FinishReason, r.Usage)
	}
}

var weatherTool = llm.Tool{Type: "function", Function: llm.ToolFunction{
	Name: "get_weather",
	Parameters: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"},"unit":{"type":"string","enum":["celsius","fahrenheit"]},
		"days":{"type":"integer"},"detailed":{"type":"boolean"}},"required":["city"]}`),
}}

var otherTool = llm.Tool{Type: "function", Function: llm.ToolFunction{Name: "get_time", Parameters: json.RawMessage(`{"type":"object","properties":{}}`)}}

func TestToolCalls(t *testing.T) {
	cases := []struct {
		name     string
		choice   string
		wantCall string // "" = text answer
	}{
		{"required", `"required"`, "get_weather"},
		{"auto after user", `"auto"`, "get_weather"},
		{"absent after user", ``, "get_weather"},
		{"named", `{"type":"function","function":{"name":"get_time"}}`, "get_time"},
		{"none", `"none"`, ""},
	}
	c := newClient(t, Options{})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := userReq("gpt-4o", "What's the weather in Paris?")
			req.Tools = []llm.Tool{weatherTool, otherTool}
			if tc.choice != "" {
				req.ToolChoice = json.RawMessage(tc.choice)
			}
			r, err := c.Complete(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			msg := r.Choices[0].Message
			if tc.wantCall == "" {
				if len(msg.ToolCalls) != 0 || r.Choices[0].FinishReason != llm.FinishStop {
					t.Fatalf("want a text answer, got %+v", r.Choices[0])
				}
				return
			}
			if len(msg.ToolCalls) != 1 || r.Choices[0].FinishReason != llm.FinishToolCalls || !msg.Content.IsNull() {
				t.Fatalf("want one tool call, got %+v", r.Choices[0])
			}
			call := msg.ToolCalls[0]
			if call.Function.Name != tc.wantCall || call.Type != "function" || !strings.HasPrefix(call.ID, "call_sim_") {
				t.Errorf("call = %+v", call)
			}
			var args map[string]any
			if err := json.Unmarshal([]byte(call.Function.Arguments), &args); err != nil {
				t.Fatalf("arguments %q: %v", call.Function.Arguments, err)
			}
			if tc.wantCall == "get_weather" {
				if args["unit"] != "celsius" || args["days"] != float64(1) || args["detailed"] != true || !strings.Contains(args["city"].(string), "Paris") {
					t.Errorf("arguments = %v", args)
				}
			}
			// The streamed call reassembles to the same call.
			s, err := c.Stream(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			var id, name, argBuf, finish string
			for _, ch := range collect(t, s) {
				for _, choice := range ch.Choices {
					for _, tcall := range choice.Delta.ToolCalls {
						if tcall.Index == nil || *tcall.Index != 0 {
							t.Fatalf("tool call delta without index 0: %+v", tcall)
						}
						id += tcall.ID
						name += tcall.Function.Name
						argBuf += tcall.Function.Arguments
					}
					if choice.FinishReason != nil {
						finish = *choice.FinishReason
					}
				}
			}
			if id != call.ID || name != call.Function.Name || argBuf != call.Function.Arguments || finish != llm.FinishToolCalls {
				t.Errorf("stream reassembled id=%q name=%q args=%q finish=%q; want %+v", id, name, argBuf, finish, call)
			}
		})
	}
}

func TestToolResultRoundTrip(t *testing.T) {
	c := newClient(t, Options{})
	ctx := context.Background()
	req := userReq("gpt-4o", "What's the weather in Paris?")
	req.Tools = []llm.Tool{weatherTool}
	r, err := c.Complete(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	call := r.Choices[0].Message.ToolCalls[0]
	req.Messages = append(req.Messages,
		llm.Message{Role: "assistant", ToolCalls: []llm.ToolCall{call}},
		llm.Message{Role: "tool", ToolCallID: call.ID, Content: llm.TextContent(`{"temp_c": 21, "sky": "clear"}`)})
	final, err := c.Complete(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	text := final.Choices[0].Message.Content.Text()
	if final.Choices[0].FinishReason != llm.FinishStop || !strings.Contains(text, `"temp_c": 21`) {
		t.Errorf("final = %q (%s)", text, final.Choices[0].FinishReason)
	}
}

func TestInjectedFailures(t *testing.T) {
	ctx := context.Background()
	t.Run("always 500", func(t *testing.T) {
		c := newClient(t, Options{Name: "sim-x", ErrorRate: 1})
		_, err := c.Complete(ctx, userReq("m", "hi"))
		var e *llm.Error
		if !errors.As(err, &e) || e.Kind != llm.KindUpstreamError || e.Status != 500 || e.Provider != "sim-x" || !e.SafeToRetry() {
			t.Fatalf("err = %#v", err)
		}
		if _, err := c.Stream(ctx, userReq("m", "hi")); !errors.As(err, &e) || e.Kind != llm.KindUpstreamError {
			t.Fatalf("stream err = %v", err)
		}
	})
	t.Run("always 429", func(t *testing.T) {
		c := newClient(t, Options{RateLimitRate: 1})
		_, err := c.Complete(ctx, userReq("m", "hi"))
		var e *llm.Error
		if !errors.As(err, &e) || e.Kind != llm.KindUpstreamRateLimited || e.Status != 429 || e.RetryAfter != RetryAfter {
			t.Fatalf("err = %#v", err)
		}
		if _, err := c.Embed(ctx, &llm.EmbeddingRequest{Model: "e", Input: []string{"x"}}); !errors.As(err, &e) || e.Kind != llm.KindUpstreamRateLimited {
			t.Fatalf("embed err = %v", err)
		}
	})
	t.Run("seeded sequence repeats and follows the rates", func(t *testing.T) {
		outcomes := func(seed int64) []llm.Kind {
			c := newClient(t, Options{ErrorRate: 0.3, RateLimitRate: 0.2, Seed: seed})
			var ks []llm.Kind
			for i := 0; i < 2000; i++ {
				_, err := c.Complete(ctx, userReq("m", "hi"))
				k := llm.Kind(255)
				if err != nil {
					k = llm.AsError(err).Kind
				}
				ks = append(ks, k)
			}
			return ks
		}
		a, b, other := outcomes(7), outcomes(7), outcomes(8)
		counts := map[llm.Kind]int{}
		same, differ := true, false
		for i := range a {
			counts[a[i]]++
			same = same && a[i] == b[i]
			differ = differ || a[i] != other[i]
		}
		if !same {
			t.Error("same seed gave different outcomes")
		}
		if !differ {
			t.Error("different seeds gave identical outcomes")
		}
		if n := counts[llm.KindUpstreamError]; n < 480 || n > 720 {
			t.Errorf("500s = %d of 2000, want about 600", n)
		}
		if n := counts[llm.KindUpstreamRateLimited]; n < 300 || n > 500 {
			t.Errorf("429s = %d of 2000, want about 400", n)
		}
	})
}

func TestInvalidRequest(t *testing.T) {
	c := newClient(t, Options{})
	_, err := c.Complete(context.Background(), &llm.Request{Model: "m"})
	if e := llm.AsError(err); e.Kind != llm.KindInvalidRequest || e.Param != "messages" {
		t.Fatalf("err = %v", err)
	}
}

func TestTimeToFirstTokenRespectsContext(t *testing.T) {
	c := newClient(t, Options{TimeToFirstToken: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { _, err := c.Stream(ctx, userReq("m", "hi")); done <- err }()
	select {
	case err := <-done:
		if e := llm.AsError(err); e.Kind != llm.KindTimeout || e.Sent {
			t.Fatalf("err = %#v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Stream ignored the context deadline")
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if _, err := c.Complete(ctx2, userReq("m", "hi")); llm.AsError(err).Kind != llm.KindCanceled {
		t.Fatalf("complete err = %v", err)
	}
}

// slowStream returns a stream whose tokens come every ~17 minutes, after
// reading the role chunk and first token.
func slowStream(t *testing.T, ctx context.Context) llm.Stream {
	t.Helper()
	c := newClient(t, Options{TokensPerSecond: 0.001})
	s, err := c.Stream(ctx, userReq("m", "a question with several words in it"))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if _, err := s.Recv(); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func TestCloseUnblocksRecv(t *testing.T) {
	s := slowStream(t, context.Background())
	done := make(chan error, 1)
	go func() { _, err := s.Recv(); done <- err }()
	time.Sleep(10 * time.Millisecond) // let Recv block (not required for correctness)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil || err == io.EOF {
			t.Fatalf("recv after close = %v, want an error", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not unblock Recv")
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if _, err := s.Recv(); err == nil || err == io.EOF {
		t.Errorf("recv on closed stream = %v", err)
	}
}

func TestContextEndsStreamMidAnswer(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	s := slowStream(t, ctx)
	defer s.Close()
	done := make(chan error, 1)
	go func() { _, err := s.Recv(); done <- err }()
	cancel()
	select {
	case err := <-done:
		e := llm.AsError(err)
		if e.Kind != llm.KindCanceled || !e.Sent {
			t.Fatalf("err = %#v, want canceled with Sent", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("cancel did not unblock Recv")
	}
}

func TestEmbed(t *testing.T) {
	c := newClient(t, Options{})
	ctx := context.Background()
	r, err := c.Embed(ctx, &llm.EmbeddingRequest{Model: "sim-embedding", Input: []string{
		"the cat sat on the mat", "the cat sat on the mat", "The cat sat on a mat!", "quarterly revenue grew sharply"}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Object != "list" || r.Model != "sim-embedding" || len(r.Data) != 4 || r.Usage == nil || r.Usage.PromptTokens == 0 {
		t.Fatalf("response = %+v", r)
	}
	v := func(i int) []float32 { return r.Data[i].Embedding }
	for i := range r.Data {
		if len(v(i)) != DefaultEmbeddingDim || r.Data[i].Index != i || r.Data[i].Object != "embedding" {
			t.Fatalf("data[%d] len %d", i, len(v(i)))
		}
		if n := dot(v(i), v(i)); math.Abs(n-1) > 1e-5 {
			t.Errorf("data[%d] norm² = %v", i, n)
		}
	}
	if dot(v(0), v(1)) < 0.99999 {
		t.Error("equal texts differ")
	}
	if near, far := dot(v(0), v(2)), dot(v(0), v(3)); near <= far {
		t.Errorf("near-duplicate %.3f not closer than unrelated %.3f", near, far)
	}
	r2, err := c.Embed(ctx, &llm.EmbeddingRequest{Model: "e", Input: []string{""}, Dimensions: llm.Ptr(64)})
	if err != nil || len(r2.Data[0].Embedding) != 64 {
		t.Fatalf("dimensions: %v %+v", err, r2)
	}
	for _, bad := range []*llm.EmbeddingRequest{{Model: "e"}, {Model: "e", Input: []string{"x"}, Dimensions: llm.Ptr(0)}} {
		if _, err := c.Embed(ctx, bad); llm.AsError(err).Kind != llm.KindInvalidRequest {
			t.Errorf("embed %+v: err = %v", bad, err)
		}
	}
}

func dot(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}

func TestConcurrentUse(t *testing.T) {
	c := newClient(t, Options{ErrorRate: 0.1, TokensPerSecond: 100000})
	ctx := context.Background()
	done := make(chan struct{})
	for g := 0; g < 8; g++ {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := 0; i < 50; i++ {
				if s, err := c.Stream(ctx, userReq("m", "concurrent")); err == nil {
					for {
						if _, err := s.Recv(); err != nil {
							break
						}
					}
					s.Close()
				}
			}
		}()
	}
	for g := 0; g < 8; g++ {
		<-done
	}
}
