package main

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	fakehttp "llmrouter/provider/fake"
)

// microBatchRun is one measured configuration.
type microBatchRun struct {
	calls int           // upstream requests seen
	p50   time.Duration // client latency
	p99   time.Duration
}

// runMicroBatch starts the proxy over a fake upstream that takes
// upstreamDelay per call, sends clients x perClient small requests of kind
// ("embeddings" or "completions", every input distinct) with batching set
// by maxItems/window, and returns the upstream calls and client latencies.
func runMicroBatch(t *testing.T, kind string, clients, perClient, maxItems int, window, upstreamDelay time.Duration) microBatchRun {
	t.Helper()
	fake := fakehttp.OpenAI(fakehttp.OpenAIOptions{})
	up := fakehttp.Start(t, func(ctx *fasthttp.RequestCtx) {
		time.Sleep(upstreamDelay)
		fake(ctx)
	})
	yaml := fmt.Sprintf(`
auth: {mode: none}
log: {level: warn}
server: {max_concurrency: 4096}
providers:
  - {name: up, type: openai, base_url: "%s/v1", max_conns: 1024}
models:
  bench: [{provider: up, model: bench-model, prompt_arrays: true}]
`, up.URL) + oneUpstreamTiers("up", "bench-model") + fmt.Sprintf("  micro_batch: {max_items: %d, window: %s}\n", maxItems, window)
	_, base := startApp(t, yaml, nil)
	hc := &fasthttp.HostClient{Addr: strings.TrimPrefix(base, "http://"), MaxConns: clients + 16}
	lat := make([]time.Duration, clients*perClient)
	errs := make(chan error, clients)
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			for i := 0; i < perClient; i++ {
				marker := "client " + strconv.Itoa(c) + " item " + strconv.Itoa(i)
				path, body, want := "/v1/embeddings", `{"model":"bench","input":"`+marker+`"}`, `"embedding"`
				if kind == "completions" {
					path, body, want = "/v1/completions", `{"model":"bench","prompt":"`+marker+`","max_tokens":16}`, `"echo: `+marker+`"`
				}
				req.SetRequestURI(base + path)
				req.Header.SetMethod("POST")
				req.Header.SetContentType("application/json")
				req.SetBodyString(body)
				start := time.Now()
				err := hc.DoTimeout(req, resp, 30*time.Second)
				lat[c*perClient+i] = time.Since(start)
				if err != nil || resp.StatusCode() != 200 || !strings.Contains(string(resp.Body()), want) {
					errs <- fmt.Errorf("%s: %d %v %s", path, resp.StatusCode(), err, resp.Body())
					return
				}
			}
		}(c)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return microBatchRun{calls: up.Requests(), p50: lat[len(lat)/2], p99: lat[len(lat)*99/100]}
}

// TestMicroBatchThroughProxy drives the wired proxy with concurrent small
// embeddings and legacy completions, batching off and on, and checks that
// batching makes fewer upstream calls with every answer correct. With
// LLMROUTER_MICROBATCH_BENCH=1 it runs the full measurement (200 clients)
// and prints the BENCHMARKS.md section (scripts/bench/microbatch.sh).
func TestMicroBatchThroughProxy(t *testing.T) {
	clients, perClient, delay := 20, 3, 2*time.Millisecond
	full := os.Getenv("LLMROUTER_MICROBATCH_BENCH") == "1"
	if full {
		clients, perClient, delay = 200, 10, 20*time.Millisecond
	}
	const maxItems, window = 16, 5 * time.Millisecond
	var report strings.Builder
	fmt.Fprintf(&report, "## Micro-batching (issue 13)\n\n%d concurrent clients, %d sequential requests each (every input distinct, caches off), "+
		"fake OpenAI-compatible upstream answering in %v per call, proxy in process over loopback; batching on = routing.micro_batch "+
		"{max_items: %d, window: %v} (the shipped default), off = max_items 0. Off then on, in the same run.\n\n",
		clients, perClient, delay, maxItems, window)
	report.WriteString("| kind | upstream calls off | upstream calls on | fewer calls | p50 off | p50 on | added p50 | window | p99 off | p99 on |\n|---|---|---|---|---|---|---|---|---|---|\n")
	for _, kind := range []string{"embeddings", "completions"} {
		t.Run(kind, func(t *testing.T) {
			off := runMicroBatch(t, kind, clients, perClient, 0, window, delay)
			on := runMicroBatch(t, kind, clients, perClient, maxItems, window, delay)
			if off.calls != clients*perClient {
				t.Fatalf("batching off: %d upstream calls for %d requests", off.calls, clients*perClient)
			}
			if on.calls >= off.calls {
				t.Fatalf("batching on: %d upstream calls, off: %d", on.calls, off.calls)
			}
			fmt.Fprintf(&report, "| %s | %d | %d | %.1f× | %v | %v | %v | %v | %v | %v |\n", kind, off.calls, on.calls,
				float64(off.calls)/float64(on.calls), off.p50.Round(10*time.Microsecond), on.p50.Round(10*time.Microsecond),
				(on.p50 - off.p50).Round(10*time.Microsecond), window, off.p99.Round(10*time.Microsecond), on.p99.Round(10*time.Microsecond))
		})
	}
	if full {
		fmt.Println(report.String())
	}
}

// TestBatchAPIErrors: the Files and Batches routes answer bad input with
// the OpenAI error envelope and the SDKs' statuses, per tenant.
func TestBatchAPIErrors(t *testing.T) {
	yaml := `
auth:
  mode: keys
  keys:
    - {tenant: a, key_env: KEY_A}
    - {tenant: b, key_env: KEY_B}
providers:
  - {name: sim, type: simulator}
models:
  chat: [{provider: sim, model: sim-model}]
` + oneUpstreamTiers("sim", "sim-model")
	_, base := startApp(t, yaml, map[string]string{"KEY_A": "key-a-0123456789", "KEY_B": "key-b-0123456789"})
	st, _, body := call(t, base, "POST", "/v1/files", "key-a-0123456789", "")
	if st != 400 || !strings.Contains(body, `"invalid_request_error"`) {
		t.Fatalf("upload without multipart: %d %s", st, body)
	}
	cases := []struct {
		name, method, path, key, body string
		status                        int
	}{
		{"no key", "GET", "/v1/batches/batch_x", "", "", 401},
		{"unknown batch", "GET", "/v1/batches/batch_x", "key-a-0123456789", "", 404},
		{"unknown file", "GET", "/v1/files/file-x/content", "key-a-0123456789", "", 404},
		{"not json", "POST", "/v1/batches", "key-a-0123456789", "nope", 400},
		{"missing file", "POST", "/v1/batches", "key-a-0123456789", `{"input_file_id":"file-x","endpoint":"/v1/chat/completions","completion_window":"24h"}`, 404},
		{"wrong endpoint", "POST", "/v1/batches", "key-a-0123456789", `{"input_file_id":"file-x","endpoint":"/v1/images","completion_window":"24h"}`, 400},
		{"wrong method", "DELETE", "/v1/batches/batch_x", "key-a-0123456789", "", 400},
		{"cancel unknown", "POST", "/v1/batches/batch_x/cancel", "key-a-0123456789", "", 404},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st, _, body := call(t, base, tc.method, tc.path, tc.key, tc.body)
			if st != tc.status || !strings.Contains(body, `"error":{`) {
				t.Fatalf("%s %s: %d %s, want %d", tc.method, tc.path, st, body, tc.status)
			}
		})
	}
}
