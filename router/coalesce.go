package router

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"llmrouter/llm"
)

// Coalescer is an llm.Completer that lets identical in-flight non-stream
// requests share one call to next. Requests are identical when tenant,
// model, tier and the whole request JSON are equal. Streams pass through.
//
// The shared call runs on a context detached from every caller's
// cancellation, whose deadline is the latest deadline among the callers
// waiting for it (extended as callers join); it is canceled when every
// caller has gone. Each caller gets its own copy of the Response (or
// error) and its own Meta values. Safe for concurrent use.
type Coalescer struct {
	next  llm.Completer
	group singleflight.Group

	mu      sync.Mutex
	flights map[string]*flight
	key     func(*llm.Request) (string, error)
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
	if key == nil {
		key = coalesceKey
	}
	return &Coalescer{next: next, flights: map[string]*flight{}, key: key}
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
	if req.Stream {
		return c.next.Complete(ctx, req)
	}
	key, err := c.key(req)
	if err != nil {
		return c.next.Complete(ctx, req)
	}
	c.mu.Lock()
	f := c.flights[key]
	if f == nil {
		f = &flight{}
		c.flights[key] = f
	}
	f.join(ctx)
	// DoChan under c.mu: a caller that found f joins f's call, because the
	// call removes f from the map (under c.mu) before it returns.
	ch := c.group.DoChan(key, func() (any, error) { return c.run(ctx, key, f, req) })
	c.mu.Unlock()

	select {
	case res := <-ch:
		c.leave(key, f)
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
		})
		if !res.Shared {
			return sr.resp, nil // this caller alone got it: no copy needed
		}
		return cloneResponse(sr.resp), nil
	case <-ctx.Done():
		c.leave(key, f)
		return nil, llm.AsError(ctx.Err())
	}
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
		return nil, err
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
