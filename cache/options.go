package cache

import (
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"llmrouter/cache/guard"
	"llmrouter/embeddings"
	"llmrouter/llm"
)

// Options configures a Cache. Zero values take the documented defaults.
type Options struct {
	Exact    ExactOptions
	Semantic SemanticOptions
	// Embedder turns final user turns into vectors. nil turns the semantic
	// layer off.
	Embedder embeddings.Embedder
	// Store is the semantic backend and the holder of namespace versions.
	// nil means an in-process MemStore of Semantic.MaxEntries entries. The
	// Cache does not close it.
	Store Store
	// Logger receives warnings (dropped writes, database errors); nil
	// discards.
	Logger *slog.Logger
	// Registerer receives the cache metrics; nil registers none.
	Registerer prometheus.Registerer
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
}

// ExactOptions configures the exact layer (ristretto, in process).
type ExactOptions struct {
	// Disabled turns the exact layer off.
	Disabled bool
	// MaxBytes bounds the memory of stored answers (approximate bytes).
	// Default 64 MiB.
	MaxBytes int64
	// TTL is how long an answer stays. Default 5m.
	TTL time.Duration
}

// SemanticOptions configures the semantic layer.
type SemanticOptions struct {
	// Disabled turns the semantic layer off (it is also off without an
	// Embedder).
	Disabled bool
	// Threshold is the least cosine similarity for a hit. Default
	// embeddings.DefaultAPIThreshold (0.95); use the embedder's calibrated
	// value (cache tune).
	Threshold float64
	// TierThresholds overrides Threshold per decided tier. An override may
	// only raise the threshold: a value below Threshold is ignored.
	TierThresholds map[llm.Tier]float64
	// AliasThresholds overrides Threshold per requested model alias; it wins
	// over TierThresholds. Like those it may only raise the threshold.
	AliasThresholds map[string]float64
	// MinPromptChars: final user turns with fewer characters (runes) get
	// exact hits only. Default 20.
	MinPromptChars int
	// MaxPromptBytes: final user turns longer than this (in bytes) skip
	// the semantic layer and get exact hits only, counted in
	// llmrouter_cache_semantic_skipped_total{reason="too_long"}; nothing
	// that long is embedded. Default 32768.
	MaxPromptBytes int
	// MinTemplateBytes: a stored prompt and the incoming one that share a
	// common prefix plus suffix of at least this many bytes (a fixed
	// prompt template) are compared on their variable parts only: those
	// must be identical, or pass the guard and embed to a similarity at
	// or above the threshold (see template.go). Default 128; negative
	// turns the check off.
	MinTemplateBytes int
	// MaxTemperature: requests with a higher temperature skip the semantic
	// layer (the client asked for variety). Default 1.0.
	MaxTemperature float64
	// TTL is how long an entry stays. Default 1h.
	TTL time.Duration
	// MaxEntries bounds the default in-process store. Default 10,000.
	MaxEntries int
	// TopK is how many nearest entries are checked against the threshold and
	// the guard. Default 4.
	TopK int
	// EmbedTimeout bounds embedding the prompt on the request path.
	// Default 500ms; a slower embedder means a miss.
	EmbedTimeout time.Duration
	// SearchTimeout bounds a store search and a namespace-version read.
	// Default 200ms; a slower store means a miss.
	SearchTimeout time.Duration
	// WriteQueue bounds pending semantic writes; when full, writes are
	// dropped and counted, never waited for. Default 1024.
	WriteQueue int
	// BatchSize is the most entries written in one Store.Insert. Default 64.
	BatchSize int
	// FlushInterval is the longest a pending write waits for its batch to
	// fill. Default 50ms.
	FlushInterval time.Duration
	// WriteTimeout bounds one batch (embedding included). Default 5s.
	WriteTimeout time.Duration
	// PurgeInterval is how often expired entries are deleted. Default 1m;
	// negative disables the purge job.
	PurgeInterval time.Duration
	// PurgeBatch is the most entries one purge statement deletes. Default
	// 1000.
	PurgeBatch int
	// CloseTimeout bounds draining pending writes in Close. Default 5s.
	CloseTimeout time.Duration
	// Guard vets a candidate hit: stored is the cached prompt, incoming the
	// new one; a false ok rejects the hit whatever the similarity. nil means
	// guard.Check (numbers, named entities, negation).
	Guard func(stored, incoming string) (ok bool, reason string)
}

func (o *Options) setDefaults() {
	e := &o.Exact
	if e.MaxBytes <= 0 {
		e.MaxBytes = 64 << 20
	}
	if e.TTL <= 0 {
		e.TTL = 5 * time.Minute
	}
	s := &o.Semantic
	if s.Threshold <= 0 {
		s.Threshold = embeddings.DefaultAPIThreshold
	}
	if s.MinPromptChars <= 0 {
		s.MinPromptChars = 20
	}
	if s.MaxPromptBytes <= 0 {
		s.MaxPromptBytes = 32 << 10
	}
	if s.MinTemplateBytes == 0 {
		s.MinTemplateBytes = 128
	}
	if s.MaxTemperature <= 0 {
		s.MaxTemperature = 1.0
	}
	if s.TTL <= 0 {
		s.TTL = time.Hour
	}
	if s.MaxEntries <= 0 {
		s.MaxEntries = 10_000
	}
	if s.TopK <= 0 {
		s.TopK = 4
	}
	if s.EmbedTimeout <= 0 {
		s.EmbedTimeout = 500 * time.Millisecond
	}
	if s.SearchTimeout <= 0 {
		s.SearchTimeout = 200 * time.Millisecond
	}
	if s.WriteQueue <= 0 {
		s.WriteQueue = 1024
	}
	if s.BatchSize <= 0 {
		s.BatchSize = 64
	}
	if s.FlushInterval <= 0 {
		s.FlushInterval = 50 * time.Millisecond
	}
	if s.WriteTimeout <= 0 {
		s.WriteTimeout = 5 * time.Second
	}
	if s.PurgeInterval == 0 {
		s.PurgeInterval = time.Minute
	}
	if s.PurgeBatch <= 0 {
		s.PurgeBatch = 1000
	}
	if s.CloseTimeout <= 0 {
		s.CloseTimeout = 5 * time.Second
	}
	if s.Guard == nil {
		s.Guard = guard.Check
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// threshold returns the similarity threshold for r: the alias override,
// else the tier override, else the default; an override below the default
// is ignored (overrides may only raise the bar, never lower it).
func (s *SemanticOptions) threshold(r *llm.Request) float64 {
	if t, ok := s.AliasThresholds[r.Model]; ok {
		return max(t, s.Threshold)
	}
	if t, ok := s.TierThresholds[r.Tier]; ok {
		return max(t, s.Threshold)
	}
	return s.Threshold
}
