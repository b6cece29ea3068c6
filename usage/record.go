package usage

import (
	"time"
)

// Record is one request as the ledger counts it: an answer (or a failed
// upstream call) with its tokens and integer micro-dollar amounts.
type Record struct {
	Time     time.Time
	Tenant   string // "" when auth is off
	Key      string // the client key's id (llm.Request.KeyID)
	Model    string // upstream model that answered (or whose answer was replayed); requested alias on errors
	Provider string // provider that answered; "" for a cache hit or an error before any answer
	Tier     string // decided tier of a routed request; "" when pinned

	Tokens    Tokens
	Estimated bool // tokens estimated from text because the upstream reported none
	Batch     bool // answered through a provider's batch API: priced with its BatchDiscount

	CostMicro       int64 // what the upstream charged; 0 for a cache hit
	Priced          bool  // the model has a price (cost figures are real)
	CacheHit        bool  // answered by llmrouter's own cache
	SavedCacheMicro int64 // for a cache hit: what the answer would have cost
	Routed          bool  // model "auto": the classifier chose the tier
	BaselineMicro   int64 // for a routed miss: what the baseline model would have charged
	Error           bool  // the call failed; no tokens

	Latency time.Duration // whole request (streams: to the end)
	TTFT    time.Duration // streams: to the first content chunk; unary: = Latency
}

// LatencyBounds are the upper bounds, in milliseconds, of the latency
// histogram buckets the ledger keeps per row; a last bucket counts the rest.
var LatencyBounds = [...]int64{10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000}

// NumBuckets is the length of a row's latency histograms.
const NumBuckets = len(LatencyBounds) + 1

// Hist is a latency histogram over LatencyBounds.
type Hist [NumBuckets]int64

func (h *Hist) observe(d time.Duration) {
	ms := d.Milliseconds()
	for i, b := range LatencyBounds {
		if ms <= b {
			h[i]++
			return
		}
	}
	h[NumBuckets-1]++
}

func (h *Hist) add(o *Hist) {
	for i := range h {
		h[i] += o[i]
	}
}

// Quantile returns the upper bound (ms) of the bucket holding quantile q,
// 0 when empty; the overflow bucket reports twice the last bound.
func (h *Hist) Quantile(q float64) int64 {
	var n int64
	for _, c := range h {
		n += c
	}
	if n == 0 {
		return 0
	}
	rank := int64(q*float64(n) + 0.999999)
	var cum int64
	for i, c := range h {
		cum += c
		if cum >= rank {
			if i < len(LatencyBounds) {
				return LatencyBounds[i]
			}
			break
		}
	}
	return 2 * LatencyBounds[len(LatencyBounds)-1]
}

// RowKey is a rollup row's identity: one UTC hour and dimensions.
type RowKey struct {
	Hour     time.Time // UTC, truncated to the hour
	Tenant   string
	Key      string
	Model    string
	Tier     string
	Provider string
}

// Row is the ledger's hourly rollup for one RowKey.
type Row struct {
	RowKey
	Sums
}

// Sums are the additive figures of a row or a group.
type Sums struct {
	Requests         int64
	Errors           int64
	CacheHits        int64
	Routed           int64
	Unpriced         int64
	Estimated        int64
	PromptTokens     int64
	CompletionTokens int64
	CacheReadTokens  int64
	CacheWriteTokens int64
	CostMicro        int64
	SavedCacheMicro  int64
	BaselineMicro    int64 // baseline cost of routed misses
	RoutedCostMicro  int64 // actual cost of the same routed misses
	Latency          Hist
	TTFT             Hist
}

// Add adds o to s.
func (s *Sums) Add(o *Sums) {
	s.Requests += o.Requests
	s.Errors += o.Errors
	s.CacheHits += o.CacheHits
	s.Routed += o.Routed
	s.Unpriced += o.Unpriced
	s.Estimated += o.Estimated
	s.PromptTokens += o.PromptTokens
	s.CompletionTokens += o.CompletionTokens
	s.CacheReadTokens += o.CacheReadTokens
	s.CacheWriteTokens += o.CacheWriteTokens
	s.CostMicro += o.CostMicro
	s.SavedCacheMicro += o.SavedCacheMicro
	s.BaselineMicro += o.BaselineMicro
	s.RoutedCostMicro += o.RoutedCostMicro
	s.Latency.add(&o.Latency)
	s.TTFT.add(&o.TTFT)
}

// keyOf returns the rollup key of r.
func keyOf(r *Record) RowKey {
	return RowKey{Hour: r.Time.UTC().Truncate(time.Hour), Tenant: r.Tenant, Key: r.Key, Model: r.Model, Tier: r.Tier, Provider: r.Provider}
}

// sumsOf returns the figures one record contributes to its row.
func sumsOf(r *Record) Sums {
	s := Sums{Requests: 1}
	b := func(v bool) int64 {
		if v {
			return 1
		}
		return 0
	}
	s.Errors = b(r.Error)
	s.CacheHits = b(r.CacheHit)
	s.Routed = b(r.Routed)
	s.Unpriced = b(!r.Priced && !r.Error)
	s.Estimated = b(r.Estimated)
	if !r.CacheHit { // a hit's tokens priced its savings; none went upstream
		s.PromptTokens = int64(r.Tokens.Prompt)
		s.CompletionTokens = int64(r.Tokens.Completion)
		s.CacheReadTokens = int64(r.Tokens.CacheRead)
		s.CacheWriteTokens = int64(r.Tokens.CacheWrite)
	}
	s.CostMicro = r.CostMicro
	s.SavedCacheMicro = r.SavedCacheMicro
	if r.Routed && !r.CacheHit && !r.Error && r.Priced {
		s.BaselineMicro = r.BaselineMicro
		s.RoutedCostMicro = r.CostMicro
	}
	if !r.Error {
		s.Latency.observe(r.Latency)
		s.TTFT.observe(r.TTFT)
	}
	return s
}

// rollup aggregates records into rows, ordered by key (a stable order that
// keeps concurrent upserts from deadlocking).
func rollup(recs []Record) []Row {
	idx := make(map[RowKey]int, len(recs))
	var rows []Row
	for i := range recs {
		k := keyOf(&recs[i])
		s := sumsOf(&recs[i])
		if j, ok := idx[k]; ok {
			rows[j].Add(&s)
			continue
		}
		idx[k] = len(rows)
		rows = append(rows, Row{RowKey: k, Sums: s})
	}
	sortRows(rows)
	return rows
}
