package router

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	"llmrouter/llm"
)

// IdempotencyOptions configures an Idempotent decorator.
type IdempotencyOptions struct {
	// Window is how long a completed answer is replayed to a repeat of its
	// key. Default 10 min.
	Window time.Duration
	// MaxEntries bounds the keys remembered (in flight and completed);
	// beyond it the oldest completed ones are forgotten first. Default
	// 4096. A remembered stream holds all of its chunks.
	MaxEntries int
	// Fingerprint identifies what a request asks for. A key reused with a
	// different fingerprint, or once streamed and once not, is rejected
	// (KindInvalidRequest). nil: a hash of the request's JSON.
	Fingerprint func(*llm.Request) (string, error)
}

// Idempotent is an llm.Completer that honours the client's Idempotency-Key
// (llm.Request.IdempotencyKey), per tenant: a repeat that arrives while the
// first request is in flight joins it (a stream replays what was sent so
// far and then follows live); a repeat within Window of a successful
// answer gets that answer again without an upstream call. A failed or
// abandoned first request is forgotten, so a repeat runs anew. Requests
// without a key pass straight through. Safe for concurrent use; the state
// is per process (replicas do not share it).
type Idempotent struct {
	next llm.Completer
	o    IdempotencyOptions

	mu      sync.Mutex
	entries map[idemKey]*idemEntry
	order   []idemKey // insertion order, for expiry and the size bound
}

var _ llm.Completer = (*Idempotent)(nil)

type idemKey struct{ tenant, key string }

// idemEntry is one key's request. Fields after mu are guarded by it;
// changed is closed and replaced on every change.
type idemEntry struct {
	fp     string
	stream bool
	meta   *llm.Meta // the first request's, to report who answered

	mu       sync.Mutex
	changed  chan struct{}
	done     bool
	doneAt   time.Time
	err      error
	resp     *llm.Response
	chunks   []*llm.Chunk
	complete bool // done without error
}

// NewIdempotent wraps next.
func NewIdempotent(next llm.Completer, o IdempotencyOptions) *Idempotent {
	if o.Window <= 0 {
		o.Window = 10 * time.Minute
	}
	if o.MaxEntries <= 0 {
		o.MaxEntries = 4096
	}
	if o.Fingerprint == nil {
		o.Fingerprint = func(r *llm.Request) (string, error) {
			b, err := json.Marshal(r)
			if err != nil {
				return "", err
			}
			h := sha256.Sum256(b)
			return fmt.Sprintf("%x", h), nil
		}
	}
	return &Idempotent{next: next, o: o, entries: map[idemKey]*idemEntry{}}
}

// Len returns the number of remembered keys.
func (d *Idempotent) Len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.entries)
}

// claim returns the entry for req's key and whether the caller leads (must
// run the request and finish the entry), or an error for a key reused with
// a different request.
func (d *Idempotent) claim(req *llm.Request, stream bool) (*idemEntry, bool, error) {
	fp, err := d.o.Fingerprint(req)
	if err != nil {
		return nil, false, &llm.Error{Kind: llm.KindInternal, Message: "idempotency fingerprint", Err: err}
	}
	fp = fmt.Sprintf("%s/%v", fp, stream)
	k := idemKey{req.Tenant, req.IdempotencyKey}
	now := time.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	d.prune(now)
	if e := d.entries[k]; e != nil {
		e.mu.Lock()
		expired := e.done && (!e.complete || now.Sub(e.doneAt) >= d.o.Window)
		e.mu.Unlock()
		if !expired {
			if e.fp != fp {
				return nil, false, &llm.Error{Kind: llm.KindInvalidRequest, Param: "Idempotency-Key",
					Message: "this Idempotency-Key was already used with a different request"}
			}
			return e, false, nil
		}
	}
	e := &idemEntry{fp: fp, stream: stream, meta: req.Meta, changed: make(chan struct{})}
	if _, ok := d.entries[k]; !ok {
		d.order = append(d.order, k)
	}
	d.entries[k] = e
	return e, true, nil
}

// prune forgets expired and failed entries and, over MaxEntries, the
// oldest finished ones. Mu held.
func (d *Idempotent) prune(now time.Time) {
	over := len(d.entries) - d.o.MaxEntries + 1
	kept := d.order[:0]
	for _, k := range d.order {
		e := d.entries[k]
		if e == nil {
			continue
		}
		e.mu.Lock()
		drop := e.done && (!e.complete || now.Sub(e.doneAt) >= d.o.Window || over > 0)
		e.mu.Unlock()
		if drop {
			delete(d.entries, k)
			over--
			continue
		}
		kept = append(kept, k)
	}
	clear(d.order[len(kept):])
	d.order = kept
}

// replayed marks req's Meta as answered by the first request: an exact
// replay (no upstream call, no tokens billed) by the first one's target.
func (e *idemEntry) replayed(req *llm.Request) {
	first := e.meta.Values()
	req.Meta.Update(func(m *llm.MetaValues) {
		m.Cache, m.Provider, m.Model, m.Attempts = llm.CacheExact, first.Provider, first.Model, 0
	})
}

// finish records the outcome and wakes the followers.
func (e *idemEntry) finish(resp *llm.Response, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.done {
		return
	}
	e.done, e.doneAt, e.resp, e.err, e.complete = true, time.Now(), resp, err, err == nil
	close(e.changed)
}

// add appends a streamed chunk and wakes the followers.
func (e *idemEntry) add(c *llm.Chunk) {
	cp := *c
	cp.Choices = append([]llm.ChunkChoice(nil), c.Choices...)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.chunks = append(e.chunks, &cp)
	close(e.changed)
	e.changed = make(chan struct{})
}

// Complete runs req once per key (see Idempotent).
func (d *Idempotent) Complete(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	if req.IdempotencyKey == "" {
		return d.next.Complete(ctx, req)
	}
	e, lead, err := d.claim(req, false)
	if err != nil {
		return nil, err
	}
	if lead {
		resp, err := d.next.Complete(ctx, req)
		e.finish(resp, err)
		return resp, err
	}
	for {
		e.mu.Lock()
		done, ch, resp, err := e.done, e.changed, e.resp, e.err
		e.mu.Unlock()
		if done {
			if err != nil {
				return nil, err
			}
			e.replayed(req)
			cp := *resp
			cp.Choices = append([]llm.Choice(nil), resp.Choices...)
			return &cp, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, llm.AsError(ctx.Err())
		}
	}
}

// Stream runs req once per key (see Idempotent).
func (d *Idempotent) Stream(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	if req.IdempotencyKey == "" {
		return d.next.Stream(ctx, req)
	}
	e, lead, err := d.claim(req, true)
	if err != nil {
		return nil, err
	}
	if !lead {
		e.replayed(req)
		return &idemReplay{ctx: ctx, e: e, closed: make(chan struct{})}, nil
	}
	st, err := d.next.Stream(ctx, req)
	if err != nil {
		e.finish(nil, err)
		return nil, err
	}
	return &idemLead{Stream: st, e: e}, nil
}

// idemLead is the first request's stream: it records what it passes on.
type idemLead struct {
	llm.Stream
	e *idemEntry
}

func (s *idemLead) Recv() (*llm.Chunk, error) {
	c, err := s.Stream.Recv()
	switch {
	case err == io.EOF:
		s.e.finish(nil, nil)
	case err != nil:
		s.e.finish(nil, err)
	default:
		s.e.add(c)
	}
	return c, err
}

// Close ends the stream; an answer abandoned before its end is forgotten
// (followers get an error, later repeats run anew).
func (s *idemLead) Close() error {
	s.e.finish(nil, &llm.Error{Kind: llm.KindUpstreamError, Sent: true,
		Message: "the first request with this Idempotency-Key ended before its answer did"})
	return s.Stream.Close()
}

// idemReplay is a repeat's stream: the recorded chunks, then live ones.
type idemReplay struct {
	ctx    context.Context
	e      *idemEntry
	i      int
	closed chan struct{}
	once   sync.Once
}

func (s *idemReplay) Recv() (*llm.Chunk, error) {
	for {
		s.e.mu.Lock()
		n, done, err, ch := len(s.e.chunks), s.e.done, s.e.err, s.e.changed
		var c *llm.Chunk
		if s.i < n {
			cp := *s.e.chunks[s.i]
			cp.Choices = append([]llm.ChunkChoice(nil), cp.Choices...)
			c = &cp
		}
		s.e.mu.Unlock()
		switch {
		case c != nil:
			s.i++
			return c, nil
		case done && err == nil:
			return nil, io.EOF
		case done:
			e := *llm.AsError(err)
			e.Sent = e.Sent || s.i > 0
			return nil, &e
		}
		select {
		case <-ch:
		case <-s.closed:
			return nil, &llm.Error{Kind: llm.KindCanceled, Message: "stream closed"}
		case <-s.ctx.Done():
			return nil, llm.AsError(s.ctx.Err())
		}
	}
}

// Close unblocks Recv. Idempotent.
func (s *idemReplay) Close() error {
	s.once.Do(func() { close(s.closed) })
	return nil
}
