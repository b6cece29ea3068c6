package router

import (
	"context"
	"strings"
	"testing"
	"time"

	"llmrouter/llm"
	"llmrouter/provider/anthropic"
	fakehttp "llmrouter/provider/fake"
)

// End-to-end: router -> Anthropic client -> fake Messages API over real
// loopback HTTP and SSE.

func anthropicClient(t *testing.T, name, url string) *anthropic.Client {
	t.Helper()
	c, err := anthropic.New(anthropic.Options{Name: name, BaseURL: url, APIKey: "k"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func e2eRouter(t *testing.T, chain []Target, clients map[string]llm.Completer) *Router {
	t.Helper()
	o := testOptions(chain)
	o.Providers = clients
	return mustNew(t, o)
}

func e2eReq(stream bool) *llm.Request {
	r := &llm.Request{Model: "m", Stream: stream, Meta: &llm.Meta{}, MaxTokens: llm.Ptr(200),
		Messages: []llm.Message{{Role: "user", Content: llm.TextContent("tell me a short story about a fox")}}}
	return r
}

func TestE2ECutsStreamMidAnswerContinuesWithPrefill(t *testing.T) {
	cut := fakehttp.Start(t, fakehttp.Anthropic(fakehttp.AnthropicOptions{CutMidStream: true}))
	whole := fakehttp.Start(t, fakehttp.Anthropic(fakehttp.AnthropicOptions{}))
	pa := Target{Provider: "cut", Model: "claude-a"}
	pb := Target{Provider: "whole", Model: "claude-b", Prefill: true}
	r := e2eRouter(t, []Target{pa, pb}, map[string]llm.Completer{
		"cut": anthropicClient(t, "cut", cut.URL), "whole": anthropicClient(t, "whole", whole.URL)})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := r.Stream(ctx, e2eReq(true))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	got, chunks, err := drain(t, st)
	want := "echo: tell me a short story about a fox"
	if err != nil || got != want {
		t.Fatalf("client got %q, %v; want %q", got, err, want)
	}
	if cut.Requests() != 1 || whole.Requests() != 1 {
		t.Fatalf("requests cut=%d whole=%d", cut.Requests(), whole.Requests())
	}
	if m := chunks[len(chunks)-2].Model; !strings.HasPrefix(m, "claude-b") {
		t.Fatalf("continuation chunks should name the model that answered, got %q", m)
	}
}

// TestE2ECutWithoutPrefillRegenerates: a stream cut mid-answer with only a
// non-prefill fallback is regenerated there over real HTTP; the fallback's
// answer begins with the delivered text, so the client gets it whole, once.
func TestE2ECutWithoutPrefillRegenerates(t *testing.T) {
	cut := fakehttp.Start(t, fakehttp.Anthropic(fakehttp.AnthropicOptions{CutMidStream: true}))
	whole := fakehttp.Start(t, fakehttp.Anthropic(fakehttp.AnthropicOptions{}))
	r := e2eRouter(t, []Target{{Provider: "cut", Model: "claude-a"}, {Provider: "whole", Model: "claude-b"}},
		map[string]llm.Completer{"cut": anthropicClient(t, "cut", cut.URL), "whole": anthropicClient(t, "whole", whole.URL)})
	st, err := r.Stream(context.Background(), e2eReq(true))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	got, _, err := drain(t, st)
	if want := "echo: tell me a short story about a fox"; err != nil || got != want {
		t.Fatalf("client got %q, %v; want %q exactly once", got, err, want)
	}
	if cut.Requests() != 1 || whole.Requests() != 1 {
		t.Fatalf("requests cut=%d whole=%d, want 1 and 1", cut.Requests(), whole.Requests())
	}
}

func TestE2ERateLimitedWithRetryAfterAndRefusedConnections(t *testing.T) {
	limited := fakehttp.Start(t, fakehttp.Anthropic(fakehttp.AnthropicOptions{RateLimited429: true, RetryAfterSeconds: 30}))
	overloaded := fakehttp.Start(t, fakehttp.Anthropic(fakehttp.AnthropicOptions{Overloaded529: true}))
	ok := fakehttp.Start(t, fakehttp.Anthropic(fakehttp.AnthropicOptions{}))
	refused := fakehttp.RefusesConnections(t)
	chain := []Target{{Provider: "limited", Model: "x"}, {Provider: "refused", Model: "x"},
		{Provider: "overloaded", Model: "x"}, {Provider: "ok", Model: "claude-ok"}}
	r := e2eRouter(t, chain, map[string]llm.Completer{
		"limited":    anthropicClient(t, "limited", limited.URL),
		"refused":    anthropicClient(t, "refused", refused),
		"overloaded": anthropicClient(t, "overloaded", overloaded.URL),
		"ok":         anthropicClient(t, "ok", ok.URL),
	})
	start := time.Now()
	for i := 0; i < 3; i++ {
		req := e2eReq(false)
		resp, err := r.Complete(context.Background(), req)
		if err != nil || !strings.HasPrefix(text(resp), "echo: ") {
			t.Fatalf("request %d: %v %v", i, resp, err)
		}
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("took %v", el)
	}
	// 429 with Retry-After: one request, then set aside for 30 s. 529 and
	// refused connections: 2 attempts on the first request, 1 on the
	// second (the third consecutive failure opens the breaker), none after.
	if limited.Requests() != 1 {
		t.Fatalf("rate-limited upstream got %d requests, want 1 (set aside 30 s)", limited.Requests())
	}
	if overloaded.Requests() != 3 || ok.Requests() != 3 {
		t.Fatalf("overloaded=%d ok=%d", overloaded.Requests(), ok.Requests())
	}
}
