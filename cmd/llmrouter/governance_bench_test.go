package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"llmrouter/migrations/pgtest"
)

func cpuNow() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestGovernanceCPUOverhead (run by scripts/bench/governance.sh, skipped
// unless LLMROUTER_BENCH_GOVERNANCE=1) measures the process CPU per request
// of three set-ups in interleaved rounds, with the upstream in another
// process (LLMROUTER_BENCH_UPSTREAM, cmd/benchupstream):
//
//	direct:  the load client straight to the upstream (the client's own cost)
//	plain:   through llmrouter, in-memory ledger, no key limits
//	governed: through llmrouter, Postgres ledger (usage_events + rollups) and
//	          a virtual key with daily and monthly budgets, rpm and tpm
//
// and prints the added CPU of governed over plain as a share of the plain
// proxy's own CPU (plain - direct).
func TestGovernanceCPUOverhead(t *testing.T) {
	if os.Getenv("LLMROUTER_BENCH_GOVERNANCE") != "1" {
		t.Skip("benchmark: set LLMROUTER_BENCH_GOVERNANCE=1 (scripts/bench/governance.sh)")
	}
	upAddr := os.Getenv("LLMROUTER_BENCH_UPSTREAM")
	if upAddr == "" {
		t.Fatal("LLMROUTER_BENCH_UPSTREAM is not set")
	}
	n := 4000
	if v := os.Getenv("LLMROUTER_BENCH_REQUESTS"); v != "" {
		fmt.Sscan(v, &n)
	}
	db := pgtest.New(t)
	dbURL := db.URL + "&search_path=" + url.QueryEscape(db.Schema+",public")
	common := fmt.Sprintf(`
log: {level: error}
providers:
  - {name: up, type: openai, base_url: "http://%s/v1", max_conns: 64}
models:
  bench: [{provider: up, model: bench-model}]
prices:
  bench-model: {input: 1, output: 2}
`, upAddr) + oneUpstreamTiers("up", "bench-model")
	plainKey := "plain-key-0123456789"
	_, plainBase := startApp(t, "auth: {mode: keys, keys: [{tenant: p, key_env: K}]}\n"+common, map[string]string{"K": plainKey})
	env := map[string]string{"ADMIN": "admin-key-0123456789"}
	_, govBase := startApp(t, "auth: {mode: keys, keys: [{tenant: x, key_env: ADMIN}], admin_keys: [{tenant: ops, key_env: ADMIN2}]}\ndatabase: {url: \""+dbURL+"\"}\n"+common,
		map[string]string{"ADMIN": "tenant-key-0123456789", "ADMIN2": env["ADMIN"]})
	status, _, body := call(t, govBase, "POST", "/admin/keys", env["ADMIN"],
		`{"tenant":"bench","daily_budget_usd":1000000,"monthly_budget_usd":1000000,"rpm":1000000000,"tpm":1000000000}`)
	if status != 201 {
		t.Fatalf("create key: %d %s", status, body)
	}
	var k struct{ Key string }
	_ = json.Unmarshal([]byte(body), &k)

	reqBody := `{"model":"bench","messages":[{"role":"system","content":"You are a concise assistant."},{"role":"user","content":"Summarise this text in one sentence: ` +
		strings.Repeat("The quick brown fox jumps over the lazy dog. ", 18) + `"}],"temperature":0.2,"max_tokens":64}`
	run := func(base, path, key string) time.Duration {
		addr := strings.TrimPrefix(base, "http://")
		c := &fasthttp.HostClient{Addr: addr, MaxConns: 16}
		done := make(chan error, 8)
		start := cpuNow()
		for w := 0; w < 8; w++ {
			go func() {
				req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
				defer fasthttp.ReleaseRequest(req)
				defer fasthttp.ReleaseResponse(resp)
				for i := 0; i < n/8; i++ {
					req.SetRequestURI("http://" + addr + path)
					req.Header.SetMethod("POST")
					req.Header.SetContentType("application/json")
					if key != "" {
						req.Header.Set("Authorization", "Bearer "+key)
					}
					req.SetBodyString(reqBody)
					if err := c.DoTimeout(req, resp, 10*time.Second); err != nil || resp.StatusCode() != 200 {
						done <- fmt.Errorf("status %d err %v: %s", resp.StatusCode(), err, resp.Body())
						return
					}
				}
				done <- nil
			}()
		}
		for w := 0; w < 8; w++ {
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(1200 * time.Millisecond) // let the ledger flush and governance sync run, inside the window
		return (cpuNow() - start) / time.Duration(n)
	}
	_ = net.JoinHostPort
	upBase := "http://" + upAddr
	var direct, plain, gov []time.Duration
	run(plainBase, "/v1/chat/completions", plainKey) // warm-up
	run(govBase, "/v1/chat/completions", k.Key)
	for round := 0; round < 5; round++ {
		direct = append(direct, run(upBase, "/v1/chat/completions", ""))
		plain = append(plain, run(plainBase, "/v1/chat/completions", plainKey))
		gov = append(gov, run(govBase, "/v1/chat/completions", k.Key))
	}
	med := func(d []time.Duration) time.Duration {
		s := append([]time.Duration{}, d...)
		sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
		return s[len(s)/2]
	}
	// The idle sleep's CPU (background loops) is in every figure alike.
	d, p, g := med(direct), med(plain), med(gov)
	proxyCPU := p - d
	added := g - p
	var rows int
	_ = db.Pool.QueryRow(t.Context(), "SELECT count(*) FROM usage_events").Scan(&rows)
	fmt.Printf(`## Ledger, budgets and rate limits: CPU per request

scripts/bench/governance.sh: %d requests per round, 8 concurrent, 5 interleaved rounds (median), non-streamed ~1 KB chat request,
upstream cmd/benchupstream in its own process. Process CPU (user+sys) per request of the test process, which holds the
load client and llmrouter; "direct" is the client alone against the upstream, so the proxy's own CPU is plain - direct.

| set-up | CPU per request |
|---|---|
| direct (client only) | %v |
| plain: in-memory ledger, a configured key without limits | %v |
| governed: Postgres ledger (%d usage_events rows written) + virtual key with daily/monthly budget, rpm, tpm | %v |

**Governed adds %.1f%% to the proxy's pass-through CPU per request** ((governed - plain) / (plain - direct)); the bound is 5%%.

`, n, d, p, rows, g, 100*float64(added)/float64(proxyCPU))
}
