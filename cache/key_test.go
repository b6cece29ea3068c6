package cache

import (
	"encoding/json"
	"testing"

	"llmrouter/llm"
)

func baseKeyRequest() *llm.Request {
	return &llm.Request{
		Model: "auto", Tier: llm.TierMedium, Tenant: "acme",
		Messages: []llm.Message{
			{Role: "system", Content: llm.TextContent("you are terse")},
			{Role: "user", Content: llm.TextContent("hello there, how are things going today?")},
		},
		Temperature: llm.Ptr(0.2), MaxTokens: llm.Ptr(100),
		Extra: map[string]json.RawMessage{"metadata": json.RawMessage(`{"a":1}`), "reasoning_effort": json.RawMessage(`"low"`)},
	}
}

// TestExactKeyChangesWithEveryAnswerChangingField flips one field at a time
// and requires a different key (a miss); harmless fields keep the key.
func TestExactKeyChangesWithEveryAnswerChangingField(t *testing.T) {
	tests := []struct {
		name   string
		change func(r *llm.Request)
		same   bool
	}{
		{"model alias", func(r *llm.Request) { r.Model = "sonnet" }, false},
		{"tier", func(r *llm.Request) { r.Tier = llm.TierLarge }, false},
		{"tenant", func(r *llm.Request) { r.Tenant = "other" }, false},
		{"system prompt", func(r *llm.Request) { r.Messages[0].Content = llm.TextContent("you are verbose") }, false},
		{"user text", func(r *llm.Request) {
			r.Messages[1].Content = llm.TextContent("hello there, how are things going today!")
		}, false},
		{"role", func(r *llm.Request) { r.Messages[0].Role = "developer" }, false},
		{"name", func(r *llm.Request) { r.Messages[1].Name = "bob" }, false},
		{"content as parts", func(r *llm.Request) {
			r.Messages[1].Content = llm.Content{Parts: []llm.ContentPart{{Type: "text", Text: "hello there, how are things going today?"}}}
		}, false},
		{"image part", func(r *llm.Request) {
			r.Messages[1].Content = llm.Content{Parts: []llm.ContentPart{{Type: "text", Text: "hello there, how are things going today?"},
				{Type: "image_url", ImageURL: &llm.ImageURL{URL: "https://x/y.png"}}}}
		}, false},
		{"null vs empty content", func(r *llm.Request) { r.Messages[0].Content = llm.Content{} }, false},
		{"extra message", func(r *llm.Request) {
			r.Messages = append(r.Messages, llm.Message{Role: "assistant", Content: llm.TextContent("ok")})
		}, false},
		{"tool calls", func(r *llm.Request) {
			r.Messages = append(r.Messages, llm.Message{Role: "assistant", ToolCalls: []llm.ToolCall{{ID: "c1", Type: "function", Function: llm.ToolCallFunction{Name: "f", Arguments: "{}"}}}})
		}, false},
		{"tool call id", func(r *llm.Request) { r.Messages[1].ToolCallID = "c1" }, false},
		{"tools", func(r *llm.Request) { r.Tools = []llm.Tool{{Type: "function", Function: llm.ToolFunction{Name: "f"}}} }, false},
		{"tool schema", func(r *llm.Request) {
			r.Tools = []llm.Tool{{Type: "function", Function: llm.ToolFunction{Name: "f", Parameters: json.RawMessage(`{"type":"object"}`)}}}
		}, false},
		{"tool_choice", func(r *llm.Request) { r.ToolChoice = json.RawMessage(`"required"`) }, false},
		{"parallel_tool_calls", func(r *llm.Request) { r.ParallelToolCalls = llm.Ptr(false) }, false},
		{"response_format", func(r *llm.Request) { r.ResponseFormat = json.RawMessage(`{"type":"json_object"}`) }, false},
		{"temperature", func(r *llm.Request) { r.Temperature = llm.Ptr(0.3) }, false},
		{"temperature absent", func(r *llm.Request) { r.Temperature = nil }, false},
		{"temperature zero", func(r *llm.Request) { r.Temperature = llm.Ptr(0.0) }, false},
		{"top_p", func(r *llm.Request) { r.TopP = llm.Ptr(0.9) }, false},
		{"max_tokens", func(r *llm.Request) { r.MaxTokens = llm.Ptr(101) }, false},
		{"max_completion_tokens", func(r *llm.Request) { r.MaxCompletionTokens = llm.Ptr(100) }, false},
		{"stop", func(r *llm.Request) { r.Stop = llm.Stop{"END"} }, false},
		{"stop split", func(r *llm.Request) { r.Stop = llm.Stop{"E", "ND"} }, false},
		{"seed", func(r *llm.Request) { r.Seed = llm.Ptr(int64(7)) }, false},
		{"n", func(r *llm.Request) { r.N = llm.Ptr(2) }, false},
		{"presence_penalty", func(r *llm.Request) { r.PresencePenalty = llm.Ptr(0.5) }, false},
		{"frequency_penalty", func(r *llm.Request) { r.FrequencyPenalty = llm.Ptr(0.5) }, false},
		{"logit_bias", func(r *llm.Request) { r.LogitBias = json.RawMessage(`{"50256":-100}`) }, false},
		{"logprobs", func(r *llm.Request) { r.Logprobs = llm.Ptr(true) }, false},
		{"top_logprobs", func(r *llm.Request) { r.TopLogprobs = llm.Ptr(3) }, false},
		{"unknown extra field", func(r *llm.Request) { r.Extra["reasoning_effort"] = json.RawMessage(`"high"`) }, false},
		{"new extra field", func(r *llm.Request) { r.Extra["verbosity"] = json.RawMessage(`"low"`) }, false},
		{"refusal in history", func(r *llm.Request) { r.Messages[1].Refusal = llm.Ptr("") }, false},
		// Harmless: these must not split the cache.
		{"user", func(r *llm.Request) { r.User = "u-123" }, true},
		{"stream", func(r *llm.Request) { r.Stream = true }, true},
		{"stream_options", func(r *llm.Request) { r.StreamOptions = &llm.StreamOptions{IncludeUsage: true} }, true},
		{"metadata", func(r *llm.Request) { r.Extra["metadata"] = json.RawMessage(`{"b":2}`) }, true},
		{"request id", func(r *llm.Request) { r.RequestID = "req-9" }, true},
		{"cache control", func(r *llm.Request) { r.CacheControl.NoStore = true }, true},
	}
	base := ExactKey("acme", 0, baseKeyRequest())
	if again := ExactKey("acme", 0, baseKeyRequest()); again != base {
		t.Fatal("same request, different keys")
	}
	if ExactKey("acme", 1, baseKeyRequest()) == base {
		t.Fatal("namespace version does not change the key")
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := baseKeyRequest()
			tt.change(r)
			got := ExactKey(r.Tenant, 0, r)
			if (got == base) != tt.same {
				t.Fatalf("key equal to base = %v, want %v", got == base, tt.same)
			}
		})
	}
}

func TestKeyEncodingIsUnambiguous(t *testing.T) {
	a := baseKeyRequest()
	a.Messages = []llm.Message{{Role: "user", Content: llm.TextContent("ab")}, {Role: "user", Content: llm.TextContent("c")}}
	b := baseKeyRequest()
	b.Messages = []llm.Message{{Role: "user", Content: llm.TextContent("a")}, {Role: "user", Content: llm.TextContent("bc")}}
	if ExactKey("t", 0, a) == ExactKey("t", 0, b) {
		t.Fatal("shifting text between messages kept the key")
	}
	c := baseKeyRequest()
	c.Stop = llm.Stop{"a,b"}
	d := baseKeyRequest()
	d.Stop = llm.Stop{"a", "b"}
	if ExactKey("t", 0, c) == ExactKey("t", 0, d) {
		t.Fatal("stop lists collide")
	}
}

func TestScopeKeyIgnoresOnlyTheFinalUserTurn(t *testing.T) {
	a, b := baseKeyRequest(), baseKeyRequest()
	b.Messages[1].Content = llm.TextContent("something else entirely, asked differently")
	if ScopeKey("acme", 0, a, "e", 8) != ScopeKey("acme", 0, b, "e", 8) {
		t.Fatal("final user turn changed the scope")
	}
	for name, change := range map[string]func(r *llm.Request){
		"system":      func(r *llm.Request) { r.Messages[0].Content = llm.TextContent("x") },
		"temperature": func(r *llm.Request) { r.Temperature = llm.Ptr(0.9) },
		"tier":        func(r *llm.Request) { r.Tier = llm.TierLarge },
		"model":       func(r *llm.Request) { r.Model = "sonnet" },
		"history": func(r *llm.Request) {
			r.Messages = append([]llm.Message{{Role: "user", Content: llm.TextContent("earlier")}}, r.Messages...)
		},
	} {
		c := baseKeyRequest()
		change(c)
		if ScopeKey("acme", 0, c, "e", 8) == ScopeKey("acme", 0, a, "e", 8) {
			t.Errorf("%s did not change the scope", name)
		}
	}
	if ScopeKey("acme", 0, a, "e", 8) == ScopeKey("acme", 0, a, "e2", 8) || ScopeKey("acme", 0, a, "e", 8) == ScopeKey("acme", 0, a, "e", 16) {
		t.Error("embedder name/dim not in scope")
	}
	if ScopeKey("acme", 0, a, "e", 8) == ScopeKey("other", 0, a, "e", 8) {
		t.Error("tenant not in scope")
	}
}

func FuzzExactKeyDeterministic(f *testing.F) {
	f.Add("hello", "sys", 0.5, "stop")
	f.Fuzz(func(t *testing.T, user, sys string, temp float64, stop string) {
		mk := func() *llm.Request {
			r := baseKeyRequest()
			r.Messages[0].Content = llm.TextContent(sys)
			r.Messages[1].Content = llm.TextContent(user)
			r.Temperature = llm.Ptr(temp)
			r.Stop = llm.Stop{stop}
			return r
		}
		k1, k2 := ExactKey("t", 0, mk()), ExactKey("t", 0, mk())
		if k1 != k2 {
			t.Fatal("not deterministic")
		}
		r := mk()
		r.Messages[1].Content = llm.TextContent(user + "x")
		if ExactKey("t", 0, r) == k1 {
			t.Fatal("different user text, same key")
		}
	})
}

func BenchmarkExactKey(b *testing.B) {
	r := baseKeyRequest()
	b.ReportAllocs()
	for b.Loop() {
		_ = ExactKey("acme", 3, r)
	}
}

func TestExactKeyAllocs(t *testing.T) {
	r := baseKeyRequest()
	r.Extra = nil
	if n := testing.AllocsPerRun(200, func() { _ = ExactKey("acme", 3, r) }); n > 0 {
		t.Fatalf("ExactKey allocates %v times per call without Extra fields", n)
	}
}
