package proxy

import (
	"io"
	"log/slog"
	"testing"

	"github.com/valyala/fasthttp"

	"llmrouter/llm"
)

var embedFixture = llm.EmbeddingResponse{Object: "list", Model: "emb", Data: []llm.Embedding{{Object: "embedding", Embedding: []float32{1, 2}}}}

// BenchmarkChatPassThrough measures the proxy's own work on a non-streamed
// chat request (auth, decode, validate, encode, headers, log line,
// metrics) with a completer that answers at once.
func BenchmarkChatPassThrough(b *testing.B) {
	for _, bc := range []struct {
		name string
		log  *slog.Logger
	}{
		{"nolog", nil},
		{"jsonlog", slog.New(slog.NewJSONHandler(io.Discard, nil))},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s, err := New(Options{Completer: &cannedCompleter{resp: cannedResponse()}, Auth: testAuth(), Logger: bc.log})
			if err != nil {
				b.Fatal(err)
			}
			h := s.Handler()
			body := []byte(`{"model":"auto","messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"What is the capital of France?"}],"temperature":0.2,"max_tokens":64}`)
			var ctx fasthttp.RequestCtx
			ctx.Request.Header.SetMethod(fasthttp.MethodPost)
			ctx.Request.SetRequestURI("/v1/chat/completions")
			ctx.Request.Header.Set("Authorization", "Bearer "+testKey)
			ctx.Request.Header.SetContentType("application/json")
			ctx.Request.SetBody(body)
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
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
