package proxy

import (
	"testing"

	"github.com/valyala/fasthttp"
)

// BenchmarkWireAPIs measures the proxy's own work for the same non-streamed
// request spoken in each inbound wire API (auth, decode, validate, encode,
// headers, metrics) with a completer that answers at once, so the ratios
// against chat are the codecs' added overhead on a pass-through setup.
func BenchmarkWireAPIs(b *testing.B) {
	cases := []struct {
		name, path, body string
		hdr              [2]string
	}{
		{"chat", "/v1/chat/completions", `{"model":"auto","messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"What is the capital of France?"}],"temperature":0.2,"max_tokens":64}`,
			[2]string{"Authorization", "Bearer " + testKey}},
		{"messages", "/v1/messages", `{"model":"auto","system":"You are terse.","messages":[{"role":"user","content":"What is the capital of France?"}],"temperature":0.2,"max_tokens":64}`,
			[2]string{"x-api-key", testKey}},
		{"responses", "/v1/responses", `{"model":"auto","instructions":"You are terse.","input":"What is the capital of France?","temperature":0.2,"max_output_tokens":64}`,
			[2]string{"Authorization", "Bearer " + testKey}},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			s, err := New(Options{Completer: &cannedCompleter{resp: cannedResponse()}, Auth: testAuth()})
			if err != nil {
				b.Fatal(err)
			}
			h := s.Handler()
			var ctx fasthttp.RequestCtx
			ctx.Request.Header.SetMethod(fasthttp.MethodPost)
			ctx.Request.SetRequestURI(bc.path)
			ctx.Request.Header.Set(bc.hdr[0], bc.hdr[1])
			ctx.Request.Header.SetContentType("application/json")
			ctx.Request.SetBody([]byte(bc.body))
			b.ReportAllocs()
			for b.Loop() {
				h(&ctx)
				if ctx.Response.StatusCode() != 200 {
					b.Fatalf("status %d: %s", ctx.Response.StatusCode(), ctx.Response.Body())
				}
				ctx.Response.Reset()
			}
		})
	}
}
