package fake

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// postMessages sends body to the fake's /v1/messages with the API headers.
func postMessages(t *testing.T, url, body string) (int, string, *fasthttp.ResponseHeader) {
	t.Helper()
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(url + "/v1/messages")
	req.Header.SetMethod(fasthttp.MethodPost)
	req.Header.SetContentType("application/json")
	req.Header.Set("x-api-key", "k")
	req.Header.Set("anthropic-version", "2023-06-01")
	req.SetBodyString(body)
	if err := fasthttp.DoTimeout(req, resp, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	var h fasthttp.ResponseHeader
	resp.Header.CopyTo(&h)
	return resp.StatusCode(), string(resp.Body()), &h
}

func TestAnthropicStreamFraming(t *testing.T) {
	srv := Start(t, Anthropic(AnthropicOptions{Thinking: "hmm", ToolUse: &AnthropicToolUse{Name: "f", Input: json.RawMessage(`{"a":"bcdefghij"}`)}}))
	status, body, h := postMessages(t, srv.URL, `{"model":"claude-x","max_tokens":50,"stream":true,
		"tools":[{"name":"f","input_schema":{"type":"object"}}],"messages":[{"role":"user","content":"one two three"}]}`)
	if status != 200 || string(h.ContentType()) != "text/event-stream; charset=utf-8" || string(h.Peek("cache-control")) != "no-cache" {
		t.Fatalf("status %d headers %s", status, h.String())
	}
	var names []string
	padded, pingInBlock, open := false, false, false
	for _, ev := range strings.Split(strings.TrimSuffix(body, "\n\n"), "\n\n") {
		lines := strings.SplitN(ev, "\n", 2)
		name, data := strings.TrimPrefix(lines[0], "event: "), strings.TrimPrefix(lines[1], "data: ")
		var p struct{ Type string }
		if err := json.Unmarshal([]byte(data), &p); err != nil || p.Type != name {
			t.Fatalf("event %q payload %q (type %q, err %v)", name, data, p.Type, err)
		}
		padded = padded || strings.Contains(data, " }")
		switch name {
		case "content_block_start":
			open = true
		case "content_block_stop":
			open = false
		case "ping":
			pingInBlock = pingInBlock || open
		}
		names = append(names, name)
	}
	if names[0] != "message_start" || names[len(names)-1] != "message_stop" || !padded || !pingInBlock {
		t.Errorf("events %v padded %v ping in block %v", names, padded, pingInBlock)
	}
	for _, want := range []string{`"thinking_delta"`, `"signature_delta"`, `"partial_json":""`, `"stop_reason":"tool_use"`} {
		if !strings.Contains(body, want) {
			t.Errorf("stream lacks %s", want)
		}
	}
}

func TestAnthropicRejectsLikeTheAPI(t *testing.T) {
	srv := Start(t, Anthropic(AnthropicOptions{}))
	tests := []struct{ name, body, msg string }{
		{"max_tokens required", `{"model":"m","messages":[{"role":"user","content":"x"}]}`, "max_tokens: Field required"},
		{"roles alternate", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"},{"role":"user","content":"y"}]}`, "roles must alternate"},
		{"unknown field", `{"model":"m","max_tokens":5,"n":2,"messages":[{"role":"user","content":"x"}]}`, `unknown field "n"`},
		{"system role in messages", `{"model":"m","max_tokens":5,"messages":[{"role":"system","content":"x"}]}`, "messages.0.role"},
		{"tool_result without tool_use", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"},{"role":"assistant","content":"y"},{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"r"}]}]}`, "unexpected `tool_use_id`"},
		{"tool_use without tool_result", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"},{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"f","input":{}}]},{"role":"user","content":"z"}]}`, "without `tool_result`"},
		{"tool_result after text", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"},{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"f","input":{}}]},{"role":"user","content":[{"type":"text","text":"z"},{"type":"tool_result","tool_use_id":"t1"}]}]}`, "must come first"},
		{"trailing whitespace prefill", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"},{"role":"assistant","content":"y "}]}`, "trailing whitespace"},
		{"empty text block", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"text","text":""}]}]}`, "must be non-empty"},
		{"temperature above 1", `{"model":"m","max_tokens":5,"temperature":1.5,"messages":[{"role":"user","content":"x"}]}`, "temperature"},
		{"bad image media type", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/bmp","data":"AA"}}]}]}`, "media_type"},
		{"tool_choice names unknown tool", `{"model":"m","max_tokens":5,"tools":[{"name":"f","input_schema":{"type":"object"}}],"tool_choice":{"type":"tool","name":"g"},"messages":[{"role":"user","content":"x"}]}`, "tool_choice.tool.name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body, h := postMessages(t, srv.URL, tt.body)
			var eb struct {
				Type      string
				Error     struct{ Type, Message string }
				RequestID string `json:"request_id"`
			}
			if err := json.Unmarshal([]byte(body), &eb); err != nil {
				t.Fatal(err)
			}
			if status != 400 || eb.Type != "error" || eb.Error.Type != "invalid_request_error" || !strings.HasPrefix(eb.RequestID, "req_") ||
				string(h.Peek("x-should-retry")) != "false" || !strings.Contains(eb.Error.Message, tt.msg) {
				t.Errorf("status %d body %s", status, body)
			}
		})
	}
}

func TestAnthropicNonStreamShape(t *testing.T) {
	srv := Start(t, Anthropic(AnthropicOptions{}))
	status, body, h := postMessages(t, srv.URL, `{"model":"claude-haiku-4-5","max_tokens":50,"messages":[{"role":"user","content":"hi"}]}`)
	if status != 200 || string(h.ContentType()) != "application/json" {
		t.Fatalf("status %d %s", status, h.String())
	}
	var m struct {
		Model, Type, Role string
		Content           []struct{ Type, Text string }
		StopReason        string `json:"stop_reason"`
		Usage             struct {
			InputTokens  int `json:"input_tokens"`
			OutputTokens int `json:"output_tokens"`
		}
	}
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatal(err)
	}
	if m.Model != "claude-haiku-4-5-20250929" || m.Type != "message" || m.Role != "assistant" || len(m.Content) != 1 ||
		m.Content[0].Text != "echo: hi" || m.StopReason != "end_turn" || m.Usage.InputTokens < 1 || m.Usage.OutputTokens < 1 {
		t.Errorf("message %s", body)
	}
	if bytes.Contains([]byte(body), []byte("\n")) {
		t.Errorf("the API sends compact JSON: %s", body)
	}
}
