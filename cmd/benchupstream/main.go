// Command benchupstream is the zero-latency OpenAI-compatible upstream that
// `make bench` measures llmrouter against. It answers every chat completion
// at once with a fixed, realistically sized body, so that the difference
// between calling it directly and calling it through llmrouter is the
// proxy's own overhead. It is a benchmark tool, not part of the product.
package main

import (
	"flag"
	"log"

	"github.com/valyala/fasthttp"
)

const answer = `{"id":"chatcmpl-bench","object":"chat.completion","created":1770933883,` +
	`"model":"bench-model-2025-01-01","choices":[{"index":0,"message":{"role":"assistant",` +
	`"content":"Galaxy Day celebrates the universe's vastness, beauty, and our collective curiosity about the cosmos. Communities host stargazing festivals, wear cosmic costumes and light lanterns.",` +
	`"refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"stop"}],` +
	`"usage":{"prompt_tokens":260,"completion_tokens":34,"total_tokens":294,` +
	`"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},` +
	`"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0}},` +
	`"service_tier":"default","system_fingerprint":"fp_bench"}`

func main() {
	addr := flag.String("listen", "127.0.0.1:9100", "listen address")
	flag.Parse()
	body := []byte(answer)
	h := func(ctx *fasthttp.RequestCtx) {
		switch string(ctx.Path()) {
		case "/v1/chat/completions", "/chat/completions":
			ctx.SetContentType("application/json")
			ctx.SetBody(body)
		case "/healthz":
			ctx.SetBodyString("ok")
		default:
			ctx.SetStatusCode(fasthttp.StatusNotFound)
		}
	}
	s := &fasthttp.Server{Handler: h, Name: "benchupstream", MaxRequestBodySize: 8 << 20}
	log.Printf("benchupstream listening on %s", *addr)
	if err := s.ListenAndServe(*addr); err != nil {
		log.Fatal(err)
	}
}
