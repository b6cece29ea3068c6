package openai

import (
	"errors"
	"io"
	"testing"

	"llmrouter/llm"
)

func TestParseChunk(t *testing.T) {
	tests := []struct {
		name    string
		event   string
		data    string
		skip    bool
		err     error
		kind    llm.Kind
		content string
	}{
		{name: "done", data: "[DONE]", err: io.EOF},
		{name: "content", data: `{"id":"x","choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}],"obfuscation":"q"}`, content: "hi"},
		{name: "usage only", data: `{"id":"x","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}`},
		{name: "azure prompt filter", data: `{"choices":[],"id":"","prompt_filter_results":[]}`, skip: true},
		{name: "error object", data: `{"error":{"message":"boom","type":"server_error","code":null}}`, kind: llm.KindUpstreamError},
		{name: "rate limit error", data: `{"error":{"message":"slow","type":"rate_limit_exceeded","code":"rate_limit_exceeded"}}`, kind: llm.KindUpstreamRateLimited},
		{name: "error event", event: "error", data: `{}`, kind: llm.KindUpstreamError},
		{name: "malformed", data: `{"id":`, kind: llm.KindUpstreamError},
		{name: "not an object", data: `[1]`, kind: llm.KindUpstreamError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseChunk("p", tt.event, []byte(tt.data))
			switch {
			case tt.err != nil:
				if err != tt.err {
					t.Fatalf("err = %v", err)
				}
			case tt.kind != 0:
				var e *llm.Error
				if !errors.As(err, &e) || e.Kind != tt.kind {
					t.Fatalf("err = %v", err)
				}
			case tt.skip:
				if c != nil || err != nil {
					t.Fatalf("not skipped: %+v %v", c, err)
				}
			default:
				if err != nil || c == nil {
					t.Fatalf("%+v %v", c, err)
				}
				if tt.content != "" && *c.Choices[0].Delta.Content != tt.content {
					t.Fatalf("content %q", *c.Choices[0].Delta.Content)
				}
			}
		})
	}
}

func FuzzParseChunk(f *testing.F) {
	f.Add("", []byte(`{"id":"x","choices":[{"index":0,"delta":{"content":"hi","tool_calls":[{"index":0,"function":{"arguments":"{"}}]},"finish_reason":"stop"}],"usage":null}`))
	f.Add("", []byte("[DONE]"))
	f.Add("error", []byte(`{"error":{"message":"m","code":429}}`))
	f.Add("", []byte(`{"choices":[],"usage":{"prompt_tokens":1}}`))
	f.Fuzz(func(t *testing.T, event string, data []byte) {
		c, err := parseChunk("p", event, data)
		if err != nil {
			if err == io.EOF {
				return
			}
			var e *llm.Error
			if !errors.As(err, &e) || (e.Kind != llm.KindUpstreamError && e.Kind != llm.KindUpstreamRateLimited) {
				t.Fatalf("error of wrong type: %v", err)
			}
			if c != nil {
				t.Fatal("chunk and error")
			}
			return
		}
		if c != nil && len(c.Choices) == 0 && c.Usage == nil {
			t.Fatal("empty chunk not skipped")
		}
	})
}
