package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"llmrouter/provider/fake"
)

// runDashboardChromium runs one headless chromium command with a fresh profile and a
// deadline, and returns stdout and stderr.
func runDashboardChromium(t *testing.T, bin string, args ...string) (string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
		"--disable-sync", "--no-first-run", "--disable-dev-shm-usage", "--user-data-dir=" + t.TempDir(),
		"--enable-logging=stderr", "--v=0", "--window-size=1440,1200", "--virtual-time-budget=5000"}
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, errb.String())
	}
	return out.String(), errb.String()
}

// TestDashboardInChromium seeds the ledger through the real proxy (routed,
// pinned and cache-hit requests of two tenants), loads /dashboard in
// headless Chromium with the admin key, and checks that it loaded without
// console errors, drew its charts and shows the seeded figures. The
// screenshot is written as an artifact ($LLMROUTER_ARTIFACTS, default a
// temp dir; LLMROUTER_DASHBOARD_SCREENSHOT names an extra copy).
func TestDashboardInChromium(t *testing.T) {
	bin := chromium(t)
	up := fake.Start(t, fake.OpenAI(fake.OpenAIOptions{}))
	env := map[string]string{"KEY_A": "key-a-0123456789", "KEY_B": "key-b-0123456789", "ADMIN": "key-admin-0123456789"}
	_, base := startApp(t, fmt.Sprintf(`
auth:
  mode: keys
  keys:
    - {tenant: team-search, key_env: KEY_A}
    - {tenant: team-support, key_env: KEY_B}
  admin_keys:
    - {tenant: ops, key_env: ADMIN}
providers:
  - {name: openai, type: openai, base_url: "%s/v1"}
models:
  mini: [{provider: openai, model: gpt-4o-mini}]
  gpt4o: [{provider: openai, model: gpt-4o}]
routing:
  tiers:
    small: {chain: [{provider: openai, model: gpt-4o-mini}]}
    medium: {chain: [{provider: openai, model: gpt-4.1-mini}]}
    large: {chain: [{provider: openai, model: gpt-4o}]}
cache:
  exact: {enabled: true}
usage: {flush_interval: 10ms}
`, up.URL), env)
	prompts := []string{"What is the capital of France?", "Summarise the plot of Hamlet in two sentences.",
		"Prove that the square root of two is irrational, step by step, and explain each inference carefully." + strings.Repeat(" Consider every case.", 30),
		"Translate 'good morning' to Spanish.", "Write a haiku about routers."}
	n := 0
	for i := 0; i < 3; i++ {
		for j, p := range prompts {
			for _, c := range []struct{ key, model string }{{"KEY_A", "auto"}, {"KEY_B", "auto"}, {"KEY_A", "gpt4o"}, {"KEY_B", "mini"}} {
				if (i+j)%2 == 1 && c.model != "auto" {
					continue
				}
				body := fmt.Sprintf(`{"model":%q,"messages":[{"role":"user","content":%q}]}`, c.model, p)
				if status, _, b := call(t, base, "POST", "/v1/chat/completions", env[c.key], body); status != 200 {
					t.Fatalf("seed: %d %s", status, b)
				}
				n++
			}
		}
	}
	// Wait until every seeded request is in the ledger.
	waitUsage(t, base, env["ADMIN"], n)

	url := base + "/dashboard?key=" + env["ADMIN"]
	dom, stderr := runDashboardChromium(t, bin, "--dump-dom", url)
	attr := func(name string) string {
		m := regexp.MustCompile(`<body[^>]*\s` + name + `="([^"]*)"`).FindStringSubmatch(dom)
		if m == nil {
			return ""
		}
		return m[1]
	}
	if attr("data-loaded") != "1" || attr("data-errors") != "0" {
		t.Fatalf("page loaded=%q errors=%q; stderr:\n%s\nDOM:\n%.3000s", attr("data-loaded"), attr("data-errors"), stderr, dom)
	}
	if c := attr("data-charts"); c != "3" {
		t.Fatalf("charts drawn = %q, want 3", c)
	}
	for _, line := range strings.Split(stderr, "\n") {
		if strings.Contains(line, "CONSOLE") && (strings.Contains(line, "Uncaught") || strings.Contains(line, "rror")) {
			t.Errorf("console error: %s", line)
		}
	}
	for _, want := range []string{"team-search", "team-support", "gpt-4o-2024-07-18", "gpt-4o-mini-2024-07-18", "Saved by routing", "<canvas", "openai/gpt-4o"} {
		if !strings.Contains(dom, want) {
			t.Errorf("dashboard DOM lacks %q", want)
		}
	}
	dir := os.Getenv("LLMROUTER_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "llmrouter-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(dir, "dashboard.png")
	runDashboardChromium(t, bin, "--hide-scrollbars", "--screenshot="+shot, url)
	if st, err := os.Stat(shot); err != nil || st.Size() < 10_000 {
		t.Fatalf("screenshot %s: %v", shot, err)
	}
	t.Logf("dashboard screenshot: %s", shot)
	if extra := os.Getenv("LLMROUTER_DASHBOARD_SCREENSHOT"); extra != "" {
		b, _ := os.ReadFile(shot)
		if err := os.WriteFile(extra, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// waitUsage polls /v1/usage (admin: all tenants) until it counts n requests.
func waitUsage(t *testing.T, base, key string, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	want := fmt.Sprintf(`"totals":{"requests":%d,`, n)
	for {
		_, _, body := call(t, base, "GET", "/v1/usage", key, "")
		if strings.Contains(body, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("usage never reached %d requests: %.500s", n, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
