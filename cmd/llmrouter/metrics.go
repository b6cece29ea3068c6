package main

import (
	"github.com/prometheus/client_golang/prometheus"

	"llmrouter/router"
)

// attemptMetrics counts the router's upstream calls.
type attemptMetrics struct {
	attempts *prometheus.CounterVec // provider, model, kind, reason
}

func newAttemptMetrics(reg prometheus.Registerer) *attemptMetrics {
	m := &attemptMetrics{attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "llmrouter_upstream_attempts_total",
		Help: "Upstream calls made by the router, by provider, upstream model, kind (first, retry: the same target again, failover: another target) and reason (the llm error kind that caused the retry or failover; skipped: earlier targets were open or set aside).",
	}, []string{"provider", "model", "kind", "reason"})}
	reg.MustRegister(m.attempts)
	return m
}

func (m *attemptMetrics) observe(a router.Attempt) {
	m.attempts.WithLabelValues(a.Provider, a.Model, a.Kind, a.Reason).Inc()
}
