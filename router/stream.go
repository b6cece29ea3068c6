package router

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"llmrouter/llm"
)

// Causes set on an attempt's context by its watchdog.
var (
	errStalled    = errors.New("router: stream stalled")
	errFirstToken = errors.New("router: no first token in time")
)

// stream is the client-facing stream of one request. Recv runs on one
// goroutine (the caller's); Close may run on any.
//
// Until its first content chunk (content, reasoning, tool calls, refusal or
// a finish reason) has been returned, a failed upstream is replaced by the
// next target invisibly: the duplicate role chunk is dropped and chunk IDs
// are rewritten to the first one. After that, a failure of a plain-text
// answer is rescued on the next target: with the delivered text as an
// assistant prefill where the target supports it (Target.Prefill, and it
// has not rejected one), else by regenerating the answer and passing on
// only what follows the delivered text when the regenerated beginning
// matches it exactly. Otherwise the stream ends with an *llm.Error whose
// Sent is true and whose cause is the original failure.
//
// An upstream that ends without its final marker after every choice
// delivered a finish_reason (and the usage chunk, when the client asked
// for one) ends cleanly; one that ends without a finish_reason never does.
type stream struct {
	snap   *snapshot
	parent context.Context // the caller's ctx, to tell cancel from timeout
	// ctx is the request budget; a stream is bounded by it for its whole
	// life, so it lives as long as the stream (like sql.Rows).
	ctx    context.Context
	cancel context.CancelFunc
	req    *llm.Request
	f      *failover

	mu     sync.Mutex
	cur    *upstream
	closed bool

	// Recv goroutine only.
	err       error // sticky: io.EOF or the terminal error
	roleSent  bool
	committed bool
	text      strings.Builder // choice 0 content delivered so far
	sentBytes int
	toolCalls bool
	reasoning bool
	finished  bool   // some choice delivered a finish_reason
	seen      uint64 // bit i: choice i delivered something (i < 64)
	fin       uint64 // bit i: choice i delivered its finish_reason
	gotUsage  bool
	multi     bool
	cause     *llm.Error // the failure a rescue is for
	id        string
	created   int64
	carried   *llm.Usage // usage reported by attempts that later failed
}

// upstream is one attempt's stream and its watchdog.
type upstream struct {
	t       *target
	ctx     context.Context
	cancel  context.CancelCauseFunc
	once    sync.Once
	doneFn  func(error)
	idle    time.Duration
	ttft    time.Time // first-content deadline; zero when none
	ttftFor time.Duration
	// gotContent is read by Close on another goroutine.
	gotContent atomic.Bool
	wd         *time.Timer // the watchdog, re-armed for each wait
	wdFirst    atomic.Bool // the armed wait is for the first token
	usage      *llm.Usage
	rec        *attemptRec // ended by the failover, or by Close
	// prefill: the request carried the delivered text as a prefill.
	prefill bool
	// regen: the request is the original one, regenerating an answer whose
	// beginning (expect) the client has; Recv passes on only what follows
	// it once caughtUp.
	regen    bool
	expect   string
	regenBuf strings.Builder
	caughtUp bool

	mu     sync.Mutex
	s      llm.Stream
	closed bool
}

func (u *upstream) done(err error) { u.once.Do(func() { u.doneFn(err) }) }

// arm starts the watchdog for one wait on the upstream; disarm stops it.
// One timer per attempt is re-armed for every wait (not one per event).
// Both run on the Recv goroutine only.
func (u *upstream) arm() {
	d, cause := u.idle, errStalled
	if !u.gotContent.Load() && !u.ttft.IsZero() {
		if r := time.Until(u.ttft); r < d {
			d, cause = r, errFirstToken
		}
	}
	if d <= 0 {
		u.trip(cause)
		return
	}
	u.wdFirst.Store(cause == errFirstToken)
	if u.wd == nil {
		u.wd = time.AfterFunc(d, u.fire)
		return
	}
	u.wd.Reset(d)
}

func (u *upstream) disarm() {
	if u.wd != nil {
		u.wd.Stop()
	}
}

// fire is the watchdog's timer function.
func (u *upstream) fire() {
	if u.wdFirst.Load() {
		u.trip(errFirstToken)
		return
	}
	u.trip(errStalled)
}

// trip ends the attempt from the watchdog: the provider's Recv (or Stream)
// returns because its ctx ended and its stream was closed.
func (u *upstream) trip(cause error) {
	u.cancel(cause)
	u.mu.Lock()
	s := u.s
	u.mu.Unlock()
	if s != nil {
		_ = s.Close()
	}
}

// set installs the opened provider stream; false when the attempt ended
// meanwhile (then s is closed).
func (u *upstream) set(s llm.Stream) bool {
	u.mu.Lock()
	if u.closed || u.ctx.Err() != nil {
		u.mu.Unlock()
		_ = s.Close()
		return false
	}
	u.s = s
	u.mu.Unlock()
	return true
}

// release closes the provider stream and ends the attempt's context.
// Idempotent.
func (u *upstream) release() {
	u.cancel(context.Canceled)
	u.mu.Lock()
	s := u.s
	already := u.closed
	u.closed = true
	u.mu.Unlock()
	if s != nil && !already {
		_ = s.Close()
	}
}

// watchdogErr turns a watchdog cause into the attempt's error.
func (u *upstream) watchdogErr(err error) (*llm.Error, bool) {
	switch cause := context.Cause(u.ctx); {
	case errors.Is(cause, errStalled):
		return &llm.Error{Kind: llm.KindTimeout, Provider: u.t.Provider, Err: err,
			Message: fmt.Sprintf("%s stream stalled: no event for %s", u.t, u.idle)}, true
	case errors.Is(cause, errFirstToken):
		return &llm.Error{Kind: llm.KindTimeout, Provider: u.t.Provider, Err: err,
			Message: fmt.Sprintf("%s sent no first token within %s", u.t, u.ttftFor)}, true
	}
	return nil, false
}

func (s *stream) newUpstream(t *target, done func(error)) *upstream {
	actx, rec := beginAttempt(s.ctx, t)
	u := &upstream{t: t, doneFn: done, idle: t.retry.StreamIdleTimeout, rec: rec}
	if t.StreamIdleTimeout > 0 {
		u.idle = t.StreamIdleTimeout
	}
	u.ttftFor = t.retry.FirstTokenTimeout
	if t.Timeout > 0 && t.Timeout < u.ttftFor {
		u.ttftFor = t.Timeout
	}
	if !s.committed && u.ttftFor > 0 {
		u.ttft = time.Now().Add(u.ttftFor)
	}
	u.ctx, u.cancel = context.WithCancelCause(actx)
	return u
}

// requestFor is the request sent to t on u: the original with t's model,
// plus, once content was delivered, either the delivered text as an
// assistant prefill (a Prefill target that has not rejected one) or
// nothing more, to regenerate and compare.
func (s *stream) requestFor(t *target, u *upstream) *llm.Request {
	r2 := *s.req
	r2.Model = t.Model
	if !s.committed {
		return &r2
	}
	if t.Prefill && !t.state.prefillRefused.Load() {
		u.prefill = true
		msgs := make([]llm.Message, len(s.req.Messages), len(s.req.Messages)+1)
		copy(msgs, s.req.Messages)
		r2.Messages = append(msgs, llm.Message{Role: "assistant", Content: llm.TextContent(s.text.String())})
		return &r2
	}
	u.regen, u.expect = true, s.text.String()
	return &r2
}

// open starts a stream on the next admissible target, failing over until
// one produces its first event or the failover gives up.
func (s *stream) open() (*upstream, error) {
	for {
		t, done, err := s.f.next(s.ctx, s.parent)
		if err != nil {
			return nil, err
		}
		u := s.newUpstream(t, done)
		u.arm()
		octx := u.ctx
		if !u.ttft.IsZero() {
			octx = llm.WithHeaderDeadline(octx, u.ttft)
		}
		st, err := t.provider.Stream(octx, s.requestFor(t, u))
		u.disarm()
		if err == nil {
			if u.set(st) {
				return u, nil
			}
			err = context.Cause(u.ctx)
		}
		ferr := llm.AsError(err)
		if we, ok := u.watchdogErr(err); ok {
			ferr = we
		}
		u.rec.stopClock()
		u.release()
		if u.prefill && ferr.Kind == llm.KindInvalidRequest {
			// The target refuses prefills: say so for later rescues and
			// regenerate on it instead. Its rejection is not the error the
			// client will see; the original failure stays the cause.
			t.state.prefillRefused.Store(true)
			u.done(nil)
			s.snap.log.Warn("router target rejected a prefill continuation; regenerating on it instead",
				"provider", t.Provider, "model", t.Model, "err", ferr)
			s.f.tries--
			s.f.endAttempt(u.rec, ferr, false)
			continue
		}
		err = s.f.failed(s.ctx, s.parent, t, u.done, ferr, false)
		s.f.endAttempt(u.rec, ferr, err != nil)
		if err != nil {
			return nil, err
		}
	}
}

// Recv returns the next chunk. It never returns io.EOF for an answer that
// did not end cleanly upstream.
func (s *stream) Recv() (*llm.Chunk, error) {
	if s.err != nil {
		return nil, s.err
	}
	for {
		s.mu.Lock()
		u, closed := s.cur, s.closed
		s.mu.Unlock()
		if closed {
			return s.fail(errStreamClosed)
		}
		u.arm()
		c, err := u.s.Recv()
		u.disarm()
		if err == nil {
			out, aerr := s.accept(u, c)
			if aerr != nil {
				// The regenerating target answered, just not the same way.
				u.done(nil)
				u.release()
				cause := s.causeOr(&llm.Error{Kind: llm.KindUpstreamError, Message: "stream failed"})
				s.snap.log.Warn("router stream rescue by regeneration failed", "provider", u.t.Provider,
					"model", u.t.Model, "bytes", s.sentBytes, "err", aerr)
				return s.fail(s.sentErr(u.t, &llm.Error{Kind: llm.KindUpstreamError, Provider: u.t.Provider,
					Message: aerr.Error(), Err: cause}, cause))
			}
			if out != nil {
				return out, nil
			}
			continue
		}
		if s.isClosed() {
			return s.fail(errStreamClosed)
		}
		e := llm.AsError(err)
		if errors.Is(err, io.EOF) {
			if s.complete() {
				u.done(nil)
				u.release()
				s.err = io.EOF
				s.cancel()
				return nil, io.EOF
			}
			e = &llm.Error{Kind: llm.KindUpstreamError, Provider: u.t.Provider, Err: err,
				Message: fmt.Sprintf("%s stream ended without a finish_reason", u.t)}
		} else if we, ok := u.watchdogErr(err); ok {
			e = we
		} else if s.complete() {
			// The whole answer arrived; only the final marker is missing.
			u.done(nil)
			s.f.endAttempt(u.rec, nil, false)
			u.release()
			s.snap.log.Info("router upstream closed after a complete answer without its final marker; ending cleanly",
				"provider", u.t.Provider, "model", u.t.Model, "err", e)
			s.err = io.EOF
			s.cancel()
			return nil, io.EOF
		}
		u.release()
		s.carried = addUsage(s.carried, u.usage)
		s.snap.log.Info("router stream attempt failed", "provider", u.t.Provider, "model", u.t.Model,
			"kind", e.Kind.String(), "committed", s.committed, "bytes", s.sentBytes, "err", e)
		if s.committed && !s.continuable() {
			u.done(breakerOutcome(e))
			s.f.endAttempt(u.rec, e, true)
			return s.fail(s.sentErr(u.t, e, e))
		}
		if s.committed {
			if s.cause == nil {
				s.cause = e
			}
			s.f.minWindow = 0
		}
		ferr := s.f.failed(s.ctx, s.parent, u.t, u.done, e, false)
		s.f.endAttempt(u.rec, e, ferr != nil)
		if ferr != nil {
			return s.fail(s.sentErr(u.t, ferr, s.causeOr(e)))
		}
		if s.committed {
			s.f.rescue()
		}
		nu, oerr := s.open()
		if oerr != nil {
			return s.fail(s.sentErr(u.t, oerr, s.causeOr(e)))
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			nu.done(errNotCounted)
			s.f.endAttempt(nu.rec, errStreamClosed, true)
			nu.release()
			return s.fail(errStreamClosed)
		}
		s.cur = nu
		s.mu.Unlock()
	}
}

func (s *stream) causeOr(e *llm.Error) *llm.Error {
	if s.cause != nil {
		return s.cause
	}
	return e
}

// complete reports whether every choice that delivered anything also
// delivered its finish_reason, and the usage chunk arrived when the client
// asked for it.
func (s *stream) complete() bool {
	return s.fin != 0 && s.fin == s.seen && (!s.req.WantsUsage() || s.gotUsage)
}

// catchUp feeds a regenerating upstream's chunk c. Until the regenerated
// text covers what the client already has, chunks are held back (nil);
// the chunk that covers it is returned carrying only the text after it.
// A beginning that differs, or anything but plain text on choice 0, is a
// mismatch error.
func (s *stream) catchUp(u *upstream, c *llm.Chunk) (*llm.Chunk, error) {
	mismatch := func(why string) (*llm.Chunk, error) {
		return nil, fmt.Errorf("the regenerated answer %s", why)
	}
	var fin *string
	for i := range c.Choices {
		ch := &c.Choices[i]
		d := &ch.Delta
		if ch.Index != 0 || len(d.ToolCalls) > 0 || d.ReasoningContent != nil && *d.ReasoningContent != "" ||
			d.Refusal != nil && *d.Refusal != "" {
			return mismatch("is not the same plain-text answer")
		}
		if d.Content != nil {
			u.regenBuf.WriteString(*d.Content)
		}
		fin = ch.FinishReason
	}
	buf := u.regenBuf.String()
	if len(buf) < len(u.expect) {
		switch {
		case !strings.HasPrefix(u.expect, buf):
			return mismatch("differs from the text already sent")
		case fin != nil || c.Usage != nil:
			return mismatch("ended before reaching the text already sent")
		}
		return nil, nil
	}
	if !strings.HasPrefix(buf, u.expect) {
		return mismatch("differs from the text already sent")
	}
	u.caughtUp = true
	rest := buf[len(u.expect):]
	out := *c
	out.Choices = []llm.ChunkChoice{{Index: 0, Delta: llm.Delta{Content: &rest}, FinishReason: fin}}
	if len(c.Choices) == 0 {
		out.Choices = nil
	}
	return &out, nil
}

// accept updates the delivery state with c and returns the chunk to hand
// to the client, or nil to drop it.
func (s *stream) accept(u *upstream, c *llm.Chunk) (*llm.Chunk, error) {
	if c.Model == "" {
		c.Model = u.t.Model
	}
	if u.regen && !u.caughtUp {
		if len(c.Choices) == 0 && c.Usage == nil {
			return nil, nil
		}
		if len(c.Choices) == 1 && c.Choices[0].Delta.Role != "" && c.Choices[0].FinishReason == nil &&
			(c.Choices[0].Delta.Content == nil || *c.Choices[0].Delta.Content == "") {
			return nil, nil // the regeneration's opening role chunk
		}
		out, err := s.catchUp(u, c)
		if out == nil {
			return nil, err
		}
		c = out
	}
	if c.Usage != nil {
		s.gotUsage = true
		uc := *c.Usage
		u.usage = &uc
		if s.carried != nil {
			// The answer was produced by several attempts: report the sum
			// of the usage every attempt reported (a cut attempt usually
			// reported none, so its tokens are missing here).
			c.Usage = addUsage(addUsage(nil, s.carried), &uc)
		}
	}
	hadRole := s.roleSent
	content := false
	for i := range c.Choices {
		ch := &c.Choices[i]
		d := &ch.Delta
		if ch.Index != 0 {
			s.multi = true
		}
		if ch.Index >= 0 && ch.Index < 64 {
			s.seen |= 1 << ch.Index
			if ch.FinishReason != nil {
				s.fin |= 1 << ch.Index
			}
		}
		if d.Content != nil && *d.Content != "" {
			content = true
			s.sentBytes += len(*d.Content)
			if ch.Index == 0 {
				s.text.WriteString(*d.Content)
			}
		}
		if d.ReasoningContent != nil && *d.ReasoningContent != "" {
			content, s.reasoning = true, true
			s.sentBytes += len(*d.ReasoningContent)
		}
		if len(d.ToolCalls) > 0 {
			content, s.toolCalls = true, true
			for _, tc := range d.ToolCalls {
				s.sentBytes += len(tc.Function.Name) + len(tc.Function.Arguments)
			}
		}
		if d.Refusal != nil && *d.Refusal != "" {
			content = true
			s.sentBytes += len(*d.Refusal)
		}
		if len(d.ThinkingBlocks) > 0 { // signatures, redacted thinking
			content, s.reasoning = true, true
		}
		if ch.FinishReason != nil {
			content, s.finished = true, true
		}
		if d.Role != "" {
			if hadRole {
				d.Role = "" // a later attempt's role: the client has one already
			}
			s.roleSent = true
		}
	}
	if !content && c.Usage == nil && hadRole {
		return nil, nil // a failed-over or continuation attempt's opening chunk
	}
	if content && !u.gotContent.Load() {
		u.gotContent.Store(true)
		s.f.answered(u.t)
	}
	if content {
		s.committed = true
	}
	if s.id == "" {
		s.id, s.created = c.ID, c.Created
	} else {
		c.ID, c.Created = s.id, s.created
	}
	return c, nil
}

// continuable reports whether a prefill continuation can complete the
// delivered answer: plain text on one choice, not finished.
func (s *stream) continuable() bool {
	return !s.toolCalls && !s.multi && !s.finished && !s.reasoning && s.text.Len() > 0
}

// sentErr is the terminal error once content was delivered: the client
// must learn the answer is incomplete. Before that, err is returned as is.
func (s *stream) sentErr(t *target, err error, cause *llm.Error) error {
	if !s.committed {
		return err
	}
	e := llm.AsError(err)
	switch e.Kind {
	case llm.KindCanceled, llm.KindTimeout:
		if s.ctx.Err() == nil {
			break // an attempt's timeout: the upstream failed
		}
		c := *e
		c.Sent = true
		if c.Err == nil {
			c.Err = cause
		}
		return &c
	}
	msg := fmt.Sprintf("upstream stream failed after %d bytes", s.sentBytes)
	if cause != nil && e != cause {
		// The rescue failed too; the original failure stays the cause.
		msg += ": " + cause.Message + "; rescue failed: " + e.Message
		return &llm.Error{Kind: llm.KindUpstreamError, Provider: cause.Provider, Sent: true, Message: msg, Err: cause}
	}
	return &llm.Error{Kind: llm.KindUpstreamError, Provider: t.Provider, Sent: true, Message: msg, Err: err}
}

func (s *stream) fail(err error) (*llm.Chunk, error) {
	s.err = err
	s.cancel()
	return nil, err
}

func (s *stream) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Close ends the stream and its upstream. Idempotent; safe concurrently
// with a blocked Recv, which then returns.
func (s *stream) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	u := s.cur
	s.mu.Unlock()
	s.cancel()
	if u != nil {
		if u.gotContent.Load() {
			u.done(nil)
			s.f.endAttempt(u.rec, nil, false)
		} else {
			u.done(errNotCounted)
			s.f.endAttempt(u.rec, errStreamClosed, true)
		}
		u.release()
	}
	return nil
}

// breakerOutcome is what an attempt's error tells the breaker.
func breakerOutcome(e *llm.Error) error {
	switch e.Kind {
	case llm.KindUpstreamError, llm.KindTimeout:
		return e
	case llm.KindUpstreamRateLimited, llm.KindOverloaded, llm.KindCanceled, llm.KindInternal, llm.KindNoHealthyProvider:
		return errNotCounted
	}
	return nil
}

// addUsage returns a+b (a fresh value); nil when both are nil.
func addUsage(a, b *llm.Usage) *llm.Usage {
	if b == nil {
		return a
	}
	out := &llm.Usage{}
	if a != nil {
		*out = *a
		if a.PromptTokensDetails != nil {
			d := *a.PromptTokensDetails
			out.PromptTokensDetails = &d
		}
		if a.CompletionTokensDetails != nil {
			d := *a.CompletionTokensDetails
			out.CompletionTokensDetails = &d
		}
	}
	out.PromptTokens += b.PromptTokens
	out.CompletionTokens += b.CompletionTokens
	out.TotalTokens += b.TotalTokens
	if b.PromptTokensDetails != nil {
		if out.PromptTokensDetails == nil {
			out.PromptTokensDetails = &llm.PromptTokensDetails{}
		}
		out.PromptTokensDetails.CachedTokens += b.PromptTokensDetails.CachedTokens
		out.PromptTokensDetails.CacheCreationTokens += b.PromptTokensDetails.CacheCreationTokens
		out.PromptTokensDetails.AudioTokens += b.PromptTokensDetails.AudioTokens
	}
	if b.CompletionTokensDetails != nil {
		if out.CompletionTokensDetails == nil {
			out.CompletionTokensDetails = &llm.CompletionTokensDetails{}
		}
		out.CompletionTokensDetails.ReasoningTokens += b.CompletionTokensDetails.ReasoningTokens
		out.CompletionTokensDetails.AudioTokens += b.CompletionTokensDetails.AudioTokens
	}
	return out
}
