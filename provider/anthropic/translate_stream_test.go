package anthropic

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"llmrouter/llm"
	"llmrouter/llm/llmtest"
	"llmrouter/provider/sse"
)

// replay feeds an SSE body through the translator the way stream.fill does
// and returns every chunk plus the terminal error (io.EOF after
// message_stop, or the *llm.Error that ended the stream).
func replay(t testing.TB, body []byte, prefillWS string) ([]*llm.Chunk, error) {
	t.Helper()
	r := sse.NewReader(bytes.NewReader(body), maxEventBytes)
	tr := newTranslator("anthropic-test", prefillWS, 42)
	var out []*llm.Chunk
	for !tr.done {
		ev, err := r.Next()
		if err != nil {
			return out, &llm.Error{Kind: llm.KindUpstreamError, Message: "ended before message_stop", Err: err}
		}
		if len(ev.Data) == 0 {
			continue
		}
		// The event name always equals the payload's type (fixtures README, point 1).
		var typ struct{ Type string }
		if json.Unmarshal(ev.Data, &typ) == nil && ev.Name != "" && typ.Type != ev.Name {
			t.Errorf("event name %q != payload type %q", ev.Name, typ.Type)
		}
		chunks, err := tr.event(ev.Data)
		out = append(out, chunks...)
		if err != nil {
			return out, err
		}
	}
	return out, io.EOF
}

// assembled is a whole answer rebuilt from chunks, as an OpenAI client would.
type assembled struct {
	role, content, reasoning string
	firstContentEmpty        bool
	tools                    []llm.ToolCall // by OpenAI index
	finish                   []string
	usage                    *llm.Usage
	usageChunks              int
	ids, models              map[string]bool
}

func assemble(t *testing.T, chunks []*llm.Chunk) assembled {
	t.Helper()
	a := assembled{ids: map[string]bool{}, models: map[string]bool{}}
	for i, c := range chunks {
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatalf("chunk %d does not marshal: %v", i, err)
		}
		if c.Object != "chat.completion.chunk" || c.Created != 42 {
			t.Errorf("chunk %d header: %s", i, b)
		}
		a.ids[c.ID] = true
		a.models[c.Model] = true
		if c.Usage != nil {
			a.usageChunks++
			a.usage = c.Usage
			if !strings.Contains(string(b), `"choices":[]`) {
				t.Errorf("usage chunk must carry choices []: %s", b)
			}
		}
		for _, ch := range c.Choices {
			d := ch.Delta
			if i == 0 {
				a.firstContentEmpty = d.Content != nil && *d.Content == ""
			}
			if d.Role != "" {
				a.role = d.Role
			}
			if d.Content != nil {
				a.content += *d.Content
			}
			if d.ReasoningContent != nil {
				a.reasoning += *d.ReasoningContent
			}
			for _, tc := range d.ToolCalls {
				if tc.Index == nil {
					t.Fatalf("tool call delta without index: %s", b)
				}
				for len(a.tools) <= *tc.Index {
					a.tools = append(a.tools, llm.ToolCall{})
				}
				dst := &a.tools[*tc.Index]
				if tc.ID != "" {
					if dst.ID != "" {
						t.Errorf("tool %d opened twice: %s", *tc.Index, b)
					}
					dst.ID, dst.Type, dst.Function.Name = tc.ID, tc.Type, tc.Function.Name
				}
				dst.Function.Arguments += tc.Function.Arguments
			}
			if ch.FinishReason != nil {
				a.finish = append(a.finish, *ch.FinishReason)
				if d.Content != nil || d.ToolCalls != nil || d.Role != "" {
					t.Errorf("finish chunk must have an empty delta: %s", b)
				}
			}
		}
	}
	return a
}

type wantTool struct{ id, name, args string }

func TestStreamFixtures(t *testing.T) {
	tests := []struct {
		file               string
		id, model          string
		content            string
		contentPrefix      string // when set, content is checked by prefix and suffix
		contentSuffix      string
		reasoningPrefix    string
		reasoningSuffix    string
		tools              []wantTool
		finish             string
		prompt, completion int
		mustNotContain     []string // in content or reasoning_content
		signaturePrefix    string   // of the signature carried in thinking_blocks
		wantKind           llm.Kind
		wantStatus         int
		errorEvent         bool
	}{
		{
			file: "messages-stream-text.sse", id: "msg_013nnniYDrJDocdy5nrMU7cH", model: "claude-sonnet-4-5-20250929",
			content: "[12345,67890]", finish: "stop", prompt: 135, completion: 10,
		},
		{
			file: "messages-stream-tool-use.sse", id: "msg_01AusY9WEbCaj3N7Tv5J4YjH", model: "claude-haiku-4-5-20251001",
			tools:  []wantTool{{"toolu_018acGYLtfR52q9yDbWaEdQZ", "get_weather", `{"location": "San Francisco, CA", "units": "f"}`}},
			finish: "tool_calls", prompt: 656, completion: 74, // not 26+74: last value, never a sum
		},
		{
			file: "messages-stream-text-then-tool-use.sse", id: "msg_01K2JbSUMYhez5RHoK9ZCj9U", model: "claude-haiku-4-5-20251001",
			content: "I'll invoke the JSON response tool.",
			// Anthropic block index 1, but the first tool call: OpenAI index 0.
			tools:  []wantTool{{"toolu_01KFbKqPYSuAKujiL6mTfzYA", "json", `{"elements": [{"location": "San Francisco", "temperature": 58, "condition": "sunny"}]}`}},
			finish: "tool_calls", prompt: 849, completion: 47,
		},
		{
			file: "messages-stream-tool-no-args.sse", id: "msg_01GE2RKp1VYsPzdFs3sS9z5S", model: "claude-sonnet-4-5-20250929",
			content: "I'll update the issue list for you.",
			tools:   []wantTool{{"toolu_01QE1WLsSVp5hy5Q3GmGTmjP", "updateIssueList", `{}`}},
			finish:  "tool_calls", prompt: 565, completion: 48,
		},
		{
			file: "messages-stream-thinking.sse", id: "msg_01ALwQ87pTS7hH1PjSdC9wJD", model: "claude-sonnet-4-20250514",
			reasoningPrefix: "This is a straightforward question about pedestrian safety. I should provide clear",
			reasoningSuffix: "help prevent accidents.",
			contentPrefix:   "Here are the basic steps for safely crossing the street:\n\n**At",
			contentSuffix:   "Always prioritize safety over speed when crossing streets.",
			finish:          "stop", prompt: 43, completion: 282,
			mustNotContain: []string{"EvMCCkYICxgCKkCHP2cSuEdcJK", "signature"}, signaturePrefix: "EvMCCkYICxgCKkCHP2cSuEdcJK",
		},
		{
			file: "messages-stream-error-event.sse", errorEvent: true,
			wantKind: llm.KindUpstreamError, wantStatus: 529,
		},
	}
	covered := map[string]bool{}
	for _, tt := range tests {
		covered[tt.file] = true
		t.Run(tt.file, func(t *testing.T) {
			chunks, err := replay(t, readFixture(t, tt.file), "")
			if tt.errorEvent {
				var e *llm.Error
				if !errors.As(err, &e) || e.Kind != tt.wantKind || e.Status != tt.wantStatus || e.Sent {
					t.Fatalf("err = %#v, want kind %v status %d unsent", err, tt.wantKind, tt.wantStatus)
				}
				if len(chunks) != 0 {
					t.Errorf("chunks before the error: %d", len(chunks))
				}
				return
			}
			if err != io.EOF {
				t.Fatalf("stream ended with %v, want io.EOF", err)
			}
			a := assemble(t, chunks)
			if len(a.ids) != 1 || !a.ids[tt.id] || len(a.models) != 1 || !a.models[tt.model] {
				t.Errorf("ids %v models %v", a.ids, a.models)
			}
			if a.role != "assistant" || !a.firstContentEmpty {
				t.Errorf("first chunk must be role assistant with content \"\"")
			}
			if tt.contentPrefix != "" {
				if !strings.HasPrefix(a.content, tt.contentPrefix) || !strings.HasSuffix(a.content, tt.contentSuffix) {
					t.Errorf("content = %q", a.content)
				}
			} else if a.content != tt.content {
				t.Errorf("content = %q, want %q", a.content, tt.content)
			}
			if !strings.HasPrefix(a.reasoning, tt.reasoningPrefix) || !strings.HasSuffix(a.reasoning, tt.reasoningSuffix) {
				t.Errorf("reasoning = %q", a.reasoning)
			}
			if tt.reasoningPrefix != "" && strings.Contains(a.content, "straightforward question") {
				t.Errorf("thinking leaked into content")
			}
			if len(a.tools) != len(tt.tools) {
				t.Fatalf("tools = %+v, want %d", a.tools, len(tt.tools))
			}
			for i, w := range tt.tools {
				g := a.tools[i]
				if g.ID != w.id || g.Function.Name != w.name || g.Type != "function" || g.Function.Arguments != w.args {
					t.Errorf("tool %d = %+v, want %+v", i, g, w)
				}
				if !json.Valid([]byte(g.Function.Arguments)) {
					t.Errorf("tool %d arguments are not JSON: %q", i, g.Function.Arguments)
				}
			}
			if len(a.finish) != 1 || a.finish[0] != tt.finish {
				t.Errorf("finish reasons %v, want [%s]", a.finish, tt.finish)
			}
			if a.usageChunks != 1 || chunks[len(chunks)-1].Usage == nil {
				t.Fatalf("want exactly one usage chunk, last; got %d", a.usageChunks)
			}
			u := a.usage
			if u.PromptTokens != tt.prompt || u.CompletionTokens != tt.completion || u.TotalTokens != tt.prompt+tt.completion {
				t.Errorf("usage = %+v, want %d/%d", u, tt.prompt, tt.completion)
			}
			var text strings.Builder // what a reader sees: content and reasoning
			sig := ""
			for _, c := range chunks {
				for _, ch := range c.Choices {
					if ch.Delta.Content != nil {
						text.WriteString(*ch.Delta.Content)
					}
					if ch.Delta.ReasoningContent != nil {
						text.WriteString(*ch.Delta.ReasoningContent)
					}
					for _, tb := range ch.Delta.ThinkingBlocks {
						sig += tb.Signature
					}
				}
			}
			all := text.String()
			if tt.signaturePrefix != "" && !strings.HasPrefix(sig, tt.signaturePrefix) {
				t.Errorf("thinking signature %q lost (want prefix %q in thinking_blocks)", sig, tt.signaturePrefix)
			}
			for _, s := range tt.mustNotContain {
				if strings.Contains(string(all), s) {
					t.Errorf("output contains %q", s)
				}
			}
		})
	}
	t.Run("every stream fixture is covered", func(t *testing.T) {
		files, _ := filepath.Glob(filepath.Join(fixtureDir(t), "*.sse"))
		for _, f := range files {
			if !covered[filepath.Base(f)] {
				t.Errorf("fixture %s has no expectations", filepath.Base(f))
			}
		}
	})
}

// ev builds one SSE event the way the API frames it.
func ev(payload string) string {
	var typ struct{ Type string }
	_ = json.Unmarshal([]byte(payload), &typ)
	return "event: " + typ.Type + "\ndata: " + payload + "\n\n"
}

const startEv = `{"type":"message_start","message":{"id":"msg_s","type":"message","role":"assistant","model":"claude-test-20250101","content":[],"usage":{"input_tokens":10,"cache_read_input_tokens":100,"cache_creation_input_tokens":5,"output_tokens":1}}}`

func TestStreamSynthetic(t *testing.T) {
	textStart := ev(`{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`)
	text := func(i int, s string) string {
		b, _ := json.Marshal(s)
		return ev(`{"type":"content_block_delta","index":` + string(rune('0'+i)) + `,"delta":{"type":"text_delta","text":` + string(b) + `}}`)
	}
	stop := func(i int) string { return ev(`{"type":"content_block_stop","index":` + string(rune('0'+i)) + `}`) }
	msgDelta := func(reason string, out int) string {
		b, _ := json.Marshal(out)
		return ev(`{"type":"message_delta","delta":{"stop_reason":"` + reason + `"},"usage":{"output_tokens":` + string(b) + `}}`)
	}
	msgStop := ev(`{"type":"message_stop"}`)
	toolStart := func(i int, id string) string {
		return ev(`{"type":"content_block_start","index":` + string(rune('0'+i)) + `,"content_block":{"type":"tool_use","id":"` + id + `","name":"f","input":{}}}`)
	}
	args := func(i int, frag string) string {
		b, _ := json.Marshal(frag)
		return ev(`{"type":"content_block_delta","index":` + string(rune('0'+i)) + `,"delta":{"type":"input_json_delta","partial_json":` + string(b) + `}}`)
	}

	tests := []struct {
		name  string
		body  string
		ws    string
		check func(t *testing.T, a assembled, err error)
	}{
		{
			name: "cache counters and last-value usage",
			body: ev(startEv) + textStart + text(0, "hi") + stop(0) + msgDelta("max_tokens", 30) + msgStop,
			check: func(t *testing.T, a assembled, err error) {
				u := a.usage
				if err != io.EOF || u.PromptTokens != 115 || u.CompletionTokens != 30 || u.TotalTokens != 145 ||
					u.PromptTokensDetails.CachedTokens != 100 || u.PromptTokensDetails.CacheCreationTokens != 5 {
					t.Errorf("err %v usage %+v %+v", err, u, u.PromptTokensDetails)
				}
				if a.finish[0] != "length" {
					t.Errorf("finish %v", a.finish)
				}
			},
		},
		{
			name: "refusal is content_filter",
			body: ev(startEv) + msgDelta("refusal", 2) + msgStop,
			check: func(t *testing.T, a assembled, err error) {
				if err != io.EOF || len(a.finish) != 1 || a.finish[0] != "content_filter" {
					t.Errorf("err %v finish %v", err, a.finish)
				}
			},
		},
		{
			name: "two tool blocks get OpenAI indexes 0 and 1, pings mid-block",
			body: ev(startEv) + textStart + text(0, "ok") + stop(0) +
				toolStart(1, "t1") + args(1, "") + ev(`{"type": "ping"}`) + args(1, `{"a"`) + args(1, `:1}`) + stop(1) +
				toolStart(2, "t2") + args(2, "") + stop(2) + msgDelta("tool_use", 9) + msgStop,
			check: func(t *testing.T, a assembled, err error) {
				if err != io.EOF || len(a.tools) != 2 || a.tools[0].ID != "t1" || a.tools[0].Function.Arguments != `{"a":1}` ||
					a.tools[1].ID != "t2" || a.tools[1].Function.Arguments != `{}` {
					t.Errorf("err %v tools %+v", err, a.tools)
				}
			},
		},
		{
			name: "prefill whitespace trimmed from the first text delta only",
			body: ev(startEv) + textStart + text(0, " three") + text(0, " four") + stop(0) + msgDelta("end_turn", 2) + msgStop,
			ws:   " ",
			check: func(t *testing.T, a assembled, err error) {
				if err != io.EOF || a.content != "three four" {
					t.Errorf("err %v content %q", err, a.content)
				}
			},
		},
		{
			name: "message_stop without message_delta still finishes",
			body: ev(startEv) + textStart + text(0, "x") + stop(0) + msgStop,
			check: func(t *testing.T, a assembled, err error) {
				if err != io.EOF || len(a.finish) != 1 || a.finish[0] != "stop" || a.usageChunks != 1 {
					t.Errorf("err %v finish %v usage chunks %d", err, a.finish, a.usageChunks)
				}
			},
		},
		{
			name: "rate limit error event after content: upstream rate limited, sent",
			body: ev(startEv) + textStart + text(0, "partial") + ev(`{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}`),
			check: func(t *testing.T, a assembled, err error) {
				var e *llm.Error
				if !errors.As(err, &e) || e.Kind != llm.KindUpstreamRateLimited || !e.Sent || a.content != "partial" {
					t.Errorf("err %#v content %q", err, a.content)
				}
			},
		},
		{
			name: "invalid request error event",
			body: ev(startEv) + ev(`{"type":"error","error":{"type":"invalid_request_error","message":"bad"}}`),
			check: func(t *testing.T, a assembled, err error) {
				var e *llm.Error
				if !errors.As(err, &e) || e.Kind != llm.KindInvalidRequest || e.Sent {
					t.Errorf("err %#v", err)
				}
			},
		},
		{
			name: "malformed payload is an upstream error",
			body: ev(startEv) + "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\n\n",
			check: func(t *testing.T, a assembled, err error) {
				var e *llm.Error
				if !errors.As(err, &e) || e.Kind != llm.KindUpstreamError {
					t.Errorf("err %#v", err)
				}
			},
		},
		{
			name: "content before message_start is an upstream error",
			body: textStart,
			check: func(t *testing.T, a assembled, err error) {
				var e *llm.Error
				if !errors.As(err, &e) || e.Kind != llm.KindUpstreamError {
					t.Errorf("err %#v", err)
				}
			},
		},
		{
			name: "unknown events and block types are ignored",
			body: ev(startEv) + ev(`{"type":"content_block_start","index":0,"content_block":{"type":"server_tool_use","id":"s","name":"web_search","input":{}}}`) +
				ev(`{"type":"content_block_delta","index":0,"delta":{"type":"citations_delta","citation":{}}}`) + stop(0) +
				ev(`{"type":"brand_new_event","x":1}`) + msgDelta("end_turn", 3) + msgStop,
			check: func(t *testing.T, a assembled, err error) {
				if err != io.EOF || a.content != "" || len(a.tools) != 0 {
					t.Errorf("err %v content %q tools %+v", err, a.content, a.tools)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			chunks, err := replay(t, []byte(tt.body), tt.ws)
			tt.check(t, assemble(t, chunks), err)
		})
	}
}

// FuzzTranslator feeds arbitrary SSE bodies through the reader and the
// translator: nothing may panic, every chunk must marshal, and tool
// arguments, once a stream ends cleanly, must be assembled per index.
func FuzzTranslator(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(llmtest.SharedDir(f), "fixtures", "anthropic", "*.sse"))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(ev(startEv) + ev(`{"type":"content_block_delta","index":7,"delta":{"type":"input_json_delta","partial_json":"{"}}`)))
	f.Add([]byte("data: {\"type\":\"message_start\",\"message\":null}\n\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		r := sse.NewReader(bytes.NewReader(body), 1<<16)
		tr := newTranslator("fuzz", " ", 1)
		for i := 0; i < 10000 && !tr.done; i++ {
			e, err := r.Next()
			if err != nil {
				return
			}
			chunks, err := tr.event(e.Data)
			for _, c := range chunks {
				if _, merr := json.Marshal(c); merr != nil {
					t.Fatalf("chunk does not marshal: %v", merr)
				}
			}
			if err != nil {
				var le *llm.Error
				if !errors.As(err, &le) {
					t.Fatalf("error is not *llm.Error: %v", err)
				}
				return
			}
		}
	})
}
