package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"llmrouter/config"
	"llmrouter/provider/fake"
)

// post sends a chat completion to the proxy and returns status, the
// x-llmrouter-* headers and the body.
func post(t *testing.T, base, body string) (int, map[string]string, string) {
	t.Helper()
	return call(t, base, "POST", "/v1/chat/completions", "", body,
		"x-llmrouter-model", "x-llmrouter-provider", "x-llmrouter-tier", "x-llmrouter-cache")
}

const reloadConfig = `
auth: {mode: none}
providers:
  - {name: dead, type: openai, base_url: "%[1]s/v1"}
  - {name: good, type: openai, base_url: "%[2]s/v1"}
models:
  chat:
    - {provider: dead, model: dead-model}
    - {provider: good, model: %[3]s}
routing:
  breaker: {consecutive_failures: 1, open_duration: 1h}
  retry: {max_attempts_per_target: 1}
  classifier: {thresholds: [%[4]s]}
  tiers:
    small: {chain: [{provider: good, model: small-model}]}
    medium: {chain: [{provider: good, model: medium-model}]}
    large: {chain: [{provider: good, model: large-model}]}
`

// TestReloadAppliesChainsAndThresholdsKeepsBreakers changes the config file
// under a running app: the new chain and classifier thresholds take effect
// at once, the dead target's open breaker survives (no new calls reach it),
// and a broken file keeps the running config.
func TestReloadAppliesChainsAndThresholdsKeepsBreakers(t *testing.T) {
	dead := fake.Start(t, fake.OpenAI(fake.OpenAIOptions{Fault: fake.AlwaysFails500()}))
	good := fake.Start(t, fake.OpenAI(fake.OpenAIOptions{Model: "good-snapshot"}))
	path := filepath.Join(t.TempDir(), "config.yaml")
	write := func(model, thresholds string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(fmt.Sprintf(reloadConfig, dead.URL, good.URL, model, thresholds)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("good-v1", "1.0, 2.0")
	data, _ := os.ReadFile(path)
	a, base := startApp(t, string(data), nil)

	chat := `{"model":"chat","messages":[{"role":"user","content":"hello there"}]}`
	status, h, body := post(t, base, chat)
	if status != 200 || h["x-llmrouter-model"] != "good-v1" {
		t.Fatalf("before reload: status %d model %q body %s", status, h["x-llmrouter-model"], body)
	}
	deadCalls := dead.Requests()
	if deadCalls != 1 {
		t.Fatalf("dead target saw %d calls, want 1 (then its breaker opens)", deadCalls)
	}
	auto := `{"model":"auto","messages":[{"role":"user","content":"hi"}]}`
	if _, h, _ := post(t, base, auto); h["x-llmrouter-tier"] != "small" {
		t.Fatalf("with thresholds [1,2] a greeting is small, got %q", h["x-llmrouter-tier"])
	}

	// Reload: a new model in the chain and thresholds that put everything in large.
	write("good-v2", "-10, -5")
	cfg, err := config.Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.reload(cfg); err != nil {
		t.Fatalf("reload: %v", err)
	}
	status, h, body = post(t, base, chat)
	if status != 200 || h["x-llmrouter-model"] != "good-v2" {
		t.Fatalf("after reload: status %d model %q body %s", status, h["x-llmrouter-model"], body)
	}
	if got := dead.Requests(); got != deadCalls {
		t.Fatalf("dead target got %d new calls after reload: its open breaker was not kept", got-deadCalls)
	}
	open := false
	for _, th := range a.router.Health() {
		if th.Provider == "dead" && th.State == "open" {
			open = true
		}
	}
	if !open {
		t.Fatalf("breaker of dead/dead-model not open after reload: %+v", a.router.Health())
	}
	if _, h, _ := post(t, base, auto); h["x-llmrouter-tier"] != "large" {
		t.Fatalf("new thresholds not applied: tier %q", h["x-llmrouter-tier"])
	}

	// A broken file is refused by Load; the running config stays.
	if err := os.WriteFile(path, []byte("routing: {tiers: 3}\nnope: true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := config.Load(path, nil); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("broken config accepted or unclear error: %v", err)
	}
	if status, h, _ := post(t, base, chat); status != 200 || h["x-llmrouter-model"] != "good-v2" {
		t.Fatalf("after a refused reload the old config must keep serving: %d %q", status, h["x-llmrouter-model"])
	}
}

// TestUsageReachesTheDashboardEndpoints: answered requests show up, priced,
// in /v1/usage for their tenant only, and cache hits count as savings.
func TestUsageReachesTheDashboardEndpoints(t *testing.T) {
	up := fake.Start(t, fake.OpenAI(fake.OpenAIOptions{Model: "priced-model"}))
	env := map[string]string{"KEY_A": "key-a-0123456789", "KEY_B": "key-b-0123456789"}
	_, base := startApp(t, fmt.Sprintf(`
auth:
  mode: keys
  keys:
    - {tenant: a, key_env: KEY_A}
    - {tenant: b, key_env: KEY_B}
providers:
  - {name: up, type: openai, base_url: "%s/v1"}
models:
  chat: [{provider: up, model: priced-model}]
cache:
  exact: {enabled: true}
prices:
  priced-model: {input: 1000, output: 1000}
usage: {flush_interval: 10ms}
`, up.URL)+oneUpstreamTiers("up", "priced-model"), env)
	do := func(method, path, key, body string) (int, string) {
		status, _, b := call(t, base, method, path, key, body)
		return status, b
	}
	chat := `{"model":"chat","messages":[{"role":"user","content":"count my dollars"}]}`
	for i, want := range []string{"", "0.000000"} { // the second is an exact-cache hit: nothing charged
		status, h, body := call(t, base, "POST", "/v1/chat/completions", env["KEY_A"], chat, "x-llmrouter-cost-usd")
		if status != 200 {
			t.Fatalf("chat: %d %s", status, body)
		}
		var r struct {
			Usage struct {
				PromptTokens     int64 `json:"prompt_tokens"`
				CompletionTokens int64 `json:"completion_tokens"`
			} `json:"usage"`
		}
		_ = json.Unmarshal([]byte(body), &r)
		if i == 0 { // $1000 per million tokens = 1000 micro-dollars a token
			want = fmt.Sprintf("%.6f", float64(1000*(r.Usage.PromptTokens+r.Usage.CompletionTokens))/1e6)
		}
		if got := h["x-llmrouter-cost-usd"]; got != want || want == "0.000000" && i == 0 {
			t.Fatalf("request %d: x-llmrouter-cost-usd %q, want %q", i, got, want)
		}
	}
	if status, body := do("POST", "/v1/embeddings", env["KEY_A"], `{"model":"chat","input":["count","these"]}`); status != 200 {
		t.Fatalf("embeddings: %d %s", status, body)
	}
	var snap struct {
		Totals struct {
			Requests  int64   `json:"requests"`
			CacheHits int64   `json:"cache_hits"`
			CostUSD   float64 `json:"cost_usd"`
			SavedUSD  float64 `json:"cache_savings_usd"`
		} `json:"totals"`
		Groups []struct {
			Group string `json:"group"`
		} `json:"groups"`
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		status, body := do("GET", "/v1/usage?group_by=tenant", env["KEY_A"], "")
		if status != 200 {
			t.Fatalf("usage: %d %s", status, body)
		}
		if err := json.Unmarshal([]byte(body), &snap); err != nil {
			t.Fatal(err)
		}
		if snap.Totals.Requests == 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond) // usage is recorded off the hot path
	}
	// Two chats (one a cache hit) and one embeddings call.
	if snap.Totals.Requests != 3 || snap.Totals.CacheHits != 1 || snap.Totals.CostUSD <= 0 || snap.Totals.SavedUSD <= 0 {
		t.Fatalf("tenant a's usage: %+v", snap.Totals)
	}
	for _, r := range snap.Groups {
		if r.Group != "a" {
			t.Fatalf("unexpected row %+v", r)
		}
	}
	_, body := do("GET", "/v1/usage", env["KEY_B"], "")
	if !strings.Contains(body, `"requests":0`) {
		t.Fatalf("tenant b sees other tenants' usage: %s", body)
	}
}
