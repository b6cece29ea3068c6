package main

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/valyala/fasthttp"

	"llmrouter/provider/fake"
)

// echoingUpstream records every request body and answers a minimal chat
// completion.
type echoingUpstream struct {
	mu     sync.Mutex
	bodies []string
}

func (e *echoingUpstream) handle(ctx *fasthttp.RequestCtx) {
	e.mu.Lock()
	e.bodies = append(e.bodies, string(ctx.PostBody()))
	e.mu.Unlock()
	ctx.SetContentType("application/json")
	fmt.Fprint(ctx, `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"echo-1","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`)
}

func (e *echoingUpstream) last() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.bodies[len(e.bodies)-1]
}

// TestUnknownMessageAndPartFieldsReachTheUpstreamByteForByte sends fields the
// proxy does not model (a refusal part, cache_control on a part, a file
// input, message-level audio, an unknown member of a text part) and checks
// that the OpenAI-compatible upstream receives each of them unchanged; a
// request that differs only in cache_control is not an exact-cache hit.
func TestUnknownMessageAndPartFieldsReachTheUpstreamByteForByte(t *testing.T) {
	up := &echoingUpstream{}
	srv := fake.Start(t, up.handle)
	_, base := startApp(t, "auth: {mode: none}\nproviders: [{name: echo, type: openai, base_url: \""+srv.URL+"/v1\"}]\n"+
		"models: {m: [{provider: echo, model: echo}]}\ncache: {exact: {enabled: true}, semantic: {enabled: false}}\n"+oneUpstreamTiers("echo", "echo"), nil)
	members := []string{
		`"cache_control":{"type":"ephemeral","ttl":"5m"}`, // whitespace compacted: encoding/json compacts nested values
		`"file":{"file_id":"file-abc123","filename":"report.pdf"}`,
		`{"type":"refusal","refusal":"I can't help with that."}`,
		`"audio":{"id":"audio_abc123"}`,
		`"x_vendor_hint":[1,2,3]`,
	}
	body := func(ttl string) string {
		return `{"model":"m","messages":[` +
			`{"role":"user","content":[{"type":"text","text":"Summarise the attached file","cache_control":{"type":"ephemeral","ttl":"` + ttl + `"},"x_vendor_hint":[1,2,3]},` +
			`{"type":"file","file":{"file_id":"file-abc123","filename":"report.pdf"}}]},` +
			`{"role":"assistant","content":[{"type":"refusal","refusal":"I can't help with that."}],"audio":{"id":"audio_abc123"}},` +
			`{"role":"user","content":"please try again"}]}`
	}
	status, h, resp := call(t, base, "POST", "/v1/chat/completions", "", body("5m"), "x-llmrouter-cache")
	if status != 200 {
		t.Fatalf("status %d: %s", status, resp)
	}
	got := up.last()
	for _, m := range members {
		if !strings.Contains(got, m) {
			t.Errorf("upstream body lacks %s:\n%s", m, got)
		}
	}
	if status, h2, _ := call(t, base, "POST", "/v1/chat/completions", "", body("5m"), "x-llmrouter-cache"); status != 200 || h2["x-llmrouter-cache"] != "exact" {
		t.Fatalf("the same request again: %d, cache %q (first %q)", status, h2["x-llmrouter-cache"], h["x-llmrouter-cache"])
	}
	if status, h3, _ := call(t, base, "POST", "/v1/chat/completions", "", body("1h"), "x-llmrouter-cache"); status != 200 || h3["x-llmrouter-cache"] == "exact" {
		t.Fatalf("a request differing only in cache_control was a hit: %d %q", status, h3["x-llmrouter-cache"])
	}
	if !strings.Contains(up.last(), `"ttl":"1h"`) {
		t.Errorf("the second cache_control did not reach the upstream: %s", up.last())
	}
}
