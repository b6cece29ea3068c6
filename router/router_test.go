package router

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"llmrouter/llm"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, leakOptions()...) }

// leakOptions ignores fasthttp's background goroutines (client cleaners,
// the fake servers' idle worker reapers, the server date ticker), which the
// end-to-end tests start and which exit on their own or never.
func leakOptions() []goleak.Option {
	return []goleak.Option{
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*HostClient).connsCleaner"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*TCPDialer).tcpAddrsClean"),
	}
}

const answer = "The quick brown fox jumps over the lazy dog and keeps running far away."

// testOptions returns fast retry/breaker settings over the given fakes; the
// pinned alias "m" routes over chain.
func testOptions(chain []Target, fakes ...llm.Completer) Options {
	ps := map[string]llm.Completer{}
	for _, f := range fakes {
		switch f := f.(type) {
		case *fake:
			ps[f.name] = f
		case *downThenUp:
			ps[f.name] = f
		case *embedFake:
			ps[f.name] = f
		}
	}
	return Options{
		Providers: ps,
		Aliases:   map[string][]Target{"m": chain},
		Breaker:   BreakerOptions{ConsecutiveFailures: 3, OpenTimeout: time.Minute},
		Retry: RetryOptions{MaxAttemptsPerTarget: 2, BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond,
			StreamIdleTimeout: 5 * time.Second},
		RequestTimeout: 10 * time.Second,
	}
}

func mustNew(t *testing.T, o Options) *Router {
	t.Helper()
	r, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func chatReq(model string) *llm.Request {
	return &llm.Request{Model: model, Meta: &llm.Meta{},
		Messages: []llm.Message{{Role: "user", Content: llm.TextContent("tell me about foxes")}}}
}

func tg(name string) Target { return Target{Provider: name, Model: name + "-model"} }

func text(resp *llm.Response) string { return resp.Choices[0].Message.Content.Text() }

func asLLM(t *testing.T, err error) *llm.Error {
	t.Helper()
	var e *llm.Error
	if !errors.As(err, &e) {
		t.Fatalf("want *llm.Error, got %T %v", err, err)
	}
	return e
}

// TestCompleteFaults runs each fault double as the primary of a chain whose
// later targets answer, and asserts the calls each fake saw, what the
// client got and an upper bound on the time taken.
func TestCompleteFaults(t *testing.T) {
	type want struct {
		calls    []int // per fake, in chain order
		kind     llm.Kind
		code     string
		answered string // provider that answered; "" means an error
	}
	tests := []struct {
		name   string
		fakes  func() []*fake
		target func(i int, f *fake) Target
		want   want
	}{
		{"AlwaysFails500 retries then fails over",
			func() []*fake { return []*fake{AlwaysFails500("a"), Answers("b", answer)} }, nil,
			want{calls: []int{2, 1}, answered: "b"}},
		{"RefusesConnections retries then fails over",
			func() []*fake { return []*fake{RefusesConnections("a"), Answers("b", answer)} }, nil,
			want{calls: []int{2, 1}, answered: "b"}},
		{"401 from provider fails over without retry",
			func() []*fake { return []*fake{RejectsOurKey("a"), Answers("b", answer)} }, nil,
			want{calls: []int{1, 1}, answered: "b"}},
		{"RateLimitedWithRetryAfter fails over at once",
			func() []*fake { return []*fake{RateLimitedWithRetryAfter("a", 30*time.Second), Answers("b", answer)} }, nil,
			want{calls: []int{1, 1}, answered: "b"}},
		{"RateLimitedForever everywhere returns the 429",
			func() []*fake { return []*fake{RateLimitedForever("a"), RateLimitedForever("b")} }, nil,
			want{calls: []int{1, 1}, kind: llm.KindUpstreamRateLimited, code: llm.CodeRateLimitExceeded}},
		{"local pool full tries the next target",
			func() []*fake { return []*fake{PoolFull("a"), Answers("b", answer)} }, nil,
			want{calls: []int{1, 1}, answered: "b"}},
		{"HangsBeforeHeaders times out once and fails over without retry",
			func() []*fake { return []*fake{HangsBeforeHeaders("a"), Answers("b", answer)} },
			func(i int, f *fake) Target {
				t := tg(f.name)
				if i == 0 {
					t.Timeout = 50 * time.Millisecond
				}
				return t
			},
			want{calls: []int{1, 1}, answered: "b"}},
		{"SlowFirstToken beyond the target timeout fails over without retry",
			func() []*fake { return []*fake{SlowFirstToken("a", answer, time.Minute), Answers("b", answer)} },
			func(i int, f *fake) Target {
				t := tg(f.name)
				if i == 0 {
					t.Timeout = 50 * time.Millisecond
				}
				return t
			},
			want{calls: []int{1, 1}, answered: "b"}},
		{"ContentPolicyReject is returned as is",
			func() []*fake { return []*fake{ContentPolicyReject("a"), Answers("b", answer)} }, nil,
			want{calls: []int{1, 0}, kind: llm.KindInvalidRequest, code: llm.CodeContentFilter}},
		{"ContextTooLong goes to a larger window only",
			func() []*fake { return []*fake{ContextTooLong("a"), Answers("b", answer), Answers("c", answer)} },
			func(i int, f *fake) Target {
				t := tg(f.name)
				t.ContextWindow = []int{8192, 8192, 200000}[i]
				return t
			},
			want{calls: []int{1, 0, 1}, answered: "c"}},
		{"ContextTooLong without a larger window is returned",
			func() []*fake { return []*fake{ContextTooLong("a"), Answers("b", answer)} },
			func(i int, f *fake) Target {
				t := tg(f.name)
				t.ContextWindow = 8192
				return t
			},
			want{calls: []int{1, 0}, kind: llm.KindInvalidRequest, code: llm.CodeContextLengthExceeded}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fakes := tt.fakes()
			var chain []Target
			var cs []llm.Completer
			for i, f := range fakes {
				if tt.target != nil {
					chain = append(chain, tt.target(i, f))
				} else {
					chain = append(chain, tg(f.name))
				}
				cs = append(cs, f)
			}
			r := mustNew(t, testOptions(chain, cs...))
			req := chatReq("m")
			start := time.Now()
			resp, err := r.Complete(context.Background(), req)
			if el := time.Since(start); el > 3*time.Second {
				t.Errorf("took %v", el)
			}
			for i, f := range fakes {
				if f.n() != tt.want.calls[i] {
					t.Errorf("fake %s saw %d calls, want %d", f.name, f.n(), tt.want.calls[i])
				}
			}
			if tt.want.answered != "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				if text(resp) != answer || resp.Model != tt.want.answered+"-model" {
					t.Fatalf("got %q from %q", text(resp), resp.Model)
				}
				m := req.Meta.Values()
				total := 0
				for _, c := range tt.want.calls {
					total += c
				}
				if m.Provider != tt.want.answered || m.Attempts != total {
					t.Fatalf("meta = %+v, want provider %s attempts %d", m, tt.want.answered, total)
				}
				return
			}
			e := asLLM(t, err)
			if e.Kind != tt.want.kind || e.Code != tt.want.code {
				t.Fatalf("got %v (kind %v code %q), want kind %v code %q", e, e.Kind, e.Code, tt.want.kind, tt.want.code)
			}
			for _, h := range r.Health() {
				if h.State != "closed" {
					t.Fatalf("client-caused or rate-limit errors must not trip breakers: %+v", h)
				}
			}
		})
	}
}

func TestUnknownModel(t *testing.T) {
	a := Answers("a", answer)
	r := mustNew(t, testOptions([]Target{tg("a")}, a))
	_, err := r.Complete(context.Background(), chatReq("gpt-9"))
	e := asLLM(t, err)
	if e.Kind != llm.KindUnknownModel || e.Code != llm.CodeModelNotFound || e.Param != "model" || !strings.Contains(e.Message, "gpt-9") {
		t.Fatalf("got %+v", e)
	}
	if a.n() != 0 {
		t.Fatal("no upstream call expected")
	}
}

func TestRetryAfterSetsTargetAside(t *testing.T) {
	a, b := RateLimitedWithRetryAfter("a", 30*time.Second), Answers("b", answer)
	o := testOptions([]Target{tg("a"), tg("b")}, a, b)
	o.Retry.MaxSetAside = 10 * time.Second
	r := mustNew(t, o)
	for i := 0; i < 5; i++ {
		if _, err := r.Complete(context.Background(), chatReq("m")); err != nil {
			t.Fatal(err)
		}
	}
	if a.n() != 1 || b.n() != 5 {
		t.Fatalf("rate-limited target called %d times (want 1), b %d", a.n(), b.n())
	}
	for _, h := range r.Health() {
		if h.Provider == "a" {
			left := time.Until(h.SetAsideUntil)
			if left <= 5*time.Second || left > 10*time.Second || h.State != "closed" {
				t.Fatalf("set-aside should be capped at 10s and not trip the breaker: %+v (left %v)", h, left)
			}
		}
	}
}

func TestAllSkippedIsNoHealthyProvider(t *testing.T) {
	a := RateLimitedWithRetryAfter("a", 20*time.Second)
	b := AlwaysFails500("b")
	o := testOptions([]Target{tg("a"), tg("b")}, a, b)
	o.Breaker.ConsecutiveFailures = 1
	r := mustNew(t, o)
	_, err := r.Complete(context.Background(), chatReq("m"))
	if e := asLLM(t, err); e.Kind != llm.KindUpstreamError {
		t.Fatalf("first request: want the last upstream error, got %v", e)
	}
	_, err = r.Complete(context.Background(), chatReq("m"))
	e := asLLM(t, err)
	if e.Kind != llm.KindNoHealthyProvider || e.RetryAfter < 10*time.Second || e.RetryAfter > 20*time.Second {
		t.Fatalf("want no_healthy_provider with Retry-After ~20s, got %v (retry after %v)", e, e.RetryAfter)
	}
	if a.n() != 1 || b.n() != 1 {
		t.Fatalf("skipped targets must get no calls: a %d b %d", a.n(), b.n())
	}
}

func TestRequestTimeoutBoundsAllAttempts(t *testing.T) {
	a, b := HangsBeforeHeaders("a"), HangsBeforeHeaders("b")
	o := testOptions([]Target{tg("a"), tg("b")}, a, b)
	o.RequestTimeout = 100 * time.Millisecond
	r := mustNew(t, o)
	start := time.Now()
	_, err := r.Complete(context.Background(), chatReq("m"))
	if e := asLLM(t, err); e.Kind != llm.KindTimeout {
		t.Fatalf("want timeout, got %v", e)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("request ran %v past its 100ms budget", el)
	}
	// A caller's cancel is a cancel, not a provider failure.
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	_, err = r.Complete(ctx, chatReq("m"))
	if e := asLLM(t, err); e.Kind != llm.KindCanceled {
		t.Fatalf("want canceled, got %v", e)
	}
	for _, h := range r.Health() {
		if h.ConsecutiveFailures != 0 {
			t.Fatalf("request-level timeouts must not count against targets: %+v", h)
		}
	}
}

func TestTierResolutionAndExhaustion(t *testing.T) {
	small, medium, large := AlwaysFails500("small"), Answers("medium", "medium says hi"), Answers("large", "large says hi")
	mk := func(onSmall, onLarge string) Options {
		o := testOptions([]Target{tg("medium")}, small, medium, large)
		o.Tiers = map[llm.Tier]TierPolicy{
			llm.TierSmall:  {Chain: []Target{tg("small")}, OnExhausted: onSmall},
			llm.TierMedium: {Chain: []Target{tg("medium")}},
			llm.TierLarge:  {Chain: []Target{tg("small")}, OnExhausted: onLarge},
		}
		o.Breaker.ConsecutiveFailures = 100
		return o
	}
	tests := []struct {
		name, onSmall, onLarge string
		tier                   llm.Tier
		wantText               string
		wantErr                llm.Kind
	}{
		{"unset tier uses the default (medium)", "", "", llm.TierUnset, "medium says hi", 0},
		{"escalate tries the next larger tier", OnExhaustedEscalate, "", llm.TierSmall, "medium says hi", 0},
		{"fail returns the last error", OnExhaustedFail, "", llm.TierSmall, "", llm.KindUpstreamError},
		{"degrade tries smaller tiers", "", OnExhaustedDegrade, llm.TierLarge, "medium says hi", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustNew(t, mk(tt.onSmall, tt.onLarge))
			req := chatReq("auto")
			req.Tier = tt.tier
			resp, err := r.Complete(context.Background(), req)
			if tt.wantText != "" {
				if err != nil || text(resp) != tt.wantText {
					t.Fatalf("got %v %v", resp, err)
				}
				return
			}
			if e := asLLM(t, err); e.Kind != tt.wantErr {
				t.Fatalf("got %v", e)
			}
		})
	}
	r := mustNew(t, mk("", ""))
	if got := strings.Join(r.Models(), ","); got != "auto,m" {
		t.Fatalf("Models() = %s", got)
	}
}

func TestBreakerOpensAndHalfOpenProbesRecover(t *testing.T) {
	dead := DownThenUp("a", "primary answer")
	b := Answers("b", "secondary answer")
	o := testOptions([]Target{tg("a"), tg("b")}, dead, b)
	o.Breaker = BreakerOptions{ConsecutiveFailures: 3, OpenTimeout: 150 * time.Millisecond, HalfOpenProbes: 2,
		OpenBackoff: 2, MaxOpenTimeout: 300 * time.Millisecond}
	o.Retry.MaxAttemptsPerTarget = 1
	reg := prometheus.NewRegistry()
	o.Registerer = reg
	r := mustNew(t, o)
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		resp, err := r.Complete(ctx, chatReq("m"))
		if err != nil || text(resp) != "secondary answer" {
			t.Fatalf("request %d: %v %v", i, resp, err)
		}
	}
	if dead.n() != 3 {
		t.Fatalf("dead target saw %d calls before tripping, want 3", dead.n())
	}
	if got := gaugeFor(t, reg, "a"); got != 2 {
		t.Fatalf("breaker gauge = %v, want 2 (open)", got)
	}
	for i := 0; i < 20; i++ {
		if _, err := r.Complete(ctx, chatReq("m")); err != nil {
			t.Fatal(err)
		}
	}
	if dead.n() != 3 {
		t.Fatalf("open target got %d calls, want none while open", dead.n()-3)
	}
	// Still dead at the first half-open probe: one probe, then open again.
	time.Sleep(200 * time.Millisecond)
	if _, err := r.Complete(ctx, chatReq("m")); err != nil {
		t.Fatal(err)
	}
	if h := r.Health()[0]; dead.n() != 4 || h.State != "open" || h.OpenFor != 300*time.Millisecond || h.NextProbe.IsZero() {
		t.Fatalf("want exactly one failed probe and the breaker open again for twice as long (capped): calls %d, %+v", dead.n(), h)
	}
	// It recovers; two successful probes close the breaker.
	dead.down.Store(false)
	time.Sleep(350 * time.Millisecond)
	for i := 0; i < 2; i++ {
		resp, err := r.Complete(ctx, chatReq("m"))
		if err != nil || text(resp) != "primary answer" {
			t.Fatalf("probe %d: %v %v", i, resp, err)
		}
	}
	if h := r.Health()[0]; h.State != "closed" {
		t.Fatalf("breaker should be closed after the probes: %+v", h)
	}
	if got := gaugeFor(t, reg, "a"); got != 0 {
		t.Fatalf("breaker gauge = %v, want 0", got)
	}
}

// gaugeFor reads llmrouter_breaker_state{provider=p}.
func gaugeFor(t *testing.T, reg *prometheus.Registry, p string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "llmrouter_breaker_state" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "provider" && l.GetValue() == p {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	t.Fatalf("no breaker gauge for %s", p)
	return 0
}

func TestBreakerFailureRatio(t *testing.T) {
	// Every other call fails: never 3 in a row, but a 50% ratio over 10.
	flaky := &fake{name: "a"}
	var n int
	flaky.complete = func(_ context.Context, req *llm.Request) (*llm.Response, error) {
		n++
		if n%2 == 0 {
			return nil, &llm.Error{Kind: llm.KindUpstreamError, Status: 502, Message: "bad gateway"}
		}
		return response(req.Model, "ok"), nil
	}
	b := Answers("b", answer)
	o := testOptions([]Target{tg("a"), tg("b")}, flaky, b)
	o.Breaker = BreakerOptions{ConsecutiveFailures: 3, FailureRatio: 0.5, MinRequests: 10, Window: time.Minute, OpenTimeout: time.Minute}
	o.Retry.MaxAttemptsPerTarget = 1
	r := mustNew(t, o)
	for i := 0; i < 30; i++ {
		if _, err := r.Complete(context.Background(), chatReq("m")); err != nil {
			t.Fatal(err)
		}
	}
	if flaky.n() != 10 || r.Health()[0].State != "open" {
		t.Fatalf("want the ratio rule to trip after 10 outcomes: calls %d, %+v", flaky.n(), r.Health()[0])
	}
}

func TestReloadKeepsBreakerState(t *testing.T) {
	a, b, c := AlwaysFails500("a"), Answers("b", "from b"), Answers("c", "from c")
	o := testOptions([]Target{tg("a"), tg("b")}, a, b, c)
	o.Breaker.ConsecutiveFailures = 2
	o.Retry.MaxAttemptsPerTarget = 1
	r := mustNew(t, o)
	for i := 0; i < 2; i++ {
		if _, err := r.Complete(context.Background(), chatReq("m")); err != nil {
			t.Fatal(err)
		}
	}
	if a.n() != 2 || r.Health()[0].State != "open" {
		t.Fatalf("setup: a calls %d, %+v", a.n(), r.Health())
	}
	// New chain: a then c, plus a new alias; a's breaker must stay open.
	o2 := testOptions([]Target{tg("a"), tg("c")}, a, b, c)
	o2.Breaker.ConsecutiveFailures = 2
	o2.Retry.MaxAttemptsPerTarget = 1
	o2.Aliases["n"] = []Target{tg("b")}
	if err := r.Update(o2); err != nil {
		t.Fatal(err)
	}
	resp, err := r.Complete(context.Background(), chatReq("m"))
	if err != nil || text(resp) != "from c" {
		t.Fatalf("new chain not in effect: %v %v", resp, err)
	}
	if a.n() != 2 {
		t.Fatalf("open breaker lost on reload: a got %d calls", a.n())
	}
	if resp, err := r.Complete(context.Background(), chatReq("n")); err != nil || text(resp) != "from b" {
		t.Fatalf("new alias: %v %v", resp, err)
	}
	if got := strings.Join(r.Models(), ","); got != "m,n" {
		t.Fatalf("Models() = %s", got)
	}
	// A replaced provider client starts with a fresh breaker.
	a2 := Answers("a", "from new a")
	o3 := testOptions([]Target{tg("a"), tg("c")}, a2, b, c)
	o3.Breaker.ConsecutiveFailures = 2
	if err := r.Update(o3); err != nil {
		t.Fatal(err)
	}
	if resp, err := r.Complete(context.Background(), chatReq("m")); err != nil || text(resp) != "from new a" {
		t.Fatalf("replaced provider should start closed: %v %v", resp, err)
	}
	// An invalid config keeps the old snapshot.
	bad := testOptions([]Target{{Provider: "nope", Model: "x"}}, a2)
	if err := r.Update(bad); err == nil {
		t.Fatal("want validation error")
	}
	if resp, err := r.Complete(context.Background(), chatReq("m")); err != nil || text(resp) != "from new a" {
		t.Fatalf("old snapshot should survive a bad update: %v %v", resp, err)
	}
}

func TestEmbedFailsOver(t *testing.T) {
	down := &embedFake{fake: Answers("a", ""), embed: func(context.Context, *llm.EmbeddingRequest) (*llm.EmbeddingResponse, error) {
		return nil, &llm.Error{Kind: llm.KindUpstreamError, Status: 503, Message: "unavailable"}
	}}
	noEmbed := Answers("b", "")
	up := &embedFake{fake: Answers("c", ""), embed: func(_ context.Context, req *llm.EmbeddingRequest) (*llm.EmbeddingResponse, error) {
		return &llm.EmbeddingResponse{Object: "list", Model: req.Model, Data: []llm.Embedding{{Object: "embedding", Embedding: []float32{1, 0}}}}, nil
	}}
	r := mustNew(t, testOptions([]Target{tg("a"), tg("b"), tg("c")}, down, noEmbed, up))
	req := &llm.EmbeddingRequest{Model: "m", Input: llm.EmbeddingInput{"hi"}, Meta: &llm.Meta{}}
	resp, err := r.Embed(context.Background(), req)
	if err != nil || resp.Model != "c-model" || len(resp.Data) != 1 {
		t.Fatalf("got %+v %v", resp, err)
	}
	if down.n() != 2 || noEmbed.n() != 0 || up.n() != 1 || req.Meta.Values().Provider != "c" {
		t.Fatalf("calls a=%d b=%d c=%d meta %+v", down.n(), noEmbed.n(), up.n(), req.Meta.Values())
	}
	if _, err := r.Embed(context.Background(), &llm.EmbeddingRequest{Model: "zzz"}); asLLM(t, err).Kind != llm.KindUnknownModel {
		t.Fatalf("unknown model: %v", err)
	}
}

// drain reads a stream to its end.
func drain(t *testing.T, st llm.Stream) (string, []*llm.Chunk, error) {
	t.Helper()
	var b strings.Builder
	var chunks []*llm.Chunk
	for {
		c, err := st.Recv()
		if err == io.EOF {
			return b.String(), chunks, nil
		}
		if err != nil {
			return b.String(), chunks, err
		}
		chunks = append(chunks, c)
		for _, ch := range c.Choices {
			if ch.Delta.Content != nil {
				b.WriteString(*ch.Delta.Content)
			}
		}
	}
}
