package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// BenchmarkTracing measures one non-streamed request through the whole
// wired graph (as BenchmarkPassThrough, exact cache on, request log in
// memory) with tracing off, on with every trace sampled and exported to an
// in-process OTLP/HTTP collector that discards them, and on with (almost)
// nothing sampled.
// scripts/bench/tracing.sh turns it into the ratios in BENCHMARKS.md.
func BenchmarkTracing(b *testing.B) {
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
	// A collector that reads and discards exports, so that its decoding
	// is not counted as the proxy's cost.
	cln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	collector := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/x-protobuf")
	})}
	go func() { _ = collector.Serve(cln) }()
	defer collector.Close()
	rcv := struct{ URL string }{"http://" + cln.Addr().String()}
	for _, tc := range []struct{ name, tracing string }{
		{"off", ""},
		{"sampled", fmt.Sprintf("tracing: {enabled: true, endpoint: %q, sample_ratio: 1}\n", rcv.URL)},
		{"unsampled", fmt.Sprintf("tracing: {enabled: true, endpoint: %q, sample_ratio: 0.000001}\n", rcv.URL)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			yaml := fmt.Sprintf(`
auth: {mode: none}
log: {level: warn}
providers:
  - {name: up, type: openai, base_url: "http://%s/v1"}
models:
  bench: [{provider: up, model: bench-model}]
cache:
  exact: {enabled: true}
`, ln.Addr()) + oneUpstreamTiers("up", "bench-model") + tc.tracing
			_, base := startAppB(b, yaml)
			c := &fasthttp.HostClient{Addr: strings.TrimPrefix(base, "http://"), MaxConns: 4}
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				req.SetRequestURI(base + "/v1/chat/completions")
				req.Header.SetMethod("POST")
				req.Header.SetContentType("application/json")
				// Distinct prompts: every request is a cache miss and goes upstream.
				req.SetBodyString(`{"model":"auto","messages":[{"role":"user","content":"Summarise request ` +
					fmt.Sprint(i) + ` of the benchmark in one sentence, please."}],"max_tokens":64}`)
				if err := c.DoTimeout(req, resp, 5*time.Second); err != nil || resp.StatusCode() != 200 {
					b.Fatalf("status %d err %v: %s", resp.StatusCode(), err, resp.Body())
				}
			}
		})
	}
}
