package anthropic

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"llmrouter/llm"
)

// fixtureHeaders reads a *.headers.json fixture into an http.Header.
func fixtureHeaders(t *testing.T, name string) (int, http.Header) {
	t.Helper()
	var f struct {
		Status  int               `json:"status"`
		Headers map[string]string `json:"headers"`
	}
	if err := json.Unmarshal(readFixture(t, name), &f); err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	for k, v := range f.Headers {
		h.Set(k, v)
	}
	return f.Status, h
}

func TestErrorFromReply(t *testing.T) {
	st400, h400 := fixtureHeaders(t, "error-400-invalid-request.headers.json")
	st429, h429 := fixtureHeaders(t, "error-429-rate-limit.headers.json")
	retry := http.Header{"X-Should-Retry": {"true"}}
	tests := []struct {
		name      string
		status    int
		hdr       http.Header
		body      string
		kind      llm.Kind
		code, msg string
	}{
		{"fixture 400", st400, h400, string(readFixture(t, "error-400-invalid-request.json")), llm.KindInvalidRequest, "", "unexpected `tool_use_id`"},
		{"fixture 429", st429, h429, string(readFixture(t, "error-429-rate-limit.json")), llm.KindUpstreamRateLimited, llm.CodeRateLimitExceeded, "rate limited"},
		{"prompt too long", 400, nil, `{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 210000 tokens > 200000 maximum"}}`, llm.KindInvalidRequest, llm.CodeContextLengthExceeded, "prompt is too long"},
		{"529 overloaded", 529, nil, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`, llm.KindUpstreamError, "", ""},
		{"500 api_error", 500, nil, `{"type":"error","error":{"type":"api_error","message":"Internal server error"}}`, llm.KindUpstreamError, "", ""},
		{"403 permission", 403, nil, `{"type":"error","error":{"type":"permission_error","message":"no"}}`, llm.KindUpstreamError, "", ""},
		{"404 model", 404, nil, `{"type":"error","error":{"type":"not_found_error","message":"model: claude-nope"}}`, llm.KindUpstreamError, "", ""},
		{"409 with x-should-retry true is retryable", 409, retry, `{"type":"error","error":{"type":"invalid_request_error","message":"conflict"}}`, llm.KindUpstreamError, "", ""},
		{"non-JSON body", 502, nil, `<html>bad gateway</html>`, llm.KindUpstreamError, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := errorFromReply("anthropic", tt.status, tt.hdr, []byte(tt.body))
			if e.Kind != tt.kind || e.Status != tt.status || e.Code != tt.code || e.Provider != "anthropic" {
				t.Errorf("got %#v", e)
			}
			if !strings.Contains(e.Message, tt.msg) {
				t.Errorf("message %q lacks %q", e.Message, tt.msg)
			}
		})
	}
}

func TestErrorForType(t *testing.T) {
	tests := []struct {
		errType string
		kind    llm.Kind
		status  int
	}{
		{"overloaded_error", llm.KindUpstreamError, 529},
		{"rate_limit_error", llm.KindUpstreamRateLimited, 429},
		{"invalid_request_error", llm.KindInvalidRequest, 400},
		{"api_error", llm.KindUpstreamError, 500},
		{"authentication_error", llm.KindUpstreamError, 401},
		{"brand_new_error", llm.KindUpstreamError, 500},
	}
	for _, tt := range tests {
		t.Run(tt.errType, func(t *testing.T) {
			e := errorForType("anthropic", tt.errType, "m")
			if e.Kind != tt.kind || e.Status != tt.status {
				t.Errorf("got %#v", e)
			}
		})
	}
}
