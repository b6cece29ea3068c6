package proxy

import (
	"testing"

	"llmrouter/llm"
)

// TestAuthNoneIgnoresTierHeader: with auth: none there is no key to grant
// allow_tier_override, so a client's x-llmrouter-tier must not pick its own
// tier (before, the anonymous caller could choose large at will). An invalid
// value is still a 400, as for keyed callers.
func TestAuthNoneIgnoresTierHeader(t *testing.T) {
	c := &cannedCompleter{resp: cannedResponse()}
	h := start(t, Options{Completer: c, Auth: AuthOptions{Mode: "none"}})
	tests := []struct {
		tier   string
		status int
	}{
		{"large", 200},
		{"small", 200},
		{"huge", 400},
	}
	for _, tt := range tests {
		t.Run(tt.tier, func(t *testing.T) {
			resp, body := h.do("POST", "/v1/chat/completions", chatBody, "x-llmrouter-tier", tt.tier)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if tt.status == 200 {
				if got := c.lastRequest().TierOverride; got != llm.TierUnset {
					t.Fatalf("anonymous caller set tier override %v", got)
				}
			}
		})
	}
}
