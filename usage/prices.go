// Package usage counts tokens and dollars: a price table per upstream
// model, integer micro-dollar costs, a usage ledger of hourly rollups (in
// memory, or in PostgreSQL with every event kept in usage_events), the
// /v1/usage query, Prometheus counters, and a Recorder that observes
// answers passing through an llm.Completer chain and records them off the
// hot path.
package usage

import (
	"errors"
	"fmt"
	"math"
	"math/bits"

	"llmrouter/llm"
)

// Price is a model's list price in US dollars per one million tokens.
type Price struct {
	Input      float64 // prompt tokens neither read from nor written to a provider cache
	Output     float64 // completion tokens (reasoning tokens included)
	CacheRead  float64 // prompt tokens read from the provider's prompt cache
	CacheWrite float64 // prompt tokens written to the provider's prompt cache (Anthropic)
	// BatchDiscount is the fraction taken off an answer made through the
	// provider's batch API (OpenAI Batch API, Anthropic Message Batches:
	// 0.5), in [0, 1]; 0 means no discount.
	BatchDiscount float64
}

// microPrice is a Price in micro-dollars per million tokens (picodollars
// per token), so that costs are integer arithmetic.
type microPrice struct {
	in, out, read, write int64
	batchDiscount        float64
}

// PriceTable maps upstream model names to prices. It is immutable after
// NewPriceTable and safe for concurrent use. A nil *PriceTable prices
// nothing.
type PriceTable struct {
	m map[string]microPrice
}

// NewPriceTable copies prices into a table. Prices must be finite,
// non-negative and at most $1e9 per million tokens; they are kept to
// the micro-dollar per million tokens.
func NewPriceTable(prices map[string]Price) (*PriceTable, error) {
	t := &PriceTable{m: make(map[string]microPrice, len(prices))}
	var errs []error
	for model, p := range prices {
		var mp [4]int64
		for i, v := range []float64{p.Input, p.Output, p.CacheRead, p.CacheWrite} {
			if !(v >= 0) || v > 1e9 || math.IsInf(v, 0) {
				errs = append(errs, fmt.Errorf("usage: price of %q must be finite, non-negative and at most 1e9", model))
				break
			}
			mp[i] = int64(math.Round(v * 1e6))
		}
		if !(p.BatchDiscount >= 0 && p.BatchDiscount <= 1) {
			errs = append(errs, fmt.Errorf("usage: batch discount of %q must be in [0, 1]", model))
		}
		t.m[model] = microPrice{in: mp[0], out: mp[1], read: mp[2], write: mp[3], batchDiscount: p.BatchDiscount}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return t, nil
}

// BatchCost is Cost for an answer made through the provider's batch API:
// Cost less the model's BatchDiscount, rounded to the micro-dollar.
func (t *PriceTable) BatchCost(model string, tok Tokens) (micro int64, ok bool) {
	c, ok := t.Cost(model, tok)
	if !ok {
		return 0, false
	}
	p, _ := t.lookup(model)
	return int64(math.Round(float64(c) * (1 - p.batchDiscount))), true
}

// Priced reports whether model has a price: an exact match, or the match
// of the name without a trailing date snapshot suffix ("gpt-4o-2024-08-06"
// and "claude-opus-4-1-20250805" are priced as "gpt-4o" and
// "claude-opus-4-1").
func (t *PriceTable) Priced(model string) bool {
	_, ok := t.lookup(model)
	return ok
}

func (t *PriceTable) lookup(model string) (microPrice, bool) {
	if t == nil {
		return microPrice{}, false
	}
	if p, ok := t.m[model]; ok {
		return p, true
	}
	if base := stripDate(model); base != model {
		p, ok := t.m[base]
		return p, ok
	}
	return microPrice{}, false
}

// Tokens is the priced split of one answer's tokens. Prompt counts every
// prompt token, CacheRead and CacheWrite included (OpenAI's convention;
// the Anthropic adapter adds its cache tokens to prompt_tokens).
type Tokens struct {
	Prompt, Completion, CacheRead, CacheWrite int
}

// TokensOf splits u; nil usage is zero tokens. Negative counts are read as
// 0 and cache counts are capped so that they never exceed Prompt.
func TokensOf(u *llm.Usage) Tokens {
	if u == nil {
		return Tokens{}
	}
	t := Tokens{Prompt: max(u.PromptTokens, 0), Completion: max(u.CompletionTokens, 0)}
	if d := u.PromptTokensDetails; d != nil {
		t.CacheRead = min(max(d.CachedTokens, 0), t.Prompt)
		t.CacheWrite = min(max(d.CacheCreationTokens, 0), t.Prompt-t.CacheRead)
	}
	return t
}

// Cost returns what tok costs on model in integer micro-dollars, rounded
// half up from the exact picodollar total: uncached prompt tokens at
// Input, cache reads at CacheRead, cache writes at CacheWrite, completion
// tokens at Output. ok is false (and the cost 0) for a model without a
// price: callers must show such usage as unpriced, never as free.
func (t *PriceTable) Cost(model string, tok Tokens) (micro int64, ok bool) {
	p, ok := t.lookup(model)
	if !ok {
		return 0, false
	}
	// 128-bit sum of tokens x picodollars, so no price or count overflows.
	var hi, lo uint64
	add := func(n int, price int64) {
		h, l := bits.Mul64(uint64(max(n, 0)), uint64(price))
		var c uint64
		lo, c = bits.Add64(lo, l, 0)
		hi += h + c
	}
	add(tok.Prompt-tok.CacheRead-tok.CacheWrite, p.in)
	add(tok.CacheRead, p.read)
	add(tok.CacheWrite, p.write)
	add(tok.Completion, p.out)
	add(1, 500_000) // round half up
	if hi >= 1_000_000 {
		return math.MaxInt64, true
	}
	q, _ := bits.Div64(hi, lo, 1_000_000)
	return int64(min(q, math.MaxInt64)), true
}

// stripDate removes a trailing "-YYYY-MM-DD" or "-YYYYMMDD".
func stripDate(m string) string {
	digits := func(s string) bool {
		for i := 0; i < len(s); i++ {
			if s[i] < '0' || s[i] > '9' {
				return false
			}
		}
		return true
	}
	if n := len(m); n > 11 {
		s := m[n-11:]
		if s[0] == '-' && s[5] == '-' && s[8] == '-' && digits(s[1:5]) && digits(s[6:8]) && digits(s[9:]) {
			return m[:n-11]
		}
	}
	if n := len(m); n > 9 && m[n-9] == '-' && digits(m[n-8:]) {
		return m[:n-9]
	}
	return m
}
