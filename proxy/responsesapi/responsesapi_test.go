package responsesapi

import (
	"bufio"
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"llmrouter/llm"
)

func TestDecode(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		check func(t *testing.T, r *llm.Request)
		param string
	}{
		{name: "string input with instructions", body: `{"model":"m","instructions":"terse","input":"hi","max_output_tokens":9}`,
			check: func(t *testing.T, r *llm.Request) {
				if len(r.Messages) != 2 || r.Messages[0].Role != "system" || r.Messages[1].Content.Str != "hi" || *r.MaxCompletionTokens != 9 {
					t.Errorf("%+v", r.Messages)
				}
			}},
		{name: "items: calls grouped, outputs as tool messages", body: `{"model":"m","input":[
			{"role":"user","content":[{"type":"input_text","text":"q"}]},
			{"type":"function_call","call_id":"c1","name":"f","arguments":"{}"},
			{"type":"function_call","call_id":"c2","name":"g","arguments":"{\"a\":1}"},
			{"type":"function_call_output","call_id":"c1","output":"r1"},
			{"type":"function_call_output","call_id":"c2","output":[{"type":"output_text","text":"r2"}]}]}`,
			check: func(t *testing.T, r *llm.Request) {
				if len(r.Messages) != 4 || len(r.Messages[1].ToolCalls) != 2 || r.Messages[1].ToolCalls[1].Function.Arguments != `{"a":1}` ||
					r.Messages[2].ToolCallID != "c1" || r.Messages[3].Content.Str != "r2" {
					t.Errorf("%+v", r.Messages)
				}
			}},
		{name: "json_schema format and tools", body: `{"model":"m","input":"x","tools":[{"type":"function","name":"f","parameters":{"type":"object"}}],"tool_choice":{"type":"function","name":"f"},"text":{"format":{"type":"json_schema","name":"p","schema":{"type":"object"},"strict":true}}}`,
			check: func(t *testing.T, r *llm.Request) {
				var rf struct {
					Type       string
					JSONSchema struct {
						Name   string
						Schema json.RawMessage
					} `json:"json_schema"`
				}
				if json.Unmarshal(r.ResponseFormat, &rf) != nil || rf.Type != "json_schema" || rf.JSONSchema.Name != "p" || string(rf.JSONSchema.Schema) != `{"type":"object"}` {
					t.Errorf("response_format %s", r.ResponseFormat)
				}
				if string(r.ToolChoice) != `{"function":{"name":"f"},"type":"function"}` || r.Tools[0].Function.Name != "f" {
					t.Errorf("tools %s %+v", r.ToolChoice, r.Tools)
				}
			}},
		{name: "store false is fine", body: `{"model":"m","input":"x","store":false}`, check: func(t *testing.T, r *llm.Request) {}},
		{name: "store true", body: `{"model":"m","input":"x","store":true}`, param: "store"},
		{name: "previous_response_id", body: `{"model":"m","input":"x","previous_response_id":"resp_1"}`, param: "previous_response_id"},
		{name: "background", body: `{"model":"m","input":"x","background":true}`, param: "background"},
		{name: "no input", body: `{"model":"m","instructions":"x"}`, param: "input"},
		{name: "hosted tool", body: `{"model":"m","input":"x","tools":[{"type":"web_search"}]}`, param: "tools[0].type"},
		{name: "bad item", body: `{"model":"m","input":[{"type":"computer_call"}]}`, param: "input[0].type"},
		{name: "no model", body: `{"input":"x"}`, param: "model"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, e := Decode([]byte(tt.body))
			if tt.check == nil {
				if e == nil || e.Param != tt.param || e.Kind != llm.KindInvalidRequest {
					t.Fatalf("want an error about %q, got %v", tt.param, e)
				}
				if strings.HasPrefix(tt.name, "store") || tt.param == "previous_response_id" {
					if !strings.Contains(e.Message, "stateless") {
						t.Errorf("message %q does not say the gateway is stateless", e.Message)
					}
				}
				return
			}
			if e != nil {
				t.Fatal(e)
			}
			tt.check(t, r)
		})
	}
}

func sp(s string) *string { return &s }

func TestStreamEncoderGolden(t *testing.T) {
	chunk := func(d llm.Delta, finish *string) *llm.Chunk {
		return &llm.Chunk{ID: "c", Model: "m", Created: 7, Choices: []llm.ChunkChoice{{Delta: d, FinishReason: finish}}}
	}
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	enc := NewStreamEncoder()
	for _, c := range []*llm.Chunk{
		chunk(llm.Delta{Role: "assistant", Content: sp("")}, nil),
		chunk(llm.Delta{Content: sp("Hi"), ToolCalls: []llm.ToolCall{{Index: llm.Ptr(0), ID: "call_1", Function: llm.ToolCallFunction{Name: "f", Arguments: `{"a"`}}}}, nil),
		chunk(llm.Delta{ToolCalls: []llm.ToolCall{{Index: llm.Ptr(0), Function: llm.ToolCallFunction{Arguments: `:1}`}}}}, nil),
		chunk(llm.Delta{}, sp("tool_calls")),
		{ID: "c", Choices: []llm.ChunkChoice{}, Usage: &llm.Usage{PromptTokens: 4, CompletionTokens: 2, TotalTokens: 6, PromptTokensDetails: &llm.PromptTokensDetails{CachedTokens: 3}}},
	} {
		if _, err := enc.Chunk(w, c); err != nil {
			t.Fatal(err)
		}
	}
	if err := enc.Finish(w); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	var types []string
	var last map[string]any
	for i, blk := range strings.Split(strings.TrimSpace(buf.String()), "\n\n") {
		name, data, _ := strings.Cut(blk, "\ndata: ")
		var v map[string]any
		if err := json.Unmarshal([]byte(data), &v); err != nil {
			t.Fatal(err)
		}
		if v["sequence_number"].(float64) != float64(i) || "event: "+v["type"].(string) != name {
			t.Errorf("event %d: %s", i, blk)
		}
		types = append(types, v["type"].(string))
		last = v
	}
	want := "response.created response.in_progress response.output_item.added response.content_part.added response.output_text.delta " +
		"response.output_text.done response.content_part.done response.output_item.done response.output_item.added " +
		"response.function_call_arguments.delta response.function_call_arguments.delta response.function_call_arguments.done " +
		"response.output_item.done response.completed"
	if strings.Join(types, " ") != want {
		t.Errorf("events\n%s\nwant\n%s", strings.Join(types, " "), want)
	}
	b, _ := json.Marshal(last["response"])
	for _, s := range []string{`"arguments":"{\"a\":1}"`, `"call_id":"call_1"`, `"text":"Hi"`, `"cached_tokens":3`, `"status":"completed"`} {
		if !strings.Contains(string(b), s) {
			t.Errorf("completed response lacks %s: %s", s, b)
		}
	}

	buf.Reset()
	enc = NewStreamEncoder()
	enc.Chunk(w, chunk(llm.Delta{Content: sp("x")}, nil))
	enc.Error(w, "upstream_error", "boom", "")
	w.Flush()
	if !strings.Contains(buf.String(), "event: error\ndata: {\"code\":\"upstream_error\",\"message\":\"boom\",\"param\":null,\"sequence_number\":5,\"type\":\"error\"}") {
		t.Errorf("error event: %s", buf.String())
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"model":"m","input":[{"type":"function_call","call_id":"c","name":"f","arguments":"{}"}]}`))
	f.Add([]byte(`{"model":"m","input":"x","text":{"format":{"type":"json_schema","name":"n","schema":{}}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, e := Decode(b)
		if (r == nil) == (e == nil) || (e != nil && e.Kind != llm.KindInvalidRequest) {
			t.Fatalf("bad result %v %v", r, e)
		}
	})
}
