package router

import (
	"errors"
	"log/slog"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

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

// breaker is an adaptive circuit breaker. Closed, it counts outcomes and
// opens on ConsecutiveFailures in a row or on FailureRatio within Window.
// The first open period is OpenTimeout; each re-open without a healthy
// closed Window in between multiplies it by OpenBackoff, up to
// MaxOpenTimeout. After the open period at most HalfOpenProbes calls pass
// (in flight and completed together, so probes cannot multiply traffic);
// that many successes close it, any failure re-opens it with the next
// period. Outcomes of calls admitted before a state change are ignored.
// Safe for concurrent use.
type breaker struct {
	o   BreakerOptions
	log *slog.Logger
	key targetKey

	mu          sync.Mutex
	state       breakerState
	gen         uint64 // bumped on every state change
	consecutive uint32
	failures    uint32 // in the current closed window
	successes   uint32
	windowStart time.Time
	trips       int       // opens since the last healthy closed window
	closedAt    time.Time // when it last closed
	openFor     time.Duration
	openUntil   time.Time
	probes      uint32 // half-open admissions (in flight or succeeded)
	probeOK     uint32
}

func newBreaker(k targetKey, o BreakerOptions, log *slog.Logger) *breaker {
	return &breaker{o: o, log: log, key: k, windowStart: time.Now()}
}

// allow admits a call, or refuses it with errBreakerOpen or errProbesInUse.
// The returned done must be called exactly once with the call's outcome:
// nil (healthy), errNotCounted (says nothing) or any other error (failure).
func (b *breaker) allow(now time.Time) (func(error), error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == stateOpen {
		if now.Before(b.openUntil) {
			return nil, errBreakerOpen
		}
		b.setState(stateHalfOpen, now)
	}
	if b.state == stateHalfOpen {
		if b.probes >= b.o.HalfOpenProbes {
			return nil, errProbesInUse
		}
		b.probes++
	}
	gen := b.gen
	return func(err error) { b.outcome(gen, err) }, nil
}

func (b *breaker) outcome(gen uint64, err error) {
	now := time.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	if gen != b.gen {
		return
	}
	excluded := errors.Is(err, errNotCounted)
	switch b.state {
	case stateHalfOpen:
		switch {
		case excluded:
			b.probes-- // the slot is free again
		case err == nil:
			b.probeOK++
			if b.probeOK >= b.o.HalfOpenProbes {
				b.setState(stateClosed, now)
			}
		default:
			b.trip(now)
		}
	case stateClosed:
		if excluded {
			return
		}
		if now.Sub(b.windowStart) >= b.o.Window {
			b.failures, b.successes, b.windowStart = 0, 0, now
		}
		if err == nil {
			b.consecutive = 0
			b.successes++
			return
		}
		b.consecutive++
		b.failures++
		n := b.failures + b.successes
		if b.consecutive >= b.o.ConsecutiveFailures ||
			b.o.FailureRatio > 0 && n >= b.o.MinRequests && float64(b.failures)/float64(n) >= b.o.FailureRatio {
			b.trip(now)
		}
	}
}

// trip opens the breaker for the next open period. Mu held.
func (b *breaker) trip(now time.Time) {
	if b.trips > 0 && b.state == stateClosed && now.Sub(b.closedAt) >= b.o.Window {
		b.trips = 0 // it was healthy for a whole window: start short again
	}
	d := b.o.OpenTimeout
	for i := 0; i < b.trips && d < b.o.MaxOpenTimeout; i++ {
		d = time.Duration(float64(d) * b.o.OpenBackoff)
	}
	d = min(d, b.o.MaxOpenTimeout)
	b.trips++
	b.openFor, b.openUntil = d, now.Add(d)
	b.setState(stateOpen, now)
}

// setState changes the state and resets the per-state counters. Mu held.
func (b *breaker) setState(to breakerState, now time.Time) {
	from := b.state
	b.state = to
	b.gen++
	b.consecutive, b.failures, b.successes, b.windowStart = 0, 0, 0, now
	b.probes, b.probeOK = 0, 0
	if to == stateClosed {
		b.closedAt = now
	}
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
	b.mu.Lock()
	defer b.mu.Unlock()
	v := breakerView{state: b.state, consecutive: b.consecutive}
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
