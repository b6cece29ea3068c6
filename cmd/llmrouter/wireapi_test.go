package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"llmrouter/llm"
	"llmrouter/llm/llmtest"
	"llmrouter/provider/fake"
)

// sseEvent is one parsed server-sent event.
type sseEvent struct {
	Name string
	Data map[string]any
}

func parseSSE(t *testing.T, body string) []sseEvent {
	t.Helper()
	var out []sseEvent
	for _, blk := range strings.Split(strings.ReplaceAll(body, "\r\n", "\n"), "\n\n") {
		var ev sseEvent
		var data string
		for _, line := range strings.Split(blk, "\n") {
			switch {
			case strings.HasPrefix(line, "event:"):
				ev.Name = strings.TrimSpace(line[len("event:"):])
			case strings.HasPrefix(line, "data:"):
				data += strings.TrimSpace(line[len("data:"):])
			}
		}
		if data == "" || data == "[DONE]" {
			continue
		}
		if err := json.Unmarshal([]byte(data), &ev.Data); err != nil {
			t.Fatalf("event data is not JSON: %q", data)
		}
		if ev.Name != "" && ev.Data["type"] != ev.Name {
			t.Errorf("event %q carries type %v", ev.Name, ev.Data["type"])
		}
		out = append(out, ev)
	}
	return out
}

// wirePost sends body to path with extra headers and returns status, headers
// and body.
func wirePost(t *testing.T, base, path, body string, hdr map[string]string) (int, *fasthttp.ResponseHeader, string) {
	t.Helper()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(base + path)
	req.Header.SetMethod("POST")
	req.Header.SetContentType("application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	req.SetBodyString(body)
	if err := fasthttp.DoTimeout(req, resp, 15*time.Second); err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	var h fasthttp.ResponseHeader
	resp.Header.CopyTo(&h)
	return resp.StatusCode(), &h, string(resp.Body())
}

// wireApp serves one upstream of the given type behind the alias "claude".
func wireApp(t *testing.T, typ, url string) string {
	t.Helper()
	base := url
	if typ == "openai" {
		base += "/v1"
	}
	yaml := fmt.Sprintf(`
auth:
  mode: keys
  keys:
    - {tenant: wire, key_env: CLIENT_KEY}
providers:
  - name: up
    type: %s
    base_url: %s
    api_key_env: UP_KEY
models:
  claude:
    - {provider: up, model: claude-sonnet-4-5}
%scache:
  exact: {enabled: false}
  semantic: {enabled: false}
`, typ, base, oneUpstreamTiers("up", "tier-model"))
	_, addr := startApp(t, yaml, map[string]string{"CLIENT_KEY": sdkTestKey, "UP_KEY": "sk-up"})
	return addr
}

var anthropicClient = map[string]string{"x-api-key": sdkTestKey, "anthropic-version": "2023-06-01"}

// blockSummary reduces a Messages event stream to what a client assembles:
// per block its type and accumulated text / thinking / signature / JSON
// input, plus the stop reason and output tokens.
type blockSummary struct {
	Type, Text, Thinking, Signature, JSON, Name, ID, Data string
}

func summarize(t *testing.T, evs []sseEvent) (blocks []blockSummary, stop string, outTokens float64, errType string) {
	t.Helper()
	for i, ev := range evs {
		d := ev.Data
		switch d["type"] {
		case "message_start":
			if i != 0 {
				t.Errorf("message_start at %d", i)
			}
		case "content_block_start":
			cb := d["content_block"].(map[string]any)
			if int(d["index"].(float64)) != len(blocks) {
				t.Errorf("block index %v, want %d", d["index"], len(blocks))
			}
			b := blockSummary{Type: cb["type"].(string)}
			b.Name, _ = cb["name"].(string)
			b.ID, _ = cb["id"].(string)
			b.Data, _ = cb["data"].(string)
			b.Text, _ = cb["text"].(string)
			blocks = append(blocks, b)
		case "content_block_delta":
			b := &blocks[int(d["index"].(float64))]
			dl := d["delta"].(map[string]any)
			s := func(k string) string { v, _ := dl[k].(string); return v }
			switch dl["type"] {
			case "text_delta":
				b.Text += s("text")
			case "thinking_delta":
				b.Thinking += s("thinking")
			case "signature_delta":
				b.Signature += s("signature")
			case "input_json_delta":
				b.JSON += s("partial_json")
			default:
				t.Errorf("unknown delta %v", dl["type"])
			}
		case "message_delta":
			stop, _ = d["delta"].(map[string]any)["stop_reason"].(string)
			if u, ok := d["usage"].(map[string]any); ok {
				outTokens, _ = u["output_tokens"].(float64)
			}
		case "error":
			errType, _ = d["error"].(map[string]any)["type"].(string)
		}
	}
	for i := range blocks {
		if blocks[i].Type == "tool_use" {
			if blocks[i].JSON == "" {
				blocks[i].JSON = "{}"
			}
			blocks[i].JSON = compactJSON(t, blocks[i].JSON)
		}
	}
	return blocks, stop, outTokens, errType
}

func compactJSON(t *testing.T, s string) string {
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(s)); err != nil {
		t.Errorf("not JSON: %q", s)
		return s
	}
	return b.String()
}

// TestMessagesStreamGolden replays each recorded Anthropic stream through
// the provider (events to chunks) and the /v1/messages codec (chunks back
// to events): the client must assemble exactly what the recorded stream
// holds, block by block, for every event and delta type.
func TestMessagesStreamGolden(t *testing.T) {
	dir := filepath.Join(llmtest.SharedDir(t), "fixtures", "anthropic")
	for _, name := range []string{"messages-stream-text.sse", "messages-stream-thinking.sse", "messages-stream-tool-use.sse",
		"messages-stream-text-then-tool-use.sse", "messages-stream-tool-no-args.sse"} {
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			want, wantStop, wantOut, _ := summarize(t, parseSSE(t, string(raw)))
			up := fake.Start(t, fake.ReplayFixture(t, filepath.Join(dir, name)))
			base := wireApp(t, "anthropic", up.URL)
			status, _, body := wirePost(t, base, "/v1/messages", `{"model":"claude","max_tokens":1024,"stream":true,"messages":[{"role":"user","content":"hi"}]}`, anthropicClient)
			if status != 200 {
				t.Fatalf("status %d: %s", status, body)
			}
			evs := parseSSE(t, body)
			got, stop, out, _ := summarize(t, evs)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("blocks:\n got %+v\nwant %+v", got, want)
			}
			if stop != wantStop || out != wantOut {
				t.Errorf("stop %q out %v, want %q %v", stop, out, wantStop, wantOut)
			}
			if evs[len(evs)-1].Name != "message_stop" || evs[1].Name != "ping" {
				t.Errorf("event sequence does not start with message_start, ping and end with message_stop")
			}
		})
	}
}

// TestWireErrors checks the error shape of each API, including the
// mid-stream error event and the 529 an overloaded upstream turns into.
func TestWireErrors(t *testing.T) {
	mid := fake.Start(t, fake.Anthropic(fake.AnthropicOptions{ErrorEventMidStream: true}))
	over := fake.Start(t, fake.Anthropic(fake.AnthropicOptions{Overloaded529: true}))
	midBase, overBase := wireApp(t, "anthropic", mid.URL), wireApp(t, "anthropic", over.URL)
	msg := `{"model":"claude","max_tokens":64,"stream":%v,"messages":[{"role":"user","content":"one two three four five six"}]}`
	resp := `{"model":"claude","stream":true,"input":"one two three four five six"}`

	t.Run("messages mid-stream error event", func(t *testing.T) {
		_, _, body := wirePost(t, midBase, "/v1/messages", fmt.Sprintf(msg, true), anthropicClient)
		evs := parseSSE(t, body)
		_, _, _, errType := summarize(t, evs)
		// The router reports a stream cut after content as an upstream
		// failure (api_error); an SDK raises it as an APIError either way.
		if (errType != "overloaded_error" && errType != "api_error") || evs[len(evs)-1].Name != "error" {
			t.Errorf("want a final error event, got %s", body)
		}
		for _, ev := range evs {
			if ev.Name == "message_stop" || ev.Name == "message_delta" {
				t.Errorf("a failed stream must not look finished: %s", body)
			}
		}
	})
	t.Run("responses mid-stream error event", func(t *testing.T) {
		_, _, body := wirePost(t, midBase, "/v1/responses", resp, map[string]string{"Authorization": "Bearer " + sdkTestKey})
		evs := parseSSE(t, body)
		last := evs[len(evs)-1]
		if last.Name != "error" || last.Data["message"] == nil || last.Data["sequence_number"] == nil {
			t.Errorf("want a final error event, got %s", body)
		}
	})
	tests := []struct {
		name, path, body string
		hdr              map[string]string
		status           int
		errType          string
	}{
		{"overloaded upstream is 529", "/v1/messages", fmt.Sprintf(msg, false), anthropicClient, 529, "overloaded_error"},
		{"bad key", "/v1/messages", fmt.Sprintf(msg, false), map[string]string{"x-api-key": "nope"}, 401, "authentication_error"},
		{"bearer works too", "/v1/messages", `{"model":"nope","max_tokens":5,"messages":[{"role":"user","content":"x"}]}`, map[string]string{"Authorization": "Bearer " + sdkTestKey}, 404, "not_found_error"},
		{"missing max_tokens", "/v1/messages", `{"model":"claude","messages":[{"role":"user","content":"x"}]}`, anthropicClient, 400, "invalid_request_error"},
		{"bad role", "/v1/messages", `{"model":"claude","max_tokens":5,"messages":[{"role":"system","content":"x"}]}`, anthropicClient, 400, "invalid_request_error"},
		{"malformed json", "/v1/messages", `{"model":`, anthropicClient, 400, "invalid_request_error"},
		{"responses store true", "/v1/responses", `{"model":"claude","input":"x","store":true}`, map[string]string{"Authorization": "Bearer " + sdkTestKey}, 400, "invalid_request_error"},
		{"responses previous_response_id", "/v1/responses", `{"model":"claude","input":"x","previous_response_id":"resp_1"}`, map[string]string{"Authorization": "Bearer " + sdkTestKey}, 400, "invalid_request_error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, body := wirePost(t, overBase, tt.path, tt.body, tt.hdr)
			if status != tt.status {
				t.Errorf("status %d, want %d: %s", status, tt.status, body)
			}
			var e struct {
				Type  string `json:"type"`
				Error struct {
					Type    string `json:"type"`
					Message string `json:"message"`
				} `json:"error"`
			}
			if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error.Type != tt.errType || e.Error.Message == "" {
				t.Errorf("error body %s, want type %s", body, tt.errType)
			}
			if strings.HasPrefix(tt.path, "/v1/messages") && e.Type != "error" {
				t.Errorf("messages errors must have type error: %s", body)
			}
		})
	}
}

// TestAgentTraceToAnthropic replays a recorded agent-style turn (tools,
// cache_control on system, tools and a tool_result, thinking and
// redacted_thinking blocks, streamed) through /v1/messages to an Anthropic
// upstream: the upstream receives system, tools, messages and thinking
// exactly as the client wrote them, and the beta header.
func TestAgentTraceToAnthropic(t *testing.T) {
	trace, err := os.ReadFile(filepath.Join("testdata", "agent-trace.json"))
	if err != nil {
		t.Fatal(err)
	}
	var mu = make(chan []byte, 4)
	up := fake.Start(t, fake.Anthropic(fake.AnthropicOptions{APIKey: "sk-up", Thinking: "considering",
		OnRequest: func(b []byte) { mu <- append([]byte(nil), b...) }}))
	base := wireApp(t, "anthropic", up.URL)
	hdr := map[string]string{"x-api-key": sdkTestKey, "anthropic-version": "2023-06-01", "anthropic-beta": "prompt-caching-2024-07-31"}
	status, _, body := wirePost(t, base, "/v1/messages", string(trace), hdr)
	if status != 200 {
		t.Fatalf("status %d: %s", status, body)
	}
	sent := <-mu
	var in, out map[string]json.RawMessage
	if json.Unmarshal(trace, &in) != nil || json.Unmarshal(sent, &out) != nil {
		t.Fatalf("bodies are not JSON: %s", sent)
	}
	for _, k := range []string{"system", "tools", "messages", "thinking", "max_tokens"} {
		if !bytes.Equal(in[k], out[k]) {
			t.Errorf("%s changed on the way:\n sent %s\n  got %s", k, in[k], out[k])
		}
	}
	if string(out["model"]) != `"claude-sonnet-4-5"` || string(out["stream"]) != "true" {
		t.Errorf("model/stream: %s %s", out["model"], out["stream"])
	}
	blocks, stop, _, _ := summarize(t, parseSSE(t, body))
	if len(blocks) < 2 || blocks[0].Type != "thinking" || blocks[0].Signature == "" || stop == "" {
		t.Errorf("answer blocks %+v stop %q: want a signed thinking block, then text", blocks, stop)
	}
}

// TestAgentTraceToOpenAI sends the same trace to an OpenAI-compatible
// target: tool calls and results keep their ids, names and arguments,
// Anthropic-only fields are not forwarded, and a streamed chunk that
// carries text and a tool call becomes a text block then a tool_use block.
func TestAgentTraceToOpenAI(t *testing.T) {
	trace, err := os.ReadFile(filepath.Join("testdata", "agent-trace.json"))
	if err != nil {
		t.Fatal(err)
	}
	stream := "data: " + `{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-x","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}` + "\n\n" +
		"data: " + `{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-x","choices":[{"index":0,"delta":{"content":"Reading it.","tool_calls":[{"index":0,"id":"call_9","type":"function","function":{"name":"read_file","arguments":"{\"path\":"}}]},"finish_reason":null}]}` + "\n\n" +
		"data: " + `{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-x","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"docs/a.md\"}"}}]},"finish_reason":null}]}` + "\n\n" +
		"data: " + `{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-x","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}` + "\n\n" +
		"data: " + `{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-x","choices":[],"usage":{"prompt_tokens":900,"completion_tokens":12,"total_tokens":912,"prompt_tokens_details":{"cached_tokens":800}}}` + "\n\n" +
		"data: [DONE]\n\n"
	got := make(chan []byte, 2)
	replay := fake.Replay(200, "text/event-stream", []byte(stream))
	up := fake.Start(t, func(ctx *fasthttp.RequestCtx) {
		got <- append([]byte(nil), ctx.PostBody()...)
		replay(ctx)
	})
	base := wireApp(t, "openai", up.URL)
	status, _, body := wirePost(t, base, "/v1/messages", string(trace), anthropicClient)
	if status != 200 {
		t.Fatalf("status %d: %s", status, body)
	}
	var req llm.Request
	sent := <-got
	if err := llm.DecodeRequest(sent, &req); err != nil {
		t.Fatal(err)
	}
	for _, forbidden := range []string{"cache_control", "thinking", "signature", "redacted"} {
		if bytes.Contains(sent, []byte(forbidden)) {
			t.Errorf("an OpenAI upstream received %q: %s", forbidden, sent)
		}
	}
	var calls []string
	results := map[string]string{}
	for _, m := range req.Messages {
		for _, tc := range m.ToolCalls {
			calls = append(calls, tc.ID+" "+tc.Function.Name+" "+tc.Function.Arguments)
		}
		if m.Role == "tool" {
			results[m.ToolCallID] = m.Content.Text()
		}
	}
	wantCalls := []string{`toolu_01A read_file {"path":"README.md"}`, `toolu_01B edit_file {"path":"README.md","old":"routeing","new":"routing"}`}
	if fmt.Sprint(calls) != fmt.Sprint(wantCalls) || results["toolu_01A"] != "# llmrouter\nA routeing proxy." || results["toolu_01B"] != "ok" {
		t.Errorf("tool calls %q results %q", calls, results)
	}
	if req.Messages[0].Role != "system" || len(req.Tools) != 2 || req.Tools[1].Function.Name != "edit_file" {
		t.Errorf("system/tools lost: %s", sent)
	}
	blocks, stop, _, _ := summarize(t, parseSSE(t, body))
	want := []blockSummary{{Type: "text", Text: "Reading it."}, {Type: "tool_use", Name: "read_file", ID: "call_9", JSON: `{"path":"docs/a.md"}`}}
	if fmt.Sprint(blocks) != fmt.Sprint(want) || stop != "tool_use" {
		t.Errorf("blocks %+v stop %q, want %+v tool_use", blocks, stop, want)
	}
}

// TestResponsesStreamFromToolChunk checks the Responses stream for the
// same mixed chunk: a message item, then a function_call item whose
// argument deltas add up to the arguments, then response.completed with
// usage keeping the cached share.
func TestResponsesStreamFromToolChunk(t *testing.T) {
	up := fake.Start(t, fake.ReplayFixture(t, filepath.Join(llmtest.SharedDir(t), "fixtures", "openai", "chat-stream-parallel-tool-calls.sse")))
	base := wireApp(t, "openai", up.URL)
	status, _, body := wirePost(t, base, "/v1/responses", `{"model":"claude","stream":true,"input":"weather?","tools":[{"type":"function","name":"get_weather","parameters":{"type":"object"}}]}`,
		map[string]string{"Authorization": "Bearer " + sdkTestKey})
	if status != 200 {
		t.Fatalf("status %d: %s", status, body)
	}
	evs := parseSSE(t, body)
	args := map[float64]string{}
	var done []map[string]any
	for i, ev := range evs {
		if int(ev.Data["sequence_number"].(float64)) != i {
			t.Errorf("sequence_number %v at %d", ev.Data["sequence_number"], i)
		}
		switch ev.Name {
		case "response.function_call_arguments.delta":
			args[ev.Data["output_index"].(float64)] += ev.Data["delta"].(string)
		case "response.output_item.done":
			done = append(done, ev.Data["item"].(map[string]any))
		}
	}
	if evs[0].Name != "response.created" || evs[len(evs)-1].Name != "response.completed" {
		t.Fatalf("sequence %s ... %s", evs[0].Name, evs[len(evs)-1].Name)
	}
	calls := 0
	for i, it := range done {
		if it["type"] == "function_call" {
			calls++
			if it["arguments"] != args[float64(i)] || !json.Valid([]byte(it["arguments"].(string))) || it["call_id"] == "" || it["name"] == "" {
				t.Errorf("item %d %v, deltas %q", i, it, args[float64(i)])
			}
		}
	}
	if calls < 2 {
		t.Errorf("want the parallel tool calls, got %d: %s", calls, body)
	}
}

// TestCachedShareHeader checks that a unary answer reports the share of
// its prompt read from the provider's cache, on every API, and that usage
// keeps cache reads and writes apart.
func TestCachedShareHeader(t *testing.T) {
	reply := `{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"text","text":"hi"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":100,"cache_creation_input_tokens":100,"cache_read_input_tokens":800,"output_tokens":5}}`
	up := fake.Start(t, fake.Replay(200, "application/json", []byte(reply)))
	base := wireApp(t, "anthropic", up.URL)
	bearer := map[string]string{"Authorization": "Bearer " + sdkTestKey}
	tests := []struct {
		path, body string
		hdr        map[string]string
		check      string
	}{
		{"/v1/messages", `{"model":"claude","max_tokens":5,"messages":[{"role":"user","content":"x"}]}`, anthropicClient, `"cache_creation_input_tokens":100,"cache_read_input_tokens":800`},
		{"/v1/responses", `{"model":"claude","input":"x"}`, bearer, `"input_tokens_details":{"cached_tokens":800,"cache_creation_tokens":100}`},
		{"/v1/chat/completions", `{"model":"claude","messages":[{"role":"user","content":"x"}]}`, bearer, `"prompt_tokens_details":{"cached_tokens":800,"cache_creation_tokens":100}`},
		{"/chat/completions", `{"model":"claude","messages":[{"role":"user","content":"x"}]}`, bearer, `"prompt_tokens":1000`},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			status, h, body := wirePost(t, base, tt.path, tt.body, tt.hdr)
			if status != 200 || string(h.Peek("x-llmrouter-cached-prompt-share")) != "0.800" || !strings.Contains(body, tt.check) {
				t.Errorf("status %d share %q body %s (want %s)", status, h.Peek("x-llmrouter-cached-prompt-share"), body, tt.check)
			}
		})
	}
}
