package router

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/sony/gobreaker/v2"

	"llmrouter/llm"
)

// failover walks one request's targets. It is owned by one goroutine.
//
// Rules, by the error of an attempt:
//   - upstream 5xx/529, transport failure, attempt timeout, cut stream:
//     breaker failure; retry the same target up to MaxAttemptsPerTarget with
//     exponential backoff and full jitter, then the next target.
//   - upstream 401/403/404 (our key or configured model is wrong): breaker
//     failure; next target at once.
//   - upstream 429: not counted by the breaker; the target is set aside for
//     Retry-After (capped) or DefaultSetAside; next target.
//   - local overload: not counted; next target.
//   - context length exceeded: breaker success; next target with a larger
//     known ContextWindow, else the error is returned.
//   - any other (client-caused) error: breaker success; returned as is.
//
// Open and set-aside targets are skipped without a call. When no target is
// left the last meaningful error is returned, or KindNoHealthyProvider with
// a Retry-After when every target was skipped.
type failover struct {
	s        *snapshot
	targets  []*target
	meta     *llm.Meta
	pos      int // current target
	tries    int // attempts on targets[pos]
	attempts int // upstream calls made for the request
	// minWindow > 0 admits only targets with a larger ContextWindow.
	minWindow int
	// prefillOnly admits only Prefill targets (stream continuation).
	prefillOnly bool
	last        *llm.Error // last meaningful error
	soonest     time.Time  // earliest time a skipped target is available again
	lastTarget  *target
}

func newFailover(s *snapshot, targets []*target, meta *llm.Meta) *failover {
	return &failover{s: s, targets: targets, meta: meta}
}

// next returns the next target to call and the breaker callback that must
// be called exactly once with the attempt's outcome. rctx is the request's
// budget, parent the caller's context.
func (f *failover) next(rctx, parent context.Context) (*target, func(error), error) {
	for ; f.pos < len(f.targets); f.pos, f.tries = f.pos+1, 0 {
		if rctx.Err() != nil {
			return nil, nil, f.ctxErr(parent)
		}
		t := f.targets[f.pos]
		if f.tries >= f.s.opts.Retry.MaxAttemptsPerTarget ||
			f.minWindow > 0 && t.ContextWindow <= f.minWindow ||
			f.prefillOnly && !t.Prefill {
			continue
		}
		now := time.Now()
		if until := t.state.asideUntil(now); !until.IsZero() {
			f.skipped(until)
			continue
		}
		done, err := t.state.cb.Allow()
		if err != nil {
			until := time.Unix(0, t.state.openUntil.Load())
			if !errors.Is(err, gobreaker.ErrOpenState) || until.Before(now) {
				until = now.Add(time.Second) // half-open, probes in flight
			}
			f.skipped(until)
			continue
		}
		f.tries++
		f.attempts++
		if h := f.s.opts.OnAttempt; h != nil {
			h(f.attempt(t))
		}
		f.lastTarget = t
		f.meta.Update(func(m *llm.MetaValues) {
			m.Attempts = f.attempts
			m.Provider, m.Model = t.Provider, t.Model
		})
		return t, done, nil
	}
	return nil, nil, f.exhausted()
}

// attempt describes the call about to be made to t (before lastTarget
// moves to t).
func (f *failover) attempt(t *target) Attempt {
	a := Attempt{Provider: t.Provider, Model: t.Model, Kind: "first"}
	if f.attempts == 1 && f.pos == 0 {
		return a
	}
	a.Kind, a.Reason = "failover", "skipped"
	if f.lastTarget == t {
		a.Kind = "retry"
	}
	if f.last != nil {
		a.Reason = f.last.Kind.String()
	}
	return a
}

func (f *failover) skipped(until time.Time) {
	if f.soonest.IsZero() || until.Before(f.soonest) {
		f.soonest = until
	}
}

// moveOn makes next start at the following target.
func (f *failover) moveOn() { f.tries = f.s.opts.Retry.MaxAttemptsPerTarget }

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
	log := f.s.log.With("provider", t.Provider, "model", t.Model, "kind", e.Kind.String(),
		"status", e.Status, "attempt", f.tries)
	switch {
	case e.Kind == llm.KindUpstreamError || e.Kind == llm.KindTimeout:
		done(e)
		f.last = e
		switch e.Status {
		case http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound:
			log.Warn("router target rejected us, failing over", "err", e)
			f.moveOn()
			return nil
		}
		log.Info("router attempt failed", "err", e)
		return f.backoff(rctx, parent, t)
	case e.Kind == llm.KindUpstreamRateLimited:
		done(errNotCounted)
		d := e.RetryAfter
		if d <= 0 {
			d = f.s.opts.Retry.DefaultSetAside
		}
		d = min(d, f.s.opts.Retry.MaxSetAside)
		t.state.setAside(d)
		f.skipped(time.Now().Add(d))
		f.last = e
		log.Info("router target rate limited, set aside", "for", d)
		f.moveOn()
		return nil
	case e.Kind == llm.KindOverloaded || e.Kind == llm.KindNoHealthyProvider:
		done(errNotCounted)
		if f.last == nil || f.last.Kind == llm.KindOverloaded || f.last.Kind == llm.KindNoHealthyProvider {
			f.last = e
		}
		log.Info("router target overloaded locally, failing over")
		f.moveOn()
		return nil
	case e.Kind == llm.KindCanceled:
		// Not the request's cancellation (checked above): the provider
		// gave up on its own. Say nothing about its health; try the next.
		done(errNotCounted)
		f.moveOn()
		return nil
	case e.IsContextLength():
		done(nil)
		if t.ContextWindow > 0 && f.hasLargerWindow(t.ContextWindow) {
			f.minWindow = max(f.minWindow, t.ContextWindow)
			log.Info("router prompt too long, trying a larger context window")
			f.moveOn()
			return nil
		}
		return e
	}
	// Client-caused (or our own bug): not the target's fault, never failed over.
	if e.Kind == llm.KindInternal {
		done(errNotCounted)
	} else {
		done(nil)
	}
	return e
}

func (f *failover) hasLargerWindow(w int) bool {
	for _, t := range f.targets[f.pos+1:] {
		if t.ContextWindow > w && (!f.prefillOnly || t.Prefill) {
			return true
		}
	}
	return false
}

// backoff sleeps before a retry on the same target, or moves on when the
// target may not be retried (attempts used, breaker open, no time left).
func (f *failover) backoff(rctx, parent context.Context, t *target) error {
	ro := f.s.opts.Retry
	if f.tries >= ro.MaxAttemptsPerTarget || t.state.cb.State() == gobreaker.StateOpen {
		f.moveOn()
		return nil
	}
	ceil := ro.BackoffBase << (f.tries - 1)
	if ceil > ro.BackoffMax || ceil <= 0 {
		ceil = ro.BackoffMax
	}
	d := rand.N(ceil + 1)
	if dl, ok := rctx.Deadline(); ok && time.Until(dl) <= d {
		f.moveOn() // no time to wait for this one; another target may answer at once
		return nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return nil
	case <-rctx.Done():
		return f.ctxErr(parent)
	}
}
