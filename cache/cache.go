// Package cache is llmrouter's response cache: an llm.Completer decorator in
// front of the router with two layers.
//
// The exact layer (ristretto, in process, bounded in bytes, TTL) answers a
// request that is identical to an earlier one: same tenant and namespace
// version, model alias, tier, messages and every answer-changing parameter
// (see ExactKey).
//
// The semantic layer embeds the final user turn and looks for a stored entry
// in the same scope (everything but that turn must match exactly, see
// ScopeKey) whose similarity reaches the threshold and which the guard
// accepts. Its backend is a Store: pgvector shared by replicas (PGStore) or
// in process (MemStore).
//
// Only complete, successful answers are stored: never errors, never a cut
// stream. Writes to the semantic store leave the request path through a
// bounded queue. A backend failure is a miss, never a client error.
//
// Cacheability rules: requests asking for logprobs bypass both layers (a
// replay could not reproduce them). The semantic layer is skipped (exact
// still applies) for final user turns shorter than MinPromptChars, for
// tool-calling conversations (tools offered, tool calls or tool results in
// the history), for n > 1, for temperature above MaxTemperature, and for
// messages with non-text parts (images, audio, files).
package cache

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/dgraph-io/ristretto/v2"

	"llmrouter/embeddings"
	"llmrouter/llm"
)

// Cache is the caching llm.Completer. Safe for concurrent use.
type Cache struct {
	next  llm.Completer
	o     Options
	exact *ristretto.Cache[uint64, *exactEntry]
	store Store
	emb   embeddings.Embedder // nil when the semantic layer is off
	m     *metrics

	writes    chan Entry
	stop      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
	closed    atomic.Bool
}

var _ llm.Completer = (*Cache)(nil)

type exactEntry struct {
	key      Key
	resp     *llm.Response // never modified; hits get a copy (sharing resp.Encodings)
	provider string
	expires  time.Time

	replayOnce sync.Once
	replay     []*llm.Encodings // one per chunk of the replay of resp
}

// replayEncodings returns the Encodings of the n chunks a replay of e has
// (the same n on every hit: the replay is a function of e.resp).
func (e *exactEntry) replayEncodings(n int) []*llm.Encodings {
	e.replayOnce.Do(func() {
		e.replay = make([]*llm.Encodings, n)
		for i := range e.replay {
			e.replay[i] = new(llm.Encodings)
		}
	})
	if len(e.replay) != n {
		return nil
	}
	return e.replay
}

// New returns a Cache in front of next. It starts the semantic writer and
// the purge job when the semantic layer is on; Close stops them.
func New(next llm.Completer, o Options) (*Cache, error) {
	if next == nil {
		return nil, llm.NewError(llm.KindInternal, "cache: nil next completer")
	}
	o.setDefaults()
	c := &Cache{next: next, o: o, store: o.Store, stop: make(chan struct{})}
	if c.store == nil {
		c.store = NewMemStore(o.Semantic.MaxEntries)
	}
	if !o.Semantic.Disabled && o.Embedder != nil {
		c.emb = o.Embedder
	}
	c.m = newMetrics(o.Registerer, func() float64 {
		if c.storeUp() {
			return 1
		}
		return 0
	})
	if !o.Exact.Disabled {
		counters := max(o.Exact.MaxBytes/1024*10, 10_000)
		ex, err := ristretto.NewCache(&ristretto.Config[uint64, *exactEntry]{
			NumCounters: counters, MaxCost: o.Exact.MaxBytes, BufferItems: 64,
			IgnoreInternalCost: true,
			// The key is the first 8 bytes of the SHA-256 key; the full key
			// is compared on every hit, so a 64-bit clash is a miss.
			KeyToHash: func(k uint64) (uint64, uint64) { return k, 0 },
		})
		if err != nil {
			return nil, &llm.Error{Kind: llm.KindInternal, Message: "cache: exact layer", Err: err}
		}
		c.exact = ex
	}
	if c.emb != nil {
		c.writes = make(chan Entry, o.Semantic.WriteQueue)
		c.wg.Add(1)
		go c.writer()
		if o.Semantic.PurgeInterval > 0 {
			c.wg.Add(1)
			go c.purger()
		}
	}
	return c, nil
}

// plan is what the cache decided to do with one request.
type plan struct {
	tenant  string
	ns      int64
	read    bool // look up (no Cache-Control: no-cache)
	write   bool // store the answer (no no-store)
	exactOK bool
	key     Key
	semOK   bool
	scope   Key
	prompt  string
	want    int // choices a complete answer has
}

func (c *Cache) plan(ctx context.Context, req *llm.Request) plan {
	p := plan{tenant: req.Tenant, read: !req.CacheControl.NoCache, write: !req.CacheControl.NoStore, want: 1}
	if req.N != nil && *req.N > 1 {
		p.want = *req.N
	}
	if req.Logprobs != nil && *req.Logprobs || !p.read && !p.write {
		return p
	}
	p.exactOK = c.exact != nil
	p.semOK = c.emb != nil && c.storeUp() && c.semanticEligible(req)
	if !p.exactOK && !p.semOK {
		return p
	}
	p.ns = c.version(ctx, req.Tenant)
	if p.exactOK {
		p.key = ExactKey(p.tenant, p.ns, req)
	}
	if p.semOK {
		p.prompt = req.LastUserText()
		p.scope = ScopeKey(p.tenant, p.ns, req, c.emb.Name(), c.emb.Dim())
	}
	return p
}

// semanticEligible applies the semantic cacheability rules (package doc).
func (c *Cache) semanticEligible(req *llm.Request) bool {
	s := &c.o.Semantic
	if len(req.Tools) > 0 || len(req.ToolChoice) > 0 {
		return false
	}
	if req.N != nil && *req.N > 1 {
		return false
	}
	if req.Temperature != nil && *req.Temperature > s.MaxTemperature {
		return false
	}
	for i := range req.Messages {
		m := &req.Messages[i]
		if m.Role == "tool" || m.Role == "function" || len(m.ToolCalls) > 0 || m.ToolCallID != "" {
			return false
		}
		for _, part := range m.Content.Parts {
			if part.Type != "text" {
				return false
			}
		}
	}
	text := req.LastUserText()
	if len(text) > s.MaxPromptBytes {
		c.m.skipped.WithLabelValues("too_long").Inc()
		return false
	}
	return utf8.RuneCountInString(text) >= s.MinPromptChars
}

// version reads the tenant's namespace version; a failing store counts as
// version 0 only for stores without a fallback (PGStore keeps the last one
// it saw).
func (c *Cache) version(ctx context.Context, tenant string) int64 {
	ctx, cancel := context.WithTimeout(ctx, c.o.Semantic.SearchTimeout)
	defer cancel()
	v, err := c.store.Version(ctx, tenant)
	if err != nil {
		c.m.errors.WithLabelValues("version").Inc()
	}
	return v
}

func (c *Cache) storeUp() bool {
	if h, ok := c.store.(healthReporter); ok {
		return h.Up()
	}
	return true
}

// hit is a found answer.
type hit struct {
	exact    *exactEntry // an exact hit's entry, else nil
	resp     *llm.Response
	provider string
	outcome  string
	sim      float64
}

// find looks p up in the exact layer, then the semantic one.
func (c *Cache) find(ctx context.Context, req *llm.Request, p *plan) (hit, bool) {
	now := c.o.Now()
	if p.exactOK {
		_, sp := llm.StartSpan(ctx, llm.SpanExactCache)
		e, ok := c.exact.Get(keyHash(p.key))
		found := ok && e.key == p.key && now.Before(e.expires)
		if sp.Recording() {
			sp.SetString("llmrouter.cache.result", hitOrMiss(found))
		}
		sp.End()
		if found {
			return hit{exact: e, resp: e.resp, provider: e.provider, outcome: llm.CacheExact}, true
		}
	}
	if !p.semOK {
		return hit{}, false
	}
	ctx, sp := llm.StartSpan(ctx, llm.SpanSemantic)
	defer sp.End()
	h, ok := c.findSemantic(ctx, req, p)
	if sp.Recording() {
		sp.SetString("llmrouter.cache.result", hitOrMiss(ok))
		if ok {
			sp.SetFloat("llmrouter.similarity", h.sim)
		}
	}
	return h, ok
}

func hitOrMiss(hit bool) string {
	if hit {
		return "hit"
	}
	return "miss"
}

// findSemantic embeds the prompt and searches the semantic store.
func (c *Cache) findSemantic(ctx context.Context, req *llm.Request, p *plan) (hit, bool) {
	vec, ok := c.embed(ctx, p.prompt)
	if !ok {
		return hit{}, false
	}
	sctx, cancel := context.WithTimeout(ctx, c.o.Semantic.SearchTimeout)
	matches, err := c.store.Search(sctx, p.tenant, p.scope, vec, c.o.Semantic.TopK)
	cancel()
	if err != nil {
		c.m.errors.WithLabelValues("search").Inc()
		c.o.Logger.Debug("semantic search failed", "err", err)
		return hit{}, false
	}
	thr := c.o.Semantic.threshold(req)
	for _, m := range matches {
		if m.Similarity < thr {
			c.m.rejected.WithLabelValues("threshold").Inc()
			break
		}
		if ok, reason := c.o.Semantic.Guard(m.Prompt, p.prompt); !ok {
			c.m.rejected.WithLabelValues("guard").Inc()
			c.o.Logger.Debug("semantic candidate rejected by guard", "reason", reason, "similarity", m.Similarity)
			continue
		}
		if ok, reason := c.templateOK(ctx, m.Prompt, p.prompt, thr); !ok {
			c.m.rejected.WithLabelValues("template").Inc()
			c.o.Logger.Debug("semantic candidate rejected: shared template", "reason", reason, "similarity", m.Similarity)
			continue
		}
		return hit{resp: m.Response, provider: m.Provider, outcome: llm.CacheSemantic, sim: m.Similarity}, true
	}
	return hit{}, false
}

func (c *Cache) embed(ctx context.Context, text string) ([]float32, bool) {
	ctx, sp := llm.StartSpan(ctx, llm.SpanEmbed)
	defer sp.End()
	ctx, cancel := context.WithTimeout(ctx, c.o.Semantic.EmbedTimeout)
	defer cancel()
	vecs, err := c.emb.Embed(ctx, []string{text})
	if err != nil || len(vecs) != 1 || len(vecs[0]) != c.emb.Dim() {
		c.m.errors.WithLabelValues("embed").Inc()
		return nil, false
	}
	return vecs[0], true
}

func keyHash(k Key) uint64 {
	return uint64(k[0]) | uint64(k[1])<<8 | uint64(k[2])<<16 | uint64(k[3])<<24 |
		uint64(k[4])<<32 | uint64(k[5])<<40 | uint64(k[6])<<48 | uint64(k[7])<<56
}

func (c *Cache) report(req *llm.Request, outcome string, h *hit) {
	c.m.lookups.WithLabelValues(outcome).Inc()
	req.Meta.Update(func(v *llm.MetaValues) {
		v.Cache = outcome
		if h != nil {
			v.Model = h.resp.Model
			v.Provider = h.provider
			v.Similarity = h.sim
		}
	})
}

func (p *plan) outcomeOnMiss() string {
	if !p.read || !p.exactOK && !p.semOK {
		return llm.CacheBypass
	}
	return llm.CacheMiss
}

// Complete answers from the cache when it can, else asks next and stores a
// complete answer. A hit is a copy with a fresh id (an exact hit's carries
// the entry's llm.Encodings, so the edge writes it without encoding); Meta reports the
// outcome, the similarity of a semantic hit, and the model and provider
// that made the cached answer. The usage of a hit is the original answer's.
func (c *Cache) Complete(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	p := c.plan(ctx, req)
	if p.read {
		if h, ok := c.find(ctx, req, &p); ok {
			c.report(req, h.outcome, &h)
			return hitResponse(h.resp, c.o.Now()), nil
		}
	}
	c.report(req, p.outcomeOnMiss(), nil)
	resp, err := c.next.Complete(ctx, req)
	if err != nil || resp == nil || !p.write || !p.exactOK && !p.semOK {
		return resp, err
	}
	c.save(&p, req.Meta.Values().Provider, cloneResponse(resp))
	return resp, nil
}

// Stream is Complete for streams: a hit is replayed with the chunk shapes of
// a live stream; a miss is passed through and recorded, and stored only if
// it ends with io.EOF and a finish reason on every choice.
func (c *Cache) Stream(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	p := c.plan(ctx, req)
	if p.read {
		if h, ok := c.find(ctx, req, &p); ok {
			c.report(req, h.outcome, &h)
			chunks := replayChunks(hitResponse(h.resp, c.o.Now()))
			if h.exact != nil {
				if enc := h.exact.replayEncodings(len(chunks)); enc != nil {
					for i := range chunks {
						chunks[i].Encodings = enc[i]
					}
				}
			}
			return &replayStream{chunks: chunks}, nil
		}
	}
	c.report(req, p.outcomeOnMiss(), nil)
	s, err := c.next.Stream(ctx, req)
	if err != nil || !p.write || !p.exactOK && !p.semOK {
		return s, err
	}
	meta := req.Meta
	return &recordingStream{up: s, want: p.want, done: func(r *llm.Response) {
		c.save(&p, meta.Values().Provider, r)
	}}, nil
}

// storable reports a complete answer that a replay reproduces: want
// choices, each finished by stop, length or tool_calls, without logprobs.
func storable(r *llm.Response, want int, finishes ...string) bool {
	if len(r.Choices) != want {
		return false
	}
	for i := range r.Choices {
		ch := &r.Choices[i]
		if len(ch.Logprobs) > 0 && string(ch.Logprobs) != "null" {
			return false
		}
		ok := false
		for _, f := range finishes {
			ok = ok || ch.FinishReason == f
		}
		if !ok {
			return false
		}
	}
	return true
}

// save stores r (owned by the cache from now on) in the enabled layers.
func (c *Cache) save(p *plan, provider string, r *llm.Response) {
	now := c.o.Now()
	if p.exactOK && storable(r, p.want, llm.FinishStop, llm.FinishLength, llm.FinishToolCalls) {
		r.Encodings = new(llm.Encodings)
		e := &exactEntry{key: p.key, resp: r, provider: provider, expires: now.Add(c.o.Exact.TTL)}
		if c.exact.SetWithTTL(keyHash(p.key), e, responseCost(r), c.o.Exact.TTL) {
			// Ristretto applies sets on its own goroutine. Waiting here (a
			// channel round trip, on the miss path only, before the client
			// has its answer) means a client that sends the same request
			// again as soon as it has the first answer gets a hit.
			c.exact.Wait()
		}
	}
	if p.semOK && storable(r, 1, llm.FinishStop, llm.FinishLength) && r.Choices[0].Message.Content.Text() != "" {
		c.enqueue(Entry{Scope: p.scope, Tenant: p.tenant, Namespace: p.ns, Embedder: c.emb.Name(),
			Prompt: p.prompt, Response: r, Provider: provider, Expires: now.Add(c.o.Semantic.TTL)})
	}
}

// responseCost approximates the bytes an entry holds.
func responseCost(r *llm.Response) int64 {
	n := 512 + len(r.ID) + len(r.Model) + len(r.SystemFingerprint)
	for i := range r.Choices {
		m := &r.Choices[i].Message
		n += 256 + len(m.Content.Str) + len(m.ReasoningContent)
		for _, p := range m.Content.Parts {
			n += 64 + len(p.Text)
		}
		for _, tc := range m.ToolCalls {
			n += 128 + len(tc.ID) + len(tc.Function.Name) + len(tc.Function.Arguments)
		}
	}
	return int64(n)
}

// Wait blocks until the exact layer has applied every earlier store.
// Stores made through the cache already wait; this is for callers that
// must see the layer settled (tests of eviction and metrics).
func (c *Cache) Wait() {
	if c.exact != nil {
		c.exact.Wait()
	}
}

// Invalidate makes every cached answer of tenant unreachable, in both
// layers, by bumping its namespace version in the Store. With PGStore the
// bump is in the database, so every replica sharing it sees it on its next
// request.
func (c *Cache) Invalidate(ctx context.Context, tenant string) error {
	if _, err := c.store.Bump(ctx, tenant); err != nil {
		return &llm.Error{Kind: llm.KindInternal, Message: "cache invalidation failed", Err: err}
	}
	return nil
}

// Health is the cache's readiness.
type Health struct {
	// Status is "ok", or "degraded" when the semantic layer is configured
	// but its store is down (the exact layer keeps working).
	Status   string
	Exact    bool // exact layer on
	Semantic bool // semantic layer configured
	StoreUp  bool // the semantic store answers
}

// Health reports the cache's state for /readyz.
func (c *Cache) Health() Health {
	h := Health{Status: "ok", Exact: c.exact != nil, Semantic: c.emb != nil, StoreUp: c.storeUp()}
	if !h.StoreUp {
		h.Status = "degraded"
	}
	return h
}

// Close stops the background jobs, draining pending semantic writes for at
// most Semantic.CloseTimeout, and releases the exact layer. It does not
// close the Store. Idempotent; requests after Close are passed through to
// next (every lookup misses, nothing is stored).
func (c *Cache) Close() error {
	c.closeOnce.Do(func() {
		c.closed.Store(true)
		close(c.stop)
		c.wg.Wait()
		if c.exact != nil {
			c.exact.Close() // later Gets miss and Sets are no-ops
		}
	})
	return nil
}
