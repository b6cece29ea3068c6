// Command benchupstream is the zero-latency OpenAI-compatible upstream that
// `make bench` measures llmrouter against. It answers every chat completion
// at once with a fixed, realistically sized body, so that the difference
// between calling it directly and calling it through llmrouter is the
// proxy's own overhead. It is a benchmark tool, not part of the product.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"log"
	"strconv"
	"time"

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

// chunkHead and chunkTail frame one streamed chat.completion.chunk; the
// sequence number goes between them so that every event differs.
const (
	chunkHead = `data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1770933883,` +
		`"model":"bench-model-2025-01-01","system_fingerprint":"fp_bench","choices":[{"index":0,` +
		`"delta":{"content":" token`
	chunkTail = `"},"logprobs":null,"finish_reason":null}]}` + "\n\n"
	lastChunk = `data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1770933883,` +
		`"model":"bench-model-2025-01-01","system_fingerprint":"fp_bench","choices":[{"index":0,` +
		`"delta":{},"logprobs":null,"finish_reason":"stop"}]}` + "\n\n" +
		`data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1770933883,` +
		`"model":"bench-model-2025-01-01","system_fingerprint":"fp_bench","choices":[],` +
		`"usage":{"prompt_tokens":260,"completion_tokens":200,"total_tokens":460}}` + "\n\n" +
		"data: [DONE]\n\n"
)

var streamTrue = []byte(`"stream":true`)

// streamAnswer writes chunks content events interval apart (the first at
// once), then the finish, usage and [DONE] events, flushing after each.
func streamAnswer(w *bufio.Writer, chunks int, interval time.Duration) {
	var num []byte
	t := time.NewTicker(interval)
	defer t.Stop()
	for i := 0; i < chunks; i++ {
		if i > 0 {
			<-t.C
		}
		w.WriteString(chunkHead)
		num = strconv.AppendInt(num[:0], int64(i), 10)
		w.Write(num)
		w.WriteString(chunkTail)
		if w.Flush() != nil {
			return // the client is gone
		}
	}
	w.WriteString(lastChunk)
	_ = w.Flush()
}

func main() {
	addr := flag.String("listen", "127.0.0.1:9100", "listen address")
	chunks := flag.Int("stream-chunks", 200, "content events in a streamed answer (requests with \"stream\":true)")
	interval := flag.Duration("stream-interval", 10*time.Millisecond, "time between streamed content events")
	flag.Parse()
	body := []byte(answer)
	h := func(ctx *fasthttp.RequestCtx) {
		switch string(ctx.Path()) {
		case "/v1/chat/completions", "/chat/completions":
			if bytes.Contains(ctx.PostBody(), streamTrue) {
				ctx.SetContentType("text/event-stream")
				n, iv := *chunks, *interval
				ctx.SetBodyStreamWriter(func(w *bufio.Writer) { streamAnswer(w, n, iv) })
				return
			}
			ctx.SetContentType("application/json")
			ctx.SetBody(body)
		case "/healthz":
			ctx.SetBodyString("ok")
		default:
			ctx.SetStatusCode(fasthttp.StatusNotFound)
		}
	}
	s := &fasthttp.Server{Handler: h, Name: "benchupstream", MaxRequestBodySize: 8 << 20, Concurrency: 1 << 16}
	log.Printf("benchupstream listening on %s", *addr)
	if err := s.ListenAndServe(*addr); err != nil {
		log.Fatal(err)
	}
}
