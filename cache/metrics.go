package cache

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	lookups      *prometheus.CounterVec // outcome: exact, semantic, miss, bypass
	rejected     *prometheus.CounterVec // reason: threshold, guard, template
	errors       *prometheus.CounterVec // op: embed, search, version, insert, purge
	writeDropped prometheus.Counter
	written      prometheus.Counter
	purged       prometheus.Counter
	skipped      *prometheus.CounterVec // reason: too_long
}

func newMetrics(reg prometheus.Registerer, dbUp func() float64) *metrics {
	m := &metrics{
		lookups: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "llmrouter_cache_lookups_total",
			Help: "Cache lookups by outcome (exact, semantic, miss, bypass)."}, []string{"outcome"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "llmrouter_cache_semantic_rejected_total",
			Help: "Semantic candidates rejected, by reason (threshold, guard, template: a shared prompt template with different variable parts)."}, []string{"reason"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "llmrouter_cache_errors_total",
			Help: "Cache backend failures by operation; each one is a miss or a lost write, never a client error."}, []string{"op"}),
		writeDropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "llmrouter_cache_write_dropped_total",
			Help: "Semantic cache writes dropped because the write queue was full or the cache closing."}),
		written: prometheus.NewCounter(prometheus.CounterOpts{Name: "llmrouter_cache_semantic_written_total",
			Help: "Semantic cache entries written."}),
		purged: prometheus.NewCounter(prometheus.CounterOpts{Name: "llmrouter_cache_semantic_purged_total",
			Help: "Expired semantic cache entries deleted."}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "llmrouter_cache_semantic_skipped_total",
			Help: "Requests that skipped the semantic layer for their size (reason too_long: the final user turn is over semantic_max_prompt_bytes)."}, []string{"reason"}),
	}
	if reg != nil {
		reg.MustRegister(m.lookups, m.rejected, m.errors, m.writeDropped, m.written, m.purged, m.skipped,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "llmrouter_cache_db_up",
				Help: "1 when the semantic cache database answers, 0 when the semantic layer is off because it does not."}, dbUp))
	}
	return m
}
