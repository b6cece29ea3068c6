package router

import (
	"context"
	"sync/atomic"
	"time"

	"llmrouter/llm"
)

// attemptRec is one upstream attempt being observed: its span (a no-op
// when tracing is off) and its start, so that its end can be appended to
// the request's Meta.Tried for the request log.
type attemptRec struct {
	t     *target
	span  llm.Span
	start time.Time
	// stop, when set by stopClock, is when the upstream call returned
	// (before any backoff sleep).
	stop  time.Time
	ended atomic.Bool
}

// stopClock marks the end of the upstream call. It must be called on the
// goroutine that then calls endAttempt.
func (a *attemptRec) stopClock() { a.stop = time.Now() }

// beginAttempt starts observing an attempt on t; the returned context
// carries the attempt's span, so the provider propagates it upstream.
func beginAttempt(ctx context.Context, t *target) (context.Context, *attemptRec) {
	ctx, sp := llm.StartSpan(ctx, llm.SpanAttempt)
	if sp.Recording() {
		sp.SetString("gen_ai.system", t.Provider)
		sp.SetString("gen_ai.request.model", t.Model)
		sp.SetString("gen_ai.operation.name", "chat")
		sp.SetString("llmrouter.provider", t.Provider)
	}
	return ctx, &attemptRec{t: t, span: sp, start: time.Now()}
}

// endAttempt records the attempt's outcome once (later calls are no-ops,
// so a stream's Close and Recv may both call it). err is the attempt's
// error (nil: it answered); final says the failover returned err to the
// client instead of trying again. Call it after f.failed, which decides
// between a retry and a failover.
func (f *failover) endAttempt(a *attemptRec, err error, final bool) {
	if a == nil || !a.ended.CompareAndSwap(false, true) {
		return
	}
	end := a.stop
	if end.IsZero() {
		end = time.Now()
	}
	at := llm.Attempt{Provider: a.t.Provider, Model: a.t.Model, Start: a.start, Latency: end.Sub(a.start), Outcome: "ok"}
	if err != nil {
		e := llm.AsError(err)
		at.Outcome, at.Status = e.Kind.String(), e.Status
		switch {
		case final:
		case f.pos < len(f.targets) && f.targets[f.pos] == a.t && f.tries >= 0: // moveOn sets tries < 0
			at.Reason = "retry"
		default:
			at.Reason = "failover"
		}
		a.span.SetError(e)
		a.span.SetString("llmrouter.retry_reason", at.Reason)
	}
	if a.span.Recording() {
		a.span.SetString("llmrouter.outcome", at.Outcome)
		if at.Status != 0 {
			a.span.SetInt("http.response.status_code", int64(at.Status))
		}
	}
	a.span.End()
	f.meta.Update(func(m *llm.MetaValues) { m.Tried = append(m.Tried, at) })
}
