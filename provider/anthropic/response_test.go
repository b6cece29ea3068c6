package anthropic

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"llmrouter/llm"
	"llmrouter/llm/llmtest"
)

// fixtureDir is where the shared wire fixtures live; LLMROUTER_FIXTURES
// overrides it.
func fixtureDir(t testing.TB) string {
	t.Helper()
	return filepath.Join(llmtest.SharedDir(t), "fixtures", "anthropic")
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtureDir(t), name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestToResponseFixtures(t *testing.T) {
	tests := []struct {
		file               string
		id, model, content string
		contentNull        bool
		finish             string
		toolName, toolArgs string
		prompt, completion int
	}{
		{
			file: "messages-text.json", id: "msg_01VdEjxAP5ahtHKrrRdNBteQ", model: "claude-sonnet-4-5-20250929",
			content: "Hello! I'm doing well, thanks for asking. How are you doing today? Is there anything I can help you with?",
			finish:  "stop", prompt: 12, completion: 29,
		},
		{
			file: "messages-tool-use.json", id: "msg_01UBZt9MX63Tk3v1gKvgxk3A", model: "claude-haiku-4-5-20251001",
			content: "I'll get the weather for each of those cities. Let me start by checking San Francisco.",
			finish:  "tool_calls", toolName: "get_weather", toolArgs: `{"location":"San Francisco, CA","units":"f"}`,
			prompt: 701, completion: 93,
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			var m msgResponse
			if err := json.Unmarshal(readFixture(t, tt.file), &m); err != nil {
				t.Fatal(err)
			}
			r := toResponse(&m, "", 1700000000)
			if r.ID != tt.id || r.Model != tt.model || r.Object != "chat.completion" || r.Created != 1700000000 {
				t.Errorf("header fields: %+v", r)
			}
			c := r.Choices[0]
			if c.Message.Role != "assistant" || c.Message.Content.Text() != tt.content || c.FinishReason != tt.finish {
				t.Errorf("message: %+v finish %q", c.Message, c.FinishReason)
			}
			if tt.toolName != "" {
				if len(c.Message.ToolCalls) != 1 {
					t.Fatalf("tool calls: %+v", c.Message.ToolCalls)
				}
				tc := c.Message.ToolCalls[0]
				if tc.ID != "toolu_01LRanfq6DmHn1yDTB4d1SAh" || tc.Type != "function" || tc.Function.Name != tt.toolName || tc.Function.Arguments != tt.toolArgs {
					t.Errorf("tool call: %+v", tc)
				}
			}
			u := r.Usage
			if u.PromptTokens != tt.prompt || u.CompletionTokens != tt.completion || u.TotalTokens != tt.prompt+tt.completion {
				t.Errorf("usage: %+v", u)
			}
		})
	}
}

func TestToResponseShapes(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		ws    string
		check func(t *testing.T, r *llm.Response)
	}{
		{
			name: "thinking goes to reasoning_content, whole blocks to thinking_blocks",
			body: `{"id":"msg_1","type":"message","model":"claude-x-1","content":[{"type":"thinking","thinking":"let me think","signature":"SIG123"},{"type":"redacted_thinking","data":"xx"},{"type":"text","text":"answer"}],"stop_reason":"end_turn","usage":{"input_tokens":3,"output_tokens":4}}`,
			check: func(t *testing.T, r *llm.Response) {
				m := r.Choices[0].Message
				if m.ReasoningContent != "let me think" || m.Content.Text() != "answer" {
					t.Errorf("message: %+v", m)
				}
				want := []llm.ThinkingBlock{{Type: "thinking", Thinking: "let me think", Signature: "SIG123"}, {Type: "redacted_thinking", Data: "xx"}}
				if !reflect.DeepEqual(m.ThinkingBlocks, want) {
					t.Errorf("thinking blocks %+v, want %+v", m.ThinkingBlocks, want)
				}
			},
		},
		{
			name: "tool only: content null, no-input tool gets {}",
			body: `{"id":"msg_2","type":"message","model":"m","content":[{"type":"tool_use","id":"t1","name":"now","input":{}},{"type":"tool_use","id":"t2","name":"ping"}],"stop_reason":"tool_use","usage":{"input_tokens":1,"output_tokens":1}}`,
			check: func(t *testing.T, r *llm.Response) {
				m := r.Choices[0].Message
				if !m.Content.IsNull() || len(m.ToolCalls) != 2 || m.ToolCalls[0].Function.Arguments != "{}" || m.ToolCalls[1].Function.Arguments != "{}" {
					t.Errorf("message: %+v", m)
				}
			},
		},
		{
			name: "text blocks concatenated; cache counters in usage",
			body: `{"id":"msg_3","type":"message","model":"m","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}],"stop_reason":"max_tokens","usage":{"input_tokens":10,"cache_read_input_tokens":100,"cache_creation_input_tokens":5,"output_tokens":7}}`,
			check: func(t *testing.T, r *llm.Response) {
				if r.Choices[0].Message.Content.Text() != "ab" || r.Choices[0].FinishReason != "length" {
					t.Errorf("choice: %+v", r.Choices[0])
				}
				u := r.Usage
				if u.PromptTokens != 115 || u.CompletionTokens != 7 || u.TotalTokens != 122 ||
					u.PromptTokensDetails.CachedTokens != 100 || u.PromptTokensDetails.CacheCreationTokens != 5 {
					t.Errorf("usage: %+v %+v", u, u.PromptTokensDetails)
				}
			},
		},
		{
			name: "prefill whitespace removed from the continuation once",
			body: `{"id":"msg_4","type":"message","model":"m","content":[{"type":"text","text":" three"}],"stop_reason":"end_turn","usage":{}}`,
			ws:   " ",
			check: func(t *testing.T, r *llm.Response) {
				if got := r.Choices[0].Message.Content.Text(); got != "three" {
					t.Errorf("content = %q", got)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m msgResponse
			if err := json.Unmarshal([]byte(tt.body), &m); err != nil {
				t.Fatal(err)
			}
			tt.check(t, toResponse(&m, tt.ws, 1))
		})
	}
}

func TestFinishReason(t *testing.T) {
	for in, want := range map[string]string{
		"end_turn": "stop", "stop_sequence": "stop", "pause_turn": "stop", "": "stop", "something_new": "stop",
		"max_tokens": "length", "model_context_window_exceeded": "length",
		"tool_use": "tool_calls", "refusal": "content_filter",
	} {
		t.Run(in, func(t *testing.T) {
			if got := finishReason(in); got != want {
				t.Errorf("finishReason(%q) = %q, want %q", in, got, want)
			}
		})
	}
}
