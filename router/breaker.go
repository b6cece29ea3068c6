package router

import (
	"errors"
	"log/slog"
	"reflect"
	"sync"
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
	cb       *breaker
	// setAsideUntil (unix ns) skips the target without a call after a 429.
	setAsideUntil atomic.Int64
	// prefillRefused is set once the target rejected an assistant prefill:
	// later rescues regenerate on it instead.
	prefillRefused atomic.Bool
}

// errNotCounted is reported to the breaker for outcomes that say nothing
// about the target's health (429, local overload, cancellation).
var errNotCounted = errors.New("router: outcome not counted")

// Breaker refusals, from (*breaker).allow.
var (
	errBreakerOpen  = errors.New("router: breaker open")
	errProbesInUse  = errors.New("router: half-open probes in flight")
	breakerStateStr = [...]string{"closed", "half-open", "open"}
)

type breakerState uint8

const (
	stateClosed breakerState = iota
	stateHalfOpen
	stateOpen
)

func (s breakerState) String() string { return breakerStateStr[s] }

// breaker is an adaptive circuit breaker on top of gobreaker's
// TwoStepCircuitBreaker, which keeps the state machine: closed, it counts
// outcomes over a rolling Window (gobreaker's Interval in buckets) and opens
// on ConsecutiveFailures in a row or on FailureRatio (once MinRequests
// outcomes were counted); half-open, it admits at most HalfOpenProbes calls
// (in flight and completed together, so probes cannot multiply traffic);
// that many successes close it, any failure re-opens it; outcomes of calls
// admitted before a state change are ignored (gobreaker's generations).
//
// What gobreaker cannot do is an open period that grows: its Timeout is
// fixed. So gobreaker's Timeout is the shortest period (OpenTimeout) and
// this type adds a gate in front: on every open it computes the period
// (OpenTimeout, times OpenBackoff for each re-open without a healthy closed
// Window in between, capped at MaxOpenTimeout) and refuses calls until it
// has passed, before asking gobreaker. Safe for concurrent use.
//
// Lock order: gobreaker's mutex, then mu (OnStateChange runs under
// gobreaker's mutex and takes mu); mu is never held while calling cb.
type breaker struct {
	o   BreakerOptions
	log *slog.Logger
	key targetKey
	cb  *gobreaker.TwoStepCircuitBreaker[struct{}]

	mu        sync.Mutex
	state     breakerState // as reported: open until openUntil, even when cb is already half-open
	trips     int          // opens since the last healthy closed window
	closedAt  time.Time    // when it last closed
	openFor   time.Duration
	openUntil time.Time
}

// windowBuckets is how many buckets gobreaker's rolling window has.
const windowBuckets = 10

func newBreaker(k targetKey, o BreakerOptions, log *slog.Logger) *breaker {
	b := &breaker{o: o, log: log, key: k, closedAt: time.Now()}
	b.cb = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:          k.provider + "/" + k.model,
		MaxRequests:   o.HalfOpenProbes,
		Interval:      o.Window,
		BucketPeriod:  o.Window / windowBuckets,
		Timeout:       o.OpenTimeout,
		ReadyToTrip:   b.readyToTrip,
		OnStateChange: b.onStateChange,
		IsExcluded:    func(err error) bool { return errors.Is(err, errNotCounted) },
	})
	return b
}

// readyToTrip is the closed state's rule: ConsecutiveFailures in a row, or
// the failure ratio over the window once MinRequests outcomes are counted.
func (b *breaker) readyToTrip(c gobreaker.Counts) bool {
	if c.ConsecutiveFailures >= b.o.ConsecutiveFailures {
		return true
	}
	n := c.TotalSuccesses + c.TotalFailures
	return b.o.FailureRatio > 0 && n >= b.o.MinRequests && float64(c.TotalFailures)/float64(n) >= b.o.FailureRatio
}

// onStateChange follows gobreaker's transitions (under its mutex). An open
// starts the next adaptive period; gobreaker's own move to half-open is
// reported only once that period has passed (see allow).
func (b *breaker) onStateChange(_ string, from, to gobreaker.State) {
	now := time.Now()
	b.mu.Lock()
	switch to {
	case gobreaker.StateOpen:
		if from == gobreaker.StateClosed && b.trips > 0 && now.Sub(b.closedAt) >= b.o.Window {
			b.trips = 0 // it was healthy for a whole window: start short again
		}
		d := b.o.OpenTimeout
		for i := 0; i < b.trips && d < b.o.MaxOpenTimeout; i++ {
			d = time.Duration(float64(d) * b.o.OpenBackoff)
		}
		d = min(d, b.o.MaxOpenTimeout)
		b.trips++
		b.openFor, b.openUntil = d, now.Add(d)
		b.setStateLocked(stateOpen)
	case gobreaker.StateHalfOpen:
		if !now.Before(b.openUntil) {
			b.setStateLocked(stateHalfOpen)
		}
	case gobreaker.StateClosed:
		b.closedAt = now
		b.setStateLocked(stateClosed)
	}
	b.mu.Unlock()
}

// allow admits a call, or refuses it with errBreakerOpen or errProbesInUse.
// The returned done must be called exactly once with the call's outcome:
// nil (healthy), errNotCounted (says nothing) or any other error (failure).
func (b *breaker) allow(now time.Time) (func(error), error) {
	b.mu.Lock()
	if b.state == stateOpen && now.Before(b.openUntil) {
		b.mu.Unlock()
		return nil, errBreakerOpen
	}
	b.mu.Unlock()
	done, err := b.cb.Allow()
	switch {
	case errors.Is(err, gobreaker.ErrOpenState):
		return nil, errBreakerOpen
	case errors.Is(err, gobreaker.ErrTooManyRequests):
		b.noteHalfOpen()
		return nil, errProbesInUse
	case err != nil:
		return nil, err
	}
	b.noteHalfOpen()
	return done, nil
}

// noteHalfOpen reports the half-open state once the adaptive period is over
// and gobreaker let a probe through (or has its probes in flight).
func (b *breaker) noteHalfOpen() {
	if b.cb.State() != gobreaker.StateHalfOpen {
		return
	}
	b.mu.Lock()
	if b.state == stateOpen {
		b.setStateLocked(stateHalfOpen)
	}
	b.mu.Unlock()
}

// setStateLocked records a reported state change, logs it and calls the
// OnStateChange hook. mu held.
func (b *breaker) setStateLocked(to breakerState) {
	from := b.state
	if from == to {
		return
	}
	b.state = to
	b.log.Warn("router breaker state change", "provider", b.key.provider, "model", b.key.model,
		"from", from.String(), "to", to.String(), "open_for", b.openFor)
	if b.o.OnStateChange != nil {
		b.o.OnStateChange(b.key.provider, b.key.model, from.String(), to.String())
	}
}

// breakerView is a consistent read of a breaker.
type breakerView struct {
	state       breakerState
	consecutive uint32
	openFor     time.Duration
	nextProbe   time.Time // open: when probes may pass; else zero
}

func (b *breaker) view() breakerView {
	c := b.cb.Counts()
	b.mu.Lock()
	defer b.mu.Unlock()
	v := breakerView{state: b.state, consecutive: c.ConsecutiveFailures}
	if b.state == stateOpen {
		v.openFor, v.nextProbe = b.openFor, b.openUntil
	}
	return v
}

func newTargetState(k targetKey, p llm.Completer, b BreakerOptions, log *slog.Logger) *targetState {
	return &targetState{key: k, provider: p, cb: newBreaker(k, b, log)}
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
	// NextProbe is when an open breaker lets its half-open probes through;
	// zero unless State is "open".
	NextProbe time.Time
	// OpenFor is the current open period; zero unless State is "open".
	OpenFor time.Duration
}

// Available reports whether the target would be called now.
func (h TargetHealth) Available() bool {
	return h.State != "open" && (h.SetAsideUntil.IsZero() || time.Now().After(h.SetAsideUntil))
}

// breakerCollector exports llmrouter_breaker_state and
// llmrouter_breaker_next_probe_timestamp_seconds from the current snapshot
// at scrape time, so the values are never stale and removed targets
// disappear.
type breakerCollector struct {
	r         *Router
	state     *prometheus.Desc
	nextProbe *prometheus.Desc
}

func newBreakerCollector(r *Router) *breakerCollector {
	labels := []string{"provider", "model"}
	return &breakerCollector{r: r,
		state: prometheus.NewDesc("llmrouter_breaker_state",
			"Circuit breaker state per target: 0 closed, 1 half-open, 2 open.", labels, nil),
		nextProbe: prometheus.NewDesc("llmrouter_breaker_next_probe_timestamp_seconds",
			"Unix time at which an open breaker lets its half-open probes through; 0 when not open.", labels, nil),
	}
}

func (c *breakerCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.state
	ch <- c.nextProbe
}

func (c *breakerCollector) Collect(ch chan<- prometheus.Metric) {
	for _, ts := range c.r.snap.Load().states {
		v := ts.cb.view()
		var next float64
		if !v.nextProbe.IsZero() {
			next = float64(v.nextProbe.UnixNano()) / 1e9
		}
		ch <- prometheus.MustNewConstMetric(c.state, prometheus.GaugeValue, float64(v.state), ts.key.provider, ts.key.model)
		ch <- prometheus.MustNewConstMetric(c.nextProbe, prometheus.GaugeValue, next, ts.key.provider, ts.key.model)
	}
}
