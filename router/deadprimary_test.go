package router

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"llmrouter/llm"
)

// deadPrimaryDuration is how long 50 clients run against a chain whose
// primary dies early in the run (the "done when" scenario). The
// fakes are in-process, so this is wall time, not load. -short cuts it.
const deadPrimaryDuration = 30 * time.Second

// TestDeadPrimaryUnderLoad: with a dead primary under 50 concurrent
// clients, no client request fails, and the dead target receives at most
// (configured failures + attempts of the clients already in flight) calls
// before its breaker first opens, and at most HalfOpenProbes calls per open
// period after that.
func TestDeadPrimaryUnderLoad(t *testing.T) {
	const (
		clients  = 50
		failures = 5
		probes   = 2
		openFor  = 200 * time.Millisecond
	)
	dur := deadPrimaryDuration
	if testing.Short() {
		dur = 3 * time.Second
	}

	var (
		opens      atomic.Int64 // transitions to open
		r          atomic.Pointer[Router]
		mu         sync.Mutex
		preTrip    int // dead calls before the first open
		stragglers int // dead calls that arrive while open (admitted before it opened)
		perPeriod  = map[int64]int{}
	)
	// The primary decides at the start of each call whether it is dead, so
	// calls in flight when it dies still answer; every later call fails.
	primary := DownThenUp("a", "from a")
	primary.down.Store(false)
	okCall, deadCall := Answers("a", "from a").complete, AlwaysFails500("a").complete
	primary.complete = func(ctx context.Context, req *llm.Request) (*llm.Response, error) {
		if !primary.down.Load() {
			time.Sleep(time.Millisecond)
			return okCall(ctx, req)
		}
		k := opens.Load()
		state := r.Load().Health()[0].State
		mu.Lock()
		switch {
		case k == 0:
			preTrip++
		case state == "open":
			stragglers++
		default:
			perPeriod[k]++
		}
		mu.Unlock()
		time.Sleep(time.Millisecond)
		return deadCall(ctx, req)
	}
	secondary := Answers("b", "from b")
	sc := secondary.complete
	secondary.complete = func(ctx context.Context, req *llm.Request) (*llm.Response, error) {
		time.Sleep(time.Millisecond)
		return sc(ctx, req)
	}
	o := testOptions([]Target{tg("a"), tg("b")}, primary, secondary)
	o.Breaker = BreakerOptions{ConsecutiveFailures: failures, OpenTimeout: openFor, HalfOpenProbes: probes,
		MaxOpenTimeout: 2 * openFor, // the period doubles once, then stays
		OnStateChange: func(p, _, _, to string) {
			if p == "a" && to == "open" {
				opens.Add(1)
			}
		}}
	rt := mustNew(t, o)
	r.Store(rt)

	ctx, cancel := context.WithTimeout(context.Background(), dur)
	defer cancel()
	time.AfterFunc(dur/6, func() { primary.down.Store(true) })

	var failed, total atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				resp, err := rt.Complete(context.Background(), chatReq("m"))
				total.Add(1)
				if err != nil || len(resp.Choices) != 1 {
					failed.Add(1)
					t.Errorf("client request failed: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	if failed.Load() != 0 {
		t.Fatalf("%d of %d client requests failed", failed.Load(), total.Load())
	}
	// Before the first trip every client in flight when the primary died may
	// spend all its attempts on it (the breaker admits calls while earlier
	// failures are still being counted), so the bound is the trip count plus
	// clients x attempts per target.
	if bound := failures + clients*o.Retry.MaxAttemptsPerTarget; preTrip+stragglers > bound {
		t.Fatalf("dead target got %d calls before its breaker opened (+%d admitted before, arriving after), want <= %d",
			preTrip, stragglers, bound)
	}
	n := opens.Load()
	minOpens := int64(dur*5/6/(2*openFor+50*time.Millisecond)) / 2
	if n < minOpens {
		t.Fatalf("breaker opened %d times, want at least %d over the dead period", n, minOpens)
	}
	for k, c := range perPeriod {
		if c > probes {
			t.Fatalf("open period %d: dead target got %d calls, want <= %d half-open probes", k, c, probes)
		}
	}
	most := 0
	for _, c := range perPeriod {
		most = max(most, c)
	}
	t.Logf("%d requests, %d open periods, %d dead calls before the first open, %d stragglers, at most %d calls per open period",
		total.Load(), n, preTrip, stragglers, most)
}
