package router

import (
	"errors"
	"log/slog"
	"reflect"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sony/gobreaker/v2"

	"llmrouter/llm"
)

// targetKey identifies a target's health state: breakers and set-asides are
// per (provider, upstream model), whatever chains the target appears in.
type targetKey struct{ provider, model string }

// targetState is the mutable health of one target. It outlives snapshots:
// Update hands it to the new snapshot when the provider client and the
// breaker settings did not change.
type targetState struct {
	key      targetKey
	provider llm.Completer // identity, to detect a replaced client on reload
	cb       *gobreaker.TwoStepCircuitBreaker[struct{}]
	// setAsideUntil (unix ns) skips the target without a call after a 429.
	setAsideUntil atomic.Int64
	// openUntil (unix ns) is when the open breaker lets probes through.
	openUntil atomic.Int64
}

// errNotCounted is reported to the breaker for outcomes that say nothing
// about the target's health (429, local overload, cancellation).
var errNotCounted = errors.New("router: outcome not counted")

func newTargetState(k targetKey, p llm.Completer, b BreakerOptions, log *slog.Logger) *targetState {
	ts := &targetState{key: k, provider: p}
	bucket := b.Window / 10
	if bucket < time.Millisecond {
		bucket = 0
	}
	ts.cb = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:         k.provider + "/" + k.model,
		MaxRequests:  b.HalfOpenProbes,
		Interval:     b.Window,
		BucketPeriod: bucket,
		Timeout:      b.OpenTimeout,
		ReadyToTrip: func(c gobreaker.Counts) bool {
			if c.ConsecutiveFailures >= b.ConsecutiveFailures {
				return true
			}
			n := c.TotalFailures + c.TotalSuccesses
			return b.FailureRatio > 0 && n >= b.MinRequests && float64(c.TotalFailures)/float64(n) >= b.FailureRatio
		},
		IsSuccessful: func(err error) bool { return err == nil },
		IsExcluded:   func(err error) bool { return errors.Is(err, errNotCounted) },
		OnStateChange: func(_ string, from, to gobreaker.State) {
			if to == gobreaker.StateOpen {
				ts.openUntil.Store(time.Now().Add(b.OpenTimeout).UnixNano())
			}
			log.Warn("router breaker state change", "provider", k.provider, "model", k.model,
				"from", from.String(), "to", to.String())
			if b.OnStateChange != nil {
				b.OnStateChange(k.provider, k.model, from.String(), to.String())
			}
		},
	})
	return ts
}

// setAside keeps the target out of rotation for d.
func (ts *targetState) setAside(d time.Duration) {
	until := time.Now().Add(d).UnixNano()
	for {
		cur := ts.setAsideUntil.Load()
		if cur >= until || ts.setAsideUntil.CompareAndSwap(cur, until) {
			return
		}
	}
}

// asideUntil returns the end of the current set-aside, or zero.
func (ts *targetState) asideUntil(now time.Time) time.Time {
	if u := ts.setAsideUntil.Load(); u > now.UnixNano() {
		return time.Unix(0, u)
	}
	return time.Time{}
}

// sameProvider reports whether a and b are the same client instance.
// Uncomparable dynamic types are never the same.
func sameProvider(a, b llm.Completer) bool {
	ta, tb := reflect.TypeOf(a), reflect.TypeOf(b)
	return ta == tb && ta != nil && ta.Comparable() && a == b
}

// TargetHealth is one target's state, for /readyz.
type TargetHealth struct {
	Provider string
	Model    string
	// State is "closed", "half-open" or "open".
	State string
	// SetAsideUntil is the end of a 429 set-aside, zero when none.
	SetAsideUntil time.Time
	// ConsecutiveFailures is the breaker's current count.
	ConsecutiveFailures uint32
}

// Available reports whether the target would be called now.
func (h TargetHealth) Available() bool {
	return h.State != "open" && (h.SetAsideUntil.IsZero() || time.Now().After(h.SetAsideUntil))
}

// breakerCollector exports llmrouter_breaker_state from the current
// snapshot at scrape time, so the value is never stale and removed targets
// disappear.
type breakerCollector struct {
	r    *Router
	desc *prometheus.Desc
}

func newBreakerCollector(r *Router) *breakerCollector {
	return &breakerCollector{r: r, desc: prometheus.NewDesc("llmrouter_breaker_state",
		"Circuit breaker state per target: 0 closed, 1 half-open, 2 open.",
		[]string{"provider", "model"}, nil)}
}

func (c *breakerCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *breakerCollector) Collect(ch chan<- prometheus.Metric) {
	for _, ts := range c.r.snap.Load().states {
		var v float64
		switch ts.cb.State() {
		case gobreaker.StateHalfOpen:
			v = 1
		case gobreaker.StateOpen:
			v = 2
		}
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, v, ts.key.provider, ts.key.model)
	}
}
