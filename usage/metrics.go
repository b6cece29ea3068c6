package usage

import (
	"errors"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the recorder's Prometheus counters. With a nil Registerer
// they still count (unregistered), so code paths stay the same.
type metrics struct {
	tokens   *prometheus.CounterVec // tenant, model, kind=prompt|completion|cached
	cost     *prometheus.CounterVec // tenant, model
	saved    *prometheus.CounterVec // tenant, model
	requests *prometheus.CounterVec // tenant, model, cache=hit|miss
	unpriced *prometheus.CounterVec // model
	dropped  prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, log *slog.Logger) *metrics {
	m := &metrics{
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "llmrouter_usage_tokens_total", Help: "Tokens of answered requests by tenant, upstream model and kind (prompt, completion, cached: prompt tokens read from the provider's cache)."},
			[]string{"tenant", "model", "kind"}),
		cost: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "llmrouter_usage_cost_usd_total", Help: "US dollars spent upstream at list prices, by tenant and upstream model."},
			[]string{"tenant", "model"}),
		saved: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "llmrouter_usage_cache_savings_usd_total", Help: "US dollars not spent because llmrouter's cache answered, by tenant and model."},
			[]string{"tenant", "model"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "llmrouter_usage_requests_total", Help: "Answered requests recorded in the usage ledger, by tenant, model and cache outcome (hit, miss)."},
			[]string{"tenant", "model", "cache"}),
		unpriced: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "llmrouter_usage_unpriced_total", Help: "Answered requests whose upstream model has no price (counted at cost 0)."},
			[]string{"model"}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "llmrouter_usage_dropped_total", Help: "Usage records dropped because the recorder's queue was full."}),
	}
	if reg == nil {
		return m
	}
	m.tokens = register(reg, log, m.tokens)
	m.cost = register(reg, log, m.cost)
	m.saved = register(reg, log, m.saved)
	m.requests = register(reg, log, m.requests)
	m.unpriced = register(reg, log, m.unpriced)
	m.dropped = register(reg, log, m.dropped)
	return m
}

// register registers c, reusing an identical collector already registered
// (a second Recorder on the same registry); other failures are logged and
// c counts unregistered.
func register[C prometheus.Collector](reg prometheus.Registerer, log *slog.Logger, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		log.Error("usage: cannot register metric", "err", err)
	}
	return c
}

func (m *metrics) observe(r *Record) {
	cache := "miss"
	if r.CacheHit {
		cache = "hit"
	}
	m.requests.WithLabelValues(r.Tenant, r.Model, cache).Inc()
	if r.PromptTokens > 0 {
		m.tokens.WithLabelValues(r.Tenant, r.Model, "prompt").Add(float64(r.PromptTokens))
	}
	if r.CompletionTokens > 0 {
		m.tokens.WithLabelValues(r.Tenant, r.Model, "completion").Add(float64(r.CompletionTokens))
	}
	if r.CachedTokens > 0 {
		m.tokens.WithLabelValues(r.Tenant, r.Model, "cached").Add(float64(r.CachedTokens))
	}
	if r.CostUSD > 0 {
		m.cost.WithLabelValues(r.Tenant, r.Model).Add(r.CostUSD)
	}
	if r.SavedUSD > 0 {
		m.saved.WithLabelValues(r.Tenant, r.Model).Add(r.SavedUSD)
	}
	if r.Unpriced {
		m.unpriced.WithLabelValues(r.Model).Inc()
	}
}
