package proxy

import (
	"context"
	"crypto/sha256"
	"strings"
	"sync"
	"testing"
	"time"

	"llmrouter/llm"
)

// fakeGate knows one virtual key and refuses with a scripted error.
type fakeGate struct {
	mu     sync.Mutex
	key    string
	gk     GateKey
	refuse *llm.Error
	asked  []Admission
}

func (g *fakeGate) VirtualKey(d [sha256.Size]byte) (GateKey, bool) {
	if d != sha256.Sum256([]byte(g.key)) {
		return GateKey{}, false
	}
	return g.gk, true
}

func (g *fakeGate) Admit(a Admission) *llm.Error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.asked = append(g.asked, a)
	return g.refuse
}

func TestGateKeysTiersAndLimits(t *testing.T) {
	tiers := map[string]llm.Tier{"opus": llm.TierLarge, "haiku": llm.TierSmall}
	body := func(model string) string {
		return `{"model":"` + model + `","messages":[{"role":"user","content":"hi"}]}`
	}
	cases := []struct {
		name     string
		key      string
		model    string
		refuse   *llm.Error
		status   int
		code     string
		retry    string
		inMsg    string
		admitted bool
	}{
		{name: "virtual key answered", key: "vk-secret", model: "haiku", status: 200, admitted: true},
		{name: "pinned alias above max tier", key: "vk-secret", model: "opus", status: 403, code: "tier_not_allowed", inMsg: "above this key's max tier medium"},
		{name: "yaml key max tier applies to pinned aliases", key: testKey, model: "opus", status: 403, code: "tier_not_allowed"},
		{name: "model outside the allow-list", key: "vk-secret", model: "gpt-4o", status: 403, code: "model_not_allowed"},
		{name: "rate limited", key: "vk-secret", model: "auto", status: 429, code: "rate_limit_exceeded", retry: "17",
			refuse: &llm.Error{Kind: llm.KindRateLimited, Code: llm.CodeRateLimitExceeded, RetryAfter: 16*time.Second + time.Millisecond, Message: "rpm"}},
		{name: "over budget", key: "vk-secret", model: "auto", status: 429, code: "insufficient_quota",
			refuse: &llm.Error{Kind: llm.KindRateLimited, Code: "insufficient_quota", Message: "budget spent"}},
		{name: "unknown key", key: "vk-other", model: "auto", status: 401, code: "invalid_api_key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := &fakeGate{key: "vk-secret", refuse: tc.refuse,
				gk: GateKey{ID: "vk_1", Tenant: "team-v", Models: []string{"auto", "haiku", "opus"}, MaxTier: llm.TierMedium}}
			c := &cannedCompleter{resp: cannedResponse()}
			h := start(t, Options{Completer: c, Gate: g, AliasTier: func(m string) llm.Tier { return tiers[m] }})
			resp, out := h.do("POST", "/v1/chat/completions", body(tc.model), "Authorization", "Bearer "+tc.key)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, out)
			}
			if tc.code != "" {
				msg, _, _, code := openAIError(t, out)
				if str(code) != tc.code || !strings.Contains(msg, tc.inMsg) {
					t.Errorf("code %q msg %q", str(code), msg)
				}
			}
			if got := resp.Header.Get("Retry-After"); got != tc.retry {
				t.Errorf("Retry-After %q, want %q", got, tc.retry)
			}
			if tc.admitted {
				r := c.lastRequest()
				if r.Tenant != "team-v" || r.KeyID != "vk_1" || r.MaxTier != llm.TierMedium {
					t.Errorf("request tenant %q key %q max tier %v", r.Tenant, r.KeyID, r.MaxTier)
				}
			}
		})
	}
}

func TestCostHeader(t *testing.T) {
	for _, tc := range []struct {
		name   string
		micro  int64
		priced bool
		want   string
	}{{"priced", 7475, true, "0.007475"}, {"dollars", 12_500_000, true, "12.500000"}, {"unpriced", 0, false, "unpriced"}} {
		t.Run(tc.name, func(t *testing.T) {
			c := &costingCompleter{cannedCompleter{resp: cannedResponse()}, tc.micro, tc.priced}
			h := start(t, Options{Completer: c})
			resp, body := h.do("POST", "/v1/chat/completions", chatBody)
			if resp.StatusCode != 200 || resp.Header.Get("x-llmrouter-cost-usd") != tc.want {
				t.Fatalf("%d cost %q, want %q: %s", resp.StatusCode, resp.Header.Get("x-llmrouter-cost-usd"), tc.want, body)
			}
		})
	}
}

// costingCompleter sets the cost in Meta as the usage recorder does.
type costingCompleter struct {
	cannedCompleter
	micro  int64
	priced bool
}

func (c *costingCompleter) Complete(ctx context.Context, r *llm.Request) (*llm.Response, error) {
	resp, err := c.cannedCompleter.Complete(ctx, r)
	r.Meta.Update(func(v *llm.MetaValues) { v.CostMicroUSD, v.Priced, v.Costed = c.micro, c.priced, true })
	return resp, err
}
