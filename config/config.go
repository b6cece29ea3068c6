package config

import "time"

// Config is one llmrouter configuration file, decoded, defaulted, resolved
// against the environment and validated by Load. A *Config returned by Load
// is complete: every default is filled in and every env reference resolved.
// It is an immutable snapshot: callers must not modify it after Load.
type Config struct {
	// Server holds the HTTP listener, limits and timeouts.
	Server Server `yaml:"server"`
	// Log sets the structured (JSON) log output.
	Log Log `yaml:"log"`
	// Auth says how clients authenticate (bearer keys mapped to tenants).
	Auth Auth `yaml:"auth"`
	// Providers lists the upstreams. Names are unique; targets refer to them.
	Providers []Provider `yaml:"providers"`
	// Models maps a public model alias (what clients send as "model", e.g.
	// "sonnet") to its ordered fallback chain of targets. Alias names must
	// not repeat routing.auto_aliases.
	Models map[string][]Target `yaml:"models"`
	// Routing holds the auto-alias tiers, classifier, breakers and retries.
	Routing Routing `yaml:"routing"`
	// Cache holds the exact and semantic response caches and the embedder.
	Cache Cache `yaml:"cache"`
	// Database is the optional PostgreSQL (+ pgvector) store.
	Database Database `yaml:"database"`
	// Prices maps an upstream model name (as the provider reports it, e.g.
	// "gpt-4o" or "claude-sonnet-4-5") to its list price. Models without a
	// price cost 0 and are counted as unpriced.
	Prices map[string]Price `yaml:"prices"`
	// Usage configures the usage ledger (PostgreSQL with a database, else
	// in memory) and pricing.
	Usage Usage `yaml:"usage"`
	// Governance configures budgets and rate limits (virtual keys carry
	// their own; see POST /admin/keys).
	Governance Governance `yaml:"governance"`
	// Tracing exports OpenTelemetry traces over OTLP. Off by default.
	Tracing Tracing `yaml:"tracing"`
	// RequestLog keeps one row per request for GET /admin/requests and the
	// dashboard's Requests view.
	RequestLog RequestLog `yaml:"request_log"`
}

// Governance configures budgets and the background synchronisation that
// makes budgets, rate limits and key revocations hold across replicas.
type Governance struct {
	// SyncInterval is how often each replica exchanges its counters and
	// reads the virtual keys from the database. A revoked key stops working
	// on every replica within it; a budget can be overrun, per replica, by
	// what the replica admits within 2 x SyncInterval plus its requests in
	// flight (see the README). Default 1s.
	SyncInterval time.Duration `yaml:"sync_interval"`
	// Tenants maps a tenant name to its USD budgets.
	Tenants map[string]TenantBudget `yaml:"tenants"`
}

// TenantBudget is a tenant's USD allowance; 0 means unlimited. Over it,
// requests get 429 insufficient_quota until the period ends (UTC).
type TenantBudget struct {
	DailyUSD   float64 `yaml:"daily_usd"`
	MonthlyUSD float64 `yaml:"monthly_usd"`
}

// Tracing configures OpenTelemetry trace export. The standard
// OTEL_EXPORTER_OTLP_* variables (endpoint, protocol, headers) apply to
// what is not set here.
type Tracing struct {
	// Enabled turns tracing on. Default false: no spans, no cost. Setting
	// OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
	// turns it on too, unless OTEL_SDK_DISABLED=true.
	Enabled bool `yaml:"enabled"`
	// Endpoint is the collector URL, e.g. http://localhost:4318 (OTLP/HTTP)
	// or http://localhost:4317 (gRPC). "" uses OTEL_EXPORTER_OTLP_ENDPOINT,
	// else localhost.
	Endpoint string `yaml:"endpoint"`
	// Protocol is "http/protobuf" or "grpc". "" uses
	// OTEL_EXPORTER_OTLP_PROTOCOL, else "http/protobuf".
	Protocol string `yaml:"protocol"`
	// SampleRatio is the fraction of new traces recorded, in (0, 1].
	// Requests arriving with a sampled traceparent are always recorded.
	// Default 1.
	SampleRatio float64 `yaml:"sample_ratio"`
	// ServiceName is the service.name of the spans. Default "llmrouter".
	ServiceName string `yaml:"service_name"`
	// CaptureContent adds prompt and answer text to spans: a debug option;
	// prompts are user data. Default false.
	CaptureContent bool `yaml:"capture_content"`
}

// RequestLog configures the request log. With a database it is the
// request_log table; without, an in-memory ring of MaxRows rows.
type RequestLog struct {
	// Enabled keeps the log. Default true.
	Enabled *bool `yaml:"enabled"`
	// MaxRows bounds the in-memory log (no database). Default 10000.
	MaxRows int `yaml:"max_rows"`
	// QueueSize bounds rows waiting to be written; beyond it rows are
	// dropped and counted. Default 4096.
	QueueSize int `yaml:"queue_size"`
	// BatchSize is the most rows written with one COPY. Default 256.
	BatchSize int `yaml:"batch_size"`
	// FlushInterval is the longest a row waits to be written. Default 1s.
	FlushInterval time.Duration `yaml:"flush_interval"`
	// Retention deletes rows older than this. Default 720h (30 days);
	// "0s" keeps them.
	Retention *time.Duration `yaml:"retention"`
}

// On reports whether the request log is kept.
func (r RequestLog) On() bool { return r.Enabled == nil || *r.Enabled }

// Server configures the fasthttp listener. Sizes are bytes, durations Go
// duration strings ("10s", "1m30s").
type Server struct {
	// Listen is the TCP address to serve on. Default ":8080". The
	// command-line flag -listen overrides it.
	Listen string `yaml:"listen"`
	// MaxBodyBytes bounds a request body; larger bodies get 413.
	// Default 8388608 (8 MiB).
	MaxBodyBytes int `yaml:"max_body_bytes"`
	// MaxHeaderBytes bounds the request line plus headers. Default 16384.
	MaxHeaderBytes int `yaml:"max_header_bytes"`
	// ReadTimeout bounds reading one whole request. Default 30s.
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// IdleTimeout closes keep-alive connections idle this long. Default 120s.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// WriteTimeout bounds writing one non-streamed response. Streamed
	// responses are bounded by StreamTimeout instead. Default 30s.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// StreamTimeout is the total budget of one streamed request, first
	// byte to [DONE]. Default 10m.
	StreamTimeout time.Duration `yaml:"stream_timeout"`
	// RequestTimeout is the total budget of one non-streamed request,
	// including cache lookups and every upstream attempt. Default 120s.
	RequestTimeout time.Duration `yaml:"request_timeout"`
	// HeartbeatInterval is how often an idle client stream gets an SSE
	// comment line so intermediaries keep it open. Default 15s.
	HeartbeatInterval time.Duration `yaml:"heartbeat_interval"`
	// StreamCoalesce lets a client stream hold events for up to this long
	// so that events arriving within it are flushed in one write. The
	// first event of a stream, and its end, are always flushed at once.
	// Default 0: every event is flushed as it is written. At most 50ms.
	StreamCoalesce time.Duration `yaml:"stream_coalesce"`
	// MaxConcurrency bounds requests in progress; beyond it clients get 503.
	// Default 1024.
	MaxConcurrency int `yaml:"max_concurrency"`
	// ShutdownTimeout is how long SIGTERM waits for in-flight requests and
	// streams before closing them. Default 30s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// DebugLogPrompts, when true, logs prompt text at debug level. Off by
	// default: prompts are user data.
	DebugLogPrompts bool `yaml:"debug_log_prompts"`
	// MetricsListen is a separate address serving the full /metrics (every
	// series, tenant-labelled ones included) without a key. Default
	// "127.0.0.1:9464" (loopback only); "off" disables it. The public
	// /metrics on Listen shows tenant-labelled series only to an admin key.
	MetricsListen string `yaml:"metrics_listen"`
	// Limits bound the numbers in a request that size an allocation.
	Limits Limits `yaml:"limits"`
}

// Limits bound every number in a request that sizes an allocation, for every
// inbound API. A request over a limit gets 400 (code limit_exceeded).
type Limits struct {
	// MaxN is the most choices ("n") one request may ask for. Default 16.
	MaxN int `yaml:"max_n"`
	// MaxOutputTokens caps max_tokens / max_completion_tokens. Default 131072.
	MaxOutputTokens int `yaml:"max_output_tokens"`
	// MaxMessages is the most messages in one request. Default 4096.
	MaxMessages int `yaml:"max_messages"`
	// MaxTools is the most tool definitions in one request. Default 128.
	MaxTools int `yaml:"max_tools"`
	// MaxStop is the most stop strings. Default 4.
	MaxStop int `yaml:"max_stop"`
	// MaxStopBytes is the longest stop string in bytes. Default 1024.
	MaxStopBytes int `yaml:"max_stop_bytes"`
	// MaxContentParts is the most content parts in one message. Default 1024.
	MaxContentParts int `yaml:"max_content_parts"`
	// MaxToolCalls is the most tool calls in one assistant message.
	// Default 256.
	MaxToolCalls int `yaml:"max_tool_calls"`
	// ClassifierWindowBytes is how many bytes of each message text the
	// classifier reads (the head and tail halves of longer texts; token
	// counts of the rest are estimated from its length). Default 65536.
	ClassifierWindowBytes int `yaml:"classifier_window_bytes"`
	// SemanticMaxPromptBytes is the longest final user message the semantic
	// cache embeds; longer prompts skip the semantic layer (counted in
	// llmrouter_cache_semantic_skipped_total{reason="too_long"}) and use
	// only the exact layer. Default 32768.
	SemanticMaxPromptBytes int `yaml:"semantic_max_prompt_bytes"`
}

// Log configures the JSON log on stderr.
type Log struct {
	// Level is debug, info, warn or error. Default info.
	Level string `yaml:"level"`
}

// Auth modes.
const (
	AuthKeys = "keys" // bearer keys from Auth.Keys are required
	AuthNone = "none" // no client authentication (local use only; warned at start)
)

// Auth configures client authentication.
type Auth struct {
	// Mode is "keys" (default: every request needs a configured bearer key)
	// or "none" (no authentication; the proxy logs a warning at start).
	Mode string `yaml:"mode"`
	// Keys are the client keys, each mapped to a tenant. Required (non-empty)
	// in mode keys.
	Keys []Key `yaml:"keys"`
	// AdminKeys may call /admin endpoints (cache invalidation). Empty means
	// the admin endpoints refuse every request.
	AdminKeys []Key `yaml:"admin_keys"`
}

// Key is one client bearer key. Exactly one of KeyEnv and KeySHA256 is set.
type Key struct {
	// Tenant names who owns the key; usage and caches are scoped by it.
	// Required.
	Tenant string `yaml:"tenant"`
	// KeyEnv names the environment variable holding the key's value. The
	// variable must be set and non-empty, and its value must not be 64 hex
	// digits (that form is read as a sha256 digest).
	KeyEnv string `yaml:"key_env"`
	// KeySHA256 is the lowercase hex SHA-256 of the key's value, so the
	// file holds no secret. Make one with: printf %s "$KEY" | sha256sum
	KeySHA256 string `yaml:"key_sha256"`
	// AllowTierOverride lets this tenant choose the tier with the
	// x-llmrouter-tier request header. Default false.
	AllowTierOverride bool `yaml:"allow_tier_override"`
	// MaxTier caps the tier of this tenant's auto requests: small, medium or
	// large. Default "" (no cap).
	MaxTier string `yaml:"max_tier"`
	// LogPromptChars > 0 stores the first N characters of the last user
	// message, redacted, in this key's request-log rows. Default 0: no
	// prompt text is stored.
	LogPromptChars int `yaml:"log_prompt_chars"`

	// Key is the key's value, read from KeyEnv by Load; "" when KeySHA256
	// is used. Never logged.
	Key string `yaml:"-"`
}

// Provider types.
const (
	ProviderOpenAI    = "openai"    // any OpenAI-compatible Chat Completions API
	ProviderAnthropic = "anthropic" // the Anthropic Messages API
	ProviderSimulator = "simulator" // in-process simulated model, no network
)

// Default base URLs per provider type.
const (
	DefaultOpenAIBaseURL    = "https://api.openai.com/v1"
	DefaultAnthropicBaseURL = "https://api.anthropic.com"
	DefaultAnthropicVersion = "2023-06-01"
)

// Provider is one upstream.
type Provider struct {
	// Name identifies the provider in targets, logs and metrics. Required,
	// unique.
	Name string `yaml:"name"`
	// Type is openai, anthropic or simulator. Required.
	Type string `yaml:"type"`
	// BaseURL is the API root, an absolute http(s) URL. Defaults:
	// openai "https://api.openai.com/v1", anthropic
	// "https://api.anthropic.com". Must be empty for simulator.
	BaseURL string `yaml:"base_url"`
	// APIKeyEnv names the environment variable holding the provider key.
	// Required for anthropic, and for openai with the default base URL; an
	// OpenAI-compatible server with an explicit base_url may be keyless
	// (Ollama, vLLM). When set, the variable must be set and non-empty.
	// There is deliberately no literal api_key field.
	APIKeyEnv string `yaml:"api_key_env"`
	// Headers are extra request headers sent to this upstream (e.g.
	// OpenRouter's HTTP-Referer). Not for secrets: use HeadersEnv.
	Headers map[string]string `yaml:"headers"`
	// HeadersEnv maps an extra header name to the environment variable
	// holding its value (for secret headers such as Azure's api-key).
	HeadersEnv map[string]string `yaml:"headers_env"`
	// Timeouts are this provider's network timeouts.
	Timeouts Timeouts `yaml:"timeouts"`
	// MaxConns bounds open connections to this upstream (per client: unary
	// and streaming each). Default 256.
	MaxConns int `yaml:"max_conns"`
	// MaxConnWait is how long a request waits for a free connection before
	// failing as local overload. Default 100ms.
	MaxConnWait time.Duration `yaml:"max_conn_wait"`
	// Simulator configures a simulator provider; only valid with type
	// simulator.
	Simulator *Simulator `yaml:"simulator"`
	// AnthropicVersion is the anthropic-version header. Default
	// "2023-06-01". Only valid with type anthropic.
	AnthropicVersion string `yaml:"anthropic_version"`
	// DefaultMaxTokens is the max_tokens sent to Anthropic when the client
	// gave none (the Messages API requires one). Default 4096. Only valid
	// with type anthropic.
	DefaultMaxTokens int `yaml:"default_max_tokens"`
	// BatchAPI says whether batch job lines routed to this provider are
	// submitted to its own batch API (OpenAI-compatible /v1/batches,
	// Anthropic Message Batches) at the batch price, instead of being sent
	// one by one. Default true for openai and anthropic; set false for an
	// OpenAI-compatible server without /v1/batches (vLLM, Ollama). Not
	// valid with type simulator.
	BatchAPI *bool `yaml:"batch_api"`

	// APIKey is the key's value, read from APIKeyEnv by Load. Never logged.
	APIKey string `yaml:"-"`
	// HeaderValues are Headers plus HeadersEnv resolved, built by Load.
	HeaderValues map[string]string `yaml:"-"`
}

// Timeouts are one provider's network timeouts. Every one is > 0 after
// defaults.
type Timeouts struct {
	// Connect bounds a TCP (+TLS) connect. Default 5s.
	Connect time.Duration `yaml:"connect"`
	// ResponseHeader bounds the wait for response headers; for a
	// non-streamed call that is the whole generation. Default 60s.
	ResponseHeader time.Duration `yaml:"response_header"`
	// Total bounds one non-streamed call. Default 120s.
	Total time.Duration `yaml:"total"`
	// StreamIdle is the longest gap between stream events before the
	// stream is declared stalled. Default 30s.
	StreamIdle time.Duration `yaml:"stream_idle"`
}

// Simulator configures an in-process simulated model.
type Simulator struct {
	// TimeToFirstToken is the delay before the first token. Default 0.
	TimeToFirstToken time.Duration `yaml:"time_to_first_token"`
	// TokensPerSecond is the generation speed; 0 means as fast as possible.
	TokensPerSecond float64 `yaml:"tokens_per_second"`
	// ErrorRate is the share of calls, in [0,1], that fail like an upstream
	// 500. Default 0.
	ErrorRate float64 `yaml:"error_rate"`
	// RateLimitRate is the share of calls, in [0,1], that fail like an
	// upstream 429 with Retry-After. ErrorRate + RateLimitRate <= 1.
	RateLimitRate float64 `yaml:"rate_limit_rate"`
	// Seed makes the injected failures reproducible. Default 0.
	Seed int64 `yaml:"seed"`
}

// Target is one step of a fallback chain: a provider and its upstream model.
type Target struct {
	// Provider names an entry of providers. Required.
	Provider string `yaml:"provider"`
	// Model is the upstream model name sent to the provider. Required.
	Model string `yaml:"model"`
	// Timeout bounds one attempt on this target; 0 (default) means the
	// provider's timeouts alone bound it.
	Timeout time.Duration `yaml:"timeout"`
	// Prefill marks a target that accepts a partial assistant answer as
	// prefill, so a stream cut mid-answer can be continued on it. Default
	// false.
	Prefill bool `yaml:"prefill"`
	// ContextWindow is the model's context size in tokens; a
	// context-length error may move to a target with a larger one. 0
	// (default) means unknown.
	ContextWindow int `yaml:"context_window"`
	// PromptArrays marks an OpenAI-compatible target whose /v1/completions
	// accepts a prompt array (vLLM, TGI, OpenAI): legacy completions routed
	// to it may be micro-batched (routing.micro_batch). Default false.
	PromptArrays bool `yaml:"prompt_arrays"`
	// FirstTokenTimeout bounds the wait for this target's first streamed
	// token; past it the next target is asked, invisibly to the client.
	// 0 (default) means routing.retry.first_token_timeout.
	FirstTokenTimeout time.Duration `yaml:"first_token_timeout"`
	// Retry overrides routing.retry (and routing.alias_retry) for this
	// target; unset fields inherit.
	Retry *Retry `yaml:"retry"`
	// Breaker overrides routing.breaker for this target's breaker; unset
	// fields inherit. A provider/model pair listed in several chains must
	// have the same breaker settings everywhere.
	Breaker *Breaker `yaml:"breaker"`
}

// MicroBatch configures synchronous micro-batching of client
// /v1/embeddings requests and of /v1/completions on prompt_arrays targets:
// requests with the same tenant, model, tier and parameters that arrive
// within window are sent as one upstream call. Chat completions are never
// micro-batched: no provider answers several conversations in one call.
type MicroBatch struct {
	// MaxItems sends a batch once it holds this many requests. Default 16;
	// 0 or 1 turns micro-batching off.
	MaxItems *int `yaml:"max_items"`
	// Window is the longest a request waits for others. Default 5ms (an
	// interactive budget); 0 turns micro-batching off. At most 100ms.
	Window *time.Duration `yaml:"window"`
	// MaxTokens bounds a batch's estimated input tokens. Default 8192.
	MaxTokens int `yaml:"max_tokens"`
}

// Tier names, as used in routing.tiers, routing.default_tier, max_tier and
// cache.semantic.tier_thresholds.
const (
	TierSmall  = "small"
	TierMedium = "medium"
	TierLarge  = "large"
)

// On-exhausted policies of a tier.
const (
	OnExhaustedEscalate = "escalate" // try the next larger tier's chain
	OnExhaustedDegrade  = "degrade"  // try the next smaller tier's chain
	OnExhaustedFail     = "fail"     // return the last error
)

// Routing configures auto-alias routing.
type Routing struct {
	// AutoAliases are the model names routed by the classifier. Default
	// ["auto"]. An empty list written explicitly ([]) disables auto routing
	// (and tiers may then be omitted).
	AutoAliases []string `yaml:"auto_aliases"`
	// DefaultTier is used when classification cannot decide. Default medium.
	DefaultTier string `yaml:"default_tier"`
	// Tiers maps small, medium and large to their chains. All three are
	// required while auto aliases exist.
	Tiers map[string]TierPolicy `yaml:"tiers"`
	// Classifier tunes the prompt classifier.
	Classifier Classifier `yaml:"classifier"`
	// Breaker configures one circuit breaker per target.
	Breaker Breaker `yaml:"breaker"`
	// Retry configures retries of retryable upstream failures.
	Retry Retry `yaml:"retry"`
	// RequestTimeout bounds all attempts of one request together. Default:
	// server.request_timeout.
	RequestTimeout time.Duration `yaml:"request_timeout"`
	// StreamIdleTimeout ends a routed stream whose upstream sends nothing
	// for that long; the stall counts as an upstream failure. Default 30s.
	StreamIdleTimeout time.Duration `yaml:"stream_idle_timeout"`
	// MicroBatch merges small embeddings and legacy completions requests.
	MicroBatch MicroBatch `yaml:"micro_batch"`
	// AliasRetry overrides routing.retry for every target of the named
	// models entries (pinned aliases); a target's own retry wins over it.
	AliasRetry map[string]Retry `yaml:"alias_retry"`
	// Idempotency configures the Idempotency-Key header.
	Idempotency Idempotency `yaml:"idempotency"`
}

// Idempotency configures how a client's Idempotency-Key is honoured: a
// repeat of a keyed request (same tenant, same key) within Window gets the
// first answer, or joins it while it is in flight, without a second
// upstream call. Per process: replicas do not share keys.
type Idempotency struct {
	// Window is how long a completed answer is replayed. Default 10m.
	Window time.Duration `yaml:"window"`
	// MaxEntries bounds the keys remembered. Default 4096.
	MaxEntries int `yaml:"max_entries"`
}

// TierPolicy is one tier's chain.
type TierPolicy struct {
	// Chain is the ordered list of targets tried for this tier. Required,
	// non-empty.
	Chain []Target `yaml:"chain"`
	// OnExhausted is what happens when every target failed: escalate (to
	// the next larger tier), degrade (to the next smaller tier) or fail.
	// Defaults: small and medium escalate, large degrades. Large cannot
	// escalate and small cannot degrade.
	OnExhausted string `yaml:"on_exhausted"`
	// MaxOutputTokens caps max_tokens / max_completion_tokens (Messages:
	// max_tokens, Responses: max_output_tokens) for requests answered by
	// this tier: auto requests the classifier put here and pinned aliases
	// of this tier (whose first target is in this tier's chain, first
	// place preferred). A request over it gets
	// 400 limit_exceeded naming the tier and the cap; it is not clamped.
	// Default 0: only server.limits.max_output_tokens applies. Must not
	// exceed server.limits.max_output_tokens.
	MaxOutputTokens int `yaml:"max_output_tokens"`
}

// Classifier tunes the auto-routing prompt classifier.
type Classifier struct {
	// SmallMaxTokens: prompts up to this many tokens count as small by
	// size. Default 500.
	SmallMaxTokens int `yaml:"small_max_tokens"`
	// MediumMaxTokens: prompts up to this many tokens count as medium by
	// size. Default 2000; must exceed SmallMaxTokens.
	MediumMaxTokens int `yaml:"medium_max_tokens"`
	// Tokenizer is how prompt tokens are counted: "estimate" (default), a
	// single-pass estimator calibrated against the cl100k_base BPE to within
	// 2% in aggregate on the shared prompt sets, or "cl100k_base", the exact
	// BPE (about 100x slower: milliseconds for a 2,000-token prompt).
	Tokenizer string `yaml:"tokenizer"`
	// Thresholds are the two score cut points [small|medium, medium|large],
	// increasing. Omitted: the classifier's calibrated defaults.
	Thresholds []float64 `yaml:"thresholds"`
	// Weights overrides the weights of named complexity signals; signals
	// not listed keep the classifier's defaults. The classifier rejects
	// unknown names at start-up. Used by the hand model only.
	Weights map[string]float64 `yaml:"weights"`
	// Model is the scorer: "learned" (default; the model fitted on the
	// shared MMLU routing data and embedded in the binary), "hand" (the
	// fifteen hand-weighted signals used before), or the path of a weights
	// file written by llmrouter router fit.
	Model string `yaml:"model"`
	// Target derives the learned model's thresholds from its held-out
	// cost-quality curve when Thresholds is omitted. Default keep_quality
	// 0.95, large_share 0.05. Ignored by the hand model.
	Target ClassifierTarget `yaml:"target"`
	// Session keeps a conversation on its tier (learned and hand models).
	Session Session `yaml:"session"`
}

// ClassifierTarget is what the tier thresholds are derived from. Set at
// most one of KeepQuality and StrongShare.
type ClassifierTarget struct {
	// KeepQuality, in (0, 1]: keep this share of the strong model's quality
	// with the fewest prompts above small.
	KeepQuality float64 `yaml:"keep_quality"`
	// StrongShare, in [0, 1]: send this share of prompts above small.
	StrongShare float64 `yaml:"strong_share"`
	// LargeShare, in [0, 1]: the share of prompts the large head ranks
	// hardest (the medium model likely fails too) goes to large. Default
	// 0.05.
	LargeShare float64 `yaml:"large_share"`
}

// Session configures conversation stickiness: a conversation (same user
// field, x-session-id header, or system prompt plus first user turn) keeps
// its tier, never moves down, and moves up only when a turn scores clearly
// higher.
type Session struct {
	// Disabled turns stickiness off: every turn is routed on its own.
	Disabled bool `yaml:"disabled"`
	// Margin is how far (in score units) above the next tier's threshold a
	// turn must score to move the conversation up; it grows with the prompt
	// cache discount the move would lose. Default 0.5.
	Margin float64 `yaml:"margin"`
	// TTL forgets a conversation idle for this long. Default 30m.
	TTL time.Duration `yaml:"ttl"`
	// MaxSessions bounds the in-memory session table (least recently used
	// evicted). Default 100000.
	MaxSessions int `yaml:"max_sessions"`
}

// Breaker configures the per-target circuit breakers.
type Breaker struct {
	// ConsecutiveFailures opens the breaker after this many failures in a
	// row. Default 5.
	ConsecutiveFailures int `yaml:"consecutive_failures"`
	// FailureRatio opens the breaker when at least this share, in (0,1], of
	// the requests in Window failed (and MinRequests were seen). Default 0.5.
	FailureRatio float64 `yaml:"failure_ratio"`
	// MinRequests is the least number of requests in Window before
	// FailureRatio applies. Default 20.
	MinRequests int `yaml:"min_requests"`
	// Window is the closed-state counting window. Default 30s.
	Window time.Duration `yaml:"window"`
	// OpenDuration is the first open period: how long a freshly opened
	// breaker rejects before half-open. Default 1s.
	OpenDuration time.Duration `yaml:"open_duration"`
	// OpenBackoff multiplies the open period on each re-open (a failed
	// probe, or a trip within window of closing). Default 2; >= 1.
	OpenBackoff float64 `yaml:"open_backoff"`
	// MaxOpenDuration caps the open period. Default 60s.
	MaxOpenDuration time.Duration `yaml:"max_open_duration"`
	// HalfOpenProbes is how many probe requests a half-open breaker lets
	// through; all must succeed to close. Default 1.
	HalfOpenProbes int `yaml:"half_open_probes"`
}

// Retry configures retries on one target before moving on.
type Retry struct {
	// MaxAttemptsPerTarget bounds the attempts on one target after 5xx
	// answers, the first try included. Default 2.
	MaxAttemptsPerTarget int `yaml:"max_attempts_per_target"`
	// ConnectAttempts bounds the attempts on one target when the request
	// could not be sent (connection refused). Default 2.
	ConnectAttempts int `yaml:"connect_attempts"`
	// MaxRetryAfterWait is the longest Retry-After (429/503/529) waited out
	// on the same target, once, when the request's budget allows; longer
	// ones fail over at once. Default 3s; negative never waits.
	MaxRetryAfterWait time.Duration `yaml:"max_retry_after_wait"`
	// FirstTokenTimeout bounds the wait for a stream's first token before
	// failing over (not retried on the same target). Default 15s.
	FirstTokenTimeout time.Duration `yaml:"first_token_timeout"`
	// BackoffInitial is the first backoff (jittered, doubling). Default 100ms.
	BackoffInitial time.Duration `yaml:"backoff_initial"`
	// BackoffMax caps the backoff. Default 2s.
	BackoffMax time.Duration `yaml:"backoff_max"`
	// RetryAfterCap caps how long an upstream Retry-After sets a target
	// aside. Default 60s.
	RetryAfterCap time.Duration `yaml:"retry_after_cap"`
	// DefaultSetAside is how long a 429 without Retry-After sets a target
	// aside. Default 1s.
	DefaultSetAside time.Duration `yaml:"default_set_aside"`
}

// Cache configures the response caches.
type Cache struct {
	// Exact is the in-process exact-match cache.
	Exact ExactCache `yaml:"exact"`
	// Semantic is the similarity cache (pgvector, or in-process without a
	// database).
	Semantic SemanticCache `yaml:"semantic"`
	// Embedder turns prompts into vectors for the semantic cache.
	Embedder Embedder `yaml:"embedder"`
}

// ExactCache configures the exact cache.
type ExactCache struct {
	// Enabled turns the exact cache on. Default false.
	Enabled bool `yaml:"enabled"`
	// MaxBytes bounds the cache's memory. Default 67108864 (64 MiB).
	MaxBytes int64 `yaml:"max_bytes"`
	// TTL is how long an answer stays. Default 5m.
	TTL time.Duration `yaml:"ttl"`
}

// Semantic-cache similarity threshold defaults per embedder type.
const (
	DefaultSemanticThresholdOpenAI = 0.95
	// DefaultSemanticThresholdLexical is the lexical embedder's own
	// default, calibrated on STS-B (embeddings.DefaultLexicalThreshold): at
	// it the lexical embedder serves near-duplicates, not rephrasings.
	DefaultSemanticThresholdLexical = 0.95
)

// SemanticCache configures the semantic cache.
type SemanticCache struct {
	// Enabled turns the semantic cache on. Default false.
	Enabled bool `yaml:"enabled"`
	// Threshold is the least cosine similarity, in (0,1], for a hit.
	// Default 0.95 (both embedders; calibrate with llmrouter cache tune).
	Threshold float64 `yaml:"threshold"`
	// TierThresholds overrides Threshold for auto requests of a tier
	// (small, medium, large).
	TierThresholds map[string]float64 `yaml:"tier_thresholds"`
	// AliasThresholds overrides Threshold for a model alias (a key of
	// models, or an auto alias). It wins over TierThresholds.
	AliasThresholds map[string]float64 `yaml:"alias_thresholds"`
	// MinPromptChars: shorter final user turns get exact hits only.
	// Default 20.
	MinPromptChars int `yaml:"min_prompt_chars"`
	// MinTemplateBytes: a cached prompt and a new one that share at least
	// this many bytes of common prefix plus suffix (a fixed prompt
	// template around a payload) are compared on their differing parts
	// only, so a different payload in the same template never hits; an
	// exact repeat still does. Default 128; -1 turns the check off.
	MinTemplateBytes int `yaml:"min_template_bytes"`
	// TTL is how long an entry stays. Default 1h.
	TTL time.Duration `yaml:"ttl"`
	// MaxEntries bounds the in-process backend (used without a database).
	// Default 10000.
	MaxEntries int `yaml:"max_entries"`
	// WriteQueue bounds pending writes; beyond it writes are dropped and
	// counted. Default 1024.
	WriteQueue int `yaml:"write_queue"`
	// BatchSize is the most entries inserted in one database round trip.
	// Default 64.
	BatchSize int `yaml:"batch_size"`
	// PurgeInterval is how often expired entries are deleted. Default 1m.
	PurgeInterval time.Duration `yaml:"purge_interval"`
}

// Embedder types.
const (
	EmbedderLexical = "lexical" // local feature hashing; near-duplicates only
	EmbedderOpenAI  = "openai"  // any OpenAI-compatible /v1/embeddings server
)

// Embedder configures the semantic cache's embedder.
type Embedder struct {
	// Type is lexical (default; offline, deterministic) or openai.
	Type string `yaml:"type"`
	// Dim is the vector dimension. Defaults: lexical 512; openai 1536.
	Dim int `yaml:"dim"`
	// BaseURL is the openai embedder's API root. Default
	// "https://api.openai.com/v1". Only valid with type openai.
	BaseURL string `yaml:"base_url"`
	// APIKeyEnv names the variable holding the openai embedder's key;
	// required with the default base URL. Only valid with type openai.
	APIKeyEnv string `yaml:"api_key_env"`
	// Model is the embeddings model. Default "text-embedding-3-small".
	// Only valid with type openai.
	Model string `yaml:"model"`
	// Timeout bounds one embeddings call. Default 2s.
	Timeout time.Duration `yaml:"timeout"`
	// BatchWindow is how long concurrent embed calls wait to be merged into
	// one upstream request. Default 2ms; 0 after defaults is impossible.
	BatchWindow time.Duration `yaml:"batch_window"`
	// MaxBatch is the most texts in one merged request. Default 64.
	MaxBatch int `yaml:"max_batch"`

	// APIKey is the key's value, read from APIKeyEnv by Load.
	APIKey string `yaml:"-"`
}

// Database configures PostgreSQL (with the vector extension). Without a URL
// the proxy runs with in-process caches and in-memory usage.
type Database struct {
	// URL is a postgres:// URL (or key=value DSN). The DATABASE_URL
	// environment variable, when set, overrides it. Default "" (no
	// database). Prefer DATABASE_URL for URLs carrying a password.
	URL string `yaml:"url"`
	// MaxConns sizes the connection pool. Default 20.
	MaxConns int `yaml:"max_conns"`
	// ConnectTimeout bounds one connect. Default 2s.
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
}

// Price is a model's list price in US dollars per one million tokens.
type Price struct {
	// Input is the price of prompt tokens.
	Input float64 `yaml:"input"`
	// Output is the price of completion tokens.
	Output float64 `yaml:"output"`
	// CachedInput is the price of prompt tokens read from the provider's
	// prompt cache. Default: Input. Never nil after Load.
	CachedInput *float64 `yaml:"cached_input"`
	// CacheWrite is the price of prompt tokens written to the provider's
	// prompt cache (Anthropic cache_creation_input_tokens). Default: Input.
	// Never nil after Load.
	CacheWrite *float64 `yaml:"cache_write"`
	// Source is where the price was read (a URL); documentation only.
	Source string `yaml:"source"`
	// Date is when the price was read (YYYY-MM-DD); documentation only.
	Date string `yaml:"date"`
	// BatchDiscount is the fraction of the price taken off answers made
	// through the provider's batch API (batch job lines), in [0, 1].
	// Default 0.5 (OpenAI's and Anthropic's batch price).
	BatchDiscount *float64 `yaml:"batch_discount"`
}

// Usage configures usage accounting.
type Usage struct {
	// QueueSize bounds usage records waiting to be aggregated; when full,
	// records are dropped and counted. Default 4096.
	QueueSize int `yaml:"queue_size"`
	// MaxRows bounds the in-memory ledger's hourly rows (used without a
	// database); when full the oldest hour's rows are evicted. Default
	// 100000.
	MaxRows int `yaml:"max_rows"`
	// PricesFile is a price table file (the format of configs/prices.yaml,
	// whose copy is built in and used when this is empty). Entries of the
	// main config's prices override it model by model.
	PricesFile string `yaml:"prices_file"`
	// BaselineModel is the upstream model that routed (model "auto")
	// requests are compared with, to show savings from routing. Default:
	// the first target of the highest configured tier.
	BaselineModel string `yaml:"baseline_model"`
	// BatchSize is the most usage records written in one database batch.
	// Default 512.
	BatchSize int `yaml:"batch_size"`
	// FlushInterval is the longest a usage record waits before it is
	// written. Default 1s.
	FlushInterval time.Duration `yaml:"flush_interval"`
	// EventRetention is how long the database keeps each request's
	// usage_events row. Default 720h (30 days).
	EventRetention time.Duration `yaml:"event_retention"`
	// RollupRetention is how long the database keeps the hourly rollups
	// that /v1/usage and the dashboard read. Default 9600h (400 days).
	RollupRetention time.Duration `yaml:"rollup_retention"`
}

// Provider returns the provider named name, or nil.
func (c *Config) Provider(name string) *Provider {
	for i := range c.Providers {
		if c.Providers[i].Name == name {
			return &c.Providers[i]
		}
	}
	return nil
}
