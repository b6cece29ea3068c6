package router

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"

	"llmrouter/llm"
)

// Coalescer is an llm.Completer that lets identical in-flight non-stream
// requests share one call to next. Requests are identical when tenant,
// model, tier and the whole request JSON are equal. Streams pass through,
// and so does a request with Cache-Control: no-cache (the client asked for
// a fresh answer, not one already on its way to someone else).
//
// The shared call runs on a context detached from every caller's
// cancellation, whose deadline is the latest deadline among the callers
// waiting for it (extended as callers join): a follower whose deadline
// expires leaves alone, and a leader whose client goes away leaves the call
// running for its followers. The call is canceled only when every caller
// has gone. Each caller gets its own copy of the Response (or error) and its
// own Meta values; each follower's copy carries its own response id (the
// leader keeps the upstream's). Safe for concurrent use.
type Coalescer struct {
	next  llm.Completer
	group singleflight.Group

	mu      sync.Mutex
	flights map[string]*flight
	key     func(*llm.Request) (string, error)

	followers atomic.Int64 // callers that joined a flight someone else started
	saved     atomic.Int64 // followers that got the shared call's outcome
	mFollow   prometheus.Counter
	mSaved    prometheus.Counter
}

// CoalescerOptions configures a Coalescer.
type CoalescerOptions struct {
	// Key returns the request key: equal strings only for requests that
	// deserve the same answer (same tenant, model, tier, messages and
	// answer-changing parameters), e.g. the cache's exact key, which is far
	// cheaper than encoding the request. nil means a hash of the request
	// JSON plus tenant, model and tier.
	Key func(*llm.Request) (string, error)
	// Registerer, when set, receives llmrouter_coalesced_followers_total and
	// llmrouter_coalesce_upstream_calls_saved_total.
	Registerer prometheus.Registerer
}

// CoalescerStats are the Coalescer's counters since it was built.
type CoalescerStats struct {
	// Followers is the number of callers that joined an identical call
	// already in flight instead of starting their own.
	Followers int64
	// Saved is the number of followers that received the shared call's
	// outcome: upstream calls that were not made.
	Saved int64
}

var _ llm.Completer = (*Coalescer)(nil)

// NewCoalescer returns a Coalescer in front of next that keys requests by
// a hash of their JSON encoding (plus tenant, model and tier).
func NewCoalescer(next llm.Completer) *Coalescer {
	return NewCoalescerWithKey(next, nil)
}

// NewCoalescerWithKey is NewCoalescer with the request key supplied by the
// caller: key must return equal strings only for requests that deserve the
// same answer (same tenant, model, tier, messages and answer-changing
// parameters), e.g. the cache's exact key, which is far cheaper than
// encoding the request. nil means the JSON-based key.
func NewCoalescerWithKey(next llm.Completer, key func(*llm.Request) (string, error)) *Coalescer {
	c, _ := NewCoalescerWith(next, CoalescerOptions{Key: key}) // no Registerer: cannot fail
	return c
}

// NewCoalescerWith returns a Coalescer in front of next configured by o.
// It fails only when o.Registerer refuses the metrics.
func NewCoalescerWith(next llm.Completer, o CoalescerOptions) (*Coalescer, error) {
	key := o.Key
	if key == nil {
		key = coalesceKey
	}
	c := &Coalescer{next: next, flights: map[string]*flight{}, key: key,
		mFollow: prometheus.NewCounter(prometheus.CounterOpts{Name: "llmrouter_coalesced_followers_total",
			Help: "Requests that joined an identical in-flight request instead of calling upstream."}),
		mSaved: prometheus.NewCounter(prometheus.CounterOpts{Name: "llmrouter_coalesce_upstream_calls_saved_total",
			Help: "Upstream calls not made because a follower got the shared answer (or error) of an identical in-flight request."}),
	}
	if o.Registerer != nil {
		for _, m := range []prometheus.Collector{c.mFollow, c.mSaved} {
			if err := o.Registerer.Register(m); err != nil {
				return nil, fmt.Errorf("coalescer: register metrics: %w", err)
			}
		}
	}
	return c, nil
}

// Stats returns the counters.
func (c *Coalescer) Stats() CoalescerStats {
	return CoalescerStats{Followers: c.followers.Load(), Saved: c.saved.Load()}
}

// flight is the shared state of one key's call: its waiters and deadline.
// Guarded by Coalescer.mu.
type flight struct {
	waiters  int
	deadline time.Time // latest caller deadline; zero when some caller has none
	noLimit  bool      // some caller has no deadline
	started  bool
	cancel   context.CancelCauseFunc
	timer    *time.Timer
}

type sharedResult struct {
	resp *llm.Response
	meta llm.MetaValues
}

// Stream passes through.
func (c *Coalescer) Stream(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	return c.next.Stream(ctx, req)
}

// Complete answers req, sharing one call to next with identical in-flight
// requests.
func (c *Coalescer) Complete(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	if req.Stream || req.CacheControl.NoCache {
		return c.next.Complete(ctx, req)
	}
	key, err := c.key(req)
	if err != nil {
		return c.next.Complete(ctx, req)
	}
	// The wait's span is the parent of the shared call's attempts when this
	// caller leads the flight.
	ctx, sp := llm.StartSpan(ctx, llm.SpanCoalesce)
	defer sp.End()
	c.mu.Lock()
	f := c.flights[key]
	joined := f != nil
	if f == nil {
		f = &flight{}
		c.flights[key] = f
	}
	f.join(ctx)
	// led is written by the call (which runs only for the caller that
	// started it) before its result is sent on ch, so reading it after
	// receiving from ch is ordered.
	var led bool
	// DoChan under c.mu: a caller that found f joins f's call, because the
	// call removes f from the map (under c.mu) before it returns.
	ch := c.group.DoChan(key, func() (any, error) { led = true; return c.run(ctx, key, f, req) })
	c.mu.Unlock()

	select {
	case res := <-ch:
		c.leave(key, f)
		if !led {
			c.followers.Add(1)
			c.mFollow.Inc()
			c.saved.Add(1)
			c.mSaved.Inc()
		}
		if sp.Recording() {
			sp.SetString("llmrouter.coalesced", strconv.FormatBool(res.Shared))
		}
		if sr, ok := res.Val.(*sharedResult); ok && res.Err != nil {
			req.Meta.Update(func(m *llm.MetaValues) { m.Attempts, m.Tried = sr.meta.Attempts, sr.meta.Tried })
		}
		if res.Err != nil {
			if e, ok := res.Err.(*llm.Error); ok {
				cp := *e
				return nil, &cp
			}
			return nil, res.Err
		}
		sr := res.Val.(*sharedResult)
		req.Meta.Update(func(m *llm.MetaValues) {
			m.Provider, m.Model, m.Attempts = sr.meta.Provider, sr.meta.Model, sr.meta.Attempts
			m.Tried = sr.meta.Tried
		})
		if !res.Shared {
			return sr.resp, nil // this caller alone got it: no copy needed
		}
		out := cloneResponse(sr.resp)
		if !led {
			out.ID = followerID(out.ID)
		}
		return out, nil
	case <-ctx.Done():
		c.leave(key, f)
		if joined {
			c.followers.Add(1) // a follower that gave up: counted, but saved nothing
			c.mFollow.Inc()
		}
		return nil, llm.AsError(ctx.Err())
	}
}

// followerID returns a fresh response id with id's prefix ("chatcmpl-"
// when id has none), so that no two clients see the same id.
func followerID(id string) string {
	prefix := "chatcmpl-"
	if i := strings.IndexByte(id, '-'); i > 0 {
		prefix = id[:i+1]
	}
	var b [12]byte
	_, _ = rand.Read(b[:])
	return prefix + "co" + hex.EncodeToString(b[:])
}

// run makes the shared call. first is the context of the caller that
// started it; only its values are used.
//
// run recovers a panic of next (singleflight would re-raise it on a
// goroutine of its own, which no one can recover): every waiter then gets a
// KindInternal error whose cause is an *llm.PanicError.
func (c *Coalescer) run(first context.Context, key string, f *flight, req *llm.Request) (res any, err error) {
	sctx, cancel := context.WithCancelCause(context.WithoutCancel(first))
	defer cancel(context.Canceled)
	defer func() {
		if v := recover(); v != nil {
			c.mu.Lock()
			if c.flights[key] == f {
				delete(c.flights, key)
			}
			if f.timer != nil {
				f.timer.Stop()
			}
			c.mu.Unlock()
			res, err = nil, llm.Recovered(v)
		}
	}()
	c.mu.Lock()
	f.started = true
	f.cancel = cancel
	f.armLocked()
	gone := f.waiters == 0
	c.mu.Unlock()
	if gone {
		cancel(context.Canceled)
	}

	r2 := *req
	r2.Meta = &llm.Meta{}
	resp, err := c.next.Complete(sctx, &r2)

	c.mu.Lock()
	if c.flights[key] == f {
		delete(c.flights, key)
	}
	if f.timer != nil {
		f.timer.Stop()
	}
	c.mu.Unlock()
	if err != nil {
		// The attempts of a failed call still go to every caller's Meta.
		return &sharedResult{meta: r2.Meta.Values()}, err
	}
	return &sharedResult{resp: resp, meta: r2.Meta.Values()}, nil
}

// join registers a waiter with ctx's deadline. Caller holds Coalescer.mu.
func (f *flight) join(ctx context.Context) {
	f.waiters++
	dl, ok := ctx.Deadline()
	switch {
	case !ok:
		f.noLimit = true
	case dl.After(f.deadline):
		f.deadline = dl
	}
	if f.started {
		f.armLocked()
	}
}

// armLocked (re)arms the shared call's deadline timer.
func (f *flight) armLocked() {
	if f.noLimit || f.deadline.IsZero() {
		if f.timer != nil {
			f.timer.Stop()
		}
		return
	}
	d := time.Until(f.deadline)
	if f.timer == nil {
		cancel := f.cancel
		f.timer = time.AfterFunc(d, func() { cancel(context.DeadlineExceeded) })
		return
	}
	f.timer.Reset(d)
}

// leave unregisters a waiter; the last one cancels a call nobody awaits.
func (c *Coalescer) leave(key string, f *flight) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f.waiters--
	if f.waiters > 0 {
		return
	}
	if f.started && f.cancel != nil {
		f.cancel(context.Canceled)
	}
	if !f.started && c.flights[key] == f {
		delete(c.flights, key)
	}
}

// coalesceKey hashes (tenant, model, tier, request JSON).
func coalesceKey(req *llm.Request) (string, error) {
	b, err := json.Marshal(req)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	var n [8]byte
	for _, s := range []string{req.Tenant, req.Model} {
		binary.LittleEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	h.Write([]byte{byte(req.Tier)})
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil)), nil
}

// cloneResponse copies r deeply enough that callers cannot affect one
// another through it.
func cloneResponse(r *llm.Response) *llm.Response {
	if r == nil {
		return nil
	}
	out := *r
	out.Choices = make([]llm.Choice, len(r.Choices))
	for i, ch := range r.Choices {
		ch.Message = cloneMessage(ch.Message)
		ch.Logprobs = append([]byte(nil), ch.Logprobs...)
		out.Choices[i] = ch
	}
	out.Usage = addUsage(nil, r.Usage)
	return &out
}

func cloneMessage(m llm.Message) llm.Message {
	if m.Content.Parts != nil {
		parts := make([]llm.ContentPart, len(m.Content.Parts))
		for i, p := range m.Content.Parts {
			if p.ImageURL != nil {
				u := *p.ImageURL
				p.ImageURL = &u
			}
			p.InputAudio = append([]byte(nil), p.InputAudio...)
			p.File = append([]byte(nil), p.File...)
			parts[i] = p
		}
		m.Content.Parts = parts
	}
	if m.ToolCalls != nil {
		tcs := make([]llm.ToolCall, len(m.ToolCalls))
		for i, tc := range m.ToolCalls {
			if tc.Index != nil {
				tc.Index = llm.Ptr(*tc.Index)
			}
			tcs[i] = tc
		}
		m.ToolCalls = tcs
	}
	if m.Refusal != nil {
		m.Refusal = llm.Ptr(*m.Refusal)
	}
	return m
}
