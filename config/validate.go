package config

import (
	"encoding/hex"
	"fmt"
	"math"
	"net"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"
)

// ValidationError lists every problem found in a configuration, each as
// "path: message" (for example "providers[2].base_url: must be an absolute
// http(s) URL"), in a stable order.
type ValidationError struct {
	Problems []string
}

// Error returns the problems, one per line after a summary line.
func (e *ValidationError) Error() string {
	return fmt.Sprintf("%d invalid setting(s):\n  %s", len(e.Problems), strings.Join(e.Problems, "\n  "))
}

type checker struct {
	problems []string
	getenv   func(string) string
}

func (ck *checker) add(path, format string, args ...any) {
	ck.problems = append(ck.problems, path+": "+fmt.Sprintf(format, args...))
}

// validate checks a defaulted, env-resolved Config and returns a
// *ValidationError with every problem, or nil.
func validate(c *Config, getenv func(string) string) error {
	ck := &checker{getenv: getenv}
	ck.server(&c.Server)
	ck.oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	ck.auth(&c.Auth)
	providers := ck.providers(c.Providers)
	ck.models(c, providers)
	ck.routing(c, providers)
	ck.cache(c)
	ck.database(&c.Database)
	for _, m := range sortedKeys(c.Prices) {
		p := c.Prices[m]
		path := "prices." + m
		if m == "" {
			ck.add("prices", "model name must not be empty")
		}
		ck.price(path+".input", p.Input)
		ck.price(path+".output", p.Output)
		if p.CachedInput != nil {
			ck.price(path+".cached_input", *p.CachedInput)
		}
		if p.CacheWrite != nil {
			ck.price(path+".cache_write", *p.CacheWrite)
		}
		if d := p.BatchDiscount; d != nil && !(*d >= 0 && *d <= 1) {
			ck.add(path+".batch_discount", "must be between 0 and 1")
		}
	}
	ck.positive("usage.queue_size", c.Usage.QueueSize)
	ck.positive("usage.max_rows", c.Usage.MaxRows)
	ck.positive("usage.batch_size", c.Usage.BatchSize)
	for _, name := range sortedKeys(c.Governance.Tenants) {
		b := c.Governance.Tenants[name]
		ck.price("governance.tenants."+name+".daily_usd", b.DailyUSD)
		ck.price("governance.tenants."+name+".monthly_usd", b.MonthlyUSD)
	}
	ck.unit("tracing.sample_ratio", c.Tracing.SampleRatio)
	if c.Tracing.Protocol != "" {
		ck.oneOf("tracing.protocol", c.Tracing.Protocol, "http/protobuf", "grpc")
	}
	if c.Tracing.Endpoint != "" {
		ck.httpURL("tracing.endpoint", c.Tracing.Endpoint)
	}
	ck.positive("request_log.max_rows", c.RequestLog.MaxRows)
	ck.positive("request_log.queue_size", c.RequestLog.QueueSize)
	ck.positive("request_log.batch_size", c.RequestLog.BatchSize)
	ck.duration("request_log.flush_interval", c.RequestLog.FlushInterval)
	if r := c.RequestLog.Retention; r != nil && *r < 0 {
		ck.add("request_log.retention", "must not be negative, got %s", *r)
	}
	if len(ck.problems) > 0 {
		return &ValidationError{Problems: ck.problems}
	}
	return nil
}

func (ck *checker) server(s *Server) {
	if s.Listen == "" {
		ck.add("server.listen", "must not be empty")
	} else if _, _, err := net.SplitHostPort(s.Listen); err != nil {
		ck.add("server.listen", "must be host:port or :port, got %q", s.Listen)
	}
	ck.positive("server.max_body_bytes", s.MaxBodyBytes)
	ck.positive("server.max_header_bytes", s.MaxHeaderBytes)
	ck.positive("server.max_concurrency", s.MaxConcurrency)
	ck.duration("server.read_timeout", s.ReadTimeout)
	ck.duration("server.idle_timeout", s.IdleTimeout)
	ck.duration("server.write_timeout", s.WriteTimeout)
	ck.duration("server.stream_timeout", s.StreamTimeout)
	ck.duration("server.request_timeout", s.RequestTimeout)
	ck.duration("server.heartbeat_interval", s.HeartbeatInterval)
	if s.StreamCoalesce < 0 || s.StreamCoalesce > 50*time.Millisecond {
		ck.add("server.stream_coalesce", "must be between 0 and 50ms, got %s", s.StreamCoalesce)
	}
	ck.duration("server.shutdown_timeout", s.ShutdownTimeout)
	if s.HeartbeatInterval > 0 && s.StreamTimeout > 0 && s.HeartbeatInterval >= s.StreamTimeout {
		ck.add("server.heartbeat_interval", "must be shorter than server.stream_timeout")
	}
	if s.MetricsListen != "off" {
		if _, _, err := net.SplitHostPort(s.MetricsListen); err != nil {
			ck.add("server.metrics_listen", "must be host:port, :port or off, got %q", s.MetricsListen)
		}
	}
	l := &s.Limits
	ck.positive("server.limits.max_n", l.MaxN)
	ck.positive("server.limits.max_output_tokens", l.MaxOutputTokens)
	ck.positive("server.limits.max_messages", l.MaxMessages)
	ck.positive("server.limits.max_tools", l.MaxTools)
	ck.positive("server.limits.max_stop", l.MaxStop)
	ck.positive("server.limits.max_stop_bytes", l.MaxStopBytes)
	ck.positive("server.limits.max_content_parts", l.MaxContentParts)
	ck.positive("server.limits.max_tool_calls", l.MaxToolCalls)
	ck.positive("server.limits.classifier_window_bytes", l.ClassifierWindowBytes)
	ck.positive("server.limits.semantic_max_prompt_bytes", l.SemanticMaxPromptBytes)
}

func (ck *checker) auth(a *Auth) {
	ck.oneOf("auth.mode", a.Mode, AuthKeys, AuthNone)
	if a.Mode == AuthKeys && len(a.Keys) == 0 {
		ck.add("auth.keys", "at least one key is required in mode keys (or set auth.mode: none for local use)")
	}
	ck.keys("auth.keys", a.Keys)
	ck.keys("auth.admin_keys", a.AdminKeys)
}

func (ck *checker) keys(base string, keys []Key) {
	seen := map[string]string{}
	for i, k := range keys {
		path := fmt.Sprintf("%s[%d]", base, i)
		if strings.TrimSpace(k.Tenant) == "" {
			ck.add(path+".tenant", "is required")
		}
		if k.LogPromptChars < 0 {
			ck.add(path+".log_prompt_chars", "must not be negative, got %d", k.LogPromptChars)
		}
		switch {
		case k.KeyEnv == "" && k.KeySHA256 == "":
			ck.add(path, "one of key_env or key_sha256 is required")
		case k.KeyEnv != "" && k.KeySHA256 != "":
			ck.add(path, "set only one of key_env and key_sha256")
		case k.KeyEnv != "":
			ck.env(path+".key_env", k.KeyEnv)
			if b, err := hex.DecodeString(k.Key); err == nil && len(b) == 32 {
				ck.add(path+".key_env", "the value of %s is 64 hex digits, which would be read as a sha256 digest; use another key or key_sha256", k.KeyEnv)
			}
		default:
			if b, err := hex.DecodeString(k.KeySHA256); err != nil || len(b) != 32 {
				ck.add(path+".key_sha256", "must be 64 hex digits (the sha256 of the key)")
			}
		}
		id := k.KeyEnv + "|" + strings.ToLower(k.KeySHA256)
		if k.Key != "" {
			id = "value|" + k.Key
		}
		if prev, dup := seen[id]; dup && id != "|" {
			ck.add(path, "same key as %s", prev)
		} else {
			seen[id] = path
		}
		if k.MaxTier != "" {
			ck.tier(path+".max_tier", k.MaxTier)
		}
	}
}

// providers checks the providers and returns the set of valid names.
func (ck *checker) providers(ps []Provider) map[string]bool {
	names := map[string]bool{}
	if len(ps) == 0 {
		ck.add("providers", "at least one provider is required")
	}
	for i := range ps {
		p := &ps[i]
		path := fmt.Sprintf("providers[%d]", i)
		switch {
		case p.Name == "":
			ck.add(path+".name", "is required")
		case names[p.Name]:
			ck.add(path+".name", "duplicate provider name %q", p.Name)
		default:
			names[p.Name] = true
		}
		if !ck.oneOf(path+".type", p.Type, ProviderOpenAI, ProviderAnthropic, ProviderSimulator) {
			continue
		}
		if p.Type == ProviderSimulator {
			ck.simulator(path, p)
		} else {
			ck.realProvider(path, p)
		}
		for _, h := range sortedKeys(p.Headers) {
			ck.headerName(path+".headers", h)
		}
		for _, h := range sortedKeys(p.HeadersEnv) {
			ck.headerName(path+".headers_env", h)
			if _, dup := p.Headers[h]; dup {
				ck.add(path+".headers_env."+h, "also set in headers")
			}
			ck.env(path+".headers_env."+h, p.HeadersEnv[h])
		}
		ck.duration(path+".timeouts.connect", p.Timeouts.Connect)
		ck.duration(path+".timeouts.response_header", p.Timeouts.ResponseHeader)
		ck.duration(path+".timeouts.total", p.Timeouts.Total)
		ck.duration(path+".timeouts.stream_idle", p.Timeouts.StreamIdle)
		ck.positive(path+".max_conns", p.MaxConns)
		ck.duration(path+".max_conn_wait", p.MaxConnWait)
	}
	return names
}

func (ck *checker) simulator(path string, p *Provider) {
	if p.BaseURL != "" {
		ck.add(path+".base_url", "not used by a simulator provider")
	}
	if p.APIKeyEnv != "" {
		ck.add(path+".api_key_env", "not used by a simulator provider")
	}
	if p.AnthropicVersion != "" || p.DefaultMaxTokens != 0 {
		ck.add(path, "anthropic_version and default_max_tokens apply to type anthropic only")
	}
	if p.BatchAPI != nil && *p.BatchAPI {
		ck.add(path+".batch_api", "a simulator provider has no batch API")
	}
	s := p.Simulator
	if s.TimeToFirstToken < 0 {
		ck.add(path+".simulator.time_to_first_token", "must not be negative")
	}
	if s.TokensPerSecond < 0 || !finite(s.TokensPerSecond) {
		ck.add(path+".simulator.tokens_per_second", "must be >= 0 (0 means as fast as possible)")
	}
	ck.rate(path+".simulator.error_rate", s.ErrorRate)
	ck.rate(path+".simulator.rate_limit_rate", s.RateLimitRate)
	if s.ErrorRate+s.RateLimitRate > 1 {
		ck.add(path+".simulator", "error_rate + rate_limit_rate must not exceed 1")
	}
}

func (ck *checker) realProvider(path string, p *Provider) {
	if p.Simulator != nil {
		ck.add(path+".simulator", "only valid with type simulator")
	}
	if p.Type != ProviderAnthropic && (p.AnthropicVersion != "" || p.DefaultMaxTokens != 0) {
		ck.add(path, "anthropic_version and default_max_tokens apply to type anthropic only")
	}
	if p.Type == ProviderAnthropic && p.DefaultMaxTokens < 0 {
		ck.add(path+".default_max_tokens", "must be positive")
	}
	ck.httpURL(path+".base_url", p.BaseURL)
	needKey := p.Type == ProviderAnthropic || p.BaseURL == DefaultOpenAIBaseURL
	switch {
	case p.APIKeyEnv != "":
		ck.env(path+".api_key_env", p.APIKeyEnv)
	case needKey:
		ck.add(path+".api_key_env", "is required for %s at %s", p.Type, p.BaseURL)
	}
}

func (ck *checker) models(c *Config, providers map[string]bool) {
	for _, alias := range sortedKeys(c.Models) {
		path := "models." + alias
		if strings.TrimSpace(alias) == "" {
			ck.add("models", "alias name must not be empty")
		}
		if slices.Contains(c.Routing.AutoAliases, alias) {
			ck.add(path, "alias is also listed in routing.auto_aliases")
		}
		chain := c.Models[alias]
		if len(chain) == 0 {
			ck.add(path, "chain must have at least one target")
		}
		ck.chain(path, chain, providers)
	}
}

func (ck *checker) chain(path string, chain []Target, providers map[string]bool) {
	for i, t := range chain {
		tp := fmt.Sprintf("%s[%d]", path, i)
		switch {
		case t.Provider == "":
			ck.add(tp+".provider", "is required")
		case !providers[t.Provider]:
			ck.add(tp+".provider", "unknown provider %q", t.Provider)
		}
		if t.Model == "" {
			ck.add(tp+".model", "is required")
		}
		if t.Timeout < 0 {
			ck.add(tp+".timeout", "must not be negative")
		}
		if t.ContextWindow < 0 {
			ck.add(tp+".context_window", "must not be negative")
		}
		if t.FirstTokenTimeout < 0 {
			ck.add(tp+".first_token_timeout", "must not be negative")
		}
		if t.Retry != nil {
			ck.retryOverride(tp+".retry", t.Retry)
		}
		if b := t.Breaker; b != nil {
			if b.ConsecutiveFailures < 0 || b.MinRequests < 0 || b.HalfOpenProbes < 0 ||
				b.Window < 0 || b.OpenDuration < 0 || b.MaxOpenDuration < 0 {
				ck.add(tp+".breaker", "settings must not be negative")
			}
			if b.FailureRatio < 0 || b.FailureRatio > 1 {
				ck.add(tp+".breaker.failure_ratio", "must be within [0,1]")
			}
			if b.OpenBackoff != 0 && b.OpenBackoff < 1 {
				ck.add(tp+".breaker.open_backoff", "must be at least 1")
			}
		}
		for j := 0; j < i; j++ {
			if chain[j].Provider == t.Provider && chain[j].Model == t.Model {
				ck.add(tp, "repeats target %d (%s/%s)", j, t.Provider, t.Model)
				break
			}
		}
	}
}

// retryOverride checks a partial retry block (zero fields inherit).
func (ck *checker) retryOverride(path string, r *Retry) {
	if r.MaxAttemptsPerTarget < 0 || r.ConnectAttempts < 0 || r.BackoffInitial < 0 || r.BackoffMax < 0 ||
		r.RetryAfterCap < 0 || r.DefaultSetAside < 0 || r.FirstTokenTimeout < 0 {
		ck.add(path, "settings must not be negative (max_retry_after_wait excepted: negative never waits)")
	}
}

func (ck *checker) routing(c *Config, providers map[string]bool) {
	r := &c.Routing
	seen := map[string]bool{}
	for i, a := range r.AutoAliases {
		path := fmt.Sprintf("routing.auto_aliases[%d]", i)
		switch {
		case strings.TrimSpace(a) == "":
			ck.add(path, "must not be empty")
		case seen[a]:
			ck.add(path, "duplicate alias %q", a)
		}
		seen[a] = true
	}
	ck.tier("routing.default_tier", r.DefaultTier)
	for _, name := range sortedKeys(r.Tiers) {
		path := "routing.tiers." + name
		if !ck.tier(path, name) {
			continue
		}
		t := r.Tiers[name]
		if len(t.Chain) == 0 {
			ck.add(path+".chain", "must have at least one target")
		}
		ck.chain(path+".chain", t.Chain, providers)
		switch max := c.Server.Limits.MaxOutputTokens; {
		case t.MaxOutputTokens < 0:
			ck.add(path+".max_output_tokens", "must not be negative (0 means server.limits.max_output_tokens)")
		case max > 0 && t.MaxOutputTokens > max:
			ck.add(path+".max_output_tokens", "is %d, above server.limits.max_output_tokens (%d), which would refuse it first", t.MaxOutputTokens, max)
		}
		if ck.oneOf(path+".on_exhausted", t.OnExhausted, OnExhaustedEscalate, OnExhaustedDegrade, OnExhaustedFail) {
			if name == TierLarge && t.OnExhausted == OnExhaustedEscalate {
				ck.add(path+".on_exhausted", "large is the top tier and cannot escalate")
			}
			if name == TierSmall && t.OnExhausted == OnExhaustedDegrade {
				ck.add(path+".on_exhausted", "small is the bottom tier and cannot degrade")
			}
		}
	}
	if len(r.AutoAliases) > 0 {
		for _, name := range []string{TierSmall, TierMedium, TierLarge} {
			if _, ok := r.Tiers[name]; !ok {
				ck.add("routing.tiers."+name, "is required while routing.auto_aliases is not empty")
			}
		}
	}

	cl := &r.Classifier
	ck.positive("routing.classifier.small_max_tokens", cl.SmallMaxTokens)
	ck.positive("routing.classifier.medium_max_tokens", cl.MediumMaxTokens)
	if cl.SmallMaxTokens > 0 && cl.MediumMaxTokens <= cl.SmallMaxTokens {
		ck.add("routing.classifier.medium_max_tokens", "must be greater than small_max_tokens (%d)", cl.SmallMaxTokens)
	}
	if cl.Thresholds != nil {
		switch {
		case len(cl.Thresholds) != 2:
			ck.add("routing.classifier.thresholds", "must be two numbers [small|medium, medium|large], got %d", len(cl.Thresholds))
		case !finite(cl.Thresholds[0]) || !finite(cl.Thresholds[1]):
			ck.add("routing.classifier.thresholds", "must be finite, got %v", cl.Thresholds)
		case cl.Model == "hand" && cl.Thresholds[0] >= cl.Thresholds[1]:
			ck.add("routing.classifier.thresholds", "must be increasing with the hand model, got %v", cl.Thresholds)
		}
	}
	if cl.Target.KeepQuality != 0 && cl.Target.StrongShare != 0 {
		ck.add("routing.classifier.target", "set keep_quality or strong_share, not both")
	}
	if q := cl.Target.KeepQuality; q != 0 && !(q > 0 && q <= 1) {
		ck.add("routing.classifier.target.keep_quality", "must be in (0, 1], got %v", q)
	}
	for name, v := range map[string]float64{"strong_share": cl.Target.StrongShare, "large_share": cl.Target.LargeShare} {
		if !(v >= 0 && v <= 1) {
			ck.add("routing.classifier.target."+name, "must be in [0, 1], got %v", v)
		}
	}
	if cl.Session.Margin < 0 || !finite(cl.Session.Margin) {
		ck.add("routing.classifier.session.margin", "must be a finite number >= 0")
	}
	if cl.Session.TTL < 0 {
		ck.add("routing.classifier.session.ttl", "must not be negative")
	}
	if cl.Session.MaxSessions < 0 {
		ck.add("routing.classifier.session.max_sessions", "must not be negative")
	}
	for _, w := range sortedKeys(cl.Weights) {
		if !finite(cl.Weights[w]) {
			ck.add("routing.classifier.weights."+w, "must be a finite number")
		}
	}

	b := &r.Breaker
	ck.positive("routing.breaker.consecutive_failures", b.ConsecutiveFailures)
	ck.unit("routing.breaker.failure_ratio", b.FailureRatio)
	ck.positive("routing.breaker.min_requests", b.MinRequests)
	ck.duration("routing.breaker.window", b.Window)
	ck.duration("routing.breaker.open_duration", b.OpenDuration)
	if b.OpenBackoff < 1 {
		ck.add("routing.breaker.open_backoff", "must be at least 1")
	}
	ck.duration("routing.breaker.max_open_duration", b.MaxOpenDuration)
	ck.positive("routing.breaker.half_open_probes", b.HalfOpenProbes)

	rt := &r.Retry
	ck.positive("routing.retry.max_attempts_per_target", rt.MaxAttemptsPerTarget)
	ck.duration("routing.retry.backoff_initial", rt.BackoffInitial)
	ck.duration("routing.retry.backoff_max", rt.BackoffMax)
	if rt.BackoffInitial > 0 && rt.BackoffMax < rt.BackoffInitial {
		ck.add("routing.retry.backoff_max", "must be at least backoff_initial (%s)", rt.BackoffInitial)
	}
	ck.duration("routing.retry.retry_after_cap", rt.RetryAfterCap)
	ck.duration("routing.retry.default_set_aside", rt.DefaultSetAside)
	ck.positive("routing.retry.connect_attempts", rt.ConnectAttempts)
	ck.duration("routing.retry.first_token_timeout", rt.FirstTokenTimeout)
	for alias, ar := range r.AliasRetry {
		if _, ok := c.Models[alias]; !ok {
			ck.add("routing.alias_retry."+alias, "names no models entry")
		}
		ck.retryOverride("routing.alias_retry."+alias, &ar)
	}
	ck.duration("routing.idempotency.window", r.Idempotency.Window)
	ck.positive("routing.idempotency.max_entries", r.Idempotency.MaxEntries)
	ck.duration("routing.stream_idle_timeout", r.StreamIdleTimeout)
	ck.duration("routing.request_timeout", r.RequestTimeout)
	if mb := r.MicroBatch; mb.MaxItems != nil && mb.Window != nil {
		if *mb.MaxItems < 0 {
			ck.add("routing.micro_batch.max_items", "must not be negative")
		}
		if *mb.Window < 0 || *mb.Window > 100*time.Millisecond {
			ck.add("routing.micro_batch.window", "must be between 0 (off) and 100ms")
		}
		ck.positive("routing.micro_batch.max_tokens", mb.MaxTokens)
	}
}

func (ck *checker) cache(c *Config) {
	e := &c.Cache.Exact
	if e.MaxBytes <= 0 {
		ck.add("cache.exact.max_bytes", "must be positive")
	}
	ck.duration("cache.exact.ttl", e.TTL)

	s := &c.Cache.Semantic
	ck.unit("cache.semantic.threshold", s.Threshold)
	for _, t := range sortedKeys(s.TierThresholds) {
		if ck.tier("cache.semantic.tier_thresholds."+t, t) {
			ck.unit("cache.semantic.tier_thresholds."+t, s.TierThresholds[t])
		}
	}
	for _, a := range sortedKeys(s.AliasThresholds) {
		path := "cache.semantic.alias_thresholds." + a
		if _, ok := c.Models[a]; !ok && !slices.Contains(c.Routing.AutoAliases, a) {
			ck.add(path, "unknown model alias %q", a)
		}
		ck.unit(path, s.AliasThresholds[a])
	}
	ck.positive("cache.semantic.min_prompt_chars", s.MinPromptChars)
	if s.MinTemplateBytes < -1 {
		ck.add("cache.semantic.min_template_bytes", "must be positive, or -1 to turn the template check off")
	}
	ck.duration("cache.semantic.ttl", s.TTL)
	ck.positive("cache.semantic.max_entries", s.MaxEntries)
	ck.positive("cache.semantic.write_queue", s.WriteQueue)
	ck.positive("cache.semantic.batch_size", s.BatchSize)
	ck.duration("cache.semantic.purge_interval", s.PurgeInterval)

	em := &c.Cache.Embedder
	if ck.oneOf("cache.embedder.type", em.Type, EmbedderLexical, EmbedderOpenAI) {
		if em.Type == EmbedderLexical {
			if em.BaseURL != "" || em.APIKeyEnv != "" || em.Model != "" {
				ck.add("cache.embedder", "base_url, api_key_env and model apply to type openai only")
			}
		} else {
			ck.httpURL("cache.embedder.base_url", em.BaseURL)
			switch {
			case em.APIKeyEnv != "":
				ck.env("cache.embedder.api_key_env", em.APIKeyEnv)
			case em.BaseURL == DefaultOpenAIBaseURL:
				ck.add("cache.embedder.api_key_env", "is required for %s", em.BaseURL)
			}
		}
	}
	ck.positive("cache.embedder.dim", em.Dim)
	ck.duration("cache.embedder.timeout", em.Timeout)
	ck.duration("cache.embedder.batch_window", em.BatchWindow)
	ck.positive("cache.embedder.max_batch", em.MaxBatch)
}

func (ck *checker) database(d *Database) {
	if d.URL != "" && strings.Contains(d.URL, "://") {
		u, err := url.Parse(d.URL)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			ck.add("database.url", "must be a postgres:// or postgresql:// URL (or a key=value DSN)")
		}
	}
	ck.positive("database.max_conns", d.MaxConns)
	ck.duration("database.connect_timeout", d.ConnectTimeout)
}

// oneOf reports whether v is one of the allowed values, adding a problem if
// not.
func (ck *checker) oneOf(path, v string, allowed ...string) bool {
	if slices.Contains(allowed, v) {
		return true
	}
	if v == "" {
		ck.add(path, "is required (one of %s)", strings.Join(allowed, ", "))
	} else {
		ck.add(path, "must be one of %s, got %q", strings.Join(allowed, ", "), v)
	}
	return false
}

func (ck *checker) tier(path, v string) bool {
	return ck.oneOf(path, v, TierSmall, TierMedium, TierLarge)
}

func (ck *checker) env(path, name string) {
	if !validEnvName(name) {
		ck.add(path, "%q is not an environment variable name", name)
		return
	}
	if ck.getenv(name) == "" {
		ck.add(path, "environment variable %s is not set", name)
	}
}

func (ck *checker) httpURL(path, raw string) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		ck.add(path, "must be an absolute http(s) URL, got %q", raw)
		return
	}
	if u.User != nil {
		ck.add(path, "must not carry credentials (use api_key_env)")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		ck.add(path, "must not have a query or fragment")
	}
}

func (ck *checker) headerName(path, h string) {
	if h == "" || strings.ContainsAny(h, " \t\r\n:") {
		ck.add(path, "invalid header name %q", h)
	}
}

func (ck *checker) positive(path string, v int) {
	if v <= 0 {
		ck.add(path, "must be positive, got %d", v)
	}
}

func (ck *checker) duration(path string, d time.Duration) {
	if d <= 0 {
		ck.add(path, "must be a positive duration, got %s", d)
	}
}

// unit checks a value in (0,1].
func (ck *checker) unit(path string, v float64) {
	if !(v > 0 && v <= 1) {
		ck.add(path, "must be in (0,1], got %v", v)
	}
}

// rate checks a probability in [0,1].
func (ck *checker) rate(path string, v float64) {
	if !(v >= 0 && v <= 1) {
		ck.add(path, "must be in [0,1], got %v", v)
	}
}

func (ck *checker) price(path string, v float64) {
	if !(v >= 0) || !finite(v) {
		ck.add(path, "must be a non-negative number of USD per 1M tokens, got %v", v)
	}
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_', r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
