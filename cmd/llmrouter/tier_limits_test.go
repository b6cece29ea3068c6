package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestTierMaxOutputTokens: routing.tiers.<tier>.max_output_tokens refuses
// a request over its tier's cap with 400 in the client's API shape (Chat
// Completions, Messages, Responses), for auto requests the classifier put
// in that tier and for an alias pinned to it; within the cap it is served.
func TestTierMaxOutputTokens(t *testing.T) {
	env := map[string]string{"CK": "client-key-tier-caps"}
	small := "{chain: [{provider: s, model: x-small}], max_output_tokens: 100}"
	big := "{chain: [{provider: s, model: x-big}]}"
	yaml := "auth:\n  mode: keys\n  keys: [{tenant: t, key_env: CK}]\n" +
		"providers: [{name: s, type: simulator}]\nmodels: {mini: [{provider: s, model: x-small}]}\n" +
		"routing:\n  tiers:\n    small: " + small + "\n    medium: " + big + "\n    large: " + big + "\n" +
		"cache:\n  exact: {enabled: false}\n  semantic: {enabled: false}\n"
	_, base := startApp(t, yaml, env)
	anthropic := map[string]string{"x-api-key": env["CK"], "anthropic-version": "2023-06-01"}
	openai := map[string]string{"Authorization": "Bearer " + env["CK"]}
	cases := []struct {
		name, path, body, param string
		hdr                     map[string]string
		status                  int
	}{
		{"chat within", "/v1/chat/completions", `{"model":"auto","max_tokens":100,"messages":[{"role":"user","content":"hi"}]}`, "", openai, 200},
		{"chat over", "/v1/chat/completions", `{"model":"auto","max_tokens":101,"messages":[{"role":"user","content":"hi"}]}`, "max_tokens", openai, 400},
		{"chat over, max_completion_tokens", "/v1/chat/completions", `{"model":"auto","max_completion_tokens":5000,"messages":[{"role":"user","content":"hi"}]}`, "max_completion_tokens", openai, 400},
		{"chat pinned over", "/v1/chat/completions", `{"model":"mini","max_tokens":500,"messages":[{"role":"user","content":"hi"}]}`, "max_tokens", openai, 400},
		{"chat streamed over", "/v1/chat/completions", `{"model":"auto","stream":true,"max_tokens":500,"messages":[{"role":"user","content":"hi"}]}`, "max_tokens", openai, 400},
		{"messages over", "/v1/messages", `{"model":"auto","max_tokens":500,"messages":[{"role":"user","content":"hi"}]}`, "max_tokens", anthropic, 400},
		{"messages within", "/v1/messages", `{"model":"auto","max_tokens":50,"messages":[{"role":"user","content":"hi"}]}`, "", anthropic, 200},
		{"responses over", "/v1/responses", `{"model":"auto","max_output_tokens":500,"input":"hi"}`, "max_output_tokens", openai, 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, _, body := wirePost(t, base, tc.path, tc.body, tc.hdr)
			if status != tc.status {
				t.Fatalf("status %d, want %d: %s", status, tc.status, body)
			}
			if tc.status == 200 {
				return
			}
			if tc.path == "/v1/messages" {
				var e struct {
					Type  string
					Error struct{ Type, Message string }
				}
				if json.Unmarshal([]byte(body), &e) != nil || e.Type != "error" || e.Error.Type != "invalid_request_error" ||
					!strings.Contains(e.Error.Message, "limit of 100 output tokens for the small tier") {
					t.Fatalf("not an Anthropic limit error: %s", body)
				}
				return
			}
			var e struct {
				Error struct {
					Message, Type, Code string
					Param               *string
				}
			}
			if json.Unmarshal([]byte(body), &e) != nil || e.Error.Type != "invalid_request_error" || e.Error.Code != "limit_exceeded" ||
				e.Error.Param == nil || *e.Error.Param != tc.param || !strings.Contains(e.Error.Message, "limit of 100 output tokens for the small tier") ||
				!strings.HasPrefix(e.Error.Message, tc.param) {
				t.Fatalf("not an OpenAI limit error on %s: %s", tc.param, body)
			}
		})
	}
}
