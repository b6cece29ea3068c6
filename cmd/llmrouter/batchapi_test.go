package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"mime/multipart"
	"strings"
	"testing"
	"time"

	fakehttp "llmrouter/provider/fake"
)

// runBatchJob uploads in, creates a batch over it, waits for it to end and
// returns its status, counts and output lines.
func runBatchJob(t *testing.T, base string, in []byte) (string, [3]int, []string) {
	t.Helper()
	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	_ = mw.WriteField("purpose", "batch")
	fw, _ := mw.CreateFormFile("file", "in.jsonl")
	_, _ = fw.Write(in)
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
	for job.Status != "completed" && job.Status != "failed" && job.Status != "expired" {
		if time.Now().After(deadline) {
			t.Fatalf("job still %s", job.Status)
		}
		time.Sleep(20 * time.Millisecond)
		_, _, body = call(t, base, "GET", "/v1/batches/"+job.ID, "", "")
		_ = json.Unmarshal([]byte(body), &job)
	}
	_, _, out := call(t, base, "GET", "/v1/files/"+*job.OutputFileID+"/content", "", "")
	return job.Status, [3]int{job.RequestCounts.Total, job.RequestCounts.Completed, job.RequestCounts.Failed},
		strings.Split(strings.TrimSpace(out), "\n")
}

// TestBatchJobThroughProviderBatchAPIs: a 200-line job in mixed tiers, some
// lines already in the cache, through the wired proxy whose small and
// medium tiers are an Anthropic provider and large tier an OpenAI one
// (both with batch APIs, faked), and a quarter of the lines pinned to a
// simulator (no batch API): every custom_id once, in order; one provider
// batch per target; cache hits and pinned lines not submitted; the usage
// ledger's cost is the batch lines at half price plus the live lines at
// full price.
func TestBatchJobThroughProviderBatchAPIs(t *testing.T) {
	oa := fakehttp.NewOpenAIBatches(fakehttp.OpenAIOptions{}, fakehttp.BatchOptions{Delay: 100 * time.Millisecond})
	an := fakehttp.NewAnthropicBatches(fakehttp.AnthropicOptions{}, fakehttp.BatchOptions{Delay: 100 * time.Millisecond})
	oaSrv, anSrv := fakehttp.Start(t, oa.Handler()), fakehttp.Start(t, an.Handler())
	yaml := fmt.Sprintf(`
auth: {mode: none}
providers:
  - {name: oa, type: openai, base_url: "%s/v1"}
  - {name: an, type: anthropic, base_url: "%s", api_key_env: AN_KEY}
  - {name: sim, type: simulator}
models:
  pinned: [{provider: sim, model: sim-model}]
routing:
  tiers:
    small: {chain: [{provider: an, model: small-model}]}
    medium: {chain: [{provider: an, model: medium-model}]}
    large: {chain: [{provider: oa, model: large-model}]}
cache:
  exact: {enabled: true}
prices:
  small-model: {input: 0.15, output: 0.6}
  medium-model: {input: 1, output: 5}
  large-model: {input: 3, output: 15, batch_discount: 0.5}
  sim-model: {input: 0.5, output: 1}
`, oaSrv.URL, anSrv.URL)
	_, base := startApp(t, yaml, map[string]string{"AN_KEY": "k"})
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
		return fmt.Sprintf("Say hello number %d.", i%40) // the ten warm prompts, repeated: cache hits
	}
	chatBody := func(i int) string {
		model := "auto"
		if i%4 == 2 {
			model = "pinned" // a target without a batch API
		}
		b, _ := json.Marshal(map[string]any{"model": model, "max_tokens": 64, "messages": []map[string]string{{"role": "user", "content": prompt(i)}}})
		return string(b)
	}
	for i := 3; i < 40; i += 4 { // warm the cache with ten of the lines
		if st, _, body := call(t, base, "POST", "/v1/chat/completions", "", chatBody(i)); st != 200 {
			t.Fatalf("warm-up: %d %s", st, body)
		}
	}
	cost := func(s string) (float64, int) {
		var u struct {
			Totals struct {
				Requests int     `json:"requests"`
				CostUSD  float64 `json:"cost_usd"`
			} `json:"totals"`
		}
		_ = json.Unmarshal([]byte(s), &u)
		return u.Totals.CostUSD, u.Totals.Requests
	}
	var c0 float64
	var r0 int
	for end := time.Now().Add(10 * time.Second); r0 < 10 && time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		_, _, before := call(t, base, "GET", "/v1/usage", "", "") // the ledger is written in the background
		c0, r0 = cost(before)
	}
	var in bytes.Buffer
	for i := 0; i < 200; i++ {
		fmt.Fprintf(&in, `{"custom_id":"line %03d","method":"POST","url":"/v1/chat/completions","body":%s}`+"\n", i, chatBody(i))
	}
	status, counts, lines := runBatchJob(t, base, in.Bytes())
	if status != "completed" || counts != [3]int{200, 200, 0} || len(lines) != 200 {
		t.Fatalf("status %s counts %v, %d lines", status, counts, len(lines))
	}
	price := map[string][2]float64{"small-model": {0.15, 0.6}, "medium-model": {1, 5}, "large-model": {3, 15}, "sim-model": {0.5, 1}}
	var want, topTier, live float64 // live: the same routing and cache, lines sent one by one
	perModel := map[string]int{}
	for i, l := range lines {
		var lr struct {
			CustomID string `json:"custom_id"`
			Response struct {
				StatusCode int `json:"status_code"`
				Body       struct {
					Model string
					Usage struct {
						PromptTokens     int `json:"prompt_tokens"`
						CompletionTokens int `json:"completion_tokens"`
					} `json:"usage"`
					Choices []struct{ Message struct{ Content string } }
				}
			}
		}
		if err := json.Unmarshal([]byte(l), &lr); err != nil {
			t.Fatal(err)
		}
		if lr.CustomID != fmt.Sprintf("line %03d", i) || lr.Response.StatusCode != 200 || len(lr.Response.Body.Choices) != 1 {
			t.Fatalf("line %d: %s", i, l)
		}
		m := lr.Response.Body.Model
		for name := range price {
			if strings.HasPrefix(m, name) {
				m = name
			}
		}
		p, ok := price[m]
		if !ok {
			t.Fatalf("line %d: unknown model %q", i, lr.Response.Body.Model)
		}
		u := lr.Response.Body.Usage
		full := (float64(u.PromptTokens)*p[0] + float64(u.CompletionTokens)*p[1]) / 1e6
		top := (float64(u.PromptTokens)*3 + float64(u.CompletionTokens)*15) / 1e6
		topTier += top
		perModel[m]++
		switch {
		case i%4 == 3: // "Say hello" repeats the ten warm prompts: cache hits, no cost
		case m == "sim-model":
			want += full
			live += full
		default:
			want += full / 2
			live += full
		}
	}
	if oa.Batches() != 1 || an.Batches() < 1 || an.Batches() > 2 || oa.Items()+an.Items() != 100 {
		t.Fatalf("provider batches: oa %d an %d, want 1 per target, 100 items in all (50 pinned, 50 cache hits) (oa %d, an %d); lines per model %v", oa.Batches(), an.Batches(), oa.Items(), an.Items(), perModel)
	}
	var c1 float64
	var r1 int
	for end := time.Now().Add(10 * time.Second); r1-r0 < 200 && time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		_, _, after := call(t, base, "GET", "/v1/usage", "", "") // the ledger is written in the background
		c1, r1 = cost(after)
	}
	if r1-r0 != 200 || math.Abs((c1-c0)-want) > 1e-4 /* the ledger rounds each record to the micro-dollar */ {
		t.Fatalf("job cost %.9f over %d records, want %.9f over 200 (batch lines at half price)", c1-c0, r1-r0, want)
	}
	t.Logf("job cost $%.6f; routed and cached but sent one by one $%.6f (%.1f%%); all 200 one by one on the top tier $%.6f (%.1f%%); lines per model %v",
		c1-c0, live, 100*(c1-c0)/live, topTier, 100*(c1-c0)/topTier, perModel)
}
