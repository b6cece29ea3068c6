package proxy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"llmrouter/llm"
)

// openAIError decodes and checks the OpenAI error envelope.
func openAIError(t *testing.T, body string) (msg, typ string, param, code *string) {
	t.Helper()
	var e struct {
		Error struct {
			Message string  `json:"message"`
			Type    string  `json:"type"`
			Param   *string `json:"param"`
			Code    *string `json:"code"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("error body is not JSON: %v: %s", err, body)
	}
	if e.Error.Message == "" || e.Error.Type == "" {
		t.Fatalf("error body lacks message or type: %s", body)
	}
	for _, k := range []string{`"param":`, `"code":`} {
		if !strings.Contains(body, k) {
			t.Fatalf("error body lacks %s: %s", k, body)
		}
	}
	return e.Error.Message, e.Error.Type, e.Error.Param, e.Error.Code
}

func str(p *string) string {
	if p == nil {
		return "<null>"
	}
	return *p
}

func TestChatCompletionPassesThroughWithRoutingHeaders(t *testing.T) {
	c := &cannedCompleter{resp: cannedResponse()}
	h := start(t, Options{Completer: c})
	resp, body := h.do("POST", "/v1/chat/completions", chatBody,
		"x-request-id", "client-req-1", "x-llmrouter-tier", "large", "Cache-Control", "no-cache, no-store")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	want := `{"id":"chatcmpl-abc","object":"chat.completion","created":1700000000,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"message":{"role":"assistant","content":"Paris \u003cb\u003e"},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15}}`
	if strings.TrimSpace(body) != want {
		t.Fatalf("body\n got %s\nwant %s", body, want)
	}
	for k, v := range map[string]string{
		"Content-Type": "application/json", "x-request-id": "client-req-1", "x-llmrouter-tier": "small",
		"x-llmrouter-model": "gpt-4o-mini-2024-07-18", "x-llmrouter-provider": "openai", "x-llmrouter-cache": "miss",
		"x-llmrouter-score": "0.250",
	} {
		if got := resp.Header.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	r := c.lastRequest()
	if r.Tenant != "acme" || r.RequestID != "client-req-1" || r.Meta == nil {
		t.Errorf("routing fields: tenant %q id %q meta %v", r.Tenant, r.RequestID, r.Meta)
	}
	if r.TierOverride != llm.TierMedium {
		t.Errorf("tier override %v, want medium (large capped at the key's MaxTier)", r.TierOverride)
	}
	if !r.CacheControl.NoCache || !r.CacheControl.NoStore {
		t.Errorf("cache control %+v", r.CacheControl)
	}
	if c.lastCtx.IsZero() {
		t.Error("Complete got a context without a deadline")
	}
}

func TestRequestIDIsGeneratedWhenAbsentOrInsane(t *testing.T) {
	h := start(t, Options{Completer: &cannedCompleter{resp: cannedResponse()}})
	seen := map[string]bool{}
	for _, hdr := range []string{"", "has space", strings.Repeat("x", 200)} {
		resp, _ := h.do("POST", "/v1/chat/completions", chatBody, "x-request-id", hdr)
		id := resp.Header.Get("x-request-id")
		if !strings.HasPrefix(id, "req_") || seen[id] {
			t.Fatalf("generated id %q (seen before: %v)", id, seen[id])
		}
		seen[id] = true
	}
}

func TestTierOverrideHeader(t *testing.T) {
	c := &cannedCompleter{resp: cannedResponse()}
	h := start(t, Options{Completer: c, Auth: AuthOptions{Keys: []Key{
		{Tenant: "acme", Value: testKey, AllowTierOverride: true},
		{Tenant: "plain", Value: "sk-plain-key"},
	}}})
	tests := []struct {
		name, key, tier string
		status          int
		want            llm.Tier
	}{
		{"allowed key gets its tier", testKey, "large", 200, llm.TierLarge},
		{"auto means no override", testKey, "auto", 200, llm.TierUnset},
		{"key without the right is ignored", "sk-plain-key", "large", 200, llm.TierUnset},
		{"invalid value is 400", testKey, "huge", 400, llm.TierUnset},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := h.do("POST", "/v1/chat/completions", chatBody, "Authorization", "Bearer "+tt.key, "x-llmrouter-tier", tt.tier)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if tt.status != 200 {
				if _, _, p, _ := openAIError(t, body); str(p) != "x-llmrouter-tier" {
					t.Fatalf("param %s", str(p))
				}
				return
			}
			if got := c.lastRequest().TierOverride; got != tt.want {
				t.Fatalf("override %v, want %v", got, tt.want)
			}
		})
	}
}

func TestValidationErrorsAre400WithParam(t *testing.T) {
	c := &cannedCompleter{resp: cannedResponse()}
	h := start(t, Options{Completer: c})
	user := `[{"role":"user","content":"hi"}]`
	tests := []struct{ name, body, param string }{
		{"not json", `{"model":`, ""},
		{"not an object", `[1]`, ""},
		{"wrong type", `{"model":"m","messages":` + user + `,"temperature":"hot"}`, "temperature"},
		{"model missing", `{"messages":` + user + `}`, "model"},
		{"messages missing", `{"model":"m"}`, "messages"},
		{"messages empty", `{"model":"m","messages":[]}`, "messages"},
		{"bad role", `{"model":"m","messages":[{"role":"wizard","content":"x"}]}`, "messages[0].role"},
		{"no role", `{"model":"m","messages":[{"content":"x"}]}`, "messages[0].role"},
		{"user without content", `{"model":"m","messages":[{"role":"user"}]}`, "messages[0].content"},
		{"tool without id", `{"model":"m","messages":[{"role":"user","content":"x"},{"role":"tool","content":"r"}]}`, "messages[1].tool_call_id"},
		{"n zero", `{"model":"m","messages":` + user + `,"n":0}`, "n"},
		{"temperature high", `{"model":"m","messages":` + user + `,"temperature":2.5}`, "temperature"},
		{"temperature negative", `{"model":"m","messages":` + user + `,"temperature":-0.1}`, "temperature"},
		{"top_p high", `{"model":"m","messages":` + user + `,"top_p":1.5}`, "top_p"},
		{"max_tokens zero", `{"model":"m","messages":` + user + `,"max_tokens":0}`, "max_tokens"},
		{"max_completion_tokens negative", `{"model":"m","messages":` + user + `,"max_completion_tokens":-1}`, "max_completion_tokens"},
		{"stream_options without stream", `{"model":"m","messages":` + user + `,"stream_options":{"include_usage":true}}`, "stream_options"},
		{"penalty out of range", `{"model":"m","messages":` + user + `,"presence_penalty":3}`, "presence_penalty"},
		{"tool without name", `{"model":"m","messages":` + user + `,"tools":[{"type":"function","function":{}}]}`, "tools[0].function.name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := h.do("POST", "/v1/chat/completions", tt.body)
			if resp.StatusCode != 400 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			_, typ, param, _ := openAIError(t, body)
			if typ != "invalid_request_error" {
				t.Errorf("type %q", typ)
			}
			if tt.param == "" && param != nil || tt.param != "" && str(param) != tt.param {
				t.Errorf("param %s, want %q", str(param), tt.param)
			}
		})
	}
	if c.requests != 0 {
		t.Fatalf("invalid requests reached the completer %d times", c.requests)
	}
}

// TestErrorTableMapsEveryKind mirrors errorTable row by row: a change to one
// side without the other fails here.
func TestErrorTableMapsEveryKind(t *testing.T) {
	want := map[llm.Kind]struct {
		status    int
		typ, code string
	}{
		llm.KindInternal:            {500, "server_error", "internal_error"},
		llm.KindInvalidRequest:      {400, "invalid_request_error", "<null>"},
		llm.KindUnauthenticated:     {401, "invalid_request_error", "invalid_api_key"},
		llm.KindForbidden:           {403, "permission_error", "permission_denied"},
		llm.KindUnknownModel:        {404, "invalid_request_error", "model_not_found"},
		llm.KindPayloadTooLarge:     {413, "invalid_request_error", "payload_too_large"},
		llm.KindRateLimited:         {429, "rate_limit_error", "rate_limit_exceeded"},
		llm.KindUpstreamRateLimited: {429, "rate_limit_error", "rate_limit_exceeded"},
		llm.KindUpstreamError:       {502, "server_error", "upstream_error"},
		llm.KindNoHealthyProvider:   {503, "server_error", "no_healthy_provider"},
		llm.KindOverloaded:          {503, "server_error", "overloaded"},
		llm.KindTimeout:             {504, "server_error", "timeout"},
		llm.KindCanceled:            {499, "invalid_request_error", "request_canceled"},
	}
	if len(want) != len(llm.Kinds()) {
		t.Fatalf("test table has %d rows, llm has %d kinds", len(want), len(llm.Kinds()))
	}
	for _, k := range llm.Kinds() {
		t.Run(k.String(), func(t *testing.T) {
			w := want[k]
			h := start(t, Options{Completer: failingCompleter{err: &llm.Error{Kind: k, Message: "boom"}}})
			resp, body := h.do("POST", "/v1/chat/completions", chatBody)
			if resp.StatusCode != w.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, w.status)
			}
			_, typ, _, code := openAIError(t, body)
			if typ != w.typ || str(code) != w.code {
				t.Fatalf("type %q code %s, want %q %s", typ, str(code), w.typ, w.code)
			}
		})
	}
}

func TestErrorStatusRulesAndRetryAfter(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		status     int
		retryAfter string
		notInMsg   string
	}{
		{"upstream 422 about the request keeps 422", &llm.Error{Kind: llm.KindInvalidRequest, Status: 422, Message: "bad schema"}, 422, "", ""},
		{"upstream 413 keeps 413", &llm.Error{Kind: llm.KindInvalidRequest, Status: 413, Code: llm.CodeContextLengthExceeded, Message: "too long"}, 413, "", ""},
		{"invalid request with upstream 401 stays 400", &llm.Error{Kind: llm.KindInvalidRequest, Status: 401, Message: "x"}, 400, "", ""},
		{"upstream 401 is 502 and hides the upstream text", &llm.Error{Kind: llm.KindUpstreamError, Status: 401, Provider: "openai",
			Message: "Incorrect API key provided: sk-proj-secret123"}, 502, "", "secret123"},
		{"429 carries Retry-After rounded up", &llm.Error{Kind: llm.KindUpstreamRateLimited, RetryAfter: 1500 * time.Millisecond}, 429, "2", ""},
		{"503 carries Retry-After", &llm.Error{Kind: llm.KindNoHealthyProvider, RetryAfter: 3 * time.Second}, 503, "3", ""},
		{"messages are redacted", &llm.Error{Kind: llm.KindUpstreamError, Status: 500, Message: "failed with key sk-live-abcdef"}, 502, "", "abcdef"},
		{"context deadline is 504", context.DeadlineExceeded, 504, "", ""},
		{"a plain error is 500", errors.New("oops"), 500, "", "oops"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := start(t, Options{Completer: failingCompleter{err: tt.err}})
			resp, body := h.do("POST", "/v1/chat/completions", chatBody)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			openAIError(t, body)
			if got := resp.Header.Get("Retry-After"); got != tt.retryAfter {
				t.Errorf("Retry-After %q, want %q", got, tt.retryAfter)
			}
			if tt.notInMsg != "" && strings.Contains(body, tt.notInMsg) {
				t.Errorf("body leaks %q: %s", tt.notInMsg, body)
			}
		})
	}
}

func TestBodyOverLimitIs413InOpenAIShape(t *testing.T) {
	c := &cannedCompleter{resp: cannedResponse()}
	h := start(t, Options{Completer: c, MaxBodyBytes: 1024})
	big := `{"model":"m","messages":[{"role":"user","content":"` + strings.Repeat("a", 4096) + `"}]}`
	resp, body := h.do("POST", "/v1/chat/completions", big)
	if resp.StatusCode != 413 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if _, typ, _, code := openAIError(t, body); typ != "invalid_request_error" || str(code) != "payload_too_large" {
		t.Fatalf("type %q code %s", typ, str(code))
	}
	if c.requests != 0 {
		t.Fatal("oversized body reached the completer")
	}
}

func TestAuthentication(t *testing.T) {
	hashed := sha256.Sum256([]byte("sk-hashed-key"))
	c := &cannedCompleter{resp: cannedResponse()}
	h := start(t, Options{Completer: c, Auth: AuthOptions{Keys: []Key{
		{Tenant: "acme", Value: testKey},
		{Tenant: "hashed", Value: "sha256:" + hex.EncodeToString(hashed[:])},
		{Tenant: "barehex", Value: hex.EncodeToString(sha256.New().Sum(nil)[:0]) + strings.Repeat("0", 0) + sha256hex("sk-bare")},
	}}})
	tests := []struct {
		name   string
		hdr    []string
		status int
		tenant string
	}{
		{"bearer", []string{"Authorization", "Bearer " + testKey}, 200, "acme"},
		{"lowercase bearer scheme", []string{"Authorization", "bearer " + testKey}, 200, "acme"},
		{"api-key header", []string{"Authorization", "", "api-key", testKey}, 200, "acme"},
		{"x-api-key header", []string{"Authorization", "", "x-api-key", testKey}, 200, "acme"},
		{"sha256-prefixed digest", []string{"Authorization", "Bearer sk-hashed-key"}, 200, "hashed"},
		{"bare hex digest", []string{"Authorization", "Bearer sk-bare"}, 200, "barehex"},
		{"missing key", []string{"Authorization", ""}, 401, ""},
		{"wrong key", []string{"Authorization", "Bearer sk-nope"}, 401, ""},
		{"basic scheme", []string{"Authorization", "Basic " + testKey}, 401, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := h.do("POST", "/v1/chat/completions", chatBody, tt.hdr...)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if tt.status == 401 {
				msg, typ, _, code := openAIError(t, body)
				if typ != "invalid_request_error" || str(code) != "invalid_api_key" {
					t.Fatalf("type %q code %s", typ, str(code))
				}
				if strings.Contains(msg, "sk-nope") {
					t.Fatalf("message echoes the key: %s", msg)
				}
				return
			}
			if got := c.lastRequest().Tenant; got != tt.tenant {
				t.Fatalf("tenant %q, want %q", got, tt.tenant)
			}
		})
	}
	t.Run("SetAuth swaps keys", func(t *testing.T) {
		if err := h.s.SetAuth(AuthOptions{Keys: []Key{{Tenant: "new", Value: "sk-new"}}}); err != nil {
			t.Fatal(err)
		}
		if resp, _ := h.do("POST", "/v1/chat/completions", chatBody); resp.StatusCode != 401 {
			t.Fatalf("old key still accepted: %d", resp.StatusCode)
		}
		if resp, _ := h.do("POST", "/v1/chat/completions", chatBody, "Authorization", "Bearer sk-new"); resp.StatusCode != 200 {
			t.Fatalf("new key refused: %d", resp.StatusCode)
		}
		if err := h.s.SetAuth(AuthOptions{Mode: "keys"}); err == nil {
			t.Fatal("SetAuth accepted keys mode without keys")
		}
	})
}

func sha256hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func TestNewRejectsBadOptions(t *testing.T) {
	c := &cannedCompleter{resp: cannedResponse()}
	tests := []struct {
		name string
		o    Options
	}{
		{"no completer", Options{Auth: testAuth()}},
		{"keys mode without keys", Options{Completer: c, Auth: AuthOptions{Mode: "keys"}}},
		{"unknown mode", Options{Completer: c, Auth: AuthOptions{Mode: "open"}}},
		{"duplicate key", Options{Completer: c, Auth: AuthOptions{Keys: []Key{{Tenant: "a", Value: "k"}, {Tenant: "b", Value: "k"}}}}},
		{"key without tenant", Options{Completer: c, Auth: AuthOptions{Keys: []Key{{Value: "k"}}}}},
		{"bad digest", Options{Completer: c, Auth: AuthOptions{Keys: []Key{{Tenant: "a", Value: "sha256:zz"}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.o); err == nil {
				t.Fatal("New accepted bad options")
			}
		})
	}
}

func TestAuthNoneServesEveryoneAsEmptyTenant(t *testing.T) {
	c := &cannedCompleter{resp: cannedResponse()}
	h := start(t, Options{Completer: c, Auth: AuthOptions{Mode: "none"}})
	if resp, body := h.do("POST", "/v1/chat/completions", chatBody, "Authorization", ""); resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if c.lastRequest().Tenant != "" {
		t.Fatal("tenant set with auth off")
	}
}

func TestUnknownPathAndWrongMethod(t *testing.T) {
	h := start(t, Options{Completer: &cannedCompleter{resp: cannedResponse()}})
	tests := []struct {
		method, path string
		status       int
	}{
		{"GET", "/v1/nope", 404},
		{"POST", "/v2/chat/completions", 404},
		{"GET", "/v1/chat/completions", 405},
		{"POST", "/v1/models", 405},
		{"DELETE", "/v1/embeddings", 405},
		{"GET", "/admin/cache/invalidate", 405},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			resp, body := h.do(tt.method, tt.path, "")
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			openAIError(t, body)
			if tt.status == 405 && resp.Header.Get("Allow") == "" {
				t.Error("405 without Allow")
			}
		})
	}
}

func TestMaxConcurrencyAnswers503(t *testing.T) {
	g := &gatedCompleter{entered: make(chan struct{}, 1), gate: make(chan struct{}), resp: cannedResponse()}
	h := start(t, Options{Completer: g, MaxConcurrency: 1})
	first := make(chan int, 1)
	go func() {
		resp, _ := h.do("POST", "/v1/chat/completions", chatBody)
		first <- resp.StatusCode
	}()
	<-g.entered
	resp, body := h.do("POST", "/v1/chat/completions", chatBody)
	if resp.StatusCode != 503 {
		t.Fatalf("second request: status %d: %s", resp.StatusCode, body)
	}
	if _, _, _, code := openAIError(t, body); str(code) != "overloaded" || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("code %s retry-after %q", str(code), resp.Header.Get("Retry-After"))
	}
	close(g.gate)
	if s := <-first; s != 200 {
		t.Fatalf("first request: status %d", s)
	}
	go func() { <-g.entered }()
	if resp, _ := h.do("POST", "/v1/chat/completions", chatBody); resp.StatusCode != 200 {
		t.Fatalf("after the slot freed: status %d", resp.StatusCode)
	}
}

func TestModelsEndpoints(t *testing.T) {
	h := start(t, Options{Completer: &cannedCompleter{resp: cannedResponse(), models: []string{"auto", "sonnet"}}})
	resp, body := h.do("GET", "/v1/models", "")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	var list modelList
	if err := json.Unmarshal([]byte(body), &list); err != nil || list.Object != "list" || len(list.Data) != 2 ||
		list.Data[1] != (modelObject{ID: "sonnet", Object: "model", Created: h.s.started, OwnedBy: "llmrouter"}) {
		t.Fatalf("list %s (%v)", body, err)
	}
	resp, body = h.do("GET", "/v1/models/sonnet", "")
	if resp.StatusCode != 200 || !strings.Contains(body, `"id":"sonnet"`) || !strings.Contains(body, `"object":"model"`) {
		t.Fatalf("model: %d %s", resp.StatusCode, body)
	}
	resp, body = h.do("GET", "/v1/models/gpt-9", "")
	if resp.StatusCode != 404 {
		t.Fatalf("unknown model: %d", resp.StatusCode)
	}
	if _, _, _, code := openAIError(t, body); str(code) != "model_not_found" {
		t.Fatalf("code %s", str(code))
	}
	if resp, _ := h.do("GET", "/v1/models", "", "Authorization", ""); resp.StatusCode != 401 {
		t.Fatalf("models without a key: %d", resp.StatusCode)
	}
}

func TestHealthReadyAndMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	report := ReadyReport{Status: "degraded", Checks: map[string]string{"db": "unreachable"}}
	h := start(t, Options{Completer: &cannedCompleter{resp: cannedResponse()}, Registerer: reg, Gatherer: reg,
		Ready: func(context.Context) ReadyReport { return report }})
	if resp, body := h.do("GET", "/healthz", "", "Authorization", ""); resp.StatusCode != 200 || !strings.Contains(body, `"ok"`) {
		t.Fatalf("healthz %d %s", resp.StatusCode, body)
	}
	resp, body := h.do("GET", "/readyz", "", "Authorization", "")
	if resp.StatusCode != 200 || !strings.Contains(body, `"status":"degraded"`) || !strings.Contains(body, `"db":"unreachable"`) {
		t.Fatalf("readyz degraded: %d %s", resp.StatusCode, body)
	}
	report = ReadyReport{Status: "down"}
	if resp, body := h.do("GET", "/readyz", "", "Authorization", ""); resp.StatusCode != 503 || !strings.Contains(body, `"checks":{}`) {
		t.Fatalf("readyz down: %d %s", resp.StatusCode, body)
	}
	h.do("POST", "/v1/chat/completions", chatBody)
	resp, body = h.do("GET", "/metrics", "", "Authorization", "")
	if resp.StatusCode != 200 {
		t.Fatalf("metrics %d", resp.StatusCode)
	}
	for _, want := range []string{
		`llmrouter_proxy_requests_total{cache="miss",model="auto",route="chat",status="200",tier="small"} 1`,
		`llmrouter_proxy_tokens_total{kind="prompt",model="gpt-4o-mini-2024-07-18"} 12`,
		`llmrouter_proxy_in_flight_requests 0`,
		`llmrouter_proxy_request_duration_seconds_count{route="chat",stream="false"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestAdminInvalidate(t *testing.T) {
	var got []string
	h := start(t, Options{Completer: &cannedCompleter{resp: cannedResponse()},
		Auth: AuthOptions{Keys: []Key{{Tenant: "acme", Value: testKey}}, AdminKeys: []Key{{Tenant: "ops", Value: "sk-admin"}}},
		Invalidate: func(_ context.Context, tenant string) error {
			got = append(got, tenant)
			return nil
		}})
	tests := []struct {
		name, key, body string
		status          int
		tenant          string
	}{
		{"admin defaults to its own tenant", "sk-admin", "", 200, "ops"},
		{"admin names a tenant", "sk-admin", `{"tenant":"acme"}`, 200, "acme"},
		{"client key is forbidden", testKey, "", 403, ""},
		{"no key", "", "", 401, ""},
		{"bad body", "sk-admin", `{"tenant":5}`, 400, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got = nil
			auth := ""
			if tt.key != "" {
				auth = "Bearer " + tt.key
			}
			resp, body := h.do("POST", "/admin/cache/invalidate", tt.body, "Authorization", auth)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if tt.status != 200 {
				openAIError(t, body)
				if len(got) != 0 {
					t.Fatal("invalidated without permission")
				}
				return
			}
			if len(got) != 1 || got[0] != tt.tenant {
				t.Fatalf("invalidated %v, want %q", got, tt.tenant)
			}
		})
	}
}

func TestHeadersTooLargeIs431(t *testing.T) {
	h := start(t, Options{Completer: &cannedCompleter{resp: cannedResponse()}, MaxHeaderBytes: 4096})
	resp, body := h.do("POST", "/v1/chat/completions", chatBody, "x-junk", strings.Repeat("j", 8000))
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	openAIError(t, body)
}
