package cache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"llmrouter/llm"
)

func newTestCache(t testing.TB, up llm.Completer, o Options) *Cache {
	t.Helper()
	c, err := New(up, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestExactHitReplaysACopyAndReportsMeta(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	up := &answersFromScript{resp: textResponse("Paris.")}
	c := newTestCache(t, up, Options{})
	defer c.Close()
	ctx := context.Background()

	req := userRequest("acme", "what is the capital of France?")
	r1, err := c.Complete(ctx, req)
	if err != nil || req.Meta.Values().Cache != llm.CacheMiss {
		t.Fatalf("first: %v meta %+v", err, req.Meta.Values())
	}
	r1.Choices[0].Message.Content = llm.TextContent("mutated by the caller")
	c.Wait()

	req2 := userRequest("acme", "what is the capital of France?")
	r2, err := c.Complete(ctx, req2)
	if err != nil {
		t.Fatal(err)
	}
	mv := req2.Meta.Values()
	if mv.Cache != llm.CacheExact || mv.Provider != "prov-a" || mv.Model != "gpt-x-2025" {
		t.Fatalf("meta = %+v", mv)
	}
	if up.calls.Load() != 1 {
		t.Fatalf("upstream calls = %d, want 1", up.calls.Load())
	}
	if got := r2.Choices[0].Message.Content.Text(); got != "Paris." {
		t.Fatalf("hit content %q: the cache kept the caller's mutation", got)
	}
	if r2.ID == "chatcmpl-up" || !strings.HasPrefix(r2.ID, "chatcmpl-") || r2.Usage == nil || r2.Usage.TotalTokens != 15 {
		t.Fatalf("hit id %q usage %+v", r2.ID, r2.Usage)
	}
	r2.Choices[0].Message.Content = llm.TextContent("mutated again")
	r3, _ := c.Complete(ctx, userRequest("acme", "what is the capital of France?"))
	if r3.Choices[0].Message.Content.Text() != "Paris." {
		t.Fatal("a hit's copy shares memory with the cache")
	}
}

func TestCacheControlDirectives(t *testing.T) {
	tests := []struct {
		name         string
		cc           llm.CacheControl
		wantOutcome  string
		wantUpstream int64
		storedAfter  bool
	}{
		{"no-cache skips the read but stores", llm.CacheControl{NoCache: true}, llm.CacheBypass, 2, true},
		{"no-store reads but does not store", llm.CacheControl{NoStore: true}, llm.CacheExact, 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := &answersFromScript{resp: textResponse("Paris.")}
			c := newTestCache(t, up, Options{})
			ctx := context.Background()
			if _, err := c.Complete(ctx, userRequest("acme", "q?")); err != nil {
				t.Fatal(err)
			}
			c.Wait()
			req := userRequest("acme", "q?")
			req.CacheControl = tt.cc
			if _, err := c.Complete(ctx, req); err != nil {
				t.Fatal(err)
			}
			if got := req.Meta.Values().Cache; got != tt.wantOutcome {
				t.Fatalf("outcome %q, want %q", got, tt.wantOutcome)
			}
			if up.calls.Load() != tt.wantUpstream {
				t.Fatalf("upstream calls %d, want %d", up.calls.Load(), tt.wantUpstream)
			}
			// A no-store request on a fresh key must leave nothing behind.
			fresh := userRequest("acme", "fresh question?")
			fresh.CacheControl = tt.cc
			_, _ = c.Complete(ctx, fresh)
			c.Wait()
			after := userRequest("acme", "fresh question?")
			_, _ = c.Complete(ctx, after)
			if (after.Meta.Values().Cache == llm.CacheExact) != tt.storedAfter {
				t.Fatalf("stored = %v, want %v", after.Meta.Values().Cache == llm.CacheExact, tt.storedAfter)
			}
		})
	}
}

func TestExactTTL(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	up := &answersFromScript{resp: textResponse("Paris.")}
	c := newTestCache(t, up, Options{Exact: ExactOptions{TTL: time.Minute}, Now: func() time.Time { return now }})
	ctx := context.Background()
	_, _ = c.Complete(ctx, userRequest("acme", "q?"))
	c.Wait()
	now = now.Add(59 * time.Second)
	req := userRequest("acme", "q?")
	_, _ = c.Complete(ctx, req)
	if req.Meta.Values().Cache != llm.CacheExact {
		t.Fatal("miss before the TTL")
	}
	now = now.Add(2 * time.Second)
	req = userRequest("acme", "q?")
	_, _ = c.Complete(ctx, req)
	if req.Meta.Values().Cache != llm.CacheMiss {
		t.Fatal("hit after the TTL")
	}
}

func TestErrorsAndIncompleteAnswersAreNeverStored(t *testing.T) {
	text := fixtureChunks(t, "chat-stream-text-include-usage.sse")
	tests := []struct {
		name   string
		up     *answersFromScript
		stream bool
	}{
		{"complete error", &answersFromScript{err: &llm.Error{Kind: llm.KindUpstreamError, Status: 500}}, false},
		{"stream start error", &answersFromScript{err: &llm.Error{Kind: llm.KindUpstreamError, Status: 502}}, true},
		{"stream cut mid answer", &answersFromScript{chunks: text[:3], endErr: &llm.Error{Kind: llm.KindUpstreamError, Message: "stream cut", Sent: true}}, true},
		{"stream ends with EOF but no finish reason", &answersFromScript{chunks: text[:3]}, true},
		{"stream ends with a wrapped EOF", &answersFromScript{chunks: text, endErr: fmt.Errorf("read: %w", io.ErrUnexpectedEOF)}, true},
		{"content filter", &answersFromScript{resp: &llm.Response{Model: "m", Choices: []llm.Choice{{Message: llm.Message{Role: "assistant", Content: llm.TextContent("")}, FinishReason: llm.FinishContentFilter}}}}, false},
		{"no choices", &answersFromScript{resp: &llm.Response{Model: "m"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestCache(t, tt.up, Options{})
			ctx := context.Background()
			for i := range 2 {
				req := userRequest("acme", "tell me a story about caching please")
				if tt.stream {
					s, err := c.Stream(ctx, req)
					if err == nil {
						_, _ = drain(t, s)
					}
				} else {
					_, _ = c.Complete(ctx, req)
				}
				c.Wait()
				if i == 1 && req.Meta.Values().Cache != llm.CacheMiss {
					t.Fatalf("second request outcome %q: a failed answer was stored", req.Meta.Values().Cache)
				}
			}
			if tt.up.calls.Load() != 2 {
				t.Fatalf("upstream calls %d, want 2", tt.up.calls.Load())
			}
		})
	}
}

func TestStreamClosedEarlyIsNotStored(t *testing.T) {
	text := fixtureChunks(t, "chat-stream-text-include-usage.sse")
	up := &answersFromScript{chunks: text}
	c := newTestCache(t, up, Options{})
	s, err := c.Stream(context.Background(), userRequest("acme", "q?"))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = s.Recv()
	s.Close()
	c.Wait()
	req := userRequest("acme", "q?")
	_, _ = c.Complete(context.Background(), req)
	if req.Meta.Values().Cache != llm.CacheMiss {
		t.Fatal("a stream closed by the client was stored")
	}
}

// shape is the structure of a chunk, without its text: what a client's
// parser depends on.
func shape(c *llm.Chunk) string {
	var b strings.Builder
	fmt.Fprintf(&b, "choices=%d usage=%v", len(c.Choices), c.Usage != nil)
	for _, ch := range c.Choices {
		d := ch.Delta
		fmt.Fprintf(&b, " [role=%q", d.Role)
		switch {
		case d.Content == nil:
			b.WriteString(" content=none")
		case *d.Content == "":
			b.WriteString(` content=""`)
		default:
			b.WriteString(" content=text")
		}
		for _, tc := range d.ToolCalls {
			fmt.Fprintf(&b, " call(index=%v id=%v type=%q name=%v args=%v)", *tc.Index, tc.ID != "", tc.Type, tc.Function.Name != "", tc.Function.Arguments != "")
		}
		if ch.FinishReason != nil {
			fmt.Fprintf(&b, " finish=%s", *ch.FinishReason)
		}
		b.WriteString("]")
	}
	return b.String()
}

// collapse merges runs of equal shapes (the number of text pieces differs).
func collapse(cs []*llm.Chunk) []string {
	var out []string
	for _, c := range cs {
		s := shape(c)
		if len(out) == 0 || out[len(out)-1] != s {
			out = append(out, s)
		}
	}
	return out
}

func TestStreamReplayHasTheShapesOfALiveStream(t *testing.T) {
	// OpenAI opens a tool-call answer in one of two ways: a role chunk and
	// then the first call's head (parallel-tool-calls), or both in one chunk
	// (tool-call-include-usage). The replay uses the first.
	for _, fixture := range []string{"chat-stream-text-include-usage.sse", "chat-stream-parallel-tool-calls.sse"} {
		t.Run(fixture, func(t *testing.T) {
			live := fixtureChunks(t, fixture)
			up := &answersFromScript{chunks: live}
			c := newTestCache(t, up, Options{})
			ctx := context.Background()
			mk := func() *llm.Request {
				r := userRequest("acme", "weather in Edinburgh and AAPL price?")
				r.Stream = true
				return r
			}
			s, err := c.Stream(ctx, mk())
			if err != nil {
				t.Fatal(err)
			}
			passed, err := drain(t, s)
			if err != nil || len(passed) != len(live) {
				t.Fatalf("pass-through: %d chunks, err %v", len(passed), err)
			}
			c.Wait()
			req := mk()
			s, err = c.Stream(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			replayed, err := drain(t, s)
			if err != nil {
				t.Fatal(err)
			}
			if req.Meta.Values().Cache != llm.CacheExact || up.calls.Load() != 1 {
				t.Fatalf("outcome %q, upstream calls %d", req.Meta.Values().Cache, up.calls.Load())
			}
			want, got := collapse(live), collapse(replayed)
			if strings.Join(want, "\n") != strings.Join(got, "\n") {
				t.Fatalf("shapes differ\nlive:\n%s\nreplay:\n%s", strings.Join(want, "\n"), strings.Join(got, "\n"))
			}
			// Same text, same tool calls, same usage.
			var a1, a2 assembler
			for _, ch := range live {
				a1.add(ch)
			}
			for _, ch := range replayed {
				a2.add(ch)
				if ch.Object != llm.ObjectChatCompletionChunk || ch.Model != live[0].Model {
					t.Fatalf("chunk object %q model %q", ch.Object, ch.Model)
				}
			}
			r1, r2 := a1.response(1), a2.response(1)
			if r1 == nil || r2 == nil {
				t.Fatal("incomplete assembly")
			}
			if r1.Choices[0].Message.Content.Text() != r2.Choices[0].Message.Content.Text() ||
				fmt.Sprint(r1.Choices[0].Message.ToolCalls) != fmt.Sprint(r2.Choices[0].Message.ToolCalls) ||
				!reflect.DeepEqual(r1.Usage, r2.Usage) || r1.Choices[0].FinishReason != r2.Choices[0].FinishReason {
				t.Fatalf("replayed answer differs:\n%+v\n%+v", r1, r2)
			}
			// And the streamed answer replays as JSON too.
			jr := userRequest("acme", "weather in Edinburgh and AAPL price?")
			resp, err := c.Complete(ctx, jr)
			if err != nil || jr.Meta.Values().Cache != llm.CacheExact || resp.Choices[0].Message.Content.Text() != r1.Choices[0].Message.Content.Text() {
				t.Fatalf("json replay: %v %q", err, jr.Meta.Values().Cache)
			}
		})
	}
}

func TestLogprobsBypassTheCache(t *testing.T) {
	up := &answersFromScript{resp: textResponse("x")}
	c := newTestCache(t, up, Options{})
	for range 2 {
		req := userRequest("acme", "q?")
		req.Logprobs = llm.Ptr(true)
		_, _ = c.Complete(context.Background(), req)
		c.Wait()
		if req.Meta.Values().Cache != llm.CacheBypass {
			t.Fatalf("outcome %q", req.Meta.Values().Cache)
		}
	}
}

func TestMetricsRegistered(t *testing.T) {
	reg := prometheus.NewRegistry()
	up := &answersFromScript{resp: textResponse("x")}
	c := newTestCache(t, up, Options{Registerer: reg})
	_, _ = c.Complete(context.Background(), userRequest("acme", "q?"))
	if n := gathered(t, reg, "llmrouter_cache_lookups_total", "miss"); n != 1 {
		t.Fatalf("miss counter %v", n)
	}
	if n := gathered(t, reg, "llmrouter_cache_db_up", ""); n != 1 {
		t.Fatalf("db_up gauge %v", n)
	}
}

func TestNewRejectsNilNext(t *testing.T) {
	_, err := New(nil, Options{})
	var e *llm.Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v", err)
	}
}

func BenchmarkExactHit(b *testing.B) {
	up := &answersFromScript{resp: textResponse("Paris is the capital of France.")}
	c := newTestCache(b, up, Options{})
	ctx := context.Background()
	req := userRequest("acme", "what is the capital of France?")
	_, _ = c.Complete(ctx, req)
	c.Wait()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Complete(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
	if up.calls.Load() != 1 {
		b.Fatalf("upstream calls %d", up.calls.Load())
	}
}

func BenchmarkPassThroughMiss(b *testing.B) {
	up := &answersFromScript{resp: textResponse("Paris is the capital of France.")}
	c := newTestCache(b, up, Options{})
	ctx := context.Background()
	req := userRequest("acme", "what is the capital of France?")
	req.CacheControl = llm.CacheControl{NoCache: true, NoStore: true}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Complete(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

// gathered returns the value of metric name (with any label equal to label,
// or the unlabelled one), or -1.
func gathered(t testing.TB, g prometheus.Gatherer, name, label string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			ok := label == ""
			for _, lp := range m.GetLabel() {
				ok = ok || lp.GetValue() == label
			}
			if !ok {
				continue
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue()
			}
		}
	}
	return -1
}

// metricsGatherer registers c's collectors in a fresh registry.
func metricsGatherer(c *Cache) prometheus.Gatherer {
	reg := prometheus.NewRegistry()
	reg.MustRegister(c.m.writeDropped, c.m.written, c.m.lookups)
	return reg
}
