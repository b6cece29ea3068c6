package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"llmrouter/config"
	"llmrouter/llm"
	"llmrouter/provider/fake"
)

const sdkTestKey = "sk-llmrouter-conformance-0123456789"

// startApp builds the whole llmrouter graph from a YAML config and serves it
// on a loopback port. It returns the base URL (http://127.0.0.1:PORT).
func startApp(t *testing.T, yaml string, env map[string]string) (*app, string) {
	return startAppTB(t, yaml, env)
}

// startAppB is startApp for benchmarks.
func startAppB(b *testing.B, yaml string) (*app, string) { return startAppTB(b, yaml, nil) }

func startAppTB(t testing.TB, yaml string, env map[string]string) (*app, string) {
	t.Helper()
	cfg, err := config.Parse([]byte(yaml), func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	var logs syncBuffer // the server's goroutines log concurrently
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a, err := newApp(ctx, cfg, log)
	if err != nil {
		t.Fatalf("newApp: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.proxy.Serve(ln) }()
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := a.proxy.Shutdown(sctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		<-done
		if err := a.close(); err != nil {
			t.Errorf("close: %v", err)
		}
		if t.Failed() {
			t.Logf("llmrouter logs:\n%s", logs.String())
		}
	})
	return a, "http://" + ln.Addr().String()
}

// oneUpstreamTiers is the routing section that sends every tier to one
// (provider, model); YAML indented for the top level.
func oneUpstreamTiers(provider, model string) string {
	t := fmt.Sprintf("{chain: [{provider: %s, model: %s}]}", provider, model)
	return "routing:\n  tiers:\n    small: " + t + "\n    medium: " + t + "\n    large: " + t + "\n"
}

// call sends one request to the proxy at base and returns the status, the
// response headers asked for, and the body. key "" sends no Authorization.
func call(t testing.TB, base, method, path, key, body string, headers ...string) (int, map[string]string, string) {
	t.Helper()
	return callWithin(t, 60*time.Second, base, method, path, key, body, headers...)
}

// callWithin is call with its own deadline (a deadline, not a timing
// assertion: the 8 MiB memory-bound test needs minutes under -race on a
// loaded 2-core machine).
func callWithin(t testing.TB, deadline time.Duration, base, method, path, key, body string, headers ...string) (int, map[string]string, string) {
	t.Helper()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(base + path)
	req.Header.SetMethod(method)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != "" {
		req.Header.SetContentType("application/json")
		req.SetBodyString(body)
	}
	if err := fasthttp.DoTimeout(req, resp, deadline); err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	h := make(map[string]string, len(headers))
	for _, k := range headers {
		h[k] = string(resp.Header.Peek(k))
	}
	return resp.StatusCode(), h, string(resp.Body())
}

// sdkDir finds test/sdk with its node_modules installed (make test-sdk runs
// npm ci first; LLMROUTER_SDK_DIR may point elsewhere).
func sdkDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("LLMROUTER_SDK_DIR")
	if dir == "" {
		dir = filepath.Join("..", "..", "test", "sdk")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(abs, "node_modules", "openai")); err != nil {
		t.Fatalf("the openai npm package is not installed in %s: run `make test-sdk` (it runs npm ci): %v", abs, err)
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatalf("node is required for the SDK conformance test: %v", err)
	}
	return abs
}

// TestSDKConformance drives a running llmrouter with the official openai npm
// package (chat completions, embeddings, the Responses API) and the
// official @anthropic-ai/sdk package (/v1/messages), once in front of a
// fake OpenAI-compatible upstream and once in front of a fake Anthropic
// upstream.
func TestSDKConformance(t *testing.T) {
	dir := sdkDir(t)
	openaiUp := fake.Start(t, toolCallingOpenAI(sdkUpstreamKey("openai")))
	anthropicUp := fake.Start(t, fake.Anthropic(fake.AnthropicOptions{
		APIKey:  sdkUpstreamKey("anthropic"),
		ToolUse: &fake.AnthropicToolUse{Name: "get_weather", Input: []byte(`{"city":"Paris","unit":"celsius"}`)},
	}))
	limitedUp := fake.Start(t, fake.OpenAI(fake.OpenAIOptions{APIKey: sdkUpstreamKey("openai"), Fault: fake.RateLimitedForever()}))
	env := map[string]string{"CLIENT_KEY": sdkTestKey, "OPENAI_KEY": sdkUpstreamKey("openai"), "ANTHROPIC_KEY": sdkUpstreamKey("anthropic")}

	cases := []struct {
		name, providerYAML, embedModel string
	}{
		{"openai upstream", fmt.Sprintf(`
  - name: up
    type: openai
    base_url: %s/v1
    api_key_env: OPENAI_KEY`, openaiUp.URL), "text-embedding-3-small"},
		{"anthropic upstream", fmt.Sprintf(`
  - name: up
    type: anthropic
    base_url: %s
    api_key_env: ANTHROPIC_KEY`, anthropicUp.URL), "text-embedding-3-small"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			embedProvider := "up"
			if strings.Contains(tc.name, "anthropic") {
				embedProvider = "sim" // Anthropic has no embeddings API
			}
			yaml := fmt.Sprintf(`
auth:
  mode: keys
  keys:
    - {tenant: conformance, key_env: CLIENT_KEY}
providers:%s
  - name: sim
    type: simulator
  - name: limited
    type: openai
    base_url: %s/v1
    api_key_env: OPENAI_KEY
models:
  chat:
    - {provider: up, model: chat-model}
  limited:
    - {provider: limited, model: limited-model}
  sim-json:
    - {provider: sim, model: sim-json}
  text-embedding-3-small:
    - {provider: %s, model: text-embedding-3-small}
%scache:
  exact: {enabled: true}
  semantic: {enabled: true}
  embedder: {type: lexical}
`, tc.providerYAML, limitedUp.URL, embedProvider, oneUpstreamTiers("up", "tier-model"))
			_, base := startApp(t, yaml, env)
			upstream := "openai"
			if strings.Contains(tc.name, "anthropic") {
				upstream = "anthropic"
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, "node", "--test", "--test-reporter=spec", "conformance.mjs", "anthropic.mjs", "responses.mjs")
			cmd.Dir = dir
			cmd.Env = append(os.Environ(),
				"LLMROUTER_BASE_URL="+base+"/v1",
				"LLMROUTER_KEY="+sdkTestKey,
				"LLMROUTER_MODEL=auto",
				"LLMROUTER_EMBED_MODEL="+tc.embedModel,
				"LLMROUTER_EXPECT_UPSTREAM="+upstream,
				"LLMROUTER_ROOT_URL="+base,
				"LLMROUTER_LIMITED_MODEL=limited",
				"LLMROUTER_SIM_MODEL=sim-json",
			)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			err := cmd.Run()
			t.Logf("node --test conformance.mjs (%s):\n%s", upstream, out.String())
			if err != nil {
				t.Fatalf("SDK conformance failed against the %s upstream: %v", upstream, err)
			}
			if !strings.Contains(out.String(), "fail 0") {
				t.Fatalf("node test runner did not report `fail 0`")
			}
		})
	}
}

func sdkUpstreamKey(vendor string) string { return "sk-" + vendor + "-upstream-key" }

// toolCallingOpenAI is the fake OpenAI upstream behaving like a model that
// calls a tool when the request offers tools and demands a call, and
// answers in text otherwise (including after the tool's result).
func toolCallingOpenAI(key string) fasthttp.RequestHandler {
	text := fake.OpenAI(fake.OpenAIOptions{APIKey: key})
	tool := fake.OpenAI(fake.OpenAIOptions{APIKey: key, ToolCalls: []llm.ToolCall{{
		ID: "call_fake_weather", Type: "function",
		Function: llm.ToolCallFunction{Name: "get_weather", Arguments: `{"city":"Paris","unit":"celsius"}`},
	}}})
	return func(ctx *fasthttp.RequestCtx) {
		var req llm.Request
		if string(ctx.Path()) == "/v1/chat/completions" && llm.DecodeRequest(ctx.PostBody(), &req) == nil &&
			len(req.Tools) > 0 && len(req.ToolChoice) > 0 && string(req.ToolChoice) != `"none"` &&
			string(req.ToolChoice) != `"auto"` && req.Messages[len(req.Messages)-1].Role != "tool" {
			tool(ctx)
			return
		}
		text(ctx)
	}
}
