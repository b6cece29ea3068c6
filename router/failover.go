package router

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"llmrouter/llm"
)

// failover walks one request's targets. It is owned by one goroutine.
//
// What it does after a failed attempt depends on the error's class (see
// errClass for the table; the README carries the same one), with each
// target's RetryOptions: a request is resent to the same target only when
// the provider cannot have started work on it (not sent, or an unbilled
// 5xx/429/503/529 status), so a retry is never billed twice. Breaker
// outcomes follow breakerFor.
//
// Open and set-aside targets are skipped without a call. When no target is
// left the last meaningful error is returned, or KindNoHealthyProvider with
// a Retry-After when every target was skipped.
type failover struct {
	s        *snapshot
	targets  []*target
	meta     *llm.Meta
	pos      int  // current target
	tries    int  // attempts on targets[pos]
	waited   bool // a Retry-After was waited out on targets[pos]
	attempts int  // upstream calls made for the request
	// minWindow > 0 admits only targets with a larger ContextWindow.
	minWindow  int
	last       *llm.Error // last meaningful error
	soonest    time.Time  // earliest time a skipped target is available again
	lastTarget *target
}

func newFailover(s *snapshot, targets []*target, meta *llm.Meta) *failover {
	return &failover{s: s, targets: targets, meta: meta}
}

// next returns the next target to call and the breaker callback that must
// be called exactly once with the attempt's outcome. rctx is the request's
// budget, parent the caller's context.
func (f *failover) next(rctx, parent context.Context) (*target, func(error), error) {
	for ; f.pos < len(f.targets); f.pos, f.tries, f.waited = f.pos+1, 0, false {
		if rctx.Err() != nil {
			return nil, nil, f.ctxErr(parent)
		}
		t := f.targets[f.pos]
		if f.tries < 0 ||
			f.minWindow > 0 && t.ContextWindow <= f.minWindow {
			continue
		}
		now := time.Now()
		if until := t.state.asideUntil(now); !until.IsZero() {
			f.skipped(until)
			continue
		}
		done, err := t.state.cb.allow(now)
		if err != nil {
			until := t.state.cb.view().nextProbe
			if !errors.Is(err, errBreakerOpen) || until.Before(now) {
				until = now.Add(time.Second) // half-open, probes in flight
			}
			f.skipped(until)
			continue
		}
		f.tries++
		f.attempts++
		f.lastTarget = t
		f.meta.Update(func(m *llm.MetaValues) {
			m.Attempts = f.attempts
			m.Provider, m.Model = t.Provider, t.Model
		})
		return t, done, nil
	}
	return nil, nil, f.exhausted()
}

func (f *failover) skipped(until time.Time) {
	if f.soonest.IsZero() || until.Before(f.soonest) {
		f.soonest = until
	}
}

// moveOn makes next start at the following target.
func (f *failover) moveOn() { f.tries = -1 }

// answered records the target that answered.
func (f *failover) answered(t *target) {
	f.meta.Update(func(m *llm.MetaValues) {
		m.Attempts = f.attempts
		m.Provider, m.Model = t.Provider, t.Model
	})
}

func (f *failover) exhausted() error {
	if f.last != nil {
		return f.last
	}
	ra := time.Until(f.soonest)
	if ra < time.Second {
		ra = time.Second
	}
	return &llm.Error{Kind: llm.KindNoHealthyProvider, RetryAfter: ra,
		Message: "no healthy provider for this model: every target is open or rate limited"}
}

// ctxErr is the error when the request's budget ended.
func (f *failover) ctxErr(parent context.Context) error {
	if errors.Is(parent.Err(), context.Canceled) {
		return &llm.Error{Kind: llm.KindCanceled, Message: "request canceled", Err: parent.Err()}
	}
	e := &llm.Error{Kind: llm.KindTimeout,
		Message: fmt.Sprintf("request deadline exceeded after %d upstream attempts", f.attempts)}
	if f.last != nil {
		e.Err = f.last
	}
	return e
}

// failed classifies the error of an attempt on t, reports it to the
// breaker through done, and returns nil when the caller should call next
// again, or the error to return to the client. timedOut says the attempt's
// own deadline (not the request's) ended it.
func (f *failover) failed(rctx, parent context.Context, t *target, done func(error), err error, timedOut bool) error {
	e := llm.AsError(err)
	if rctx.Err() != nil {
		done(errNotCounted)
		if f.last == nil && e.Kind != llm.KindCanceled && e.Kind != llm.KindTimeout {
			f.last = e
		}
		return f.ctxErr(parent)
	}
	if timedOut && e.Kind != llm.KindTimeout {
		e = &llm.Error{Kind: llm.KindTimeout, Provider: t.Provider, Err: err,
			Message: fmt.Sprintf("%s did not answer within %s", t, t.Timeout)}
	}
	c := classify(e, timedOut)
	done(breakerFor(c, e))
	log := f.s.log.With("provider", t.Provider, "model", t.Model, "kind", e.Kind.String(),
		"class", c.String(), "status", e.Status, "attempt", f.tries)
	ro := t.retry
	switch c {
	case classNotSent:
		f.last = e
		if f.tries >= ro.ConnectAttempts {
			log.Info("router request not sent, failing over", "err", e)
			f.moveOn()
			return nil
		}
		log.Info("router request not sent, retrying", "err", e)
		return f.backoff(rctx, parent, t)
	case classSilent, classRejected:
		f.last = e
		log.Warn("router target failed, failing over without retry", "err", e)
		f.moveOn()
		return nil
	case classServerError:
		f.last = e
		if f.tries >= ro.MaxAttemptsPerTarget {
			log.Info("router attempt failed, failing over", "err", e)
			f.moveOn()
			return nil
		}
		log.Info("router attempt failed, retrying", "err", e)
		return f.backoff(rctx, parent, t)
	case classRetryAfter:
		f.last = e
		return f.retryAfter(rctx, parent, t, e, log)
	case classLocal:
		if f.last == nil || f.last.Kind == llm.KindOverloaded || f.last.Kind == llm.KindNoHealthyProvider {
			f.last = e
		}
		log.Info("router target overloaded locally, failing over")
		f.moveOn()
		return nil
	case classCanceled:
		// Not the request's cancellation (checked above): the provider
		// gave up on its own. Say nothing about its health; try the next.
		f.moveOn()
		return nil
	case classContextLength:
		if t.ContextWindow > 0 && f.hasLargerWindow(t.ContextWindow) {
			f.minWindow = max(f.minWindow, t.ContextWindow)
			log.Info("router prompt too long, trying a larger context window")
			f.moveOn()
			return nil
		}
		return e
	}
	// Client-caused (or our own bug): not the target's fault, never failed over.
	return e
}

// retryAfter handles a 429 (or 503/529 with Retry-After): a wait that fits
// MaxRetryAfterWait and the remaining budget is waited out once on t;
// otherwise t is set aside for it and the request fails over.
func (f *failover) retryAfter(rctx, parent context.Context, t *target, e *llm.Error, log *slog.Logger) error {
	ro := t.retry
	d := e.RetryAfter
	if d > 0 && !f.waited && ro.MaxRetryAfterWait > 0 && d <= ro.MaxRetryAfterWait && f.fits(rctx, d) {
		f.waited = true
		log.Info("router target rate limited, waiting out its retry-after", "for", d)
		return f.sleep(rctx, parent, d)
	}
	if d <= 0 {
		d = ro.DefaultSetAside
	}
	d = min(d, ro.MaxSetAside)
	t.state.setAside(d)
	f.skipped(time.Now().Add(d))
	log.Info("router target rate limited, set aside", "for", d)
	f.moveOn()
	return nil
}

// fits reports whether waiting d leaves part of the request's budget for
// the retry itself (a quarter of what remains now, at least).
func (f *failover) fits(rctx context.Context, d time.Duration) bool {
	dl, ok := rctx.Deadline()
	return !ok || d < time.Until(dl)*3/4
}

// rescue reorders the targets after the current one for a mid-stream
// rescue: Prefill targets first (they continue the delivered text), then
// the others (they regenerate it). The chain itself is not modified.
func (f *failover) rescue() {
	rest := f.targets[min(f.pos+1, len(f.targets)):]
	out := append(make([]*target, 0, len(f.targets)), f.targets[:len(f.targets)-len(rest)]...)
	for _, pass := range []bool{true, false} {
		for _, t := range rest {
			if (t.Prefill && !t.state.prefillRefused.Load()) == pass {
				out = append(out, t)
			}
		}
	}
	f.targets = out
}

func (f *failover) hasLargerWindow(w int) bool {
	for _, t := range f.targets[f.pos+1:] {
		if t.ContextWindow > w {
			return true
		}
	}
	return false
}

// backoff sleeps before a retry on the same target, or moves on when the
// target may not be retried now (breaker open, no time left).
func (f *failover) backoff(rctx, parent context.Context, t *target) error {
	ro := t.retry
	if t.state.cb.view().state == stateOpen {
		f.moveOn()
		return nil
	}
	ceil := ro.BackoffBase << (max(f.tries, 1) - 1)
	if ceil > ro.BackoffMax || ceil <= 0 {
		ceil = ro.BackoffMax
	}
	d := rand.N(ceil + 1)
	if dl, ok := rctx.Deadline(); ok && time.Until(dl) <= d {
		f.moveOn() // no time to wait for this one; another target may answer at once
		return nil
	}
	return f.sleep(rctx, parent, d)
}

// sleep waits d, or returns the request's error when its budget ends first.
func (f *failover) sleep(rctx, parent context.Context, d time.Duration) error {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return nil
	case <-rctx.Done():
		return f.ctxErr(parent)
	}
}
