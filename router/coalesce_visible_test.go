package router

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"llmrouter/llm"
)

// TestCoalescer100Identical: 100 identical concurrent requests make exactly
// one upstream call; every client gets a complete answer with its own id,
// and the followers are counted as saved calls.
func TestCoalescer100Identical(t *testing.T) {
	release := make(chan struct{})
	up := gated(release)
	reg := prometheus.NewRegistry()
	c, err := NewCoalescerWith(up, CoalescerOptions{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	const n = 100
	var wg sync.WaitGroup
	resps := make([]*llm.Response, n)
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r := chatReq("m")
			r.Tenant = "t1"
			resps[i], errs[i] = c.Complete(context.Background(), r)
		}(i)
	}
	waitFor(t, func() bool { c.mu.Lock(); defer c.mu.Unlock(); return waiters(c) == n })
	close(release)
	wg.Wait()
	if up.n() != 1 {
		t.Fatalf("upstream calls %d, want 1", up.n())
	}
	ids := map[string]bool{}
	for i := range resps {
		if errs[i] != nil || text(resps[i]) != "shared answer" || resps[i].Choices[0].FinishReason != llm.FinishStop || resps[i].Usage == nil {
			t.Fatalf("client %d: %+v %v", i, resps[i], errs[i])
		}
		if ids[resps[i].ID] {
			t.Fatalf("client %d: id %q seen twice", i, resps[i].ID)
		}
		ids[resps[i].ID] = true
	}
	if !ids["chatcmpl-1"] {
		t.Fatal("the leader must keep the upstream id")
	}
	if s := c.Stats(); s.Followers != n-1 || s.Saved != n-1 {
		t.Fatalf("stats %+v, want %d followers and saved", s, n-1)
	}
	if got := counterValue(t, reg, "llmrouter_coalesce_upstream_calls_saved_total"); got != n-1 {
		t.Fatalf("saved metric %v", got)
	}
	if got := counterValue(t, reg, "llmrouter_coalesced_followers_total"); got != n-1 {
		t.Fatalf("followers metric %v", got)
	}
}

// TestCoalescerLeavers: a follower whose deadline expires leaves without
// cancelling the call; a leader whose client goes away leaves the call
// running for the followers; no-cache requests are never coalesced.
func TestCoalescerLeavers(t *testing.T) {
	cases := []struct {
		name       string
		leaderGoes bool // else a follower times out
	}{
		{"follower deadline expires", false},
		{"leader client goes away", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			release := make(chan struct{})
			up := gated(release)
			c := NewCoalescer(up)
			leaderCtx, cancelLeader := context.WithCancel(context.Background())
			defer cancelLeader()
			type res struct {
				resp *llm.Response
				err  error
			}
			leader := make(chan res, 1)
			go func() { r, err := c.Complete(leaderCtx, chatReq("m")); leader <- res{r, err} }()
			waitFor(t, func() bool { return up.n() == 1 })
			fctx, cancelF := context.WithTimeout(context.Background(), 30*time.Millisecond)
			defer cancelF()
			if tc.leaderGoes {
				fctx = context.Background()
			}
			follower := make(chan res, 1)
			go func() { r, err := c.Complete(fctx, chatReq("m")); follower <- res{r, err} }()
			waitFor(t, func() bool { c.mu.Lock(); defer c.mu.Unlock(); return waiters(c) == 2 })
			var gone, stays chan res
			if tc.leaderGoes {
				cancelLeader()
				gone, stays = leader, follower
			} else {
				gone, stays = follower, leader
			}
			if r := <-gone; r.err == nil {
				t.Fatal("the caller that left must get its context error")
			}
			close(release)
			if r := <-stays; r.err != nil || text(r.resp) != "shared answer" {
				t.Fatalf("remaining caller: %v", r.err)
			}
			if up.n() != 1 {
				t.Fatalf("calls %d", up.n())
			}
			if s := c.Stats(); s.Followers != 1 {
				t.Fatalf("stats %+v", s)
			}
		})
	}
	t.Run("no-cache opts out", func(t *testing.T) {
		release := make(chan struct{})
		up := gated(release)
		c := NewCoalescer(up)
		var wg sync.WaitGroup
		for i := 0; i < 3; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := chatReq("m")
				r.CacheControl.NoCache = true
				if _, err := c.Complete(context.Background(), r); err != nil {
					t.Error(err)
				}
			}()
		}
		waitFor(t, func() bool { return up.n() == 3 })
		close(release)
		wg.Wait()
		if s := c.Stats(); s.Followers != 0 {
			t.Fatalf("stats %+v", s)
		}
	})
}

// counterValue sums the samples of the named counter or histogram count.
func counterValue(t *testing.T, g prometheus.Gatherer, name string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			switch {
			case m.Counter != nil:
				sum += m.Counter.GetValue()
			case m.Histogram != nil:
				sum += float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return sum
}
