package proxy

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"llmrouter/llm"
)

// syncBuffer is a bytes.Buffer safe for the logger's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) lines(t *testing.T) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(s.b.String()), "\n") {
		if l == "" {
			continue
		}
		m := map[string]any{}
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", l)
		}
		out = append(out, m)
	}
	return out
}

func TestRequestLogLine(t *testing.T) {
	for _, debug := range []bool{false, true} {
		t.Run(map[bool]string{false: "prompts hidden", true: "prompts with DebugLogPrompts"}[debug], func(t *testing.T) {
			var buf syncBuffer
			log := slog.New(slog.NewJSONHandler(&buf, nil))
			h := start(t, Options{Completer: &cannedCompleter{resp: cannedResponse()}, Logger: log, DebugLogPrompts: debug})
			h.do("POST", "/v1/chat/completions", chatBody, "x-request-id", "r-42")
			h.stop()
			var line map[string]any
			for _, l := range buf.lines(t) {
				if l["msg"] == "request" {
					line = l
				}
			}
			if line == nil {
				t.Fatal("no request log line")
			}
			for k, v := range map[string]any{"request_id": "r-42", "tenant": "acme", "model": "auto", "tier": "small",
				"provider": "openai", "upstream_model": "gpt-4o-mini-2024-07-18", "cache": "miss", "status": 200.0,
				"attempts": 1.0, "prompt_tokens": 12.0, "completion_tokens": 3.0} {
				if line[k] != v {
					t.Errorf("%s = %v, want %v", k, line[k], v)
				}
			}
			if _, ok := line["latency_ms"]; !ok {
				t.Error("no latency_ms")
			}
			all := buf.b.String()
			if strings.Contains(all, testKey) {
				t.Fatal("log contains the client key")
			}
			if got := strings.Contains(all, "capital of France"); got != debug {
				t.Fatalf("prompt in log = %v, want %v", got, debug)
			}
		})
	}
}

func TestUpstreamKeyRejectionLogsAnError(t *testing.T) {
	var buf syncBuffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	h := start(t, Options{Logger: log, Completer: failingCompleter{err: &llm.Error{Kind: llm.KindUpstreamError, Status: 401,
		Provider: "openai", Message: "incorrect api key sk-proj-leak"}}})
	if resp, _ := h.do("POST", "/v1/chat/completions", chatBody); resp.StatusCode != 502 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	h.stop()
	found := false
	for _, l := range buf.lines(t) {
		if l["level"] == "ERROR" && l["provider"] == "openai" {
			found = true
		}
	}
	if !found {
		t.Fatalf("no ERROR line for the upstream 401: %s", buf.b.String())
	}
	if strings.Contains(buf.b.String(), "sk-proj-leak") {
		t.Fatal("log leaks the upstream key text")
	}
}
