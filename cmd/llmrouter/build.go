package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"llmrouter/batch"
	"llmrouter/cache"
	"llmrouter/config"
	"llmrouter/embeddings"
	"llmrouter/governance"
	"llmrouter/llm"
	"llmrouter/migrations"
	"llmrouter/provider/anthropic"
	"llmrouter/provider/openai"
	"llmrouter/provider/simulator"
	"llmrouter/provider/transport"
	"llmrouter/proxy"
	"llmrouter/reqlog"
	"llmrouter/router"
	"llmrouter/router/classifier"
	"llmrouter/tracing"
	"llmrouter/usage"
)

// app is the wired process: every long-lived component and the pieces a
// reload swaps. Build it with newApp; reload with (*app).reload.
type app struct {
	log *slog.Logger // wrapped by redactor
	reg *prometheus.Registry
	// redactor knows every secret of the running config (and of the one
	// before the last reload, for answers still in flight).
	redactor *llm.Redactor

	mu        sync.Mutex // serialises reloads
	cfg       *config.Config
	providers map[string]*providerEntry

	classifier atomic.Pointer[classifier.Classifier]
	policy     atomic.Pointer[classifier.Policy]
	sessions   *classifier.Sessions // conversation tiers; kept across reloads unless routing.classifier.session changes
	sessCfg    config.Session

	router *router.Router
	// embedBatch micro-batches client embeddings in front of the router.
	embedBatch *router.EmbedBatcher
	cache      *cache.Cache
	embedder   embeddings.Embedder
	pool       *pgxpool.Pool
	pgStore    *cache.PGStore
	usage      *usage.Recorder
	proxy      *proxy.Server

	aliasTiers atomic.Pointer[map[string]llm.Tier]
	gate       *governance.Governor
	attempts   *attemptMetrics
	// batches runs /v1/batches jobs through the same chain as live requests.
	batches *batch.Service
	tracer  *tracing.Tracer // nil when tracing is off
	reqlog  *reqlog.Log     // nil when the request log is off
	// batchAPIs says which providers' batch APIs batch jobs use (batch_api).
	batchAPIs atomic.Pointer[map[string]bool]
}

// providerEntry is a provider client and the config it was built from, so a
// reload reuses clients (and their connection pools) whose config did not
// change.
type providerEntry struct {
	cfg    config.Provider
	client llm.Completer
}

// front joins the decorator chain (completions) with the router (embeddings
// and the model list) into the one Completer the usage recorder wraps, so
// that embeddings are counted too.
type front struct {
	llm.Completer
	llm.Embedder
	llm.ModelLister
}

// newApp builds the whole graph from cfg. ctx bounds start-up work (the
// database connection); the components outlive it. Every log line goes
// through a redactor that knows cfg's secrets (a.log).
func newApp(ctx context.Context, cfg *config.Config, log *slog.Logger) (*app, error) {
	red := llm.NewRedactor(configSecrets(cfg)...)
	log = slog.New(red.Handler(log.Handler()))
	a := &app{log: log, reg: prometheus.NewRegistry(), redactor: red, cfg: cfg, providers: map[string]*providerEntry{}}
	a.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	b, err := build(cfg, nil, log)
	if err != nil {
		return nil, err
	}
	a.providers = b.providers
	ropts := b.router
	ropts.Registerer = a.reg
	a.attempts = newAttemptMetrics(a.reg)
	ropts.OnAttempt = a.attempts.observe
	if a.router, err = router.New(ropts); err != nil {
		return nil, fmt.Errorf("router: %w", err)
	}
	a.classifier.Store(b.classifier)

	// Coalescing keys requests with the cache's exact key (a zero-allocation
	// hash of every answer-changing field) instead of encoding them.
	mb := microBatchOptions(cfg)
	mb.Registerer = a.reg
	prompts, err := router.NewPromptBatcher(a.router, a.router, mb)
	if err != nil {
		return nil, err
	}
	if a.embedBatch, err = router.NewEmbedBatcher(a.router, mb); err != nil {
		return nil, err
	}
	coalescer, err := router.NewCoalescerWith(prompts, router.CoalescerOptions{Registerer: a.reg,
		Key: func(r *llm.Request) (string, error) {
			k := cache.ExactKey(r.Tenant, 0, r)
			return string(k[:]), nil
		}})
	if err != nil {
		return nil, err
	}
	var next llm.Completer = coalescer
	// Idempotency-Key: repeats get the first answer (fingerprinted with the
	// same exact key, so a key reused for another request is refused).
	next = router.NewIdempotent(next, router.IdempotencyOptions{
		Window: cfg.Routing.Idempotency.Window, MaxEntries: cfg.Routing.Idempotency.MaxEntries,
		Fingerprint: func(r *llm.Request) (string, error) {
			k := cache.ExactKey(r.Tenant, 0, r)
			return string(k[:]), nil
		}})
	if cfg.Cache.Exact.Enabled || cfg.Cache.Semantic.Enabled {
		if a.cache, err = a.buildCache(ctx, cfg, next); err != nil {
			return nil, err
		}
		next = a.cache
	}
	route := classifier.NewDecorator(next, a.classifier.Load, func() classifier.Policy { return *a.policy.Load() })
	next = route

	if err := a.buildGovernance(ctx, cfg); err != nil {
		return nil, err
	}
	if err := a.buildUsage(ctx, cfg, front{Completer: next, Embedder: a.embedBatch, ModelLister: a.router}); err != nil {
		return nil, err
	}

	popts := b.proxy
	popts.Completer = a.usage // also an llm.Embedder and llm.ModelLister
	popts.Logger = log
	popts.Redactor = red
	popts.Registerer = a.reg
	popts.Gatherer = a.reg
	popts.Ready = a.ready
	if a.cache != nil {
		popts.Invalidate = a.cache.Invalidate
	}
	popts.Usage = a.usageReport
	popts.AliasTier = a.aliasTier
	popts.Gate = gate{a.gate}
	popts.Keys = a.gate
	a.storeBatchAPIs(cfg)
	if a.batches, err = batch.New(batch.Options{Completer: a.usage, Store: a.batchStore(), Logger: log,
		Upstream: a.batchUpstream(route)}); err != nil {
		return nil, fmt.Errorf("batch: %w", err)
	}
	a.batches.Start()
	popts.Batches = a.batches
	if err := a.buildObservability(ctx, cfg, &popts); err != nil {
		return nil, err
	}
	if a.proxy, err = proxy.New(popts); err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	a.storePolicy(cfg)
	return a, nil
}

// built is everything a config turns into that can fail to build: start-up
// (newApp), reload and check-config all run build, so what one accepts the
// others accept, and a reload applies its result only once all of it
// exists.
type built struct {
	providers  map[string]*providerEntry
	router     router.Options
	classifier *classifier.Classifier
	auth       *proxy.AuthTable
	prices     *usage.PriceTable
	proxy      proxy.Options
	cache      cache.Options // without Embedder, Store and Logger: those are wired by buildCache
}

// build translates and validates cfg: provider clients (reusing those of
// old whose settings are unchanged), router options (validated as
// router.New would), the classifier, the auth table, the price table, the
// proxy and cache options. It changes nothing that is running.
func build(cfg *config.Config, old map[string]*providerEntry, log *slog.Logger) (*built, error) {
	b := &built{}
	var err error
	var clients map[string]llm.Completer
	if b.providers, clients, err = buildProviders(cfg, old, log); err != nil {
		return nil, err
	}
	if b.router, err = routerOptions(cfg, clients, log); err != nil {
		return nil, err
	}
	if err := router.Validate(b.router); err != nil {
		return nil, fmt.Errorf("router: %w", err)
	}
	if b.classifier, err = newClassifier(cfg, log); err != nil {
		return nil, fmt.Errorf("routing.classifier: %w", err)
	}
	if b.proxy, err = proxyOptions(cfg); err != nil {
		return nil, err
	}
	if b.auth, err = proxy.BuildAuth(b.proxy.Auth); err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	if b.prices, err = priceTable(cfg); err != nil {
		return nil, err
	}
	if b.cache, err = cacheOptions(cfg); err != nil {
		return nil, err
	}
	return b, nil
}

// buildProviders returns a client per configured provider, reusing the
// clients of old whose settings are unchanged.
func buildProviders(cfg *config.Config, old map[string]*providerEntry, log *slog.Logger) (map[string]*providerEntry, map[string]llm.Completer, error) {
	out := make(map[string]llm.Completer, len(cfg.Providers))
	entries := make(map[string]*providerEntry, len(cfg.Providers))
	for _, p := range cfg.Providers {
		if o, ok := old[p.Name]; ok && reflect.DeepEqual(o.cfg, p) {
			entries[p.Name] = o
			out[p.Name] = o.client
			continue
		}
		c, err := newProvider(p, log)
		if err != nil {
			return nil, nil, fmt.Errorf("provider %s: %w", p.Name, err)
		}
		entries[p.Name] = &providerEntry{cfg: p, client: c}
		out[p.Name] = c
	}
	return entries, out, nil
}

func newProvider(p config.Provider, log *slog.Logger) (llm.Completer, error) {
	log = log.With("provider", p.Name)
	tr := transport.Options{
		BaseURL:               p.BaseURL,
		ConnectTimeout:        p.Timeouts.Connect,
		ResponseHeaderTimeout: p.Timeouts.ResponseHeader,
		TotalTimeout:          p.Timeouts.Total,
		StreamIdleTimeout:     p.Timeouts.StreamIdle,
		MaxConns:              p.MaxConns,
		MaxConnWaitTimeout:    p.MaxConnWait,
	}
	headers := map[string]string{}
	for k, v := range p.Headers {
		headers[k] = v
	}
	for k, v := range p.HeaderValues {
		headers[k] = v
	}
	switch p.Type {
	case config.ProviderOpenAI:
		return openai.New(openai.Options{Name: p.Name, BaseURL: p.BaseURL, APIKey: p.APIKey, Headers: headers, Transport: tr, Logger: log})
	case config.ProviderAnthropic:
		return anthropic.New(anthropic.Options{Name: p.Name, BaseURL: p.BaseURL, APIKey: p.APIKey,
			Version: p.AnthropicVersion, DefaultMaxTokens: p.DefaultMaxTokens, Headers: headers, Transport: tr, Logger: log})
	case config.ProviderSimulator:
		o := simulator.Options{Name: p.Name, Logger: log}
		if s := p.Simulator; s != nil {
			o.TimeToFirstToken, o.TokensPerSecond = s.TimeToFirstToken, s.TokensPerSecond
			o.ErrorRate, o.RateLimitRate, o.Seed = s.ErrorRate, s.RateLimitRate, s.Seed
		}
		return simulator.New(o)
	}
	return nil, fmt.Errorf("unknown provider type %q", p.Type)
}

// routerOptions translates the routing part of cfg.
func routerOptions(cfg *config.Config, providers map[string]llm.Completer, log *slog.Logger) (router.Options, error) {
	target := func(t config.Target) router.Target {
		rt := router.Target{Provider: t.Provider, Model: t.Model, Timeout: t.Timeout, Prefill: t.Prefill, ContextWindow: t.ContextWindow,
			PromptArrays: t.PromptArrays}
		if p := cfg.Provider(t.Provider); p != nil {
			rt.StreamIdleTimeout = p.Timeouts.StreamIdle
		}
		if t.Retry != nil || t.FirstTokenTimeout > 0 {
			ro := router.RetryOptions{}
			if t.Retry != nil {
				ro = retryOptions(*t.Retry)
			}
			if t.FirstTokenTimeout > 0 {
				ro.FirstTokenTimeout = t.FirstTokenTimeout
			}
			rt.Retry = &ro
		}
		if t.Breaker != nil {
			bo := breakerOptions(*t.Breaker)
			rt.Breaker = &bo
		}
		return rt
	}
	chain := func(ts []config.Target) []router.Target {
		out := make([]router.Target, len(ts))
		for i, t := range ts {
			out[i] = target(t)
		}
		return out
	}
	o := router.Options{
		Providers:      providers,
		Aliases:        map[string][]router.Target{},
		Auto:           append([]string{}, cfg.Routing.AutoAliases...),
		Tiers:          map[llm.Tier]router.TierPolicy{},
		RequestTimeout: cfg.Routing.RequestTimeout,
		Logger:         log,
		Breaker:        breakerOptions(cfg.Routing.Breaker),
		Retry:          retryOptions(cfg.Routing.Retry),
		AliasRetry:     map[string]*router.RetryOptions{},
	}
	o.Breaker.OnStateChange = func(provider, model, from, to string) {
		log.Warn("circuit breaker state change", "provider", provider, "model", model, "from", from, "to", to)
	}
	o.Retry.StreamIdleTimeout = cfg.Routing.StreamIdleTimeout
	for alias, r := range cfg.Routing.AliasRetry {
		ro := retryOptions(r)
		o.AliasRetry[alias] = &ro
	}
	for alias, ts := range cfg.Models {
		o.Aliases[alias] = chain(ts)
	}
	for name, tp := range cfg.Routing.Tiers {
		t, ok := llm.ParseTier(name)
		if !ok {
			return o, fmt.Errorf("routing.tiers.%s: unknown tier", name)
		}
		o.Tiers[t] = router.TierPolicy{Chain: chain(tp.Chain), OnExhausted: tp.OnExhausted}
	}
	if t, ok := llm.ParseTier(cfg.Routing.DefaultTier); ok {
		o.DefaultTier = t
	}
	return o, nil
}

// microBatchOptions translates routing.micro_batch.
func microBatchOptions(cfg *config.Config) router.MicroBatchOptions {
	mb := cfg.Routing.MicroBatch
	o := router.MicroBatchOptions{MaxTokens: mb.MaxTokens}
	if mb.MaxItems != nil {
		o.MaxItems = *mb.MaxItems
	}
	if mb.Window != nil {
		o.Window = *mb.Window
	}
	return o
}

// retryOptions translates a routing.retry block (a partial one leaves
// zeros, which the router inherits).
func retryOptions(r config.Retry) router.RetryOptions {
	return router.RetryOptions{
		MaxAttemptsPerTarget: r.MaxAttemptsPerTarget,
		ConnectAttempts:      r.ConnectAttempts,
		BackoffBase:          r.BackoffInitial,
		BackoffMax:           r.BackoffMax,
		MaxSetAside:          r.RetryAfterCap,
		DefaultSetAside:      r.DefaultSetAside,
		MaxRetryAfterWait:    r.MaxRetryAfterWait,
		FirstTokenTimeout:    r.FirstTokenTimeout,
	}
}

// breakerOptions translates a routing.breaker block (partial: zeros inherit).
func breakerOptions(b config.Breaker) router.BreakerOptions {
	return router.BreakerOptions{
		ConsecutiveFailures: uint32(b.ConsecutiveFailures),
		FailureRatio:        b.FailureRatio,
		MinRequests:         uint32(b.MinRequests),
		Window:              b.Window,
		OpenTimeout:         b.OpenDuration,
		OpenBackoff:         b.OpenBackoff,
		MaxOpenTimeout:      b.MaxOpenDuration,
		HalfOpenProbes:      uint32(b.HalfOpenProbes),
	}
}

// classifierOptions translates routing.classifier, loading the model it
// names.
func classifierOptions(cfg *config.Config, log *slog.Logger) (classifier.Options, error) {
	c := cfg.Routing.Classifier
	o := classifier.Options{
		SmallMaxTokens: c.SmallMaxTokens, MediumMaxTokens: c.MediumMaxTokens,
		Weights: c.Weights, Tokenizer: c.Tokenizer, Logger: log,
		Target:      classifier.Target{KeepQuality: c.Target.KeepQuality, StrongShare: c.Target.StrongShare, LargeShare: c.Target.LargeShare},
		WindowBytes: cfg.Server.Limits.ClassifierWindowBytes,
	}
	switch c.Model {
	case "", "learned":
		m, err := classifier.DefaultModel()
		if err != nil {
			return o, err
		}
		o.Model = m
	case "hand":
	default:
		m, err := classifier.LoadModel(c.Model)
		if err != nil {
			return o, err
		}
		o.Model = m
	}
	if len(c.Thresholds) == 2 {
		o.TierThresholds = [2]float64{c.Thresholds[0], c.Thresholds[1]}
	}
	if t, ok := llm.ParseTier(cfg.Routing.DefaultTier); ok {
		o.DefaultTier = t
	}
	return o, nil
}

func newClassifier(cfg *config.Config, log *slog.Logger) (*classifier.Classifier, error) {
	o, err := classifierOptions(cfg, log)
	if err != nil {
		return nil, err
	}
	return classifier.New(o)
}

// storePolicy publishes the per-tenant routing policy read by the
// classifier decorator; tenant rights come from the proxy's auth snapshot.
func (a *app) storePolicy(cfg *config.Config) {
	sc := cfg.Routing.Classifier.Session
	switch {
	case sc.Disabled:
		a.sessions = nil
	case a.sessions == nil || sc != a.sessCfg:
		s, err := classifier.NewSessions(classifier.SessionOptions{
			Margin: sc.Margin, TTL: sc.TTL, MaxSessions: sc.MaxSessions, Prices: tierPrices(cfg),
		})
		if err != nil {
			// Validation rejects negative values; nothing else fails.
			a.log.Error("conversation stickiness off", slog.String("error", err.Error()))
		}
		a.sessions = s
	default:
		a.sessions.SetPrices(tierPrices(cfg))
	}
	a.sessCfg = sc
	p := classifier.Policy{
		Sessions:    a.sessions,
		AutoAliases: append([]string{}, cfg.Routing.AutoAliases...),
		AllowOverride: func(tenant string) bool {
			ok, _ := a.proxy.TenantPolicy(tenant)
			return ok
		},
		MaxTier: func(tenant string) llm.Tier {
			_, t := a.proxy.TenantPolicy(tenant)
			return t
		},
		AliasTier: a.aliasTier,
	}
	var caps [llm.TierLarge + 1]int
	for name, tp := range cfg.Routing.Tiers {
		if t, ok := llm.ParseTier(name); ok && t <= llm.TierLarge {
			caps[t] = tp.MaxOutputTokens
		}
	}
	p.MaxOutputTokens = func(t llm.Tier) int {
		if t > llm.TierLarge {
			return 0
		}
		return caps[t]
	}
	a.policy.Store(&p)
}

// tierPrices returns the input and cached-input prices of the first model
// of each tier's chain, from the config's price list (cached = input when
// the price has no cached_input).
func tierPrices(cfg *config.Config) func(llm.Tier) (float64, float64) {
	type pair struct{ in, cached float64 }
	m := map[llm.Tier]pair{}
	for name, tp := range cfg.Routing.Tiers {
		t, ok := llm.ParseTier(name)
		if !ok || len(tp.Chain) == 0 {
			continue
		}
		p := cfg.Prices[tp.Chain[0].Model]
		c := p.Input
		if p.CachedInput != nil {
			c = *p.CachedInput
		}
		m[t] = pair{p.Input, c}
	}
	return func(t llm.Tier) (float64, float64) { return m[t].in, m[t].cached }
}

// proxyOptions translates server and auth.
func proxyOptions(cfg *config.Config) (proxy.Options, error) {
	s := cfg.Server
	auth, err := authOptions(cfg.Auth)
	if err != nil {
		return proxy.Options{}, err
	}
	return proxy.Options{
		Auth:              auth,
		MaxBodyBytes:      s.MaxBodyBytes,
		MaxHeaderBytes:    s.MaxHeaderBytes,
		ReadTimeout:       s.ReadTimeout,
		IdleTimeout:       s.IdleTimeout,
		WriteTimeout:      s.WriteTimeout,
		StreamTimeout:     s.StreamTimeout,
		RequestTimeout:    s.RequestTimeout,
		HeartbeatInterval: s.HeartbeatInterval,
		StreamCoalesce:    s.StreamCoalesce,
		MaxConcurrency:    s.MaxConcurrency,
		DebugLogPrompts:   s.DebugLogPrompts,
		Limits: llm.Limits{
			MaxN: s.Limits.MaxN, MaxOutputTokens: s.Limits.MaxOutputTokens, MaxMessages: s.Limits.MaxMessages,
			MaxTools: s.Limits.MaxTools, MaxStop: s.Limits.MaxStop, MaxStopBytes: s.Limits.MaxStopBytes,
			MaxContentParts: s.Limits.MaxContentParts, MaxToolCalls: s.Limits.MaxToolCalls,
		},
	}, nil
}

func authOptions(a config.Auth) (proxy.AuthOptions, error) {
	keys := func(ks []config.Key) ([]proxy.Key, error) {
		out := make([]proxy.Key, 0, len(ks))
		for _, k := range ks {
			pk := proxy.Key{Tenant: k.Tenant, Value: k.Key, AllowTierOverride: k.AllowTierOverride, LogPromptChars: k.LogPromptChars}
			if k.KeySHA256 != "" {
				pk.Value = "sha256:" + strings.TrimPrefix(strings.ToLower(k.KeySHA256), "sha256:")
			}
			if k.MaxTier != "" {
				t, ok := llm.ParseTier(k.MaxTier)
				if !ok {
					return nil, fmt.Errorf("auth: tenant %s: unknown max_tier %q", k.Tenant, k.MaxTier)
				}
				pk.MaxTier = t
			}
			out = append(out, pk)
		}
		return out, nil
	}
	ks, err := keys(a.Keys)
	if err != nil {
		return proxy.AuthOptions{}, err
	}
	admins, err := keys(a.AdminKeys)
	if err != nil {
		return proxy.AuthOptions{}, err
	}
	return proxy.AuthOptions{Mode: a.Mode, Keys: ks, AdminKeys: admins}, nil
}

// buildCache builds the embedder, the semantic store (Postgres when a
// database URL is configured, else in process) and the cache decorator.
func (a *app) buildCache(ctx context.Context, cfg *config.Config, next llm.Completer) (*cache.Cache, error) {
	o, err := cacheOptions(cfg)
	if err != nil {
		return nil, err
	}
	o.Logger, o.Registerer = a.log, a.reg
	if cfg.Cache.Semantic.Enabled {
		e, err := newEmbedder(cfg.Cache.Embedder)
		if err != nil {
			return nil, err
		}
		a.embedder = e
		o.Embedder = e
		if cfg.Database.URL != "" {
			if err := a.openStore(ctx, cfg, e.Dim()); err != nil {
				return nil, err
			}
			o.Store = a.pgStore
		}
	}
	c, err := cache.New(next, o)
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	return c, nil
}

// cacheOptions translates cache (without the embedder and the store).
func cacheOptions(cfg *config.Config) (cache.Options, error) {
	cc := cfg.Cache
	o := cache.Options{
		Exact: cache.ExactOptions{Disabled: !cc.Exact.Enabled, MaxBytes: cc.Exact.MaxBytes, TTL: cc.Exact.TTL},
		Semantic: cache.SemanticOptions{
			Disabled:         !cc.Semantic.Enabled,
			Threshold:        cc.Semantic.Threshold,
			MinPromptChars:   cc.Semantic.MinPromptChars,
			MinTemplateBytes: cc.Semantic.MinTemplateBytes,
			MaxPromptBytes:   cfg.Server.Limits.SemanticMaxPromptBytes,
			TTL:              cc.Semantic.TTL,
			MaxEntries:       cc.Semantic.MaxEntries,
			WriteQueue:       cc.Semantic.WriteQueue,
			BatchSize:        cc.Semantic.BatchSize,
			PurgeInterval:    cc.Semantic.PurgeInterval,
		},
	}
	if o.Semantic.Threshold == 0 {
		o.Semantic.Threshold = defaultThreshold(cc.Embedder.Type)
	}
	if len(cc.Semantic.TierThresholds) > 0 {
		o.Semantic.TierThresholds = map[llm.Tier]float64{}
		for name, v := range cc.Semantic.TierThresholds {
			if t, ok := llm.ParseTier(name); ok {
				o.Semantic.TierThresholds[t] = v
			}
		}
	}
	o.Semantic.AliasThresholds = cc.Semantic.AliasThresholds
	if cc.Semantic.Enabled {
		switch cc.Embedder.Type {
		case config.EmbedderLexical, config.EmbedderOpenAI:
		default:
			return o, fmt.Errorf("cache.embedder.type: unknown %q", cc.Embedder.Type)
		}
	}
	return o, nil
}

// defaultThreshold is the calibrated semantic threshold of an embedder type.
func defaultThreshold(embedderType string) float64 {
	if embedderType == config.EmbedderLexical {
		return embeddings.DefaultLexicalThreshold
	}
	return embeddings.DefaultAPIThreshold
}

func newEmbedder(e config.Embedder) (embeddings.Embedder, error) {
	var base embeddings.Embedder
	switch e.Type {
	case config.EmbedderLexical:
		return embeddings.NewLexical(e.Dim), nil
	case config.EmbedderOpenAI:
		oe, err := embeddings.NewOpenAI(embeddings.OpenAIOptions{BaseURL: e.BaseURL, APIKey: e.APIKey, Model: e.Model, Dim: e.Dim, Timeout: e.Timeout})
		if err != nil {
			return nil, fmt.Errorf("cache.embedder: %w", err)
		}
		base = oe
	default:
		return nil, fmt.Errorf("cache.embedder.type: unknown %q", e.Type)
	}
	if e.BatchWindow > 0 && e.MaxBatch > 1 {
		return embeddings.NewBatcher(base, e.BatchWindow, e.MaxBatch), nil
	}
	return base, nil
}

// openStore connects to Postgres and starts the pgvector store. A database
// that is down at start is not fatal: the store migrates and comes up when
// the database answers, and until then the semantic layer is off.
func (a *app) openStore(ctx context.Context, cfg *config.Config, dim int) error {
	pool, err := a.openPool(ctx, cfg)
	if err != nil {
		return err
	}
	schema := migrationSchema(cfg.Database.URL)
	st, err := cache.NewPGStore(ctx, pool, cache.PGOptions{
		Dim:    dim,
		Setup:  func(ctx context.Context, p *pgxpool.Pool) error { return migrations.Apply(ctx, p, schema) },
		Logger: a.log,
	})
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	a.pgStore = st
	return nil
}

// ready is the /readyz report: degraded when a target's breaker is open or
// the semantic store is down, down when no target at all can be called.
func (a *app) ready(ctx context.Context) proxy.ReadyReport {
	r := proxy.ReadyReport{Status: "ok", Checks: map[string]string{}}
	available := 0
	hs := a.router.Health()
	for _, h := range hs {
		name := "target:" + h.Provider + "/" + h.Model
		state := h.State
		if !h.NextProbe.IsZero() {
			state += ", next probe at " + h.NextProbe.UTC().Format(time.RFC3339Nano) + " (open for " + h.OpenFor.String() + ")"
		}
		if !h.SetAsideUntil.IsZero() && time.Now().Before(h.SetAsideUntil) {
			state += ", rate limited until " + h.SetAsideUntil.UTC().Format(time.RFC3339)
		}
		r.Checks[name] = state
		if h.Available() {
			available++
		} else {
			r.Status = "degraded"
		}
	}
	if len(hs) > 0 && available == 0 {
		r.Status = "down"
	}
	if a.cache != nil {
		h := a.cache.Health()
		r.Checks["cache"] = h.Status
		if h.Semantic {
			if h.StoreUp {
				r.Checks["semantic_store"] = "up"
			} else {
				r.Checks["semantic_store"] = "down"
				if r.Status == "ok" {
					r.Status = "degraded"
				}
			}
		}
	}
	return r
}

// reload applies a new config: routing, classifier, auth, prices. Provider
// clients whose settings did not change are reused, so their breakers and
// pools survive. Server, cache and database settings need a restart; reload
// says so instead of pretending.
func (a *app) reload(cfg *config.Config) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.redactor.Set(append(configSecrets(a.cfg), configSecrets(cfg)...))
	// Build everything first; any failure leaves the running state as it was.
	b, err := build(cfg, a.providers, a.log)
	if err != nil {
		return err
	}
	b.router.OnAttempt = a.attempts.observe
	rp, err := a.router.Prepare(b.router)
	if err != nil {
		return fmt.Errorf("router: %w", err)
	}
	aliasTiers := aliasTiers(cfg)
	// Then swap it all; nothing below can fail.
	a.router.Apply(rp)
	a.proxy.SwapAuth(b.auth)
	a.classifier.Store(b.classifier)
	a.usage.SetPricing(b.prices, baselineModel(cfg))
	a.aliasTiers.Store(&aliasTiers)
	if a.gate != nil {
		a.gate.SetTenants(tenantBudgets(cfg))
	}
	a.providers = b.providers
	a.storeBatchAPIs(cfg)
	var restart []string
	if !reflect.DeepEqual(a.cfg.Server, cfg.Server) {
		restart = append(restart, "server")
	}
	if !reflect.DeepEqual(a.cfg.Cache, cfg.Cache) {
		restart = append(restart, "cache")
	}
	if !reflect.DeepEqual(a.cfg.Database, cfg.Database) {
		restart = append(restart, "database")
	}
	if !reflect.DeepEqual(a.cfg.Routing.MicroBatch, cfg.Routing.MicroBatch) {
		restart = append(restart, "routing.micro_batch")
	}
	a.cfg = cfg
	a.storePolicy(cfg)
	if len(restart) > 0 {
		sort.Strings(restart)
		a.log.Warn("config reloaded; these sections changed but apply only after a restart", "sections", restart)
	}
	return nil
}

// close releases background workers after the server has stopped.
func (a *app) close() error {
	var errs []error
	if a.batches != nil {
		errs = append(errs, a.batches.Close())
	}
	if a.usage != nil {
		errs = append(errs, a.usage.Close())
	}
	if a.gate != nil {
		a.gate.Close()
	}
	if a.reqlog != nil {
		errs = append(errs, a.reqlog.Close())
	}
	if a.tracer != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		errs = append(errs, a.tracer.Shutdown(ctx))
		cancel()
	}
	if a.cache != nil {
		errs = append(errs, a.cache.Close())
	}
	if c, ok := a.embedder.(interface{ Close() error }); ok {
		errs = append(errs, c.Close())
	}
	if a.pgStore != nil {
		a.pgStore.Close()
	}
	if a.pool != nil {
		a.pool.Close()
	}
	return errors.Join(errs...)
}

// batchStore is where batch jobs live: Postgres when the app has a pool,
// else memory (jobs then do not survive a restart).
func (a *app) batchStore() batch.Store {
	if a.pool != nil {
		return batch.NewPGStore(a.pool)
	}
	return batch.NewMemStore()
}
