// Package router resolves a public model name (a pinned alias or an auto
// alias plus the classifier's tier) to an ordered chain of upstream targets
// and runs that chain: one circuit breaker per target, bounded retries with
// backoff, failover, per-attempt deadlines, rate-limit set-asides and
// streaming-safe failover with optional prefill continuation. *Router is an
// llm.Completer over the provider clients; Coalescer is an llm.Completer that
// merges identical in-flight requests in front of it.
package router

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"llmrouter/llm"
)

// Exhaustion policies of a tier chain (TierPolicy.OnExhausted).
const (
	// OnExhaustedFail returns the last error when the tier's chain is used up.
	OnExhaustedFail = "fail"
	// OnExhaustedEscalate then tries the chains of every larger tier, cheapest first.
	OnExhaustedEscalate = "escalate"
	// OnExhaustedDegrade then tries the chains of every smaller tier, largest first.
	OnExhaustedDegrade = "degrade"
)

// Target is one upstream (provider, model) in a chain.
type Target struct {
	// Provider names an entry of Options.Providers. Required.
	Provider string
	// Model is the upstream model name sent to the provider. Required.
	Model string
	// Timeout bounds one attempt on this target: the whole call for
	// Complete and Embed, and (when shorter than the first-token timeout)
	// the time until the first content chunk for Stream. 0 means only the
	// request budget bounds it.
	Timeout time.Duration
	// Prefill reports that the provider continues an answer when the last
	// message is an assistant message (Anthropic prefill). A stream cut
	// after content was sent is continued on such a target with a prefill;
	// any other target regenerates the answer and is used only when its
	// beginning matches what the client already has. A target is never
	// sent a prefill unless Prefill is set, nor after it rejected one.
	Prefill bool
	// ContextWindow is the model's context size in tokens, 0 when unknown.
	// A context-length error fails over only to a target with a larger
	// known window.
	ContextWindow int
	// StreamIdleTimeout overrides RetryOptions.StreamIdleTimeout for this
	// target when > 0.
	StreamIdleTimeout time.Duration
	// Retry overrides Options.Retry for this target: its non-zero fields
	// win. nil inherits everything.
	Retry *RetryOptions
	// Breaker overrides Options.Breaker for this target's breaker: its
	// non-zero fields win (OnStateChange is always the global one). The
	// breaker is per (provider, model): wherever a pair appears, its
	// effective settings must be the same (New and Update reject a
	// difference).
	Breaker *BreakerOptions
}

func (t Target) String() string { return t.Provider + "/" + t.Model }

// TierPolicy is the chain of one tier and what to do when it is used up.
type TierPolicy struct {
	// Chain lists the targets in order of preference. Must not be empty.
	Chain []Target
	// OnExhausted is OnExhaustedEscalate, OnExhaustedDegrade or
	// OnExhaustedFail; "" means fail.
	OnExhausted string
}

// BreakerOptions configures the circuit breaker of every target. Only
// upstream failures count (5xx, 529, transport errors, 401/403/404 from the
// provider, attempt timeouts, cut streams); client-caused errors count as
// successes; 429s, local overload and cancellations are not counted.
type BreakerOptions struct {
	// ConsecutiveFailures trips the breaker after that many failures in a
	// row. Default 5.
	ConsecutiveFailures uint32
	// FailureRatio trips the breaker when failures/(failures+successes)
	// within Window reaches it, once at least MinRequests outcomes were
	// counted. 0 disables the ratio rule.
	FailureRatio float64
	// MinRequests is the minimum count for FailureRatio. Default 20.
	MinRequests uint32
	// Window is the rolling window of the counts in the closed state.
	// Default 60 s.
	Window time.Duration
	// OpenTimeout is the first open period: how long a freshly opened
	// breaker rejects calls before it lets half-open probes through.
	// Default 1 s.
	OpenTimeout time.Duration
	// OpenBackoff multiplies the open period on each re-open (a failed
	// probe, or a trip within Window of closing). Default 2; must be >= 1.
	OpenBackoff float64
	// MaxOpenTimeout caps the open period. Default 60 s; raised to
	// OpenTimeout when smaller.
	MaxOpenTimeout time.Duration
	// HalfOpenProbes is how many requests may pass in the half-open state,
	// in flight and completed together (probes cannot multiply traffic);
	// that many successes close the breaker, any failure reopens it with
	// the next open period. Default 1.
	HalfOpenProbes uint32
	// OnStateChange, when set, is called on every state change with the
	// states' names ("closed", "half-open", "open"). It runs under the
	// breaker's lock: it must be quick and must not call the Router.
	OnStateChange func(provider, model, from, to string)
}

// RetryOptions is the per-error-class policy (see failover) and its timers.
// Options.Retry holds the defaults; Target.Retry overrides them per target.
type RetryOptions struct {
	// MaxAttemptsPerTarget bounds the attempts on one target for one
	// request after upstream 5xx answers (first try included). Default 2.
	MaxAttemptsPerTarget int
	// ConnectAttempts bounds the attempts on one target when the request
	// could not be sent (connection refused, dial or write failure).
	// Default 2: one retry, then fail over.
	ConnectAttempts int
	// MaxRetryAfterWait is the longest Retry-After (429, 503, 529) waited
	// out on the same target, once per request, when the request's
	// remaining budget allows; a longer one sets the target aside and
	// fails over at once. Default 3 s; negative never waits.
	MaxRetryAfterWait time.Duration
	// FirstTokenTimeout bounds the time from opening a stream to its first
	// content chunk (content, reasoning, tool call, refusal or finish).
	// Until then a silent target is given up and the next one asked,
	// invisibly to the client, and not retried within the request.
	// Default 15 s. It is separate from StreamIdleTimeout (between
	// events, after the first) and the request budget (total).
	FirstTokenTimeout time.Duration
	// BackoffBase and BackoffMax shape the exponential backoff with full
	// jitter between attempts on the same target. Defaults 100 ms and 2 s.
	BackoffBase, BackoffMax time.Duration
	// MaxSetAside caps how long a 429's Retry-After sets a target aside.
	// Default 60 s.
	MaxSetAside time.Duration
	// DefaultSetAside is the set-aside for a 429 without Retry-After.
	// Default 1 s.
	DefaultSetAside time.Duration
	// StreamIdleTimeout ends a stream whose upstream sends no event for
	// that long (a stall counts as an upstream failure). Default 30 s.
	StreamIdleTimeout time.Duration
}

// Options configures a Router. Maps and slices are copied by New and
// Update; the caller may reuse them afterwards.
type Options struct {
	// Providers maps provider names to clients. Required.
	Providers map[string]llm.Completer
	// Aliases maps pinned public model names to their chains.
	Aliases map[string][]Target
	// AliasRetry overrides Retry for every target of the named alias (its
	// non-zero fields win); a Target.Retry wins over it.
	AliasRetry map[string]*RetryOptions
	// Auto lists the auto aliases, routed by req.Tier. nil means ["auto"]
	// when Tiers is not empty; an empty non-nil slice means none.
	Auto []string
	// Tiers holds the chain per tier.
	Tiers map[llm.Tier]TierPolicy
	// DefaultTier routes auto requests that arrive with TierUnset, and
	// embeddings requests for an auto alias. Default: medium if
	// configured, else the smallest configured tier.
	DefaultTier llm.Tier
	Breaker     BreakerOptions
	Retry       RetryOptions
	// RequestTimeout bounds a whole request (every attempt, backoff and,
	// for streams, the whole stream) unless the caller's ctx ends earlier.
	// 0 means only the ctx bounds it.
	RequestTimeout time.Duration
	// Logger receives failover decisions; nil discards.
	Logger *slog.Logger
	// Registerer receives the llmrouter_breaker_state gauge; nil means no
	// metrics. Only New registers; Update ignores it.
	Registerer prometheus.Registerer
}

func (o *Options) applyDefaults() {
	b := &o.Breaker
	if b.ConsecutiveFailures == 0 {
		b.ConsecutiveFailures = 5
	}
	if b.MinRequests == 0 {
		b.MinRequests = 20
	}
	if b.Window <= 0 {
		b.Window = 60 * time.Second
	}
	if b.OpenTimeout <= 0 {
		b.OpenTimeout = time.Second
	}
	if b.OpenBackoff == 0 {
		b.OpenBackoff = 2
	}
	if b.MaxOpenTimeout <= 0 {
		b.MaxOpenTimeout = 60 * time.Second
	}
	b.MaxOpenTimeout = max(b.MaxOpenTimeout, b.OpenTimeout)
	if b.HalfOpenProbes == 0 {
		b.HalfOpenProbes = 1
	}
	r := &o.Retry
	if r.MaxAttemptsPerTarget <= 0 {
		r.MaxAttemptsPerTarget = 2
	}
	if r.ConnectAttempts <= 0 {
		r.ConnectAttempts = 2
	}
	if r.MaxRetryAfterWait == 0 {
		r.MaxRetryAfterWait = 3 * time.Second
	}
	if r.FirstTokenTimeout <= 0 {
		r.FirstTokenTimeout = 15 * time.Second
	}
	if r.BackoffBase <= 0 {
		r.BackoffBase = 100 * time.Millisecond
	}
	if r.BackoffMax <= 0 {
		r.BackoffMax = 2 * time.Second
	}
	if r.MaxSetAside <= 0 {
		r.MaxSetAside = 60 * time.Second
	}
	if r.DefaultSetAside <= 0 {
		r.DefaultSetAside = time.Second
	}
	if r.StreamIdleTimeout <= 0 {
		r.StreamIdleTimeout = 30 * time.Second
	}
	if o.Auto == nil && len(o.Tiers) > 0 {
		o.Auto = []string{"auto"}
	}
	if o.DefaultTier == llm.TierUnset {
		for _, t := range []llm.Tier{llm.TierMedium, llm.TierSmall, llm.TierLarge} {
			if _, ok := o.Tiers[t]; ok {
				o.DefaultTier = t
				break
			}
		}
	}
}

func (o *Options) validate() error {
	if len(o.Providers) == 0 {
		return fmt.Errorf("router: no providers")
	}
	for name, p := range o.Providers {
		if p == nil {
			return fmt.Errorf("router: provider %q is nil", name)
		}
	}
	checkChain := func(where string, chain []Target) error {
		if len(chain) == 0 {
			return fmt.Errorf("router: %s has an empty chain", where)
		}
		for i, t := range chain {
			if t.Model == "" {
				return fmt.Errorf("router: %s target %d has no model", where, i)
			}
			if _, ok := o.Providers[t.Provider]; !ok {
				return fmt.Errorf("router: %s target %d names unknown provider %q", where, i, t.Provider)
			}
			if t.Timeout < 0 || t.ContextWindow < 0 || t.StreamIdleTimeout < 0 {
				return fmt.Errorf("router: %s target %d has a negative setting", where, i)
			}
			if b := t.Breaker; b != nil && (b.FailureRatio < 0 || b.FailureRatio > 1 || b.OpenBackoff != 0 && b.OpenBackoff < 1) {
				return fmt.Errorf("router: %s target %d: breaker failure ratio must be within [0, 1] and open backoff >= 1", where, i)
			}
		}
		return nil
	}
	auto := make(map[string]bool, len(o.Auto))
	for _, a := range o.Auto {
		if a == "" {
			return fmt.Errorf("router: empty auto alias")
		}
		auto[a] = true
	}
	for name, chain := range o.Aliases {
		if name == "" {
			return fmt.Errorf("router: empty alias name")
		}
		if auto[name] {
			return fmt.Errorf("router: %q is both a pinned and an auto alias", name)
		}
		if err := checkChain("alias "+name, chain); err != nil {
			return err
		}
	}
	for tier, p := range o.Tiers {
		if tier == llm.TierUnset || tier > llm.TierLarge {
			return fmt.Errorf("router: invalid tier %d", tier)
		}
		if err := checkChain("tier "+tier.String(), p.Chain); err != nil {
			return err
		}
		switch p.OnExhausted {
		case "", OnExhaustedFail, OnExhaustedEscalate, OnExhaustedDegrade:
		default:
			return fmt.Errorf("router: tier %s: on_exhausted %q is not escalate, degrade or fail", tier, p.OnExhausted)
		}
	}
	if len(o.Auto) > 0 {
		if len(o.Tiers) == 0 {
			return fmt.Errorf("router: auto aliases need at least one tier")
		}
		if _, ok := o.Tiers[o.DefaultTier]; !ok {
			return fmt.Errorf("router: default tier %q has no chain", o.DefaultTier)
		}
	}
	if b := o.Breaker; b.FailureRatio < 0 || b.FailureRatio > 1 {
		return fmt.Errorf("router: breaker failure ratio %v is not within [0, 1]", b.FailureRatio)
	}
	if o.Breaker.OpenBackoff < 1 {
		return fmt.Errorf("router: breaker open backoff %v is below 1", o.Breaker.OpenBackoff)
	}
	return nil
}

// mergeRetry returns base with the non-zero fields of over.
func mergeRetry(base RetryOptions, over *RetryOptions) RetryOptions {
	if over == nil {
		return base
	}
	set := func(dst *time.Duration, v time.Duration) {
		if v != 0 {
			*dst = v
		}
	}
	seti := func(dst *int, v int) {
		if v > 0 {
			*dst = v
		}
	}
	seti(&base.MaxAttemptsPerTarget, over.MaxAttemptsPerTarget)
	seti(&base.ConnectAttempts, over.ConnectAttempts)
	set(&base.BackoffBase, over.BackoffBase)
	set(&base.BackoffMax, over.BackoffMax)
	set(&base.MaxSetAside, over.MaxSetAside)
	set(&base.DefaultSetAside, over.DefaultSetAside)
	set(&base.StreamIdleTimeout, over.StreamIdleTimeout)
	set(&base.MaxRetryAfterWait, over.MaxRetryAfterWait)
	set(&base.FirstTokenTimeout, over.FirstTokenTimeout)
	return base
}

// mergeBreaker returns base with the non-zero fields of over (never its
// OnStateChange).
func mergeBreaker(base BreakerOptions, over *BreakerOptions) BreakerOptions {
	if over == nil {
		return base
	}
	if over.ConsecutiveFailures > 0 {
		base.ConsecutiveFailures = over.ConsecutiveFailures
	}
	if over.FailureRatio > 0 {
		base.FailureRatio = over.FailureRatio
	}
	if over.MinRequests > 0 {
		base.MinRequests = over.MinRequests
	}
	if over.Window > 0 {
		base.Window = over.Window
	}
	if over.OpenTimeout > 0 {
		base.OpenTimeout = over.OpenTimeout
	}
	if over.OpenBackoff >= 1 {
		base.OpenBackoff = over.OpenBackoff
	}
	if over.MaxOpenTimeout > 0 {
		base.MaxOpenTimeout = over.MaxOpenTimeout
	}
	base.MaxOpenTimeout = max(base.MaxOpenTimeout, base.OpenTimeout)
	if over.HalfOpenProbes > 0 {
		base.HalfOpenProbes = over.HalfOpenProbes
	}
	return base
}
