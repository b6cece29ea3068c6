package proxy

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"llmrouter/llm"
)

// metrics are the proxy's collectors. They always exist (so the hot path
// needs no nil checks) and are registered only when Options.Registerer is
// set.
type metrics struct {
	requests     *prometheus.CounterVec   // route, status, model, tier, cache
	duration     *prometheus.HistogramVec // route, stream
	inFlight     prometheus.Gauge
	streamEvents *prometheus.CounterVec // route
	tokens       *prometheus.CounterVec // model, kind
	panics       *prometheus.CounterVec // where
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "llmrouter", Subsystem: "proxy", Name: "requests_total",
			Help: "Client requests answered, by route, HTTP status, requested model (empty for client errors), decided tier and cache outcome.",
		}, []string{"route", "status", "model", "tier", "cache"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "llmrouter", Subsystem: "proxy", Name: "request_duration_seconds",
			Help:    "Time from request start to the last byte handed to the connection (streams: to the end of the stream).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300},
		}, []string{"route", "stream"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "llmrouter", Subsystem: "proxy", Name: "in_flight_requests",
			Help: "Requests being processed, streams included until they end.",
		}),
		streamEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "llmrouter", Subsystem: "proxy", Name: "stream_events_total",
			Help: "SSE events written to clients, by route and kind (chunk, heartbeat, error, done).",
		}, []string{"route", "kind"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "llmrouter", Subsystem: "proxy", Name: "tokens_total",
			Help: "Tokens reported by answers, by upstream model and kind (prompt, completion, cached).",
		}, []string{"model", "kind"}),
		panics: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "llmrouter", Subsystem: "proxy", Name: "panics_total",
			Help: "Panics recovered while serving a request, by where they happened (handler, stream, stream_recv); each became a 500 or an SSE error event.",
		}, []string{"where"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.requests, m.duration, m.inFlight, m.streamEvents, m.tokens, m.panics} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

// observe records one finished request.
func (m *metrics) observe(x *exchange, mv *llm.MetaValues, elapsed time.Duration) {
	model := x.model
	if len(model) > 64 || (x.status >= 400 && x.status < 429) {
		// Client errors may carry any model string; keep the label bounded.
		model = ""
	}
	m.requests.WithLabelValues(x.route, statusText(x.status), model, mv.Tier.String(), mv.Cache).Inc()
	stream := "false"
	if x.stream {
		stream = "true"
	}
	m.duration.WithLabelValues(x.route, stream).Observe(elapsed.Seconds())
	if u := x.usage; u != nil {
		um := mv.Model
		if um == "" {
			um = x.upstreamModel
		}
		if u.PromptTokens > 0 {
			m.tokens.WithLabelValues(um, "prompt").Add(float64(u.PromptTokens))
		}
		if u.CompletionTokens > 0 {
			m.tokens.WithLabelValues(um, "completion").Add(float64(u.CompletionTokens))
		}
		if c := u.CachedPromptTokens(); c > 0 {
			m.tokens.WithLabelValues(um, "cached").Add(float64(c))
		}
	}
}

// statusText returns the decimal status without allocating for common ones.
func statusText(s int) string {
	switch s {
	case 200:
		return "200"
	case 400:
		return "400"
	case 401:
		return "401"
	case 403:
		return "403"
	case 404:
		return "404"
	case 405:
		return "405"
	case 413:
		return "413"
	case 429:
		return "429"
	case 499:
		return "499"
	case 500:
		return "500"
	case 502:
		return "502"
	case 503:
		return "503"
	case 504:
		return "504"
	}
	return strconv.Itoa(s)
}
