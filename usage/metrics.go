package usage

import (
	"errors"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the recorder's Prometheus counters. With a nil Registerer
// they still count (unregistered), so code paths stay the same. Their
// "model" label is the upstream model that answered (or the requested
// alias of a failed call).
type metrics struct {
	tokens      *prometheus.CounterVec // tenant, model, kind=prompt|completion|cache_read|cache_write
	cost        *prometheus.CounterVec // tenant, model
	saved       *prometheus.CounterVec // tenant, model
	routing     *prometheus.CounterVec // tenant
	requests    *prometheus.CounterVec // tenant, model, cache=hit|miss|error
	unpriced    *prometheus.CounterVec // model
	dropped     prometheus.Counter
	written     prometheus.Counter
	writeErrors prometheus.Counter
	latency     *prometheus.HistogramVec // provider, model
	ttft        *prometheus.HistogramVec // provider, model
}

// latencyBuckets are the seconds buckets of the latency histograms.
var latencyBuckets = []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 20, 30, 60, 120}

func newMetrics(reg prometheus.Registerer, log *slog.Logger) *metrics {
	m := &metrics{
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "llmrouter_usage_tokens_total", Help: "Tokens of answered requests by tenant, upstream model and kind (prompt: all prompt tokens; completion; cache_read and cache_write: the prompt tokens read from or written to the provider's cache)."},
			[]string{"tenant", "model", "kind"}),
		cost: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "llmrouter_usage_cost_usd_total", Help: "US dollars spent upstream at list prices, by tenant and upstream model."},
			[]string{"tenant", "model"}),
		saved: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "llmrouter_usage_cache_savings_usd_total", Help: "US dollars not spent because llmrouter's cache answered, by tenant and upstream model."},
			[]string{"tenant", "model"}),
		routing: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "llmrouter_usage_routing_savings_usd_total", Help: "US dollars saved by routing: what the baseline model would have charged for routed requests minus what they cost, by tenant."},
			[]string{"tenant"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "llmrouter_usage_requests_total", Help: "Requests recorded in the usage ledger, by tenant, upstream model and outcome (hit: llmrouter's cache answered, miss: an upstream answered, error)."},
			[]string{"tenant", "model", "cache"}),
		unpriced: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "llmrouter_usage_unpriced_total", Help: "Answered requests whose upstream model has no price (shown as unpriced, not as free)."},
			[]string{"model"}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "llmrouter_usage_dropped_total", Help: "Usage records lost: the recorder's queue was full, or the ledger store failed for longer than its retry buffer."}),
		written: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "llmrouter_usage_written_total", Help: "Usage records written to the ledger store."}),
		writeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "llmrouter_usage_write_errors_total", Help: "Failed ledger batch writes (each is retried; see llmrouter_usage_dropped_total for losses)."}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "llmrouter_upstream_latency_seconds", Help: "Time from the call to the end of the answer, for answers from an upstream (cache hits excluded), by provider and upstream model.",
			Buckets: latencyBuckets}, []string{"provider", "model"}),
		ttft: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "llmrouter_time_to_first_token_seconds", Help: "Time from the call to the first streamed content chunk (unary answers: the whole answer), for answers from an upstream, by provider and upstream model.",
			Buckets: latencyBuckets}, []string{"provider", "model"}),
	}
	if reg == nil {
		return m
	}
	m.tokens = register(reg, log, m.tokens)
	m.cost = register(reg, log, m.cost)
	m.saved = register(reg, log, m.saved)
	m.routing = register(reg, log, m.routing)
	m.requests = register(reg, log, m.requests)
	m.unpriced = register(reg, log, m.unpriced)
	m.dropped = register(reg, log, m.dropped)
	m.written = register(reg, log, m.written)
	m.writeErrors = register(reg, log, m.writeErrors)
	m.latency = register(reg, log, m.latency)
	m.ttft = register(reg, log, m.ttft)
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
	outcome := "miss"
	switch {
	case r.Error:
		outcome = "error"
	case r.CacheHit:
		outcome = "hit"
	}
	m.requests.WithLabelValues(r.Tenant, r.Model, outcome).Inc()
	t := r.Tokens
	for _, kv := range [...]struct {
		kind string
		n    int
	}{{"prompt", t.Prompt}, {"completion", t.Completion}, {"cache_read", t.CacheRead}, {"cache_write", t.CacheWrite}} {
		if kv.n > 0 && !r.CacheHit {
			m.tokens.WithLabelValues(r.Tenant, r.Model, kv.kind).Add(float64(kv.n))
		}
	}
	if r.CostMicro > 0 {
		m.cost.WithLabelValues(r.Tenant, r.Model).Add(float64(r.CostMicro) / 1e6)
	}
	if r.SavedCacheMicro > 0 {
		m.saved.WithLabelValues(r.Tenant, r.Model).Add(float64(r.SavedCacheMicro) / 1e6)
	}
	if d := r.BaselineMicro - r.CostMicro; r.Routed && !r.CacheHit && !r.Error && r.Priced && d > 0 {
		m.routing.WithLabelValues(r.Tenant).Add(float64(d) / 1e6)
	}
	if !r.Priced && !r.Error {
		m.unpriced.WithLabelValues(r.Model).Inc()
	}
	if !r.Error && !r.CacheHit {
		m.latency.WithLabelValues(r.Provider, r.Model).Observe(r.Latency.Seconds())
		m.ttft.WithLabelValues(r.Provider, r.Model).Observe(r.TTFT.Seconds())
	}
}
