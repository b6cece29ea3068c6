package batch

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"llmrouter/llm"
	"llmrouter/migrations"
	"llmrouter/migrations/pgtest"
	"llmrouter/provider/anthropic"
	"llmrouter/provider/fake"
	"llmrouter/provider/openai"
	"llmrouter/usage"
)

// routedFakes is two fake providers with batch APIs ("oa": OpenAI Batch
// API, "an": Anthropic Message Batches) and a live chain (echo, standing for
// a target without a batch API), with an Upstream that classifies by the
// words "medium" and "hard" in the prompt, answers prompts with "cached"
// from a cache, and prices usage in a Recorder.
type routedFakes struct {
	oa      *fake.OpenAIBatches
	anFake  *fake.AnthropicBatches
	clients map[string]Batcher
	live    *echo
	rec     *usage.Recorder
	prices  *usage.PriceTable
	up      *Upstream
	offset  atomic.Int64 // added to the service clock, in seconds
	mu      sync.Mutex
	records []usage.Record
}

var testPrices = map[string]usage.Price{
	"gpt-4o-mini":      {Input: 0.15, Output: 0.6, CacheRead: 0.075, BatchDiscount: 0.5},
	"claude-haiku-4-5": {Input: 1, Output: 5, CacheRead: 0.1, BatchDiscount: 0.5},
	"auto":             {Input: 3, Output: 15, CacheRead: 0.3}, // what the live chain (top tier) answers as
}

func newRoutedFakes(t *testing.T, oaOpts, anOpts fake.BatchOptions) *routedFakes {
	t.Helper()
	f := &routedFakes{live: &echo{}}
	f.oa = fake.NewOpenAIBatches(fake.OpenAIOptions{}, oaOpts)
	f.anFake = fake.NewAnthropicBatches(fake.AnthropicOptions{}, anOpts)
	oaSrv := fake.Start(t, f.oa.Handler())
	anSrv := fake.Start(t, f.anFake.Handler())
	oc, err := openai.New(openai.Options{Name: "oa", BaseURL: oaSrv.URL + "/v1", APIKey: "k"})
	if err != nil {
		t.Fatal(err)
	}
	ac, err := anthropic.New(anthropic.Options{Name: "an", BaseURL: anSrv.URL, APIKey: "k"})
	if err != nil {
		t.Fatal(err)
	}
	f.clients = map[string]Batcher{"oa": oc, "an": ac}
	if f.prices, err = usage.NewPriceTable(testPrices); err != nil {
		t.Fatal(err)
	}
	f.rec = usage.NewRecorder(f.live, usage.Options{Prices: f.prices, OnRecord: func(r *usage.Record) {
		f.mu.Lock()
		f.records = append(f.records, *r)
		f.mu.Unlock()
	}})
	t.Cleanup(func() { _ = f.rec.Close() })
	f.up = &Upstream{
		Classify: func(r *llm.Request) *llm.Request {
			r2 := *r
			switch text := r.LastUserText(); {
			case strings.Contains(text, "hard"):
				r2.Tier = llm.TierLarge
			case strings.Contains(text, "medium"):
				r2.Tier = llm.TierMedium
			default:
				r2.Tier = llm.TierSmall
			}
			return &r2
		},
		Lookup: func(_ context.Context, r *llm.Request) (*llm.Response, bool) {
			if !strings.Contains(r.LastUserText(), "cached") {
				return nil, false
			}
			r.Meta.Update(func(v *llm.MetaValues) { v.Cache = llm.CacheExact })
			return &llm.Response{ID: "chatcmpl-cached", Object: llm.ObjectChatCompletion, Model: "gpt-4o-mini",
				Choices: []llm.Choice{{Message: llm.Message{Role: "assistant", Content: llm.TextContent("from cache: " + r.LastUserText())}, FinishReason: llm.FinishStop}},
				Usage:   &llm.Usage{PromptTokens: 10, CompletionTokens: 10, TotalTokens: 20}}, true
		},
		Resolve: func(r *llm.Request) (Target, error) {
			switch r.Tier {
			case llm.TierSmall:
				return Target{Provider: "oa", Model: "gpt-4o-mini"}, nil
			case llm.TierMedium:
				return Target{Provider: "an", Model: "claude-haiku-4-5"}, nil
			}
			return Target{Provider: "sim", Model: "sim-large"}, nil
		},
		Batcher:      func(p string) Batcher { return f.clients[p] },
		Record:       f.rec.Record,
		PollInterval: 20 * time.Millisecond,
	}
	return f
}

func (f *routedFakes) service(t *testing.T, st Store) *Service {
	t.Helper()
	s, err := New(Options{Completer: f.rec, Store: st, Concurrency: 4, PollInterval: 20 * time.Millisecond, Upstream: f.up,
		Now: func() time.Time { return time.Now().Add(time.Duration(f.offset.Load()) * time.Second) }})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	return s
}

// mixedFile is n lines: every 10th is a cache hit, hard ones go live, medium
// ones to "an", the rest to "oa".
func mixedFile(n int) ([]byte, func(i int) string) {
	route := func(i int) string {
		switch {
		case i%10 == 0:
			return "cached"
		case i%7 == 2:
			return "hard"
		case i%3 == 1:
			return "medium"
		}
		return "small"
	}
	var b bytes.Buffer
	for i := 0; i < n; i++ {
		text := fmt.Sprintf("%s question number %d", route(i), i)
		body, _ := json.Marshal(map[string]any{"model": "auto", "max_tokens": 64, "messages": []map[string]string{{"role": "user", "content": text}}})
		line, _ := json.Marshal(map[string]any{"custom_id": fmt.Sprintf("job line %03d", i), "method": "POST", "url": EndpointChat, "body": json.RawMessage(body)})
		b.Write(line)
		b.WriteByte('\n')
	}
	return b.Bytes(), route
}

func submitJob(t *testing.T, s *Service, content []byte) *Job {
	t.Helper()
	ctx := context.Background()
	f, err := s.CreateFile(ctx, "t", "in.jsonl", PurposeBatch, content)
	if err != nil {
		t.Fatal(err)
	}
	j, err := s.CreateJob(ctx, "t", CreateParams{InputFileID: f.ID, Endpoint: EndpointChat, CompletionWindow: "24h"})
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// output returns the job's output lines, checking every custom_id appears
// once and in input order.
func output(t *testing.T, s *Service, j *Job, n int) []LineResult {
	t.Helper()
	if j.OutputFileID == nil {
		t.Fatalf("no output file: %+v", j)
	}
	b, err := s.FileContent(context.Background(), "t", *j.OutputFileID)
	if err != nil {
		t.Fatal(err)
	}
	var out []LineResult
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var lr LineResult
		if err := json.Unmarshal(sc.Bytes(), &lr); err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("job line %03d", len(out)); lr.CustomID != want {
			t.Fatalf("line %d has custom_id %q, want %q", len(out), lr.CustomID, want)
		}
		out = append(out, lr)
	}
	if len(out) != n {
		t.Fatalf("%d output lines, want %d", len(out), n)
	}
	return out
}

func answerText(t *testing.T, lr LineResult) (string, *llm.Response) {
	t.Helper()
	if lr.Response == nil || lr.Response.StatusCode != 200 {
		t.Fatalf("%s: not answered: %+v %+v", lr.CustomID, lr.Response, lr.Error)
	}
	var r llm.Response
	if err := json.Unmarshal(lr.Response.Body, &r); err != nil || len(r.Choices) == 0 {
		t.Fatalf("%s: body %s: %v", lr.CustomID, lr.Response.Body, err)
	}
	return r.Choices[0].Message.Content.Text(), &r
}

// TestUpstreamBatchJob: a 200-line job in mixed tiers with cache hits runs
// through both providers' batch APIs, is interrupted by a restart after the
// provider batches were submitted, and finishes in the next process: every
// custom_id once, in order; cache hits answered from the cache; nothing
// resubmitted; live lines only for the target without a batch API; cost
// at half price for the provider-batch lines.
func TestUpstreamBatchJob(t *testing.T) {
	stores := []struct {
		name string
		make func(t *testing.T) Store
	}{
		{"memory", func(*testing.T) Store { return NewMemStore() }},
		{"postgres", func(t *testing.T) Store {
			db := pgtest.New(t)
			if err := migrations.Apply(context.Background(), db.Pool, db.Schema); err != nil {
				t.Fatal(err)
			}
			return NewPGStore(db.Pool)
		}},
	}
	for _, tc := range stores {
		t.Run(tc.name, func(t *testing.T) { testUpstreamBatchJob(t, tc.make(t)) })
	}
}

func testUpstreamBatchJob(t *testing.T, st Store) {
	const n = 200
	f := newRoutedFakes(t, fake.BatchOptions{Delay: 300 * time.Millisecond}, fake.BatchOptions{Delay: 300 * time.Millisecond})
	s1 := f.service(t, st)
	content, route := mixedFile(n)
	j := submitJob(t, s1, content)
	waitJob(t, s1, "t", j.ID, func(j *Job) bool { subs, _ := st.Submissions(context.Background(), j.ID); return len(subs) == 2 })
	_ = s1.Close() // a restart while both provider batches are in progress

	s2 := f.service(t, st)
	defer s2.Close()
	j = waitJob(t, s2, "t", j.ID, func(j *Job) bool { return j.Status == StatusCompleted })
	if j.RequestCounts != (RequestCounts{Total: n, Completed: n}) {
		t.Fatalf("counts %+v", j.RequestCounts)
	}
	want := map[string]int{}
	for i := 0; i < n; i++ {
		want[route(i)]++
	}
	if f.oa.Batches() != 1 || f.anFake.Batches() != 1 {
		t.Fatalf("provider batches created: oa %d, an %d; want 1 each (a restart must not resubmit)", f.oa.Batches(), f.anFake.Batches())
	}
	if f.oa.Items() != want["small"] || f.anFake.Items() != want["medium"] {
		t.Fatalf("items submitted: oa %d, an %d; want %d, %d", f.oa.Items(), f.anFake.Items(), want["small"], want["medium"])
	}
	if got := int(f.live.calls.Load()); got != want["hard"] {
		t.Fatalf("live calls %d, want %d (only the target without a batch API)", got, want["hard"])
	}
	var batchFull, liveFull, wantCost int64
	for i, lr := range output(t, s2, j, n) {
		text, r := answerText(t, lr)
		prompt := fmt.Sprintf("%s question number %d", route(i), i)
		switch route(i) {
		case "cached":
			if text != "from cache: "+prompt {
				t.Fatalf("line %d: %q", i, text)
			}
		case "hard":
			if text != "echo: "+prompt || r.Model != "auto" {
				t.Fatalf("line %d: %q", i, text)
			}
			c, _ := f.prices.Cost(r.Model, usage.TokensOf(r.Usage))
			liveFull += c
			wantCost += c
		case "medium":
			if !strings.HasPrefix(r.Model, "claude-haiku-4-5") || !strings.HasPrefix(r.ID, "msg_") && r.ID == "" {
				t.Fatalf("line %d: model %q id %q", i, r.Model, r.ID)
			}
			c, _ := f.prices.Cost(r.Model, usage.TokensOf(r.Usage))
			h, _ := f.prices.BatchCost(r.Model, usage.TokensOf(r.Usage))
			batchFull += c
			wantCost += h
		case "small":
			if !strings.HasPrefix(r.Model, "gpt-4o-mini") {
				t.Fatalf("line %d: model %q", i, r.Model)
			}
			c, _ := f.prices.Cost(r.Model, usage.TokensOf(r.Usage))
			h, _ := f.prices.BatchCost(r.Model, usage.TokensOf(r.Usage))
			batchFull += c
			wantCost += h
		}
	}
	_ = f.rec.Close() // drains the queue
	f.mu.Lock()
	defer f.mu.Unlock()
	var cost int64
	hits := 0
	for _, r := range f.records {
		cost += r.CostMicro
		if r.CacheHit {
			hits++
		}
	}
	if len(f.records) != n || hits != want["cached"] {
		t.Fatalf("%d usage records with %d cache hits: want %d, %d (each line recorded once)", len(f.records), hits, n, want["cached"])
	}
	if batchFull == 0 || cost != wantCost || math.Abs(float64(wantCost-liveFull)-float64(batchFull)/2) > float64(n) {
		t.Fatalf("cost %d µ$, want %d (live %d + half of batch %d)", cost, wantCost, liveFull, batchFull)
	}
}

// TestUpstreamPartialFailureAndExpiry: through each provider's fake, a
// batch whose every 4th item fails gives those lines their own OpenAI
// error (status 502 upstream_error, as a live upstream 500 is answered)
// and the rest answers; a batch that
// expires while the job's window is open has its expired lines sent live
// once; one that expires after the window closed reports them as
// batch_expired and the job as expired.
func TestUpstreamPartialFailureAndExpiry(t *testing.T) {
	const n = 40
	cases := []struct {
		name      string
		route     string // "small" (oa) or "medium" (an)
		opts      fake.BatchOptions
		late      bool // the job's window has closed when the batch ends
		wantState string
	}{
		{"openai partial failure", "small", fake.BatchOptions{FailEvery: 4}, false, StatusCompleted},
		{"anthropic partial failure", "medium", fake.BatchOptions{FailEvery: 4}, false, StatusCompleted},
		{"openai expiry retried live", "small", fake.BatchOptions{Expire: true}, false, StatusCompleted},
		{"anthropic expiry retried live", "medium", fake.BatchOptions{Expire: true}, false, StatusCompleted},
		{"openai expiry after the window", "small", fake.BatchOptions{Expire: true, Delay: 200 * time.Millisecond}, true, StatusExpired},
		{"anthropic expiry after the window", "medium", fake.BatchOptions{Expire: true, Delay: 200 * time.Millisecond}, true, StatusExpired},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newRoutedFakes(t, tc.opts, tc.opts)
			st := NewMemStore()
			s := f.service(t, st)
			defer s.Close()
			var b bytes.Buffer
			for i := 0; i < n; i++ {
				body, _ := json.Marshal(map[string]any{"model": "auto", "messages": []map[string]string{{"role": "user", "content": fmt.Sprintf("%s question number %d", tc.route, i)}}})
				line, _ := json.Marshal(map[string]any{"custom_id": fmt.Sprintf("job line %03d", i), "method": "POST", "url": EndpointChat, "body": json.RawMessage(body)})
				b.Write(line)
				b.WriteByte('\n')
			}
			j := submitJob(t, s, b.Bytes())
			if tc.late {
				waitJob(t, s, "t", j.ID, func(j *Job) bool { subs, _ := st.Submissions(context.Background(), j.ID); return len(subs) == 1 })
				f.offset.Store(24*3600 + 10) // past the window, within the polling grace
			}
			j = waitJob(t, s, "t", j.ID, func(j *Job) bool { return !j.active() })
			if j.Status != tc.wantState {
				t.Fatalf("status %s, want %s", j.Status, tc.wantState)
			}
			completed, failed := 0, 0
			for i, lr := range output(t, s, j, n) {
				switch {
				case tc.opts.FailEvery > 0 && (i+1)%tc.opts.FailEvery == 0:
					var e struct {
						Error struct{ Type string } `json:"error"`
					}
					// mapped like a live upstream 500: 502 upstream_error
					if lr.Response == nil || lr.Response.StatusCode != 502 || json.Unmarshal(lr.Response.Body, &e) != nil || e.Error.Type != "upstream_error" {
						t.Fatalf("line %d: want its own 502 upstream_error, got %+v", i, lr.Response)
					}
					failed++
				case tc.opts.Expire && i >= n/2 && tc.late:
					if lr.Error == nil || lr.Error.Code != "batch_expired" {
						t.Fatalf("line %d: want batch_expired, got %+v %+v", i, lr.Response, lr.Error)
					}
					failed++
				case tc.opts.Expire && i >= n/2:
					if text, r := answerText(t, lr); r.Model != "auto" {
						t.Fatalf("line %d: expired line not retried live: %q", i, text)
					}
					completed++
				default:
					if text, r := answerText(t, lr); r.Model == "auto" || r.Model == "" {
						t.Fatalf("line %d: not answered by the provider batch: %q", i, text)
					}
					completed++
				}
			}
			if j.RequestCounts != (RequestCounts{Total: n, Completed: completed, Failed: failed}) {
				t.Fatalf("counts %+v, want %d completed %d failed", j.RequestCounts, completed, failed)
			}
			wantLive := 0
			if tc.opts.Expire && !tc.late {
				wantLive = n / 2
			}
			if got := int(f.live.calls.Load()); got != wantLive {
				t.Fatalf("live calls %d, want %d", got, wantLive)
			}
		})
	}
}
