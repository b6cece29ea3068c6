package anthropicapi

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
		param string // want an error naming this param
	}{
		{name: "system string and text", body: `{"model":"m","max_tokens":5,"system":"be terse","messages":[{"role":"user","content":"hi"}]}`,
			check: func(t *testing.T, r *llm.Request) {
				if len(r.Messages) != 2 || r.Messages[0].Role != "system" || r.Messages[0].Content.Str != "be terse" || r.Messages[1].Content.Str != "hi" {
					t.Errorf("messages %+v", r.Messages)
				}
				if r.Native == nil || r.Native.API != llm.APIAnthropicMessages || r.Native.Messages != 2 {
					t.Errorf("native %+v", r.Native)
				}
			}},
		{name: "cache_control kept raw on system, tools and blocks", body: `{"model":"m","max_tokens":5,
			"system":[{"type":"text","text":"a","cache_control":{"type":"ephemeral", "ttl":"1h"}}],
			"tools":[{"name":"f","input_schema":{"type":"object"},"cache_control":{"type":"ephemeral"}}],
			"messages":[{"role":"user","content":[{"type":"text","text":"x","cache_control":{"type":"ephemeral"}}]}]}`,
			check: func(t *testing.T, r *llm.Request) {
				if got := string(r.Messages[0].Content.Parts[0].CacheControl); got != `{"type":"ephemeral", "ttl":"1h"}` {
					t.Errorf("system cache_control %s", got)
				}
				if string(r.Tools[0].CacheControl) != `{"type":"ephemeral"}` || string(r.Messages[1].Content.Parts[0].CacheControl) != `{"type":"ephemeral"}` {
					t.Errorf("tool/message cache_control lost: %+v", r)
				}
			}},
		{name: "tool results first, thinking kept whole", body: `{"model":"m","max_tokens":5,"messages":[
			{"role":"user","content":"q"},
			{"role":"assistant","content":[{"type":"thinking","thinking":"hm","signature":"S"},{"type":"redacted_thinking","data":"D"},{"type":"tool_use","id":"t1","name":"f","input":{"a":1}}]},
			{"role":"user","content":[{"type":"text","text":"and"},{"type":"tool_result","tool_use_id":"t1","content":[{"type":"text","text":"42"}]}]}]}`,
			check: func(t *testing.T, r *llm.Request) {
				a := r.Messages[1]
				if len(a.ThinkingBlocks) != 2 || a.ThinkingBlocks[0].Signature != "S" || a.ThinkingBlocks[1].Data != "D" || a.ReasoningContent != "hm" {
					t.Errorf("thinking %+v", a)
				}
				if a.ToolCalls[0].ID != "t1" || a.ToolCalls[0].Function.Arguments != `{"a":1}` {
					t.Errorf("tool call %+v", a.ToolCalls)
				}
				if r.Messages[2].Role != "tool" || r.Messages[2].Content.Str != "42" || r.Messages[3].Content.Str != "and" {
					t.Errorf("order %+v", r.Messages[2:])
				}
			}},
		{name: "tool_choice any and unknown fields", body: `{"model":"m","max_tokens":5,"top_k":3,"thinking":{"type":"enabled","budget_tokens":1024},"tools":[{"name":"f","input_schema":{}}],"tool_choice":{"type":"any","disable_parallel_tool_use":true},"messages":[{"role":"user","content":"q"}]}`,
			check: func(t *testing.T, r *llm.Request) {
				if string(r.ToolChoice) != `"required"` || r.ParallelToolCalls == nil || *r.ParallelToolCalls {
					t.Errorf("tool choice %s %v", r.ToolChoice, r.ParallelToolCalls)
				}
				if string(r.Extra["top_k"]) != "3" || len(r.Extra["thinking"]) == 0 || len(r.Extra) != 2 {
					t.Errorf("extra %v", r.Extra)
				}
			}},
		{name: "missing max_tokens", body: `{"model":"m","messages":[{"role":"user","content":"q"}]}`, param: "max_tokens"},
		{name: "missing model", body: `{"max_tokens":1,"messages":[{"role":"user","content":"q"}]}`, param: "model"},
		{name: "no messages", body: `{"model":"m","max_tokens":1,"messages":[]}`, param: "messages"},
		{name: "bad role", body: `{"model":"m","max_tokens":1,"messages":[{"role":"system","content":"q"}]}`, param: "messages.0.role"},
		{name: "bad content", body: `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":5}]}`, param: "messages.0.content"},
		{name: "tool_use in user turn", body: `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"tool_use","id":"a","name":"b"}]}]}`, param: "messages.0.content.0.type"},
		{name: "bad tool_choice", body: `{"model":"m","max_tokens":1,"tool_choice":{"type":"x"},"messages":[{"role":"user","content":"q"}]}`, param: "tool_choice.type"},
		{name: "wrong type", body: `{"model":"m","max_tokens":"5","messages":[{"role":"user","content":"q"}]}`, param: "max_tokens"},
		{name: "not json", body: `{`, param: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, e := Decode([]byte(tt.body), Headers{Version: "2023-06-01"}, false)
			if tt.check == nil {
				if e == nil || e.Kind != llm.KindInvalidRequest || e.Param != tt.param {
					t.Fatalf("want invalid request about %q, got %v", tt.param, e)
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

func TestErrorTableCoversEveryKind(t *testing.T) {
	for _, k := range llm.Kinds() {
		if int(k) >= len(errorTable) || errorTable[k].Status == 0 || errorTable[k].Type == "" {
			t.Errorf("kind %s has no row", k)
		}
	}
	tests := []struct {
		e      llm.Error
		status int
		typ    string
	}{
		{llm.Error{Kind: llm.KindUnauthenticated}, 401, "authentication_error"},
		{llm.Error{Kind: llm.KindUnknownModel}, 404, "not_found_error"},
		{llm.Error{Kind: llm.KindInvalidRequest, Status: 413}, 413, "request_too_large"},
		{llm.Error{Kind: llm.KindInvalidRequest, Status: 401}, 400, "invalid_request_error"},
		{llm.Error{Kind: llm.KindUpstreamRateLimited}, 429, "rate_limit_error"},
		{llm.Error{Kind: llm.KindUpstreamError, Status: 529}, 529, "overloaded_error"},
		{llm.Error{Kind: llm.KindUpstreamError, Status: 500}, 502, "api_error"},
		{llm.Error{Kind: llm.KindOverloaded}, 529, "overloaded_error"},
		{llm.Error{Kind: llm.KindTimeout}, 504, "timeout_error"},
	}
	for _, tt := range tests {
		status, body := ErrorBody(&tt.e, "msg")
		var b struct {
			Type  string `json:"type"`
			Error struct{ Type, Message string }
		}
		if err := json.Unmarshal(body, &b); err != nil || status != tt.status || b.Type != "error" || b.Error.Type != tt.typ || b.Error.Message != "msg" {
			t.Errorf("%+v: %d %s, want %d %s", tt.e, status, body, tt.status, tt.typ)
		}
	}
}

func sp(s string) *string { return &s }

// TestStreamEncoderGolden pins the event sequence for every delta kind the
// canonical stream carries.
func TestStreamEncoderGolden(t *testing.T) {
	chunk := func(d llm.Delta, finish *string) *llm.Chunk {
		return &llm.Chunk{ID: "chatcmpl-1", Model: "m", Choices: []llm.ChunkChoice{{Delta: d, FinishReason: finish}}}
	}
	chunks := []*llm.Chunk{
		chunk(llm.Delta{Role: "assistant", Content: sp("")}, nil),
		chunk(llm.Delta{ReasoningContent: sp("hm")}, nil),
		chunk(llm.Delta{ThinkingBlocks: []llm.ThinkingBlock{{Type: "thinking", Signature: "SIG"}}}, nil),
		chunk(llm.Delta{ThinkingBlocks: []llm.ThinkingBlock{{Type: "redacted_thinking", Data: "RD"}}}, nil),
		chunk(llm.Delta{Content: sp("Hi"), ToolCalls: []llm.ToolCall{{Index: llm.Ptr(0), ID: "c1", Type: "function", Function: llm.ToolCallFunction{Name: "f", Arguments: `{"a":`}}}}, nil),
		chunk(llm.Delta{ToolCalls: []llm.ToolCall{{Index: llm.Ptr(0), Function: llm.ToolCallFunction{Arguments: `1}`}}}}, nil),
		chunk(llm.Delta{ToolCalls: []llm.ToolCall{{Index: llm.Ptr(1), ID: "c2", Type: "function", Function: llm.ToolCallFunction{Name: "g"}}}}, nil),
		chunk(llm.Delta{}, sp("tool_calls")),
		{ID: "chatcmpl-1", Choices: []llm.ChunkChoice{}, Usage: &llm.Usage{PromptTokens: 10, CompletionTokens: 3, TotalTokens: 13,
			PromptTokensDetails: &llm.PromptTokensDetails{CachedTokens: 6, CacheCreationTokens: 2}}},
	}
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	enc := NewStreamEncoder()
	for _, c := range chunks {
		if _, err := enc.Chunk(w, c); err != nil {
			t.Fatal(err)
		}
	}
	if err := enc.Finish(w); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	want := []string{
		`message_start {"type":"message_start","message":{"id":"msg_chatcmpl-1","type":"message","role":"assistant","model":"m","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":0,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":0}}}`,
		`ping {"type":"ping"}`,
		`content_block_start {"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}`,
		`content_block_delta {"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"hm"}}`,
		`content_block_delta {"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"SIG"}}`,
		`content_block_stop {"type":"content_block_stop","index":0}`,
		`content_block_start {"type":"content_block_start","index":1,"content_block":{"type":"redacted_thinking","data":"RD"}}`,
		`content_block_stop {"type":"content_block_stop","index":1}`,
		`content_block_start {"type":"content_block_start","index":2,"content_block":{"type":"text","text":""}}`,
		`content_block_delta {"type":"content_block_delta","index":2,"delta":{"type":"text_delta","text":"Hi"}}`,
		`content_block_stop {"type":"content_block_stop","index":2}`,
		`content_block_start {"type":"content_block_start","index":3,"content_block":{"type":"tool_use","id":"c1","name":"f","input":{}}}`,
		`content_block_delta {"type":"content_block_delta","index":3,"delta":{"type":"input_json_delta","partial_json":"{\"a\":"}}`,
		`content_block_delta {"type":"content_block_delta","index":3,"delta":{"type":"input_json_delta","partial_json":"1}"}}`,
		`content_block_stop {"type":"content_block_stop","index":3}`,
		`content_block_start {"type":"content_block_start","index":4,"content_block":{"type":"tool_use","id":"c2","name":"g","input":{}}}`,
		`content_block_stop {"type":"content_block_stop","index":4}`,
		`message_delta {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"input_tokens":2,"cache_creation_input_tokens":2,"cache_read_input_tokens":6,"output_tokens":3}}`,
		`message_stop {"type":"message_stop"}`,
	}
	got := events(buf.String())
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// The mid-stream error event ends a stream without message_stop.
	buf.Reset()
	enc = NewStreamEncoder()
	enc.Chunk(w, chunks[0])
	enc.Chunk(w, chunk(llm.Delta{Content: sp("par")}, nil))
	enc.Error(w, &llm.Error{Kind: llm.KindOverloaded}, "try later")
	enc.Finish(w) // a no-op once failed
	w.Flush()
	got = events(buf.String())
	if last := got[len(got)-1]; last != `error {"type":"error","error":{"type":"overloaded_error","message":"try later"}}` || len(got) != 5 {
		t.Errorf("error stream: %s", strings.Join(got, "\n"))
	}
}

func events(s string) []string {
	var out []string
	for _, blk := range strings.Split(s, "\n\n") {
		if blk == "" {
			continue
		}
		name, data, _ := strings.Cut(blk, "\ndata: ")
		out = append(out, strings.TrimPrefix(name, "event: ")+" "+data)
	}
	return out
}

func TestEncodeResponse(t *testing.T) {
	resp := &llm.Response{ID: "x", Model: "m", Choices: []llm.Choice{{FinishReason: "length", Message: llm.Message{Role: "assistant",
		Content: llm.TextContent("hi"), MessageExtras: &llm.MessageExtras{ThinkingBlocks: []llm.ThinkingBlock{{Type: "thinking", Thinking: "t", Signature: "s"}}},
		ToolCalls: []llm.ToolCall{{ID: "c", Function: llm.ToolCallFunction{Name: "f", Arguments: "not json"}}}}}},
		Usage: &llm.Usage{PromptTokens: 5, CompletionTokens: 1}}
	b, _ := json.Marshal(EncodeResponse(resp))
	want := `{"id":"msg_x","type":"message","role":"assistant","model":"m","content":[{"type":"thinking","thinking":"t","signature":"s"},{"type":"text","text":"hi"},{"type":"tool_use","id":"c","name":"f","input":{}}],"stop_reason":"max_tokens","stop_sequence":null,"usage":{"input_tokens":5,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":1}}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"model":"m","max_tokens":5,"system":[{"type":"text","text":"a"}],"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":"x"}]}]}`))
	f.Add([]byte(`{"model":"m","max_tokens":5,"messages":[{"role":"assistant","content":[{"type":"thinking","thinking":"x"}]}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, e := Decode(b, Headers{}, false)
		if (r == nil) == (e == nil) {
			t.Fatalf("want exactly one of request and error")
		}
		if e != nil && e.Kind != llm.KindInvalidRequest {
			t.Fatalf("error kind %v", e.Kind)
		}
	})
}
