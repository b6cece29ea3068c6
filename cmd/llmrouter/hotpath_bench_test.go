package main

import (
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// hotpathBody is the ~1 KB chat request of scripts/bench/post.lua.
var hotpathBody = `{"model":"bench","messages":[{"role":"system","content":"You are a concise assistant."},{"role":"user","content":"Summarise this text in one sentence: ` +
	strings.Repeat("The quick brown fox jumps over the lazy dog. ", 18) + `"}],"temperature":0.2,"max_tokens":64}`

// hotpathApp starts the wired graph (usage, classifier, cache when exact,
// router, openai client) in front of a zero-latency upstream on loopback
// and returns the proxy's handler, for in-process benchmarks and
// allocation budgets that call it directly (no client connection).
func hotpathApp(tb testing.TB, exact bool) fasthttp.RequestHandler {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	up := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("application/json")
		ctx.SetBodyString(benchAnswer)
	}}
	go up.Serve(ln)
	tb.Cleanup(func() { _ = up.Shutdown() })
	yaml := fmt.Sprintf(`
auth: {mode: none}
log: {level: warn}
providers:
  - {name: up, type: openai, base_url: "http://%s/v1"}
models:
  bench: [{provider: up, model: bench-model}]
cache:
  exact: {enabled: %t}
  semantic: {enabled: false}
prices:
  bench-model: {input: 1.0, output: 2.0}
`, ln.Addr(), exact) + oneUpstreamTiers("up", "bench-model")
	a, _ := startAppTB(tb, yaml, nil)
	return a.proxy.Handler()
}

// hotpathCtx is a POST /v1/chat/completions of hotpathBody.
func hotpathCtx() *fasthttp.RequestCtx {
	ctx := new(fasthttp.RequestCtx)
	ctx.Request.Header.SetMethod(fasthttp.MethodPost)
	ctx.Request.SetRequestURI("/v1/chat/completions")
	ctx.Request.Header.SetContentType("application/json")
	ctx.Request.SetBodyString(hotpathBody)
	return ctx
}

func serveOnce(tb testing.TB, h fasthttp.RequestHandler, ctx *fasthttp.RequestCtx) {
	ctx.Response.Reset()
	h(ctx)
	if ctx.Response.StatusCode() != 200 {
		tb.Fatalf("status %d: %s", ctx.Response.StatusCode(), ctx.Response.Body())
	}
}

// BenchmarkHotPath calls the wired graph's handler in process: pass is a
// pass-through (cache off, one loopback call to the upstream), hit an
// exact-cache hit. For profiles (-cpuprofile) of the proxy's own work.
func BenchmarkHotPath(b *testing.B) {
	for _, exact := range []bool{false, true} {
		name := "pass"
		if exact {
			name = "hit"
		}
		b.Run(name, func(b *testing.B) {
			h := hotpathApp(b, exact)
			ctx := hotpathCtx()
			serveOnce(b, h, ctx)
			b.ReportAllocs()
			cpu0 := processCPU(b)
			for b.Loop() {
				serveOnce(b, h, ctx)
			}
			// CPU time, not wall time, is the figure on a shared machine.
			b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// Allocation budgets of the whole wired graph, in process (the proxy's
// handler called directly; the pass-through's upstream is a fasthttp
// server on loopback in this process, so its allocations count too).
// Counts, not timings; each bound is a little above what the code reaches.
const (
	budgetGraphPassThrough = 118
	budgetGraphExactHit    = 42
)

func TestAllocBudgetWiredGraph(t *testing.T) {
	for _, tc := range []struct {
		name   string
		exact  bool
		budget float64
	}{{"pass-through", false, budgetGraphPassThrough}, {"exact hit", true, budgetGraphExactHit}} {
		t.Run(tc.name, func(t *testing.T) {
			h := hotpathApp(t, tc.exact)
			ctx := hotpathCtx()
			serveOnce(t, h, ctx)
			serveOnce(t, h, ctx)
			want := "miss"
			if tc.exact {
				want = "exact"
			}
			if got := string(ctx.Response.Header.Peek("x-llmrouter-cache")); got != want && (want != "miss" || got != "") {
				t.Fatalf("x-llmrouter-cache = %q, want %q", got, want)
			}
			n := testing.AllocsPerRun(200, func() { serveOnce(t, h, ctx) })
			t.Logf("%s: %.0f allocations per request (budget %.0f)", tc.name, n, tc.budget)
			if n > tc.budget*allocSlack {
				t.Fatalf("%s allocates %.0f times per request, budget %.0f", tc.name, n, tc.budget)
			}
		})
	}
}

// processCPU is the user and system CPU time this process has used.
func processCPU(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
