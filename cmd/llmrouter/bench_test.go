package main

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

const benchAnswer = `{"id":"chatcmpl-bench","object":"chat.completion","created":1770933883,"model":"bench-model-2025-01-01","choices":[{"index":0,"message":{"role":"assistant","content":"Galaxy Day celebrates the universe's vastness.","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":260,"completion_tokens":34,"total_tokens":294}}`

// BenchmarkPassThrough measures one non-streamed request through the whole
// wired graph (proxy, usage, classifier, coalescer, router, openai client)
// over loopback to a zero-latency upstream, caches off. It is the in-process
// counterpart of the wrk figures in BENCHMARKS.md, for profiling.
func BenchmarkPassThrough(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	up := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("application/json")
		ctx.SetBodyString(benchAnswer)
	}}
	go up.Serve(ln)
	defer up.Shutdown()
	yaml := fmt.Sprintf(`
auth: {mode: none}
log: {level: warn}
providers:
  - {name: up, type: openai, base_url: "http://%s/v1"}
models:
  bench: [{provider: up, model: bench-model}]
`, ln.Addr()) + oneUpstreamTiers("up", "bench-model")
	_, base := startAppB(b, yaml)
	body := `{"model":"bench","messages":[{"role":"system","content":"You are a concise assistant."},{"role":"user","content":"Summarise this text in one sentence: ` +
		strings.Repeat("The quick brown fox jumps over the lazy dog. ", 18) + `"}],"temperature":0.2,"max_tokens":64}`
	c := &fasthttp.HostClient{Addr: strings.TrimPrefix(base, "http://"), MaxConns: 64}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		for pb.Next() {
			req.SetRequestURI(base + "/v1/chat/completions")
			req.Header.SetMethod("POST")
			req.Header.SetContentType("application/json")
			req.SetBodyString(body)
			if err := c.DoTimeout(req, resp, 5*time.Second); err != nil || resp.StatusCode() != 200 {
				b.Fatalf("status %d err %v: %s", resp.StatusCode(), err, resp.Body())
			}
		}
	})
}
