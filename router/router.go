package router

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"llmrouter/llm"
)

// Router routes requests over the configured chains. It implements
// llm.Completer, llm.Embedder and llm.ModelLister and is safe for concurrent
// use. Every request runs on the snapshot it loaded at its start; Update
// swaps the snapshot for later requests.
type Router struct {
	snap     atomic.Pointer[snapshot]
	updateMu sync.Mutex // serialises Update
}

var (
	_ llm.Completer   = (*Router)(nil)
	_ llm.Embedder    = (*Router)(nil)
	_ llm.ModelLister = (*Router)(nil)
)

// target is a Target bound to its client and shared health state.
type target struct {
	Target
	provider llm.Completer
	state    *targetState
	retry    RetryOptions // Options.Retry merged with Target.Retry
}

type tierChain struct {
	chain       []*target
	onExhausted string
}

// snapshot is an immutable routing table plus the health states of its
// targets.
type snapshot struct {
	opts    Options
	log     *slog.Logger
	aliases map[string][]*target
	auto    map[string]bool
	tiers   map[llm.Tier]tierChain
	states  []*targetState // sorted by key, for Health and metrics
	models  []string
}

// New validates o and returns a Router. It registers the breaker gauge with
// o.Registerer when set.
func New(o Options) (*Router, error) {
	r := &Router{}
	s, err := buildSnapshot(o, nil)
	if err != nil {
		return nil, err
	}
	r.snap.Store(s)
	if o.Registerer != nil {
		if err := o.Registerer.Register(newBreakerCollector(r)); err != nil {
			return nil, fmt.Errorf("router: register metrics: %w", err)
		}
	}
	return r, nil
}

// Update validates o and swaps it in. A target's breaker and set-aside
// survive when the new config still has the same (provider, model), the
// provider client is the same instance and the breaker settings are
// unchanged; otherwise the target starts closed. In-flight requests finish
// on the old snapshot. On error the old snapshot stays.
func (r *Router) Update(o Options) error {
	r.updateMu.Lock()
	defer r.updateMu.Unlock()
	s, err := buildSnapshot(o, r.snap.Load())
	if err != nil {
		return err
	}
	r.snap.Store(s)
	return nil
}

func buildSnapshot(o Options, old *snapshot) (*snapshot, error) {
	o.applyDefaults()
	if err := o.validate(); err != nil {
		return nil, err
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &snapshot{opts: o, log: log, aliases: map[string][]*target{}, auto: map[string]bool{},
		tiers: map[llm.Tier]tierChain{}}
	// Providers map is copied so a caller mutating theirs cannot race us.
	providers := make(map[string]llm.Completer, len(o.Providers))
	for k, v := range o.Providers {
		providers[k] = v
	}
	s.opts.Providers = providers
	s.opts.Aliases, s.opts.Tiers, s.opts.AliasRetry = nil, nil, nil

	oldStates := map[targetKey]*targetState{}
	if old != nil {
		for _, ts := range old.states {
			oldStates[ts.key] = ts
		}
	}
	states := map[targetKey]*targetState{}
	var bindErr error
	bind := func(chain []Target, aliasRetry *RetryOptions) []*target {
		out := make([]*target, len(chain))
		for i, t := range chain {
			k := targetKey{t.Provider, t.Model}
			p := providers[t.Provider]
			bo := mergeBreaker(o.Breaker, t.Breaker)
			ts := states[k]
			switch {
			case ts == nil:
				if prev := oldStates[k]; prev != nil && sameProvider(prev.provider, p) && sameBreakerSettings(prev.cb.o, bo) {
					ts = prev
				} else {
					ts = newTargetState(k, p, bo, log)
				}
				states[k] = ts
			case !sameBreakerSettings(ts.cb.o, bo) && bindErr == nil:
				bindErr = fmt.Errorf("router: target %s has different breaker settings in different chains", t)
			}
			out[i] = &target{Target: t, provider: p, state: ts, retry: mergeRetry(mergeRetry(o.Retry, aliasRetry), t.Retry)}
		}
		return out
	}
	for name, chain := range o.Aliases {
		s.aliases[name] = bind(chain, o.AliasRetry[name])
		s.models = append(s.models, name)
	}
	for _, a := range o.Auto {
		if !s.auto[a] {
			s.auto[a] = true
			s.models = append(s.models, a)
		}
	}
	for tier, p := range o.Tiers {
		s.tiers[tier] = tierChain{chain: bind(p.Chain, nil), onExhausted: p.OnExhausted}
	}
	if bindErr != nil {
		return nil, bindErr
	}
	sort.Strings(s.models)
	for _, ts := range states {
		s.states = append(s.states, ts)
	}
	sort.Slice(s.states, func(i, j int) bool {
		a, b := s.states[i].key, s.states[j].key
		return a.provider < b.provider || a.provider == b.provider && a.model < b.model
	})
	return s, nil
}

func sameBreakerSettings(a, b BreakerOptions) bool {
	type settings struct {
		f, n     uint32
		r, ob    float64
		w, o, mo time.Duration
		probes   uint32
		hookAddr uintptr
	}
	key := func(o BreakerOptions) settings {
		return settings{o.ConsecutiveFailures, o.MinRequests, o.FailureRatio, o.OpenBackoff, o.Window, o.OpenTimeout,
			o.MaxOpenTimeout, o.HalfOpenProbes, reflect.ValueOf(o.OnStateChange).Pointer()}
	}
	return key(a) == key(b)
}

// plan returns the ordered, de-duplicated targets for a public model name
// and tier. Auto aliases use tier (TierUnset: the default tier; a tier
// without a chain: the default tier) and then the tier's exhaustion policy.
func (s *snapshot) plan(model string, tier llm.Tier) ([]*target, error) {
	if chain, ok := s.aliases[model]; ok {
		return chain, nil
	}
	if !s.auto[model] {
		return nil, &llm.Error{Kind: llm.KindUnknownModel, Code: llm.CodeModelNotFound, Param: "model",
			Message: fmt.Sprintf("the model %q does not exist or you do not have access to it", model)}
	}
	if _, ok := s.tiers[tier]; !ok {
		tier = s.opts.DefaultTier
	}
	tc := s.tiers[tier]
	out := append([]*target(nil), tc.chain...)
	var more []llm.Tier
	switch tc.onExhausted {
	case OnExhaustedEscalate:
		for t := tier + 1; t <= llm.TierLarge; t++ {
			more = append(more, t)
		}
	case OnExhaustedDegrade:
		for t := tier - 1; t >= llm.TierSmall; t-- {
			more = append(more, t)
		}
	}
	seen := make(map[*targetState]bool, len(out))
	for _, t := range out {
		seen[t.state] = true
	}
	for _, mt := range more {
		for _, t := range s.tiers[mt].chain {
			if !seen[t.state] {
				seen[t.state] = true
				out = append(out, t)
			}
		}
	}
	return out, nil
}

// Models returns the pinned and auto aliases, sorted.
func (r *Router) Models() []string {
	return append([]string(nil), r.snap.Load().models...)
}

// Health returns the state of every configured target, sorted by provider
// and model.
func (r *Router) Health() []TargetHealth {
	s := r.snap.Load()
	now := time.Now()
	out := make([]TargetHealth, 0, len(s.states))
	for _, ts := range s.states {
		v := ts.cb.view()
		out = append(out, TargetHealth{
			Provider:            ts.key.provider,
			Model:               ts.key.model,
			State:               v.state.String(),
			SetAsideUntil:       ts.asideUntil(now),
			ConsecutiveFailures: v.consecutive,
			NextProbe:           v.nextProbe,
			OpenFor:             v.openFor,
		})
	}
	return out
}

// budget derives the request's context: bounded by RequestTimeout and the
// caller's deadline, whichever is earlier.
func (s *snapshot) budget(ctx context.Context) (context.Context, context.CancelFunc) {
	if s.opts.RequestTimeout > 0 {
		return context.WithTimeout(ctx, s.opts.RequestTimeout)
	}
	return context.WithCancel(ctx)
}

// Complete runs req over its chain and returns the first answer. Each
// attempt gets min(remaining request budget, Target.Timeout). Retryable
// upstream failures are retried on the same target with backoff, then
// failed over; 401/403/404 from a provider fail over at once; a 429 sets
// the target aside; client-caused errors are returned as they are, never
// retried or failed over; a context-length error moves only to a larger
// ContextWindow. When every target is open or set aside the error is
// KindNoHealthyProvider with RetryAfter. req.Meta gets Provider, Model and
// Attempts. req is not modified.
func (r *Router) Complete(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	s := r.snap.Load()
	targets, err := s.plan(req.Model, req.Tier)
	if err != nil {
		return nil, err
	}
	return runUnary(ctx, s, targets, req.Meta, func(actx context.Context, t *target) (*llm.Response, error) {
		r2 := *req
		r2.Model = t.Model
		resp, err := t.provider.Complete(actx, &r2)
		if err == nil && resp.Model == "" {
			resp.Model = t.Model
		}
		return resp, err
	})
}

// Embed runs an embeddings request over the alias's chain, using only
// targets whose provider implements llm.Embedder, with the same failover
// rules as Complete. An auto alias uses the default tier's chain.
func (r *Router) Embed(ctx context.Context, req *llm.EmbeddingRequest) (*llm.EmbeddingResponse, error) {
	s := r.snap.Load()
	all, err := s.plan(req.Model, llm.TierUnset)
	if err != nil {
		return nil, err
	}
	var targets []*target
	for _, t := range all {
		if _, ok := t.provider.(llm.Embedder); ok {
			targets = append(targets, t)
		}
	}
	if len(targets) == 0 {
		return nil, &llm.Error{Kind: llm.KindInvalidRequest, Code: llm.CodeModelNotFound, Param: "model",
			Message: fmt.Sprintf("the model %q does not support embeddings", req.Model)}
	}
	return runUnary(ctx, s, targets, req.Meta, func(actx context.Context, t *target) (*llm.EmbeddingResponse, error) {
		r2 := *req
		r2.Model = t.Model
		resp, err := t.provider.(llm.Embedder).Embed(actx, &r2)
		if err == nil && resp.Model == "" {
			resp.Model = t.Model
		}
		return resp, err
	})
}

// runUnary runs one non-streamed call over targets with the failover rules
// of Complete: call makes one attempt on t within actx (min of the request
// budget and t's timeout) and must not retain actx.
func runUnary[R any](ctx context.Context, s *snapshot, targets []*target, meta *llm.Meta,
	call func(actx context.Context, t *target) (R, error)) (R, error) {
	var zero R
	rctx, cancel := s.budget(ctx)
	defer cancel()
	f := newFailover(s, targets, meta)
	for {
		t, done, err := f.next(rctx, ctx)
		if err != nil {
			return zero, err
		}
		actx, acancel := attemptContext(rctx, t.Timeout)
		resp, err := call(actx, t)
		timedOut := actx.Err() != nil && rctx.Err() == nil
		acancel()
		if err == nil {
			done(nil)
			f.answered(t)
			return resp, nil
		}
		if err := f.failed(rctx, ctx, t, done, err, timedOut); err != nil {
			return zero, err
		}
	}
}

// Stream opens a streamed answer on the first target that produces an
// event, failing over like Complete. The returned stream keeps failing over
// invisibly until its first content chunk was returned; after that a
// failure is continued on a prefill-capable target or ends the stream with
// an *llm.Error whose Sent is true. It never ends a broken answer with
// io.EOF.
func (r *Router) Stream(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	s := r.snap.Load()
	targets, err := s.plan(req.Model, req.Tier)
	if err != nil {
		return nil, err
	}
	rctx, cancel := s.budget(ctx)
	st := &stream{
		snap:   s,
		parent: ctx,
		ctx:    rctx,
		cancel: cancel,
		req:    req,
		f:      newFailover(s, targets, req.Meta),
	}
	u, err := st.open()
	if err != nil {
		cancel()
		return nil, err
	}
	st.cur = u
	return st, nil
}

func attemptContext(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d > 0 {
		return context.WithTimeout(ctx, d)
	}
	return context.WithCancel(ctx)
}

// errStreamClosed is returned by Recv after Close.
var errStreamClosed = &llm.Error{Kind: llm.KindCanceled, Message: "stream closed"}

var (
	_ llm.Stream = (*stream)(nil)
	_ io.Closer  = (*stream)(nil)
)
