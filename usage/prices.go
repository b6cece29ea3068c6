// Package usage counts tokens and dollars: a price table per upstream
// model, an in-memory ledger aggregated per (tenant, model, day), Prometheus
// counters, and a Recorder that observes answers passing through an
// llm.Completer chain and records them off the hot path.
package usage

import (
	"errors"
	"fmt"
	"math"

	"llmrouter/llm"
)

// Price is a model's list price in US dollars per one million tokens.
type Price struct {
	Input       float64 // prompt tokens not read from a provider cache
	Output      float64 // completion tokens (reasoning tokens included)
	CachedInput float64 // prompt tokens read from the provider's prompt cache
	// BatchDiscount is the fraction taken off an answer made through the
	// provider's batch API (OpenAI Batch API, Anthropic Message Batches:
	// 0.5), in [0, 1]; 0 means no discount.
	BatchDiscount float64
}

// PriceTable maps upstream model names to prices. It is immutable after
// NewPriceTable and safe for concurrent use. A nil *PriceTable prices
// nothing.
type PriceTable struct {
	m map[string]Price
}

// NewPriceTable copies prices into a table. Prices must be finite and
// non-negative.
func NewPriceTable(prices map[string]Price) (*PriceTable, error) {
	t := &PriceTable{m: make(map[string]Price, len(prices))}
	var errs []error
	for model, p := range prices {
		for _, v := range []float64{p.Input, p.Output, p.CachedInput} {
			if !(v >= 0) || math.IsInf(v, 0) {
				errs = append(errs, fmt.Errorf("usage: price of %q must be finite and non-negative", model))
				break
			}
		}
		if !(p.BatchDiscount >= 0 && p.BatchDiscount <= 1) {
			errs = append(errs, fmt.Errorf("usage: batch discount of %q must be in [0, 1]", model))
		}
		t.m[model] = p
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return t, nil
}

// Lookup returns the price of model: an exact match, else the match of the
// name without a trailing date snapshot suffix ("gpt-4o-2024-08-06" and
// "claude-opus-4-1-20250805" are priced as "gpt-4o" and "claude-opus-4-1").
func (t *PriceTable) Lookup(model string) (Price, bool) {
	if t == nil {
		return Price{}, false
	}
	if p, ok := t.m[model]; ok {
		return p, true
	}
	if base := stripDate(model); base != model {
		p, ok := t.m[base]
		return p, ok
	}
	return Price{}, false
}

// Cost returns the US dollars that u costs on model: uncached prompt tokens
// at Input, cached prompt tokens at CachedInput, completion tokens at
// Output. Unknown models and nil usage cost 0 (Lookup tells them apart).
// Anthropic cache-creation tokens are billed as ordinary prompt tokens.
func (t *PriceTable) Cost(model string, u *llm.Usage) float64 {
	p, ok := t.Lookup(model)
	if !ok || u == nil {
		return 0
	}
	cached := min(max(u.CachedPromptTokens(), 0), max(u.PromptTokens, 0))
	uncached := max(u.PromptTokens, 0) - cached
	return (float64(uncached)*p.Input + float64(cached)*p.CachedInput + float64(max(u.CompletionTokens, 0))*p.Output) / 1e6
}

// BatchCost is Cost for an answer made through the provider's batch API:
// Cost less the model's BatchDiscount.
func (t *PriceTable) BatchCost(model string, u *llm.Usage) float64 {
	p, _ := t.Lookup(model)
	return t.Cost(model, u) * (1 - p.BatchDiscount)
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
