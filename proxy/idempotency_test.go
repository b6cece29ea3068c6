package proxy

import (
	"strings"
	"testing"
)

// TestIdempotencyKeyHeader: the client's Idempotency-Key reaches the
// Completer on the request; an oversized one is a 400 in OpenAI's shape.
func TestIdempotencyKeyHeader(t *testing.T) {
	tests := []struct {
		name, key string
		status    int
		want      string
	}{
		{"absent", "", 200, ""},
		{"present", "order-4711-attempt", 200, "order-4711-attempt"},
		{"too long", strings.Repeat("k", 256), 400, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &cannedCompleter{resp: cannedResponse()}
			h := start(t, Options{Completer: c})
			var hdr []string
			if tt.key != "" {
				hdr = []string{"Idempotency-Key", tt.key}
			}
			resp, body := h.do("POST", "/v1/chat/completions", chatBody, hdr...)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			if tt.status != 200 {
				if _, typ, _, _ := openAIError(t, body); typ != "invalid_request_error" {
					t.Fatalf("error type %q", typ)
				}
				return
			}
			if got := c.lastRequest().IdempotencyKey; got != tt.want {
				t.Fatalf("request carried key %q, want %q", got, tt.want)
			}
		})
	}
}
