package transport

import (
	"net/http"
	"testing"
	"time"

	"llmrouter/llm"
)

func TestStatusError(t *testing.T) {
	ra := http.Header{"Retry-After": {"7"}}
	tests := []struct {
		name                         string
		status                       int
		h                            http.Header
		msg, typ, code, param        string
		kind                         llm.Kind
		wantCode, wantParam, wantMsg string
		retryAfter                   time.Duration
	}{
		{name: "400 passes through", status: 400, msg: "Unsupported parameter: 'max_tokens'", typ: "invalid_request_error", code: "unsupported_parameter", param: "max_tokens",
			kind: llm.KindInvalidRequest, wantCode: "unsupported_parameter", wantParam: "max_tokens", wantMsg: "Unsupported parameter: 'max_tokens'"},
		{name: "400 context length by code", status: 400, msg: "too long", code: "context_length_exceeded", param: "messages",
			kind: llm.KindInvalidRequest, wantCode: llm.CodeContextLengthExceeded, wantParam: "messages", wantMsg: "too long"},
		{name: "400 context length by message", status: 400, msg: "This model's maximum context length is 8192 tokens.",
			kind: llm.KindInvalidRequest, wantCode: llm.CodeContextLengthExceeded, wantMsg: "This model's maximum context length is 8192 tokens."},
		{name: "400 anthropic prompt too long", status: 400, msg: "prompt is too long: 208000 tokens > 200000 maximum", typ: "invalid_request_error",
			kind: llm.KindInvalidRequest, wantCode: llm.CodeContextLengthExceeded, wantMsg: "prompt is too long: 208000 tokens > 200000 maximum"},
		{name: "400 content filter", status: 400, msg: "The response was filtered due to the prompt triggering Azure OpenAI's content management policy.", code: "content_filter",
			kind: llm.KindInvalidRequest, wantCode: llm.CodeContentFilter, wantMsg: "The response was filtered due to the prompt triggering Azure OpenAI's content management policy."},
		{name: "400 content policy violation", status: 400, msg: "rejected", code: "content_policy_violation",
			kind: llm.KindInvalidRequest, wantCode: llm.CodeContentFilter, wantMsg: "rejected"},
		{name: "400 no message", status: 400, kind: llm.KindInvalidRequest, wantMsg: "upstream rejected the request (400)"},
		{name: "409", status: 409, msg: "conflict", kind: llm.KindInvalidRequest, wantMsg: "conflict"},
		{name: "413", status: 413, msg: "request too large", typ: "request_too_large", kind: llm.KindInvalidRequest, wantMsg: "request too large"},
		{name: "422", status: 422, msg: "bad", param: "x", kind: llm.KindInvalidRequest, wantParam: "x", wantMsg: "bad"},
		{name: "401 our key", status: 401, msg: "Incorrect API key provided: sk-abc", code: "invalid_api_key", param: "",
			kind: llm.KindUpstreamError, wantCode: "invalid_api_key", wantMsg: "upstream rejected our credentials (401)"},
		{name: "403", status: 403, msg: "forbidden", kind: llm.KindUpstreamError, wantMsg: "upstream rejected our credentials (403)"},
		{name: "404 model", status: 404, msg: "The model `x` does not exist", code: "model_not_found", param: "model",
			kind: llm.KindUpstreamError, wantCode: "model_not_found", wantMsg: "upstream model or endpoint not found"},
		{name: "429 retry-after", status: 429, h: ra, msg: "slow down", kind: llm.KindUpstreamRateLimited,
			wantCode: llm.CodeRateLimitExceeded, wantMsg: "upstream rate limited", retryAfter: 7 * time.Second},
		{name: "429 insufficient quota", status: 429, msg: "You exceeded your current quota", typ: "insufficient_quota", code: "insufficient_quota",
			kind: llm.KindUpstreamRateLimited, wantCode: "insufficient_quota", wantMsg: "upstream rate limited"},
		{name: "500", status: 500, msg: "oops", kind: llm.KindUpstreamError, wantMsg: "upstream error (500)"},
		{name: "503", status: 503, kind: llm.KindUpstreamError, wantMsg: "upstream error (503)"},
		{name: "529 overloaded", status: 529, msg: "Overloaded", typ: "overloaded_error", kind: llm.KindUpstreamError, wantMsg: "upstream error (529)"},
		{name: "other 4xx", status: 402, kind: llm.KindUpstreamError, wantMsg: "upstream error (402)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := StatusError("prov", tt.status, tt.h, tt.msg, tt.typ, tt.code, tt.param)
			if e.Kind != tt.kind || e.Code != tt.wantCode || e.Param != tt.wantParam || e.Message != tt.wantMsg ||
				e.Status != tt.status || e.Provider != "prov" || e.RetryAfter != tt.retryAfter {
				t.Fatalf("got %+v", e)
			}
			if tt.msg != "" && tt.kind != llm.KindInvalidRequest && e.Err == nil {
				t.Fatal("upstream message dropped from the cause")
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name string
		h    http.Header
		want time.Duration
	}{
		{"absent", http.Header{}, 0},
		{"nil", nil, 0},
		{"seconds", http.Header{"Retry-After": {"2"}}, 2 * time.Second},
		{"fractional seconds", http.Header{"Retry-After": {"1.5"}}, 1500 * time.Millisecond},
		{"capped", http.Header{"Retry-After": {"3600"}}, MaxRetryAfter},
		{"negative", http.Header{"Retry-After": {"-4"}}, 0},
		{"http date", http.Header{"Retry-After": {now.Add(10 * time.Second).Format(http.TimeFormat)}}, 10 * time.Second},
		{"past date", http.Header{"Retry-After": {now.Add(-time.Hour).Format(http.TimeFormat)}}, 0},
		{"garbage", http.Header{"Retry-After": {"soon"}}, 0},
		{"ms wins", http.Header{"Retry-After": {"9"}, "Retry-After-Ms": {"250"}}, 250 * time.Millisecond},
		{"ms capped", http.Header{"Retry-After-Ms": {"999999"}}, MaxRetryAfter},
		{"ms garbage", http.Header{"Retry-After-Ms": {"x"}}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := RetryAfter(tt.h, now); got != tt.want {
				t.Fatalf("RetryAfter = %v, want %v", got, tt.want)
			}
		})
	}
}
