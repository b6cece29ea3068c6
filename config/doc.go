// Package config is llmrouter's YAML configuration: the schema (whose field
// comments are the reference users read), the one place defaults live,
// environment references for every secret, and validation that reports
// every problem with its path. Only cmd/llmrouter imports it; it translates
// a *Config into each package's own Options.
//
// Load decodes strictly: a field the schema does not know is an error, as is
// an integer where a duration belongs (write "10s", "250ms", "1m30s").
// Secrets never appear in the file: provider keys come from api_key_env,
// client keys from key_env (or are stored as key_sha256), secret headers
// from headers_env; DATABASE_URL overrides database.url. A reload (SIGHUP)
// is simply another Load; a failed Load leaves the running config alone.
//
// # Reference
//
// Every field with its default ("-" means none, required fields say so):
//
//	server:
//	  listen: ":8080"              # address; the -listen flag overrides it
//	  max_body_bytes: 8388608      # 8 MiB; larger bodies get 413
//	  max_header_bytes: 16384      # request line + headers
//	  read_timeout: 30s            # reading one whole request
//	  idle_timeout: 120s           # keep-alive idle connections
//	  write_timeout: 30s           # writing one non-streamed response
//	  stream_timeout: 10m          # whole budget of one streamed request
//	  request_timeout: 120s        # whole budget of one non-streamed request
//	  heartbeat_interval: 15s      # SSE comment on idle client streams (< stream_timeout)
//	  stream_coalesce: 0s          # hold stream events up to this long to flush them together (0-50ms; first event never waits)
//	  max_concurrency: 1024        # requests in progress; beyond: 503
//	  shutdown_timeout: 30s        # SIGTERM drain deadline
//	  debug_log_prompts: false     # log prompt text at debug level
//	  metrics_listen: "127.0.0.1:9464"  # full /metrics (tenant series) without a key; "off" = none
//	  limits:                      # per request, every inbound API; over a limit: 400 limit_exceeded
//	    max_n: 16                  # choices ("n")
//	    max_output_tokens: 131072  # max_tokens / max_completion_tokens
//	    max_messages: 4096
//	    max_tools: 128
//	    max_stop: 4                # stop strings
//	    max_stop_bytes: 1024       # bytes of one stop string
//	    max_content_parts: 1024    # parts of one message
//	    max_tool_calls: 256        # tool calls of one assistant message
//	    classifier_window_bytes: 65536    # bytes of each text the classifier reads (head + tail)
//	    semantic_max_prompt_bytes: 32768  # longer prompts skip the semantic cache (metric)
//	log:
//	  level: info                  # debug | info | warn | error
//	auth:
//	  mode: keys                   # keys | none (none: no auth, warned at start)
//	  keys:                        # required (non-empty) in mode keys
//	    - tenant: team-a           # required
//	      key_env: TEAM_A_KEY      # env var with the key, or:
//	      key_sha256: "<64 hex>"   # sha256 of the key (exactly one of the two)
//	      allow_tier_override: false  # may send x-llmrouter-tier
//	      max_tier: ""             # small | medium | large cap; "" = none
//	      log_prompt_chars: 0      # >0: request log keeps this many prompt chars, redacted
//	  admin_keys: []               # same shape; may call /admin/*
//	providers:                     # required, at least one; names unique
//	  - name: openai               # required
//	    type: openai               # openai | anthropic | simulator
//	    base_url: https://api.openai.com/v1   # anthropic: https://api.anthropic.com; simulator: must be empty
//	    api_key_env: OPENAI_API_KEY           # required for anthropic and for openai at the default URL
//	    headers: {}                # extra headers (not secrets)
//	    headers_env: {}            # header name -> env var with its value
//	    timeouts:
//	      connect: 5s
//	      response_header: 60s     # non-stream: the whole generation
//	      total: 120s              # one non-streamed call
//	      stream_idle: 30s         # longest gap between stream events
//	    max_conns: 256             # per upstream client
//	    max_conn_wait: 100ms       # wait for a free connection, then local overload
//	    anthropic_version: "2023-06-01"  # anthropic only
//	    default_max_tokens: 4096         # anthropic only: max_tokens when the client gave none
//	    batch_api: true            # openai/anthropic: batch job lines go to the provider's batch API
//	    simulator:                 # simulator only
//	      time_to_first_token: 0s
//	      tokens_per_second: 0     # 0 = as fast as possible
//	      error_rate: 0            # [0,1] share failing like a 500
//	      rate_limit_rate: 0       # [0,1] share failing like a 429 (sum <= 1)
//	      seed: 0                  # makes injected failures reproducible
//	models:                        # public alias -> ordered fallback chain
//	  sonnet:
//	    - provider: anthropic      # required, a providers[].name
//	      model: claude-sonnet-4-5 # required, the upstream model name
//	      timeout: 0s              # one attempt; 0 = provider timeouts only
//	      prefill: false           # accepts an assistant prefill (mid-stream continuation)
//	      prompt_arrays: false     # /v1/completions accepts a prompt array (micro-batching)
//	      context_window: 0        # tokens; 0 = unknown
//	      first_token_timeout: 0s  # 0 = routing.retry.first_token_timeout
//	      retry: {}                # overrides routing.retry for this target (same fields)
//	      breaker: {}              # overrides routing.breaker for this target (same fields)
//	routing:
//	  auto_aliases: [auto]         # names routed by the classifier; [] disables
//	  default_tier: medium         # when the classifier cannot decide
//	  tiers:                       # small, medium, large all required while auto_aliases is non-empty
//	    small:
//	      chain: [ ...targets... ] # required, non-empty (same shape as models entries)
//	      on_exhausted: escalate   # escalate | degrade | fail; defaults small/medium escalate, large degrade
//	      max_output_tokens: 0     # cap on max_tokens for this tier (auto and pinned); over: 400 limit_exceeded; 0 = server.limits.max_output_tokens
//	  classifier:
//	    small_max_tokens: 500
//	    medium_max_tokens: 2000    # > small_max_tokens
//	    tokenizer: estimate        # estimate (calibrated, fast) | cl100k_base (exact BPE, slow)
//	    model: learned             # learned (embedded, fitted on MMLU) | hand (15 hand weights) | path/to/weights.json
//	    thresholds: [a, b]         # cut points; omitted = from target (learned) or calibrated defaults (hand)
//	    target: {keep_quality: 0.95, large_share: 0.05}  # or {strong_share: 0.4}; learned model only
//	    weights: {}                # hand model: signal name -> weight; unlisted keep defaults
//	    session:                   # conversations keep their tier; never down; up only by a margin
//	      disabled: false
//	      margin: 0.5              # score units above the next tier's cut; grows with the lost cache discount
//	      ttl: 30m
//	      max_sessions: 100000     # LRU bound
//	  breaker:
//	    consecutive_failures: 5
//	    failure_ratio: 0.5         # (0,1]
//	    min_requests: 20           # before failure_ratio applies
//	    window: 30s
//	    open_duration: 1s          # first open period
//	    open_backoff: 2            # x per re-open (>= 1)
//	    max_open_duration: 60s     # cap of the open period
//	    half_open_probes: 1
//	  retry:
//	    max_attempts_per_target: 2 # includes the first try
//	    backoff_initial: 100ms     # jittered, doubling
//	    backoff_max: 2s            # >= backoff_initial
//	    retry_after_cap: 60s       # longest a 429 Retry-After sets a target aside
//	    default_set_aside: 1s      # set-aside of a 429 without Retry-After
//	    connect_attempts: 2        # on a target the request could not be sent to
//	    max_retry_after_wait: 3s   # Retry-After waited out once on the same target; negative = never
//	    first_token_timeout: 15s   # a stream's first token; then fail over (no retry on that target)
//	  request_timeout: <server.request_timeout>  # all attempts together
//	  stream_idle_timeout: 30s     # a routed stream silent this long is a failure
//	  micro_batch:                 # embeddings + legacy completions on prompt_arrays targets
//	    max_items: 16              # send a batch at this many requests; 0 or 1 = off
//	    window: 5ms                # longest wait for others (0 = off, <= 100ms)
//	    max_tokens: 8192           # estimated input tokens per batch
//	  alias_retry: {}              # models alias -> retry overrides for its targets
//	  idempotency:
//	    window: 10m                # a repeated Idempotency-Key gets the first answer
//	    max_entries: 4096          # keys remembered
//	cache:
//	  exact:
//	    enabled: false
//	    max_bytes: 67108864        # 64 MiB
//	    ttl: 5m
//	  semantic:
//	    enabled: false
//	    threshold: 0.95            # (0,1]; calibrate with llmrouter cache tune
//	    tier_thresholds: {}        # small|medium|large -> threshold
//	    alias_thresholds: {}       # model alias -> threshold (wins over tier)
//	    min_prompt_chars: 20       # shorter prompts: exact hits only
//	    min_template_bytes: 128    # shared prefix+suffix this long: compare only the differing parts; -1 = off
//	    ttl: 1h
//	    max_entries: 10000         # in-process backend (no database)
//	    write_queue: 1024          # pending writes; beyond: dropped and counted
//	    batch_size: 64             # rows per database insert
//	    purge_interval: 1m
//	  embedder:
//	    type: lexical              # lexical (offline, near-duplicates only) | openai
//	    dim: 512                   # openai: 1536
//	    base_url: https://api.openai.com/v1   # openai only
//	    api_key_env: ""            # openai only; required at the default URL
//	    model: text-embedding-3-small         # openai only
//	    timeout: 2s
//	    batch_window: 2ms          # merge concurrent embed calls
//	    max_batch: 64
//	database:
//	  url: ""                      # postgres://...; DATABASE_URL overrides; "" = no database
//	  max_conns: 20
//	  connect_timeout: 2s
//	prices:                        # upstream model -> USD per 1M tokens
//	  gpt-4o: {input: 2.50, output: 10.00, cached_input: 1.25, cache_write: 2.50}  # cache prices default to input
//	  # batch_discount: 0.5        # fraction off for answers through the provider's batch API
//	usage:
//	  queue_size: 4096             # usage records waiting; beyond: dropped and counted
//	  max_rows: 100000             # in-memory ledger hourly rows (no database); oldest hour evicted
//	  prices_file: ""              # price table file; "" = the built-in configs/prices.yaml
//	  baseline_model: ""           # routing savings compare with it; "" = first target of the top tier
//	  batch_size: 512              # usage_events rows per COPY
//	  flush_interval: 1s
//	  event_retention: 720h        # usage_events rows kept (database)
//	  rollup_retention: 9600h      # hourly rollups kept (database)
//	governance:
//	  sync_interval: 1s            # counters and key revocations exchanged between replicas
//	  tenants:                     # USD budgets per tenant; 0 = none (429 insufficient_quota when spent)
//	    team-a: {daily_usd: 50, monthly_usd: 1000}
//	tracing:                       # OpenTelemetry over OTLP; OTEL_EXPORTER_OTLP_* apply too
//	  enabled: false
//	  endpoint: ""                 # http://localhost:4318 (http/protobuf) or :4317 (grpc)
//	  protocol: ""                 # http/protobuf | grpc; "" = OTEL_EXPORTER_OTLP_PROTOCOL or http
//	  sample_ratio: 1              # new traces kept; a sampled incoming traceparent always is
//	  service_name: llmrouter
//	  capture_content: false       # debug only: prompt and answer text on spans
//	request_log:                   # one row per request: /admin/requests, /dashboard/requests
//	  enabled: true
//	  max_rows: 10000              # in-memory ring when there is no database
//	  queue_size: 4096             # rows waiting; beyond: dropped and counted
//	  batch_size: 256              # rows per COPY
//	  flush_interval: 1s
//	  retention: 720h              # rows older are deleted; 0s keeps them
package config
