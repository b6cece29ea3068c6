package usage

import (
	"context"
	"errors"
	"io"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"llmrouter/llm"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func table(t *testing.T) *PriceTable {
	t.Helper()
	p, err := NewPriceTable(map[string]Price{
		"gpt-4o":          {Input: 2.5, Output: 10, CachedInput: 1.25},
		"claude-opus-4-1": {Input: 15, Output: 75, CachedInput: 1.5},
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func usage(prompt, completion, cached int) *llm.Usage {
	u := &llm.Usage{PromptTokens: prompt, CompletionTokens: completion, TotalTokens: prompt + completion}
	if cached > 0 {
		u.PromptTokensDetails = &llm.PromptTokensDetails{CachedTokens: cached}
	}
	return u
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-12 }

func TestCost(t *testing.T) {
	p := table(t)
	cases := []struct {
		name  string
		model string
		u     *llm.Usage
		want  float64
	}{
		{"plain", "gpt-4o", usage(1_000_000, 1_000_000, 0), 12.5},
		{"cached prompt", "gpt-4o", usage(1000, 0, 400), (600*2.5 + 400*1.25) / 1e6},
		{"cached more than prompt is capped", "gpt-4o", usage(100, 0, 500), 100 * 1.25 / 1e6},
		{"dated snapshot", "gpt-4o-2024-08-06", usage(1000, 500, 0), (1000*2.5 + 500*10) / 1e6},
		{"compact date", "claude-opus-4-1-20250805", usage(1000, 100, 0), (1000*15 + 100*75) / 1e6},
		{"unknown model", "mystery", usage(1000, 1000, 0), 0},
		{"nil usage", "gpt-4o", nil, 0},
		{"negative counts ignored", "gpt-4o", usage(-5, -5, 0), 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := p.Cost(tc.model, tc.u); !near(got, tc.want) {
				t.Errorf("Cost = %v, want %v", got, tc.want)
			}
		})
	}
	var nilTable *PriceTable
	if _, ok := nilTable.Lookup("gpt-4o"); ok || nilTable.Cost("gpt-4o", usage(1, 1, 0)) != 0 {
		t.Error("nil table priced something")
	}
	for _, m := range []string{"gpt-4o-2024-08", "gpt-4o-x", "20240806"} {
		if _, ok := p.Lookup(m); ok {
			t.Errorf("Lookup(%q) matched", m)
		}
	}
}

func TestNewPriceTableRejectsBadPrices(t *testing.T) {
	for _, bad := range []Price{{Input: -1}, {Output: math.NaN()}, {CachedInput: math.Inf(1)}} {
		if _, err := NewPriceTable(map[string]Price{"m": bad}); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

var day1 = time.Date(2026, 3, 1, 23, 0, 0, 0, time.UTC)

func TestLedgerAggregates(t *testing.T) {
	l := NewLedger(10)
	l.Add(Record{Time: day1, Tenant: "a", Model: "m", PromptTokens: 10, CompletionTokens: 5, CostUSD: 1})
	l.Add(Record{Time: day1.Add(90 * time.Minute), Tenant: "a", Model: "m", PromptTokens: 1, CompletionTokens: 1, CostUSD: 2}) // next UTC day
	l.Add(Record{Time: day1, Tenant: "a", Model: "m", CacheHit: true, SavedUSD: 0.5})
	l.Add(Record{Time: day1, Tenant: "b", Model: "m", PromptTokens: 3, Unpriced: true})
	s := l.Snapshot()
	if len(s.Rows) != 3 {
		t.Fatalf("rows = %+v", s.Rows)
	}
	want := []Row{
		{Day: "2026-03-02", Tenant: "a", Model: "m", Requests: 1, PromptTokens: 1, CompletionTokens: 1, CostUSD: 2},
		{Day: "2026-03-01", Tenant: "a", Model: "m", Requests: 2, CacheHits: 1, PromptTokens: 10, CompletionTokens: 5, CostUSD: 1, SavedUSD: 0.5},
		{Day: "2026-03-01", Tenant: "b", Model: "m", Requests: 1, PromptTokens: 3, Unpriced: 1},
	}
	for i := range want {
		if s.Rows[i] != want[i] {
			t.Errorf("row %d = %+v, want %+v", i, s.Rows[i], want[i])
		}
	}
	if s.Totals.Requests != 4 || s.Totals.CacheHits != 1 || !near(s.Totals.CostUSD, 3) || !near(s.Totals.SavedUSD, 0.5) || s.Totals.Unpriced != 1 {
		t.Errorf("totals = %+v", s.Totals)
	}
}

func TestLedgerIsBounded(t *testing.T) {
	t.Run("oldest day evicted", func(t *testing.T) {
		l := NewLedger(3)
		l.Add(Record{Time: day1, Tenant: "a", Model: "m1"})
		l.Add(Record{Time: day1, Tenant: "a", Model: "m2"})
		l.Add(Record{Time: day1.Add(24 * time.Hour), Tenant: "a", Model: "m1"})
		l.Add(Record{Time: day1.Add(24 * time.Hour), Tenant: "a", Model: "m2"})
		s := l.Snapshot()
		if len(s.Rows) != 2 || s.Evicted != 2 {
			t.Fatalf("rows %+v evicted %d", s.Rows, s.Evicted)
		}
		for _, r := range s.Rows {
			if r.Day != "2026-03-02" {
				t.Errorf("kept %+v", r)
			}
		}
	})
	t.Run("one day: smallest row evicted", func(t *testing.T) {
		l := NewLedger(2)
		l.Add(Record{Time: day1, Tenant: "a", Model: "busy"})
		l.Add(Record{Time: day1, Tenant: "a", Model: "busy"})
		l.Add(Record{Time: day1, Tenant: "a", Model: "quiet"})
		l.Add(Record{Time: day1, Tenant: "a", Model: "new"})
		s := l.Snapshot()
		if len(s.Rows) != 2 || s.Rows[0].Model != "busy" || s.Rows[1].Model != "new" {
			t.Fatalf("rows = %+v", s.Rows)
		}
	})
}

// fixedAnswer answers every request with the same usage from model, and
// optionally marks the request as a cache hit.
type fixedAnswer struct {
	model    string
	usage    *llm.Usage
	cacheHit string
	fail     bool
}

func (f *fixedAnswer) Complete(_ context.Context, req *llm.Request) (*llm.Response, error) {
	if f.fail {
		return nil, llm.NewError(llm.KindUpstreamError, "down")
	}
	if f.cacheHit != "" {
		req.Meta.Update(func(v *llm.MetaValues) { v.Cache = f.cacheHit })
	}
	return &llm.Response{Model: f.model, Usage: f.usage}, nil
}

func (f *fixedAnswer) Stream(_ context.Context, req *llm.Request) (llm.Stream, error) {
	if f.fail {
		return nil, llm.NewError(llm.KindUpstreamError, "down")
	}
	return &sliceStream{chunks: []*llm.Chunk{
		{Model: f.model, Choices: []llm.ChunkChoice{{Delta: llm.Delta{Content: llm.Ptr("hi")}}}},
		{Model: f.model, Choices: []llm.ChunkChoice{}, Usage: f.usage},
	}}, nil
}

func (f *fixedAnswer) Embed(_ context.Context, req *llm.EmbeddingRequest) (*llm.EmbeddingResponse, error) {
	return &llm.EmbeddingResponse{Model: f.model, Usage: f.usage}, nil
}

func (f *fixedAnswer) Models() []string { return []string{"auto", "x"} }

type sliceStream struct {
	chunks []*llm.Chunk
	closed int
}

func (s *sliceStream) Recv() (*llm.Chunk, error) {
	if len(s.chunks) == 0 {
		return nil, io.EOF
	}
	c := s.chunks[0]
	s.chunks = s.chunks[1:]
	return c, nil
}

func (s *sliceStream) Close() error { s.closed++; return nil }

func newRecorder(t *testing.T, next llm.Completer, reg prometheus.Registerer) *Recorder {
	t.Helper()
	r := NewRecorder(next, Options{Prices: table(t), Registerer: reg, Now: func() time.Time { return day1 }})
	t.Cleanup(func() { r.Close() })
	return r
}

func req(tenant string) *llm.Request {
	return &llm.Request{Model: "auto", Tenant: tenant, Meta: &llm.Meta{},
		Messages: []llm.Message{{Role: "user", Content: llm.TextContent("hi")}}}
}

func counter(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	metric:
		for _, m := range f.GetMetric() {
			for _, lp := range m.GetLabel() {
				if want, ok := labels[lp.GetName()]; ok && want != lp.GetValue() {
					continue metric
				}
			}
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

func TestRecorderComplete(t *testing.T) {
	reg := prometheus.NewRegistry()
	r := newRecorder(t, &fixedAnswer{model: "gpt-4o-2024-08-06", usage: usage(1000, 200, 100)}, reg)
	for i := 0; i < 3; i++ {
		if _, err := r.Complete(context.Background(), req("acme")); err != nil {
			t.Fatal(err)
		}
	}
	r.Close()
	s := r.Snapshot()
	if len(s.Rows) != 1 {
		t.Fatalf("rows = %+v", s.Rows)
	}
	row := s.Rows[0]
	wantCost := 3 * (900*2.5 + 100*1.25 + 200*10) / 1e6
	if row.Tenant != "acme" || row.Model != "gpt-4o-2024-08-06" || row.Requests != 3 || row.PromptTokens != 3000 ||
		row.CompletionTokens != 600 || row.CachedTokens != 300 || !near(row.CostUSD, wantCost) || row.Day != "2026-03-01" {
		t.Errorf("row = %+v (want cost %v)", row, wantCost)
	}
	lbl := map[string]string{"tenant": "acme", "model": "gpt-4o-2024-08-06"}
	if got := counter(t, reg, "llmrouter_usage_cost_usd_total", lbl); !near(got, wantCost) {
		t.Errorf("cost metric = %v", got)
	}
	if got := counter(t, reg, "llmrouter_usage_tokens_total", map[string]string{"kind": "completion"}); got != 600 {
		t.Errorf("completion tokens metric = %v", got)
	}
	if got := counter(t, reg, "llmrouter_usage_requests_total", map[string]string{"cache": "miss"}); got != 3 {
		t.Errorf("requests metric = %v", got)
	}
}

func TestRecorderCacheHitCountsSavings(t *testing.T) {
	reg := prometheus.NewRegistry()
	r := newRecorder(t, &fixedAnswer{model: "claude-opus-4-1", usage: usage(1000, 1000, 0), cacheHit: llm.CacheSemantic}, reg)
	if _, err := r.Complete(context.Background(), req("a")); err != nil {
		t.Fatal(err)
	}
	r.Close()
	row := r.Snapshot().Rows[0]
	if row.CacheHits != 1 || row.CostUSD != 0 || row.PromptTokens != 0 || !near(row.SavedUSD, 0.09) {
		t.Errorf("row = %+v", row)
	}
	if got := counter(t, reg, "llmrouter_usage_cache_savings_usd_total", nil); !near(got, 0.09) {
		t.Errorf("savings metric = %v", got)
	}
}

func TestRecorderUnpricedAndErrors(t *testing.T) {
	reg := prometheus.NewRegistry()
	r := newRecorder(t, &fixedAnswer{model: "mystery", usage: usage(10, 10, 0)}, reg)
	failing := newRecorder(t, &fixedAnswer{fail: true}, nil)
	r.Complete(context.Background(), req("a"))
	if _, err := failing.Complete(context.Background(), req("a")); err == nil {
		t.Fatal("error swallowed")
	}
	if _, err := failing.Stream(context.Background(), req("a")); err == nil {
		t.Fatal("stream error swallowed")
	}
	r.Close()
	failing.Close()
	if row := r.Snapshot().Rows[0]; row.Unpriced != 1 || row.CostUSD != 0 || row.PromptTokens != 10 {
		t.Errorf("row = %+v", row)
	}
	if got := counter(t, reg, "llmrouter_usage_unpriced_total", map[string]string{"model": "mystery"}); got != 1 {
		t.Errorf("unpriced metric = %v", got)
	}
	if n := len(failing.Snapshot().Rows); n != 0 {
		t.Errorf("failed calls recorded %d rows", n)
	}
}

func TestRecorderStream(t *testing.T) {
	cases := []struct {
		name       string
		readAll    bool
		wantTokens int64
	}{
		{"read to the end", true, 1200},
		{"closed before the usage chunk", false, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRecorder(t, &fixedAnswer{model: "gpt-4o", usage: usage(1000, 200, 0)}, nil)
			s, err := r.Stream(context.Background(), req("a"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Recv(); err != nil {
				t.Fatal(err)
			}
			if tc.readAll {
				for {
					if _, err := s.Recv(); err == io.EOF {
						break
					} else if err != nil {
						t.Fatal(err)
					}
				}
			}
			s.Close()
			s.Close()
			r.Close()
			rows := r.Snapshot().Rows
			if len(rows) != 1 || rows[0].Requests != 1 {
				t.Fatalf("rows = %+v, want one request", rows)
			}
			if got := rows[0].PromptTokens + rows[0].CompletionTokens; got != tc.wantTokens || rows[0].Model != "gpt-4o" {
				t.Errorf("row = %+v, want %d tokens", rows[0], tc.wantTokens)
			}
		})
	}
}

func TestRecorderDropsWhenFull(t *testing.T) {
	reg := prometheus.NewRegistry()
	l := NewLedger(0)
	r := NewRecorder(&fixedAnswer{model: "gpt-4o", usage: usage(1, 1, 0)}, Options{Ledger: l, QueueSize: 2, Registerer: reg})
	defer r.Close()
	l.mu.Lock() // the aggregator blocks in Ledger.Add
	r.Complete(context.Background(), req("a"))
	deadline := time.Now().Add(5 * time.Second)
	for len(r.queue) != 0 { // wait until the aggregator holds the first record
		if time.Now().After(deadline) {
			l.mu.Unlock()
			t.Fatal("aggregator never took a record")
		}
		time.Sleep(time.Millisecond)
	}
	for i := 0; i < 5; i++ { // 2 fit in the queue, 3 are dropped
		r.Complete(context.Background(), req("a"))
	}
	l.mu.Unlock()
	r.Close()
	s := r.Snapshot()
	if s.Dropped != 3 || s.Totals.Requests != 3 {
		t.Errorf("dropped %d, recorded %d; want 3 and 3", s.Dropped, s.Totals.Requests)
	}
	if got := counter(t, reg, "llmrouter_usage_dropped_total", nil); got != 3 {
		t.Errorf("dropped metric = %v", got)
	}
}

func TestRecorderForwardsCapabilities(t *testing.T) {
	r := newRecorder(t, &fixedAnswer{model: "text-embedding-3-small", usage: usage(50, 0, 0)}, nil)
	if _, err := r.Embed(context.Background(), &llm.EmbeddingRequest{Model: "e", Tenant: "a", Input: []string{"x"}}); err != nil {
		t.Fatal(err)
	}
	if m := r.Models(); len(m) != 2 || m[0] != "auto" {
		t.Errorf("models = %v", m)
	}
	r.Close()
	if rows := r.Snapshot().Rows; len(rows) != 1 || rows[0].PromptTokens != 50 {
		t.Errorf("rows = %+v", rows)
	}
	bare := newRecorder(t, completerOnly{}, nil)
	if _, err := bare.Embed(context.Background(), &llm.EmbeddingRequest{}); llm.AsError(err).Kind != llm.KindInvalidRequest {
		t.Errorf("embed without embedder: %v", err)
	}
	if bare.Models() != nil {
		t.Error("models without lister")
	}
}

type completerOnly struct{}

func (completerOnly) Complete(context.Context, *llm.Request) (*llm.Response, error) {
	return nil, errors.New("unused")
}
func (completerOnly) Stream(context.Context, *llm.Request) (llm.Stream, error) {
	return nil, errors.New("unused")
}

func TestRecorderConcurrentAndSetPrices(t *testing.T) {
	reg := prometheus.NewRegistry()
	r := newRecorder(t, &fixedAnswer{model: "gpt-4o", usage: usage(1_000_000, 0, 0)}, reg)
	second := newRecorder(t, &fixedAnswer{model: "gpt-4o"}, reg) // same registry: collectors shared, no panic
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				r.Complete(context.Background(), req("a"))
			}
		}()
	}
	wg.Wait()
	free, _ := NewPriceTable(map[string]Price{"gpt-4o": {}})
	r.SetPrices(free)
	r.Complete(context.Background(), req("a"))
	r.Close()
	second.Close()
	s := r.Snapshot()
	if s.Totals.Requests != 401 || !near(s.Totals.CostUSD, 400*2.5) {
		t.Errorf("totals = %+v", s.Totals)
	}
}
