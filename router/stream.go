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
// are rewritten to the first one. After that, a failure is continued on a
// Prefill target with the delivered text as an assistant prefill, or ends
// the stream with an *llm.Error whose Sent is true.
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
	finished  bool
	multi     bool
	id        string
	created   int64
	carried   *llm.Usage // usage reported by attempts that later failed
}

// upstream is one attempt's stream and its watchdog.
type upstream struct {
	t      *target
	ctx    context.Context
	cancel context.CancelCauseFunc
	once   sync.Once
	doneFn func(error)
	idle   time.Duration
	ttft   time.Time // first-content deadline; zero when none
	// gotContent is read by Close on another goroutine.
	gotContent atomic.Bool
	usage      *llm.Usage

	mu     sync.Mutex
	s      llm.Stream
	closed bool
}

func (u *upstream) done(err error) { u.once.Do(func() { u.doneFn(err) }) }

// arm starts the watchdog for one wait on the upstream and returns its stop.
func (u *upstream) arm() func() bool {
	d, cause := u.idle, errStalled
	if !u.gotContent.Load() && !u.ttft.IsZero() {
		if r := time.Until(u.ttft); r < d {
			d, cause = r, errFirstToken
		}
	}
	if d <= 0 {
		u.trip(cause)
		return func() bool { return false }
	}
	return time.AfterFunc(d, func() { u.trip(cause) }).Stop
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
			Message: fmt.Sprintf("%s sent no first token within %s", u.t, u.t.Timeout)}, true
	}
	return nil, false
}

func (s *stream) newUpstream(t *target, done func(error)) *upstream {
	u := &upstream{t: t, doneFn: done, idle: s.snap.opts.Retry.StreamIdleTimeout}
	if t.StreamIdleTimeout > 0 {
		u.idle = t.StreamIdleTimeout
	}
	if t.Timeout > 0 {
		u.ttft = time.Now().Add(t.Timeout)
	}
	u.ctx, u.cancel = context.WithCancelCause(s.ctx)
	return u
}

// requestFor is the request sent to t: the original with t's model, plus,
// once content was delivered, the delivered text as an assistant prefill.
func (s *stream) requestFor(t *target) *llm.Request {
	r2 := *s.req
	r2.Model = t.Model
	if s.committed {
		msgs := make([]llm.Message, len(s.req.Messages), len(s.req.Messages)+1)
		copy(msgs, s.req.Messages)
		r2.Messages = append(msgs, llm.Message{Role: "assistant", Content: llm.TextContent(s.text.String())})
	}
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
		stop := u.arm()
		st, err := t.provider.Stream(u.ctx, s.requestFor(t))
		stop()
		if err == nil {
			if u.set(st) {
				return u, nil
			}
			err = context.Cause(u.ctx)
		}
		ferr := error(llm.AsError(err))
		if we, ok := u.watchdogErr(err); ok {
			ferr = we
		}
		u.release()
		if err := s.f.failed(s.ctx, s.parent, t, u.done, ferr, false); err != nil {
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
		stop := u.arm()
		c, err := u.s.Recv()
		stop()
		if err == nil {
			if out := s.accept(u, c); out != nil {
				return out, nil
			}
			continue
		}
		if s.isClosed() {
			return s.fail(errStreamClosed)
		}
		if errors.Is(err, io.EOF) {
			u.done(nil)
			u.release()
			s.err = io.EOF
			s.cancel()
			return nil, io.EOF
		}
		e := llm.AsError(err)
		if we, ok := u.watchdogErr(err); ok {
			e = we
		}
		u.release()
		s.carried = addUsage(s.carried, u.usage)
		s.snap.log.Info("router stream attempt failed", "provider", u.t.Provider, "model", u.t.Model,
			"kind", e.Kind.String(), "committed", s.committed, "bytes", s.sentBytes, "err", e)
		if s.committed && !s.continuable() {
			u.done(breakerOutcome(e))
			return s.fail(s.sentErr(u.t, e, e))
		}
		if s.committed {
			s.f.prefillOnly = true
			s.f.minWindow = 0
		}
		if ferr := s.f.failed(s.ctx, s.parent, u.t, u.done, e, false); ferr != nil {
			return s.fail(s.sentErr(u.t, ferr, e))
		}
		nu, oerr := s.open()
		if oerr != nil {
			return s.fail(s.sentErr(u.t, oerr, e))
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			nu.done(errNotCounted)
			nu.release()
			return s.fail(errStreamClosed)
		}
		s.cur = nu
		s.mu.Unlock()
	}
}

// accept updates the delivery state with c and returns the chunk to hand
// to the client, or nil to drop it.
func (s *stream) accept(u *upstream, c *llm.Chunk) *llm.Chunk {
	if c.Model == "" {
		c.Model = u.t.Model
	}
	if c.Usage != nil {
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
		return nil // a failed-over or continuation attempt's opening chunk
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
	return c
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
	return &llm.Error{Kind: llm.KindUpstreamError, Provider: t.Provider, Sent: true,
		Message: fmt.Sprintf("upstream stream failed after %d bytes", s.sentBytes), Err: err}
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
		} else {
			u.done(errNotCounted)
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
