// Package simulator is an in-process model for offline use and benchmarks.
// It speaks llm.Completer and llm.Embedder with no network: answers are
// deterministic functions of the request and say they are simulated; timing
// (time to first token, tokens per second) and failures (upstream 500s and
// 429s at configured rates) are simulated too.
package simulator

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math"
	"sync/atomic"
	"time"

	"llmrouter/llm"
)

// Options configures a simulated provider.
type Options struct {
	// Name is the provider name reported in errors. Default "simulator".
	Name string
	// TimeToFirstToken is the delay before the first token (Complete: before
	// the answer starts generating; Stream: before Stream returns).
	TimeToFirstToken time.Duration
	// TokensPerSecond is the generation speed; 0 means no delay per token.
	TokensPerSecond float64
	// ErrorRate is the share of calls, in [0,1], failing like an upstream
	// 500 (KindUpstreamError, Status 500).
	ErrorRate float64
	// RateLimitRate is the share of calls, in [0,1], failing like an upstream
	// 429 (KindUpstreamRateLimited, RetryAfter 1s). ErrorRate+RateLimitRate
	// must not exceed 1.
	RateLimitRate float64
	// Seed fixes the sequence of injected failures: the n-th call of a
	// client with a given seed always has the same outcome.
	Seed int64
	// Logger receives debug lines about injected failures; nil discards.
	Logger *slog.Logger
}

// RetryAfter is the Retry-After of a simulated 429.
const RetryAfter = time.Second

// DefaultEmbeddingDim is the vector length of Embed when the request does
// not ask for dimensions (that of text-embedding-3-small).
const DefaultEmbeddingDim = 1536

// Client is a simulated provider. It is safe for concurrent use.
type Client struct {
	o     Options
	log   *slog.Logger
	calls atomic.Uint64
}

var (
	_ llm.Completer = (*Client)(nil)
	_ llm.Embedder  = (*Client)(nil)
)

// New returns a simulator, or an error for out-of-range options.
func New(o Options) (*Client, error) {
	if o.Name == "" {
		o.Name = "simulator"
	}
	switch {
	case o.TimeToFirstToken < 0:
		return nil, errors.New("simulator: time to first token must not be negative")
	case o.TokensPerSecond < 0 || math.IsNaN(o.TokensPerSecond) || math.IsInf(o.TokensPerSecond, 0):
		return nil, errors.New("simulator: tokens per second must be a finite number >= 0")
	case !(o.ErrorRate >= 0 && o.ErrorRate <= 1), !(o.RateLimitRate >= 0 && o.RateLimitRate <= 1):
		return nil, errors.New("simulator: error and rate-limit rates must be in [0,1]")
	case o.ErrorRate+o.RateLimitRate > 1:
		return nil, errors.New("simulator: error rate + rate-limit rate must not exceed 1")
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Client{o: o, log: log}, nil
}

// Name returns the provider name.
func (c *Client) Name() string { return c.o.Name }

// Complete returns the whole simulated answer after the simulated
// generation time (time to first token plus one token interval per token).
func (c *Client) Complete(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	if err := c.start(ctx, req); err != nil {
		return nil, err
	}
	a := answer(req)
	if err := sleep(ctx, nil, c.o.TimeToFirstToken+time.Duration(len(a.pieces))*c.tokenInterval()); err != nil {
		return nil, c.ctxError(err, false)
	}
	n := 1
	if req.N != nil && *req.N > 1 {
		n = *req.N
	}
	msg := llm.Message{Role: "assistant"}
	if len(a.calls) > 0 {
		msg.ToolCalls = a.calls
	} else {
		msg.Content = llm.TextContent(a.text())
	}
	resp := &llm.Response{
		ID:      a.id,
		Object:  llm.ObjectChatCompletion,
		Created: time.Now().Unix(),
		Model:   req.Model,
		Choices: make([]llm.Choice, n),
		Usage:   a.usage(n),
	}
	for i := range resp.Choices {
		resp.Choices[i] = llm.Choice{Index: i, Message: msg, FinishReason: a.finish}
	}
	return resp, nil
}

// Stream waits the time to first token, then returns a stream of the same
// answer Complete gives, one word per chunk at TokensPerSecond, ending with
// a finish chunk and a usage chunk (always sent; the proxy decides whether
// the client sees it). A request with n > 1 streams one choice.
func (c *Client) Stream(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	if err := c.start(ctx, req); err != nil {
		return nil, err
	}
	if err := sleep(ctx, nil, c.o.TimeToFirstToken); err != nil {
		return nil, c.ctxError(err, false)
	}
	return newStream(ctx, c, req.Model, answer(req)), nil
}

// start validates the request and injects the simulated failures.
func (c *Client) start(ctx context.Context, req *llm.Request) error {
	if err := ctx.Err(); err != nil {
		return c.ctxError(err, false)
	}
	if len(req.Messages) == 0 {
		return &llm.Error{Kind: llm.KindInvalidRequest, Message: "messages must not be empty", Param: "messages", Provider: c.o.Name, Status: 400}
	}
	return c.inject()
}

// inject decides the outcome of the next call from the seed and the call
// number.
func (c *Client) inject() error {
	if c.o.ErrorRate == 0 && c.o.RateLimitRate == 0 {
		return nil
	}
	n := c.calls.Add(1)
	u := float64(splitmix64(uint64(c.o.Seed)^n*0x9e3779b97f4a7c15)>>11) / (1 << 53)
	switch {
	case u < c.o.ErrorRate:
		c.log.Debug("simulated upstream error", "provider", c.o.Name, "call", n)
		return &llm.Error{Kind: llm.KindUpstreamError, Message: "simulated upstream error", Provider: c.o.Name, Status: 500}
	case u < c.o.ErrorRate+c.o.RateLimitRate:
		c.log.Debug("simulated rate limit", "provider", c.o.Name, "call", n)
		return &llm.Error{Kind: llm.KindUpstreamRateLimited, Message: "simulated rate limit", Code: llm.CodeRateLimitExceeded,
			Provider: c.o.Name, Status: 429, RetryAfter: RetryAfter}
	}
	return nil
}

func (c *Client) tokenInterval() time.Duration {
	if c.o.TokensPerSecond == 0 {
		return 0
	}
	return time.Duration(float64(time.Second) / c.o.TokensPerSecond)
}

// ctxError turns a context error (or a closed stream) into an *llm.Error.
func (c *Client) ctxError(err error, sent bool) error {
	e := *llm.AsError(err)
	e.Provider = c.o.Name
	e.Sent = sent
	return &e
}

// sleep waits d, returning early with ctx's error, or errClosed when done
// is closed. d <= 0 returns at once (after checking ctx).
func sleep(ctx context.Context, done <-chan struct{}, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-done:
		return errClosed
	}
}

var errClosed = &llm.Error{Kind: llm.KindCanceled, Message: "stream closed"}

func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

func hash64(parts ...string) uint64 {
	h := fnv.New64a()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return h.Sum64()
}

func hexID(prefix string, parts ...string) string {
	return fmt.Sprintf("%s%016x", prefix, hash64(parts...))
}
