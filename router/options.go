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
	// Complete and Embed, and the time until the first content chunk for
	// Stream (after that, the stream idle timeout and the request budget
	// apply). 0 means only the request budget bounds it.
	Timeout time.Duration
	// Prefill reports that the provider continues an answer when the last
	// message is an assistant message (Anthropic prefill). A stream cut
	// after content was sent may be continued on such a target.
	Prefill bool
	// ContextWindow is the model's context size in tokens, 0 when unknown.
	// A context-length error fails over only to a target with a larger
	// known window.
	ContextWindow int
	// StreamIdleTimeout overrides RetryOptions.StreamIdleTimeout for this
	// target when > 0.
	StreamIdleTimeout time.Duration
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
	// OpenTimeout is how long an open breaker rejects calls before it lets
	// half-open probes through. Default 30 s.
	OpenTimeout time.Duration
	// HalfOpenProbes is how many requests may pass in the half-open state;
	// that many consecutive successes close the breaker, any failure
	// reopens it. Default 1.
	HalfOpenProbes uint32
	// OnStateChange, when set, is called on every state change with the
	// states' names ("closed", "half-open", "open"). It runs under the
	// breaker's lock: it must be quick and must not call the Router.
	OnStateChange func(provider, model, from, to string)
}

// RetryOptions configures retries and timers.
type RetryOptions struct {
	// MaxAttemptsPerTarget bounds the attempts on one target for one
	// request (first try included). Default 2.
	MaxAttemptsPerTarget int
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
	// OnAttempt, when set, is called before every upstream call (for
	// metrics). It runs on the request's goroutine: it must be quick and
	// must not call the Router.
	OnAttempt func(Attempt)
}

// Attempt describes one upstream call the router is about to make.
type Attempt struct {
	Provider, Model string
	// Kind is "first" (the request's first call), "retry" (the same target
	// again) or "failover" (another target after a failure or a skip).
	Kind string
	// Reason is the llm error kind of the last failure that led here
	// ("" for a first call; "skipped" when earlier targets were only
	// skipped: open breaker or set aside).
	Reason string
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
		b.OpenTimeout = 30 * time.Second
	}
	if b.HalfOpenProbes == 0 {
		b.HalfOpenProbes = 1
	}
	r := &o.Retry
	if r.MaxAttemptsPerTarget <= 0 {
		r.MaxAttemptsPerTarget = 2
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
	return nil
}
