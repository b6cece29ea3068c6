package router

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"llmrouter/llm"
	fakehttp "llmrouter/provider/fake"
	"llmrouter/provider/openai"
)

// Policy table rows against the HTTP fault doubles of provider/fake, through
// the real OpenAI client: attempts per target, who answered, elapsed time
// (generous bounds: a loaded CI machine is slow, never fast) and what the
// client saw. The rows are the README's "Failover policy" table.

func openaiClient(t *testing.T, name, url string) *openai.Client {
	t.Helper()
	c, err := openai.New(openai.Options{Name: name, BaseURL: url + "/v1", APIKey: "k"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestPolicyRows(t *testing.T) {
	type want struct {
		primaryAttempts int // attempts the router made on the primary
		answered        string
		kind            llm.Kind // when no one answered
		minElapsed      time.Duration
	}
	tests := []struct {
		name    string
		fault   fakehttp.Fault
		refuses bool // the primary's port refuses connections
		stream  bool
		primary func(*Target)
		want    want
	}{
		{name: "connect refused: retried once, then fail over", refuses: true,
			want: want{primaryAttempts: 2, answered: "b"}},
		{name: "silence (no headers): fail over at once after one timeout", fault: fakehttp.HangsBeforeHeaders(),
			primary: func(t *Target) { t.Timeout = 300 * time.Millisecond },
			want:    want{primaryAttempts: 1, answered: "b", minElapsed: 300 * time.Millisecond}},
		{name: "silent stream: one first-token timeout, then the fallback", fault: fakehttp.SlowFirstToken(time.Minute), stream: true,
			primary: func(t *Target) { t.Retry = &RetryOptions{FirstTokenTimeout: 300 * time.Millisecond} },
			want:    want{primaryAttempts: 1, answered: "b", minElapsed: 300 * time.Millisecond}},
		{name: "5xx once: retried with backoff on the same target", fault: fakehttp.Fails500Then(1),
			want: want{primaryAttempts: 2, answered: "a"}},
		{name: "5xx always: attempts used, then fail over", fault: fakehttp.AlwaysFails500(),
			want: want{primaryAttempts: 2, answered: "b"}},
		{name: "429 Retry-After 2s: waited once, answered by the primary", fault: fakehttp.RateLimitedWithRetryAfter(2 * time.Second),
			want: want{primaryAttempts: 2, answered: "a", minElapsed: 1500 * time.Millisecond}},
		{name: "429 Retry-After 2s on a stream: waited once", fault: fakehttp.RateLimitedWithRetryAfter(2 * time.Second), stream: true,
			want: want{primaryAttempts: 2, answered: "a", minElapsed: 1500 * time.Millisecond}},
		{name: "429 Retry-After 60s: fails over at once", fault: fakehttp.RateLimitedWithRetryAfter(time.Minute),
			want: want{primaryAttempts: 1, answered: "b"}},
		{name: "503 Retry-After 1s: waited once", fault: fakehttp.UnavailableWithRetryAfter(time.Second),
			want: want{primaryAttempts: 2, answered: "a", minElapsed: 700 * time.Millisecond}},
		{name: "401 (our key): fail over at once", primary: func(t *Target) { t.Model = "bad-key" },
			want: want{primaryAttempts: 1, answered: "b"}},
		{name: "context length: fail over to a larger window", fault: fakehttp.ContextTooLong(),
			primary: func(t *Target) { t.ContextWindow = 8192 },
			want:    want{primaryAttempts: 1, answered: "b"}},
		{name: "client error: returned as is, no failover", fault: fakehttp.ContentPolicyReject(),
			want: want{primaryAttempts: 1, kind: llm.KindInvalidRequest}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var url string
			var srv *fakehttp.Server
			if tt.refuses {
				url = fakehttp.RefusesConnections(t)
			} else {
				o := fakehttp.OpenAIOptions{Fault: tt.fault, Answer: func(*llm.Request) string { return "from a" }}
				srv = fakehttp.Start(t, fakehttp.OpenAI(o))
				url = srv.URL
			}
			good := fakehttp.Start(t, fakehttp.OpenAI(fakehttp.OpenAIOptions{Answer: func(*llm.Request) string { return "from b" }}))
			pa := Target{Provider: "a", Model: "a-model"}
			if tt.primary != nil {
				tt.primary(&pa)
			}
			pb := Target{Provider: "b", Model: "b-model", ContextWindow: 200000}
			o := testOptions([]Target{pa, pb})
			o.Providers = map[string]llm.Completer{"a": openaiClient(t, "a", url), "b": openaiClient(t, "b", good.URL)}
			if pa.Model == "bad-key" {
				bad := fakehttp.Start(t, fakehttp.OpenAI(fakehttp.OpenAIOptions{APIKey: "other"}))
				srv, o.Providers["a"] = bad, openaiClient(t, "a", bad.URL)
			}
			o.Retry.BackoffBase, o.Retry.BackoffMax = 20*time.Millisecond, 100*time.Millisecond
			o.RequestTimeout = 20 * time.Second
			o.Logger = slog.New(slog.NewTextHandler(tlog{t}, nil))
			r := mustNew(t, o)
			req := chatReq("m")
			req.Stream = tt.stream
			start := time.Now()
			got, err := answerText(r, req)
			el := time.Since(start)
			if el < tt.want.minElapsed || el > 10*time.Second {
				t.Errorf("took %v, want at least %v and far less than 10s", el, tt.want.minElapsed)
			}
			m := req.Meta.Values()
			primary := m.Attempts
			if tt.want.answered == "b" {
				primary--
			}
			if srv != nil && srv.Requests() != tt.want.primaryAttempts {
				t.Errorf("primary saw %d requests, want %d", srv.Requests(), tt.want.primaryAttempts)
			}
			if tt.want.answered == "" {
				if e := asLLM(t, err); e.Kind != tt.want.kind || good.Requests() != 0 {
					t.Fatalf("want %v from the primary alone, got %+v (fallback saw %d)", tt.want.kind, e, good.Requests())
				}
				return
			}
			if err != nil || got != "from "+tt.want.answered || m.Provider != tt.want.answered {
				t.Fatalf("client got %q, %v (meta %+v); want the answer of %s", got, err, m, tt.want.answered)
			}
			if primary != tt.want.primaryAttempts {
				t.Fatalf("%d attempts on the primary, want %d (meta %+v)", primary, tt.want.primaryAttempts, m)
			}
		})
	}
}

// answerText runs req as a completion or a stream and returns the text.
func answerText(r *Router, req *llm.Request) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if !req.Stream {
		resp, err := r.Complete(ctx, req)
		if err != nil {
			return "", err
		}
		return text(resp), nil
	}
	st, err := r.Stream(ctx, req)
	if err != nil {
		return "", err
	}
	defer st.Close()
	var out string
	for {
		c, err := st.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return out, err
		}
		for _, ch := range c.Choices {
			if ch.Delta.Content != nil {
				out += *ch.Delta.Content
			}
		}
	}
}

// TestPrimaryDownSixSecondsIsUsedAgainSoon: a primary down for 6 s trips
// its breaker; the adaptive open periods (1 s, 2 s, 4 s by default) bring
// it back within a few seconds of its recovery, not after a fixed 30 s.
func TestPrimaryDownSixSecondsIsUsedAgainSoon(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for about 10 s")
	}
	a := DownThenUp("a", "from a")
	b := Answers("b", "from b")
	o := testOptions([]Target{tg("a"), tg("b")}, a, b)
	o.Breaker = BreakerOptions{ConsecutiveFailures: 3} // defaults: 1 s first open, doubling, 60 s cap
	var probes atomic.Int64
	o.Breaker.OnStateChange = func(_, _, _, to string) {
		if to == "half-open" {
			probes.Add(1)
		}
	}
	r := mustNew(t, o)
	start := time.Now()
	recovered := start.Add(6 * time.Second)
	time.AfterFunc(6*time.Second, func() { a.down.Store(false) })
	var usedAgain time.Time
	for time.Since(start) < 16*time.Second {
		resp, err := r.Complete(context.Background(), chatReq("m"))
		if err != nil {
			t.Fatalf("request failed: %v", err)
		}
		if text(resp) == "from a" && time.Now().After(recovered) {
			usedAgain = time.Now()
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if usedAgain.IsZero() {
		t.Fatalf("primary not used again within 10 s of recovering (%d probes)", probes.Load())
	}
	if d := usedAgain.Sub(recovered); d > 5*time.Second {
		t.Fatalf("primary used again %v after recovering, want within a few seconds", d)
	}
	if n := probes.Load(); n > 5 {
		t.Fatalf("%d half-open periods over a 6 s outage: the open period did not grow", n)
	}
	t.Logf("primary used again %v after recovering, %d half-open periods, %d calls on it", usedAgain.Sub(recovered), probes.Load(), a.n())
}

type tlog struct{ t *testing.T }

func (l tlog) Write(p []byte) (int, error) { l.t.Log(string(p)); return len(p), nil }
