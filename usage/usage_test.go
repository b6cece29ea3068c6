package usage

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"llmrouter/llm"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var day1 = time.Date(2026, 3, 4, 10, 30, 0, 0, time.UTC)

func table(t *testing.T) *PriceTable {
	t.Helper()
	p, err := NewPriceTable(map[string]Price{
		"gpt-4o":            {Input: 2.5, Output: 10, CacheRead: 1.25, CacheWrite: 2.5},
		"gpt-4o-mini":       {Input: 0.15, Output: 0.60, CacheRead: 0.075, CacheWrite: 0.15},
		"claude-sonnet-4-5": {Input: 3, Output: 15, CacheRead: 0.30, CacheWrite: 3.75},
		"claude-haiku-3-5":  {Input: 0.80, Output: 4, CacheRead: 0.08, CacheWrite: 1},
		"claude-opus-4-1":   {Input: 15, Output: 75, CacheRead: 1.5, CacheWrite: 18.75},
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// openAIUsage is the OpenAI shape: prompt_tokens counts cached tokens too.
func openAIUsage(prompt, completion, cached int) *llm.Usage {
	u := &llm.Usage{PromptTokens: prompt, CompletionTokens: completion, TotalTokens: prompt + completion}
	if cached > 0 {
		u.PromptTokensDetails = &llm.PromptTokensDetails{CachedTokens: cached}
	}
	return u
}

// anthropicUsage is what the Anthropic adapter makes of input_tokens,
// cache_read_input_tokens, cache_creation_input_tokens and output_tokens.
func anthropicUsage(input, read, write, output int) *llm.Usage {
	p := input + read + write
	return &llm.Usage{PromptTokens: p, CompletionTokens: output, TotalTokens: p + output,
		PromptTokensDetails: &llm.PromptTokensDetails{CachedTokens: read, CacheCreationTokens: write}}
}

// knownMix are answers with costs computed by hand, in micro-dollars.
var knownMix = []struct {
	name  string
	model string
	u     *llm.Usage
	want  int64
}{
	// (1234-1024)*2.50 + 1024*1.25 + 567*10.00 = 525 + 1280 + 5670 µ$
	{"openai cache read", "gpt-4o-2024-08-06", openAIUsage(1234, 567, 1024), 7475},
	// 1M*2.50 + 1M*10 µ$ = $12.50
	{"openai million", "gpt-4o", openAIUsage(1_000_000, 1_000_000, 0), 12_500_000},
	// 7*0.15 + 3*0.60 = 2.85 µ$, rounded half up
	{"openai rounding", "gpt-4o-mini", openAIUsage(7, 3, 0), 3},
	// 100*3 + 2000*0.30 + 500*3.75 + 300*15 = 300 + 600 + 1875 + 4500 µ$
	{"anthropic read and write", "claude-sonnet-4-5-20250929", anthropicUsage(100, 2000, 500, 300), 7275},
	// 1*0.80 + 1*0.08 + 1*1.00 = 1.88 µ$
	{"anthropic tiny", "claude-haiku-3-5", anthropicUsage(1, 1, 1, 0), 2},
	// 10*15 + 4000*18.75 + 50*75 = 150 + 75000 + 3750 µ$
	{"anthropic cache write", "claude-opus-4-1", anthropicUsage(10, 0, 4000, 50), 78900},
}

func TestCostKnownMix(t *testing.T) {
	p := table(t)
	for _, tc := range knownMix {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := p.Cost(tc.model, TokensOf(tc.u))
			if !ok || got != tc.want {
				t.Errorf("Cost = %d (priced %v), want %d", got, ok, tc.want)
			}
		})
	}
	t.Run("unpriced", func(t *testing.T) {
		if c, ok := p.Cost("mystery", TokensOf(openAIUsage(10, 10, 0))); ok || c != 0 {
			t.Errorf("mystery priced: %d %v", c, ok)
		}
		var nilTable *PriceTable
		if nilTable.Priced("gpt-4o") {
			t.Error("nil table priced")
		}
	})
	t.Run("bad counts", func(t *testing.T) {
		tok := TokensOf(&llm.Usage{PromptTokens: 10, CompletionTokens: -3, PromptTokensDetails: &llm.PromptTokensDetails{CachedTokens: 8, CacheCreationTokens: 9}})
		if tok != (Tokens{Prompt: 10, Completion: 0, CacheRead: 8, CacheWrite: 2}) {
			t.Errorf("TokensOf = %+v", tok)
		}
	})
	for _, m := range []string{"gpt-4o-2024-08", "gpt-4o-x", "20240806"} {
		if p.Priced(m) {
			t.Errorf("Priced(%q)", m)
		}
	}
}

func TestNewPriceTableRejectsBadPrices(t *testing.T) {
	for _, bad := range []Price{{Input: -1}, {Output: math.NaN()}, {CacheRead: math.Inf(1)}, {CacheWrite: 2e9}} {
		if _, err := NewPriceTable(map[string]Price{"m": bad}); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

func TestMicroUSDJSON(t *testing.T) {
	for v, want := range map[MicroUSD]string{0: "0.000000", 7475: "0.007475", 12_500_000: "12.500000", -3: "-0.000003", 1: "0.000001"} {
		if b, _ := v.MarshalJSON(); string(b) != want {
			t.Errorf("%d => %s, want %s", v, b, want)
		}
	}
}

// fixedAnswer answers every request with the same usage from model, and
// optionally marks the request as a cache hit.
type fixedAnswer struct {
	model    string
	usage    *llm.Usage
	cacheHit string
	fail     bool
}

func (f *fixedAnswer) mark(req *llm.Request) {
	req.Meta.Update(func(v *llm.MetaValues) {
		v.Cache = f.cacheHit
		v.Provider = "p1"
	})
}

func (f *fixedAnswer) Complete(_ context.Context, req *llm.Request) (*llm.Response, error) {
	if f.fail {
		return nil, llm.NewError(llm.KindUpstreamError, "down")
	}
	f.mark(req)
	return &llm.Response{Model: f.model, Usage: f.usage}, nil
}

func (f *fixedAnswer) Stream(_ context.Context, req *llm.Request) (llm.Stream, error) {
	if f.fail {
		return nil, llm.NewError(llm.KindUpstreamError, "down")
	}
	f.mark(req)
	chunks := []*llm.Chunk{{Model: f.model, Choices: []llm.ChunkChoice{{Delta: llm.Delta{Content: llm.Ptr("hello there")}}}}}
	if f.usage != nil {
		chunks = append(chunks, &llm.Chunk{Model: f.model, Choices: []llm.ChunkChoice{}, Usage: f.usage})
	}
	return &sliceStream{chunks: chunks}, nil
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

func newRecorder(t *testing.T, next llm.Completer, o Options) *Recorder {
	t.Helper()
	if o.Prices == nil {
		o.Prices = table(t)
	}
	if o.Now == nil {
		o.Now = func() time.Time { return day1 }
	}
	r := NewRecorder(next, o)
	t.Cleanup(func() { r.Close() })
	return r
}

func req(tenant, model string) *llm.Request {
	return &llm.Request{Model: model, Tenant: tenant, KeyID: "k-" + tenant, Meta: &llm.Meta{},
		Messages: []llm.Message{{Role: "user", Content: llm.TextContent("hi there")}}}
}

func report(t *testing.T, r *Recorder, q Query) *Report {
	t.Helper()
	if q.From.IsZero() {
		q.From, q.To = day1.Add(-48*time.Hour), day1.Add(48*time.Hour)
	}
	if q.Tenant == "" {
		q.All = true
	}
	if err := q.Validate(); err != nil {
		t.Fatal(err)
	}
	rep, err := r.Report(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// drain closes the recorder so that every record is in the store.
func drain(t *testing.T, r *Recorder) { t.Helper(); r.Close() }

// TestRecorderCostsKnownMix replays the known mix unary and streamed and
// checks each cost to the micro-dollar: in the response Meta (what
// x-llmrouter-cost-usd shows) and in the ledger.
func TestRecorderCostsKnownMix(t *testing.T) {
	for _, stream := range []bool{false, true} {
		for _, tc := range knownMix {
			name := tc.name
			if stream {
				name += "/stream"
			}
			t.Run(name, func(t *testing.T) {
				r := newRecorder(t, &fixedAnswer{model: tc.model, usage: tc.u}, Options{})
				q := req("t1", "pinned")
				if stream {
					s, err := r.Stream(context.Background(), q)
					if err != nil {
						t.Fatal(err)
					}
					for {
						if _, err := s.Recv(); err != nil {
							break
						}
					}
					s.Close()
				} else if _, err := r.Complete(context.Background(), q); err != nil {
					t.Fatal(err)
				}
				mv := q.Meta.Values()
				if !mv.Costed || !mv.Priced || mv.CostMicroUSD != tc.want {
					t.Errorf("meta cost = %d (priced %v costed %v), want %d", mv.CostMicroUSD, mv.Priced, mv.Costed, tc.want)
				}
				drain(t, r)
				rep := report(t, r, Query{})
				if rep.Totals.CostUSD != MicroUSD(tc.want) || rep.Totals.Requests != 1 {
					t.Errorf("ledger = %+v, want cost %d", rep.Totals, tc.want)
				}
				tok := TokensOf(tc.u)
				if rep.Totals.CacheReadTokens != int64(tok.CacheRead) || rep.Totals.CacheWriteTokens != int64(tok.CacheWrite) {
					t.Errorf("cache tokens = %d/%d, want %d/%d", rep.Totals.CacheReadTokens, rep.Totals.CacheWriteTokens, tok.CacheRead, tok.CacheWrite)
				}
			})
		}
	}
}

func TestRecorderSavingsBaselineUnpricedEstimated(t *testing.T) {
	u := openAIUsage(1000, 100, 0) // gpt-4o-mini: 150+60 = 210 µ$; gpt-4o: 2500+1000 = 3500 µ$
	cases := []struct {
		name        string
		next        *fixedAnswer
		routed      bool
		stream      bool
		wantCost    int64
		wantSaved   int64
		wantRouting int64
		unpriced    int64
		estimated   int64
		errors      int64
	}{
		{name: "routed miss", next: &fixedAnswer{model: "gpt-4o-mini", usage: u}, routed: true, wantCost: 210, wantRouting: 3500 - 210},
		{name: "pinned miss has no baseline", next: &fixedAnswer{model: "gpt-4o-mini", usage: u}, wantCost: 210},
		{name: "exact hit saves its cost", next: &fixedAnswer{model: "gpt-4o", usage: u, cacheHit: llm.CacheExact}, routed: true, wantSaved: 3500},
		{name: "semantic hit", next: &fixedAnswer{model: "gpt-4o-mini", usage: u, cacheHit: llm.CacheSemantic}, wantSaved: 210},
		{name: "unpriced is not free", next: &fixedAnswer{model: "mystery", usage: u}, unpriced: 1},
		// "hi there" = 8 chars => 2 tokens; "hello there" = 11 chars => 3 tokens: 2*0.15+3*0.60 = 2.1 µ$
		{name: "stream without usage is estimated", next: &fixedAnswer{model: "gpt-4o-mini"}, stream: true, wantCost: 2, estimated: 1},
		{name: "error", next: &fixedAnswer{fail: true}, errors: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRecorder(t, tc.next, Options{Baseline: "gpt-4o"})
			q := req("t1", "auto")
			if tc.routed {
				q.Meta.Update(func(v *llm.MetaValues) { v.Tier = llm.TierSmall })
			}
			if tc.stream {
				s, err := r.Stream(context.Background(), q)
				if err != nil {
					t.Fatal(err)
				}
				_, _ = io.ReadAll(readerOf(s))
				s.Close()
			} else {
				_, _ = r.Complete(context.Background(), q)
			}
			drain(t, r)
			tot := report(t, r, Query{}).Totals
			if int64(tot.CostUSD) != tc.wantCost || int64(tot.CacheSavingsUSD) != tc.wantSaved || int64(tot.RoutingSavingsUSD) != tc.wantRouting ||
				tot.UnpricedRequests != tc.unpriced || tot.EstimatedRequests != tc.estimated || tot.Errors != tc.errors || tot.Requests != 1 {
				t.Errorf("totals = %+v", tot)
			}
		})
	}
}

// readerOf drains a stream as an io.Reader that yields nothing.
func readerOf(s llm.Stream) io.Reader {
	return readerFunc(func([]byte) (int, error) {
		if _, err := s.Recv(); err != nil {
			return 0, io.EOF
		}
		return 0, nil
	})
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

func TestQueryGroupsTenantsAndCSV(t *testing.T) {
	r := newRecorder(t, &fixedAnswer{model: "gpt-4o", usage: openAIUsage(1000, 100, 0)}, Options{})
	for _, tenant := range []string{"a", "a", "b"} {
		if _, err := r.Complete(context.Background(), req(tenant, "pinned")); err != nil {
			t.Fatal(err)
		}
	}
	drain(t, r)
	rep := report(t, r, Query{GroupBy: GroupTenant, Granularity: GranularityHour})
	if len(rep.Groups) != 2 || rep.Groups[0].Group != "a" || rep.Groups[0].CostUSD != 7000 || rep.Totals.CostUSD != 10500 {
		t.Fatalf("groups = %+v", rep.Groups)
	}
	if len(rep.Series) != 2 || !rep.Series[0].Period.Equal(day1.Truncate(time.Hour)) {
		t.Fatalf("series = %+v", rep.Series)
	}
	only := report(t, r, Query{Filter: Filter{From: day1.Add(-time.Hour), To: day1.Add(time.Hour), Tenant: "b"}, GroupBy: GroupKey})
	if only.Totals.Requests != 1 || len(only.Groups) != 1 || only.Groups[0].Group != "k-b" {
		t.Fatalf("tenant b sees %+v", only)
	}
	var buf bytes.Buffer
	if err := rep.WriteCSV(&buf); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "period,group,requests") || !strings.Contains(lines[1], ",a,2,") || !strings.Contains(lines[1], ",0.007000,") {
		t.Fatalf("csv:\n%s", buf.String())
	}
	bad := []Query{{GroupBy: "colour"}, {Granularity: "week"}, {Filter: Filter{From: day1, To: day1}}, {Filter: Filter{From: day1, To: day1.Add(MaxRange + time.Hour)}}}
	for _, q := range bad {
		if q.From.IsZero() {
			q.From, q.To = day1, day1.Add(time.Hour)
		}
		if err := q.Validate(); err == nil {
			t.Errorf("%+v accepted", q)
		}
	}
}

func TestMemoryStoreIsBounded(t *testing.T) {
	m := NewMemoryStore(3)
	for h := 0; h < 5; h++ {
		_ = m.Write(context.Background(), []Record{{Time: day1.Add(time.Duration(h) * time.Hour), Model: "m", Priced: true}})
	}
	rows, _ := m.Rows(context.Background(), Filter{From: day1.Add(-time.Hour), To: day1.Add(10 * time.Hour), All: true})
	if len(rows) != 3 || m.Evicted() != 2 || !rows[0].Hour.Equal(day1.Truncate(time.Hour).Add(2*time.Hour)) {
		t.Fatalf("rows = %d evicted = %d", len(rows), m.Evicted())
	}
}

func TestHistQuantile(t *testing.T) {
	var h Hist
	for i := 0; i < 90; i++ {
		h.observe(40 * time.Millisecond)
	}
	for i := 0; i < 10; i++ {
		h.observe(2 * time.Second)
	}
	if h.Quantile(0.5) != 50 || h.Quantile(0.95) != 2500 || (&Hist{}).Quantile(0.5) != 0 {
		t.Errorf("p50 %d p95 %d", h.Quantile(0.5), h.Quantile(0.95))
	}
}

// failingStore fails until ok is set.
type failingStore struct {
	MemoryStore
	mu sync.Mutex
	ok bool
}

func (f *failingStore) Write(ctx context.Context, recs []Record) error {
	f.mu.Lock()
	ok := f.ok
	f.mu.Unlock()
	if !ok {
		return errors.New("database down")
	}
	return f.MemoryStore.Write(ctx, recs)
}

func TestRecorderRetriesAndDrops(t *testing.T) {
	st := &failingStore{MemoryStore: *NewMemoryStore(0)}
	reg := prometheus.NewRegistry()
	r := newRecorder(t, &fixedAnswer{model: "gpt-4o", usage: openAIUsage(10, 1, 0)}, Options{Store: st, BatchSize: 2, MaxPending: 4, FlushInterval: 10 * time.Millisecond, Registerer: reg})
	for i := 0; i < 10; i++ {
		_, _ = r.Complete(context.Background(), req("t", "m"))
	}
	deadline := time.Now().Add(5 * time.Second)
	for r.Dropped() < 6 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	st.mu.Lock()
	st.ok = true
	st.mu.Unlock()
	drain(t, r)
	rows, _ := st.Rows(context.Background(), Filter{From: day1.Add(-time.Hour), To: day1.Add(time.Hour), All: true})
	var n int64
	for _, row := range rows {
		n += row.Requests
	}
	if r.Dropped() != 6 || n != 4 {
		t.Fatalf("dropped %d, stored %d; want 6 and 4 (MaxPending kept for retry)", r.Dropped(), n)
	}
}

func TestRecorderDropsWhenQueueFull(t *testing.T) {
	block := make(chan struct{})
	st := &blockingStore{block: block}
	r := NewRecorder(&fixedAnswer{model: "gpt-4o", usage: openAIUsage(10, 1, 0)}, Options{Prices: table(t), Store: st, QueueSize: 2, BatchSize: 1})
	for i := 0; i < 50; i++ {
		_, _ = r.Complete(context.Background(), req("t", "m"))
	}
	if r.Dropped() == 0 {
		t.Error("nothing dropped with a blocked store and a queue of 2")
	}
	close(block)
	r.Close()
	_, _ = r.Complete(context.Background(), req("t", "m"))
	if r.Dropped() == 0 {
		t.Error("record after Close not dropped")
	}
}

type blockingStore struct {
	MemoryStore
	block chan struct{}
}

func (b *blockingStore) Write(ctx context.Context, recs []Record) error {
	select {
	case <-b.block:
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

func TestRecorderConcurrent(t *testing.T) {
	r := newRecorder(t, &fixedAnswer{model: "gpt-4o", usage: openAIUsage(1234, 567, 1024)}, Options{QueueSize: 10000})
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				_, _ = r.Complete(context.Background(), req("t", "m"))
				if i == 50 {
					r.SetPricing(table(t), "gpt-4o")
				}
			}
		}()
	}
	wg.Wait()
	drain(t, r)
	if tot := report(t, r, Query{}).Totals; tot.CostUSD != 800*7475 || tot.Requests != 800 {
		t.Fatalf("totals = %+v", tot)
	}
}

func TestRecorderForwardsCapabilities(t *testing.T) {
	r := newRecorder(t, &fixedAnswer{model: "gpt-4o", usage: openAIUsage(100, 0, 0)}, Options{})
	if m := r.Models(); len(m) != 2 {
		t.Errorf("Models = %v", m)
	}
	if _, err := r.Embed(context.Background(), &llm.EmbeddingRequest{Model: "e", Tenant: "t", Meta: &llm.Meta{}}); err != nil {
		t.Fatal(err)
	}
	drain(t, r)
	if tot := report(t, r, Query{}).Totals; tot.PromptTokens != 100 || tot.CostUSD != 250 {
		t.Errorf("embeddings totals %+v", tot)
	}
	bare := newRecorder(t, completerOnly{}, Options{})
	if _, err := bare.Embed(context.Background(), &llm.EmbeddingRequest{}); err == nil || bare.Models() != nil {
		t.Error("capabilities invented")
	}
}

type completerOnly struct{}

func (completerOnly) Complete(context.Context, *llm.Request) (*llm.Response, error) {
	return nil, errors.New("no")
}
func (completerOnly) Stream(context.Context, *llm.Request) (llm.Stream, error) {
	return nil, errors.New("no")
}
