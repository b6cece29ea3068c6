package llm

import "sync"

// Cache outcomes reported in x-llmrouter-cache.
const (
	CacheMiss     = "miss"
	CacheExact    = "exact"
	CacheSemantic = "semantic"
	CacheBypass   = "bypass"
)

// Meta records what the layers decided about one request. The proxy creates
// it, each layer fills in its part, and the proxy turns it into response
// headers, a log line and metrics. Safe for concurrent use.
type Meta struct {
	mu sync.Mutex
	m  MetaValues
}

// MetaValues is a snapshot of a Meta.
type MetaValues struct {
	Tier       Tier     // decided tier ("" until the classifier ran)
	Score      float64  // classifier score
	Reasons    []string // top classifier reasons
	Session    string   // conversation stickiness: "new", "kept", "escalated" or "" (none)
	Provider   string   // provider that answered
	Model      string   // upstream model that answered
	Attempts   int      // upstream attempts made
	Cache      string   // CacheMiss, CacheExact, CacheSemantic, CacheBypass or ""
	Similarity float64  // cosine similarity of a semantic hit
	// CostMicroUSD is what the answer cost upstream in micro-dollars (0
	// for a cache hit), set by the usage recorder; valid when Priced.
	CostMicroUSD int64
	// Priced reports that CostMicroUSD was computed from a known price.
	Priced bool
	// Costed reports that the usage recorder set CostMicroUSD and Priced.
	Costed bool
	// Tried lists the upstream attempts in order (router).
	Tried []Attempt
	// CostUSD is what the answer cost upstream (0 for a cache hit),
	// SavedUSD what a cache hit would have cost, BaselineUSD what the
	// request would have cost on the baseline model (0 when unknown); set
	// by the usage recorder.
	CostUSD, SavedUSD, BaselineUSD float64
}

// Update applies f to the values under the lock. No-op on a nil Meta.
func (m *Meta) Update(f func(*MetaValues)) {
	if m == nil {
		return
	}
	m.mu.Lock()
	f(&m.m)
	m.mu.Unlock()
}

// Values returns a copy of the values; the zero value for a nil Meta.
func (m *Meta) Values() MetaValues {
	if m == nil {
		return MetaValues{}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	v := m.m
	v.Reasons = append([]string(nil), m.m.Reasons...)
	if m.m.Tried != nil {
		v.Tried = append([]Attempt(nil), m.m.Tried...)
	}
	return v
}
