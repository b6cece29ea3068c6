package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime/multipart"
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

// TestBatchJobThroughTheChain: a 200-line job in mixed tiers, some lines
// already in the cache, through the wired proxy: every custom_id once, in
// order; cache hits answered from the cache; lines routed to more than one
// tier; usage counted per line.
func TestBatchJobThroughTheChain(t *testing.T) {
	up := fakehttp.Start(t, fakehttp.OpenAI(fakehttp.OpenAIOptions{}))
	t3 := func(m string) string { return fmt.Sprintf("{chain: [{provider: up, model: %s}]}", m) }
	yaml := fmt.Sprintf(`
auth: {mode: none}
providers:
  - {name: up, type: openai, base_url: "%s/v1"}
routing:
  tiers:
    small: %s
    medium: %s
    large: %s
cache:
  exact: {enabled: true}
prices:
  small-model: {input: 0.1, output: 0.1}
  medium-model: {input: 1, output: 1}
  large-model: {input: 10, output: 10}
`, up.URL, t3("small-model"), t3("medium-model"), t3("large-model"))
	_, base := startApp(t, yaml, nil)
	prompt := func(i int) string {
		switch i % 4 {
		case 0:
			return fmt.Sprintf("What is %d plus one?", i)
		case 1:
			return fmt.Sprintf("Prove step by step that there are infinitely many primes of the form 4k+3, case %d, "+
				"then derive the asymptotic density with a rigorous argument and discuss the analytic number theory behind it.", i)
		case 2:
			return fmt.Sprintf("Write a Go function that parses RFC 3339 timestamps with tests, variant %d.", i)
		}
		return fmt.Sprintf("Say hello number %d.", i%40) // repeats: cache hits
	}
	chatBody := func(i int) string {
		b, _ := json.Marshal(map[string]any{"model": "auto", "messages": []map[string]string{{"role": "user", "content": prompt(i)}}})
		return string(b)
	}
	// Warm the cache with ten of the lines.
	for i := 3; i < 40; i += 4 {
		if st, _, body := call(t, base, "POST", "/v1/chat/completions", "", chatBody(i)); st != 200 {
			t.Fatalf("warm-up: %d %s", st, body)
		}
	}
	warm := up.Requests()
	var in bytes.Buffer
	for i := 0; i < 200; i++ {
		fmt.Fprintf(&in, `{"custom_id":"line-%03d","method":"POST","url":"/v1/chat/completions","body":%s}`+"\n", i, chatBody(i))
	}
	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	_ = mw.WriteField("purpose", "batch")
	fw, _ := mw.CreateFormFile("file", "in.jsonl")
	_, _ = fw.Write(in.Bytes())
	_ = mw.Close()
	st, body := postRaw(t, base+"/v1/files", mw.FormDataContentType(), form.Bytes())
	var f struct{ ID string }
	if st != 200 || json.Unmarshal([]byte(body), &f) != nil {
		t.Fatalf("upload: %d %s", st, body)
	}
	st, _, body = call(t, base, "POST", "/v1/batches", "", `{"input_file_id":"`+f.ID+`","endpoint":"/v1/chat/completions","completion_window":"24h"}`)
	var job struct {
		ID, Status    string
		OutputFileID  *string                                `json:"output_file_id"`
		RequestCounts struct{ Total, Completed, Failed int } `json:"request_counts"`
	}
	if st != 200 || json.Unmarshal([]byte(body), &job) != nil {
		t.Fatalf("create: %d %s", st, body)
	}
	deadline := time.Now().Add(30 * time.Second)
	for job.Status != "completed" {
		if time.Now().After(deadline) {
			t.Fatalf("job still %s", job.Status)
		}
		time.Sleep(20 * time.Millisecond)
		_, _, body = call(t, base, "GET", "/v1/batches/"+job.ID, "", "")
		_ = json.Unmarshal([]byte(body), &job)
	}
	if job.RequestCounts.Total != 200 || job.RequestCounts.Completed != 200 {
		t.Fatalf("counts %+v", job.RequestCounts)
	}
	_, _, out := call(t, base, "GET", "/v1/files/"+*job.OutputFileID+"/content", "", "")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 200 {
		t.Fatalf("%d output lines", len(lines))
	}
	models := map[string]int{}
	for i, l := range lines {
		var lr struct {
			CustomID string `json:"custom_id"`
			Response struct {
				StatusCode int `json:"status_code"`
				Body       struct {
					Model   string
					Choices []struct{ Message struct{ Content string } }
				}
			}
		}
		if err := json.Unmarshal([]byte(l), &lr); err != nil {
			t.Fatal(err)
		}
		if lr.CustomID != fmt.Sprintf("line-%03d", i) || lr.Response.StatusCode != 200 ||
			lr.Response.Body.Choices[0].Message.Content != "echo: "+prompt(i) {
			t.Fatalf("line %d: %s", i, l)
		}
		models[lr.Response.Body.Model]++
	}
	if len(models) < 2 {
		t.Fatalf("every line went to one tier: %v", models)
	}
	// 150 distinct non-repeating lines plus 40 distinct hello lines, of
	// which 10 were warm: at most 180 upstream calls for the job.
	if calls := up.Requests() - warm; calls > 180 {
		t.Fatalf("%d upstream calls: the cache did not answer the warm lines", calls)
	}
	var u struct {
		Totals struct {
			Requests  int `json:"requests"`
			CacheHits int `json:"cache_hits"`
		} `json:"totals"`
	}
	var usage string
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) { // the ledger is written off the hot path
		_, _, usage = call(t, base, "GET", "/v1/usage", "", "")
		_ = json.Unmarshal([]byte(usage), &u)
		if u.Totals.Requests >= 210 || time.Now().After(deadline) {
			break
		}
	}
	if u.Totals.Requests != 210 || u.Totals.CacheHits < 10 {
		t.Fatalf("usage totals %+v: %s", u.Totals, usage)
	}
}

func postRaw(t *testing.T, url, contentType string, body []byte) (int, string) {
	t.Helper()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(url)
	req.Header.SetMethod("POST")
	req.Header.SetContentType(contentType)
	req.SetBody(body)
	if err := fasthttp.DoTimeout(req, resp, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode(), string(resp.Body())
}
