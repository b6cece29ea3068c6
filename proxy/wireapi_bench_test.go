package proxy

import (
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// wireCase is the same short non-streamed request in one inbound API.
type wireCase struct {
	name, path, body string
	hdr              [2]string
}

var wireCases = []wireCase{
	{"chat", "/v1/chat/completions", `{"model":"auto","messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"What is the capital of France?"}],"temperature":0.2,"max_tokens":64}`,
		[2]string{"Authorization", "Bearer " + testKey}},
	{"messages", "/v1/messages", `{"model":"auto","system":"You are terse.","messages":[{"role":"user","content":"What is the capital of France?"}],"temperature":0.2,"max_tokens":64}`,
		[2]string{"x-api-key", testKey}},
	{"responses", "/v1/responses", `{"model":"auto","instructions":"You are terse.","input":"What is the capital of France?","temperature":0.2,"max_output_tokens":64}`,
		[2]string{"Authorization", "Bearer " + testKey}},
}

func (c *wireCase) ctx() *fasthttp.RequestCtx {
	var ctx fasthttp.RequestCtx
	ctx.Request.Header.SetMethod(fasthttp.MethodPost)
	ctx.Request.SetRequestURI(c.path)
	ctx.Request.Header.Set(c.hdr[0], c.hdr[1])
	ctx.Request.Header.SetContentType("application/json")
	ctx.Request.SetBody([]byte(c.body))
	return &ctx
}

// BenchmarkWireAPIs measures the proxy's own work for the same non-streamed
// request spoken in each inbound wire API (auth, decode, validate, encode,
// headers, metrics) with a completer that answers at once.
func BenchmarkWireAPIs(b *testing.B) {
	for _, bc := range wireCases {
		b.Run(bc.name, func(b *testing.B) {
			s, err := New(Options{Completer: &cannedCompleter{resp: cannedResponse()}, Auth: testAuth()})
			if err != nil {
				b.Fatal(err)
			}
			h, ctx := s.Handler(), bc.ctx()
			b.ReportAllocs()
			for b.Loop() {
				h(ctx)
				if ctx.Response.StatusCode() != 200 {
					b.Fatalf("status %d: %s", ctx.Response.StatusCode(), ctx.Response.Body())
				}
				ctx.Response.Reset()
			}
		})
	}
}

// BenchmarkWireAPIsInterleaved runs the three APIs in turn within each
// iteration and reports each one's time as a ratio to chat's, so that the
// ratios share one time window on a loaded machine.
func BenchmarkWireAPIsInterleaved(b *testing.B) {
	s, err := New(Options{Completer: &cannedCompleter{resp: cannedResponse()}, Auth: testAuth()})
	if err != nil {
		b.Fatal(err)
	}
	h := s.Handler()
	ctxs := make([]*fasthttp.RequestCtx, len(wireCases))
	for i := range wireCases {
		ctxs[i] = wireCases[i].ctx()
	}
	spent := make([]time.Duration, len(wireCases))
	for b.Loop() {
		for i, ctx := range ctxs {
			t0 := time.Now()
			h(ctx)
			spent[i] += time.Since(t0)
			if ctx.Response.StatusCode() != 200 {
				b.Fatalf("%s: status %d: %s", wireCases[i].name, ctx.Response.StatusCode(), ctx.Response.Body())
			}
			ctx.Response.Reset()
		}
	}
	b.ReportMetric(float64(spent[1])/float64(spent[0]), "messages/chat")
	b.ReportMetric(float64(spent[2])/float64(spent[0]), "responses/chat")
}
