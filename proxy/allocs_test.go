package proxy

import (
	"testing"

	"github.com/valyala/fasthttp"

	"llmrouter/llm"
)

// Allocation budgets of the hot path, in process: counts, not timings, so
// they are stable; each bound is a little above what the code reaches, so
// a change that adds allocations to a request fails here. The whole wired
// graph has its own budgets in cmd/llmrouter.
const (
	// budgetPassThrough: auth, decode, validate, prepare, a completer that
	// answers at once, headers, JSON encode, metrics (no log handler).
	budgetPassThrough = 32
	// budgetExactHit: the same for an answer as the exact cache hands it
	// over on a hit (a fresh id, the entry's llm.Encodings), written from
	// its memoised bytes. The real cache's hit is budgeted over the wired
	// graph in cmd/llmrouter (proxy may not import cache).
	budgetExactHit = 30
)

func chatCtx(body string) *fasthttp.RequestCtx {
	ctx := new(fasthttp.RequestCtx)
	ctx.Request.Header.SetMethod(fasthttp.MethodPost)
	ctx.Request.SetRequestURI("/v1/chat/completions")
	ctx.Request.Header.Set("Authorization", "Bearer "+testKey)
	ctx.Request.Header.SetContentType("application/json")
	ctx.Request.SetBodyString(body)
	return ctx
}

func handlerAllocs(t *testing.T, c llm.Completer, wantCache string) float64 {
	t.Helper()
	s, err := New(Options{Completer: c, Auth: testAuth()})
	if err != nil {
		t.Fatal(err)
	}
	h := s.Handler()
	ctx := chatCtx(`{"model":"auto","messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"What is the capital of France?"}],"temperature":0.2,"max_tokens":64}`)
	serve := func() {
		ctx.Response.Reset()
		h(ctx)
		if ctx.Response.StatusCode() != 200 {
			t.Fatalf("status %d: %s", ctx.Response.StatusCode(), ctx.Response.Body())
		}
	}
	serve()
	serve()
	if got := string(ctx.Response.Header.Peek("x-llmrouter-cache")); got != wantCache {
		t.Fatalf("x-llmrouter-cache = %q, want %q", got, wantCache)
	}
	return testing.AllocsPerRun(200, serve)
}

func TestAllocBudgetPassThrough(t *testing.T) {
	n := handlerAllocs(t, &cannedCompleter{resp: cannedResponse()}, llm.CacheMiss)
	t.Logf("pass-through: %.0f allocations per request (budget %d)", n, budgetPassThrough)
	if n > budgetPassThrough*allocSlack {
		t.Fatalf("pass-through allocates %.0f times per request, budget %d", n, budgetPassThrough)
	}
}

func TestAllocBudgetExactHit(t *testing.T) {
	up := &answersWithEncodings{resp: cannedResponse()}
	n := handlerAllocs(t, up, "")
	mustBeMemoised(t, up, false)
	t.Logf("exact hit: %.0f allocations per request (budget %d)", n, budgetExactHit)
	if n > budgetExactHit*allocSlack {
		t.Fatalf("an exact hit allocates %.0f times per request, budget %d", n, budgetExactHit)
	}
}
