package router

import (
	"context"
	"sync"
	"testing"
	"time"

	"llmrouter/llm"
)

// gated answers once release is closed, and counts its calls.
func gated(release <-chan struct{}) *fake {
	return &fake{name: "g",
		complete: func(ctx context.Context, req *llm.Request) (*llm.Response, error) {
			select {
			case <-release:
				req.Meta.Update(func(m *llm.MetaValues) { m.Provider, m.Model, m.Attempts = "g", "g-model", 1 })
				return response("g-model", "shared answer"), nil
			case <-ctx.Done():
				return nil, llm.AsError(ctx.Err())
			}
		},
		stream: func(ctx context.Context, req *llm.Request) (llm.Stream, error) {
			return newScript(ctx, req.Model, words("streamed"), endEOF, nil), nil
		},
	}
}

func TestCoalescerSharesOneCall(t *testing.T) {
	release := make(chan struct{})
	up := gated(release)
	c := NewCoalescer(up)

	const n = 10
	var wg sync.WaitGroup
	resps := make([]*llm.Response, n)
	reqs := make([]*llm.Request, n)
	errs := make([]error, n)
	// The first caller gives up early: the others must still get the answer.
	firstCtx, cancelFirst := context.WithCancel(context.Background())
	for i := 0; i < n; i++ {
		reqs[i] = chatReq("m")
		reqs[i].Tenant = "t1"
		ctx := context.Background()
		if i == 0 {
			ctx = firstCtx
		}
		wg.Add(1)
		go func(i int, ctx context.Context) {
			defer wg.Done()
			resps[i], errs[i] = c.Complete(ctx, reqs[i])
		}(i, ctx)
		if i == 0 {
			waitFor(t, func() bool { return up.n() == 1 })
		}
	}
	waitFor(t, func() bool { c.mu.Lock(); defer c.mu.Unlock(); return waiters(c) == n })
	cancelFirst()
	waitFor(t, func() bool { c.mu.Lock(); defer c.mu.Unlock(); return waiters(c) == n-1 })
	close(release)
	wg.Wait()

	if up.n() != 1 {
		t.Fatalf("upstream saw %d calls, want 1", up.n())
	}
	if e := asLLM(t, errs[0]); e.Kind != llm.KindCanceled {
		t.Fatalf("first caller: %v", e)
	}
	for i := 1; i < n; i++ {
		if errs[i] != nil || text(resps[i]) != "shared answer" {
			t.Fatalf("caller %d: %v %v", i, resps[i], errs[i])
		}
		if m := reqs[i].Meta.Values(); m.Provider != "g" || m.Attempts != 1 {
			t.Fatalf("caller %d meta %+v", i, m)
		}
	}
	// Each caller owns its copy.
	resps[1].Choices[0].Message.Content = llm.TextContent("tampered")
	resps[1].Usage.PromptTokens = 999
	if text(resps[2]) != "shared answer" || resps[2].Usage.PromptTokens == 999 {
		t.Fatal("callers share response memory")
	}
}

func waiters(c *Coalescer) int {
	n := 0
	for _, f := range c.flights {
		n += f.waiters
	}
	return n
}

func TestCoalescerKeysAndPassThrough(t *testing.T) {
	release := make(chan struct{})
	close(release)
	up := gated(release)
	c := NewCoalescer(up)
	a, b := chatReq("m"), chatReq("m")
	a.Tenant, b.Tenant = "t1", "t2"
	ka, _ := coalesceKey(a)
	kb, _ := coalesceKey(b)
	b.Tenant = "t1"
	b.Tier = llm.TierLarge
	kc, _ := coalesceKey(b)
	b.Tier = a.Tier
	kd, _ := coalesceKey(b)
	if ka == kb || ka == kc || ka != kd {
		t.Fatal("key must separate tenants and tiers and match identical requests")
	}
	st, err := c.Stream(context.Background(), streamReq("m"))
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := drain(t, st)
	_ = st.Close()
	if err != nil || got != "streamed" || up.n() != 1 {
		t.Fatalf("stream pass-through: %q %v calls %d", got, err, up.n())
	}
	if _, err := c.Complete(context.Background(), a); err != nil || up.n() != 2 {
		t.Fatalf("sequential requests are not coalesced: %v, calls %d", err, up.n())
	}
	if _, err := c.Complete(context.Background(), a); err != nil || up.n() != 3 {
		t.Fatalf("sequential requests are not coalesced: %v, calls %d", err, up.n())
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.flights) != 0 {
		t.Fatalf("flights leaked: %d", len(c.flights))
	}
}

// TestCoalescerDeadlineIsTheLatest: the shared call lives until the
// latest waiting caller's deadline, not the first one's.
func TestCoalescerDeadlineIsTheLatest(t *testing.T) {
	release := make(chan struct{})
	up := gated(release)
	c := NewCoalescer(up)
	// The short deadline must outlast the second caller's joining (checked
	// below through the flight's waiter count), or the two would not share.
	short, cancel1 := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel1()
	long, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	errc := make(chan error, 2)
	go func() { _, err := c.Complete(short, chatReq("m")); errc <- err }()
	waitFor(t, func() bool { return up.n() == 1 })
	var resp *llm.Response
	go func() {
		var err error
		resp, err = c.Complete(long, chatReq("m"))
		errc <- err
	}()
	waitFor(t, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, f := range c.flights {
			if f.waiters == 2 {
				return true
			}
		}
		return false
	})
	if e := asLLM(t, <-errc); e.Kind != llm.KindTimeout {
		t.Fatalf("short caller: %v", e)
	}
	time.Sleep(100 * time.Millisecond) // past the first deadline
	close(release)
	if err := <-errc; err != nil || text(resp) != "shared answer" {
		t.Fatalf("long caller: %v", err)
	}
	if up.n() != 1 {
		t.Fatalf("calls %d", up.n())
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(time.Millisecond)
	}
}
