-- The request log: one row per request, written in batches off the hot
-- path (reqlog package). No prompt text unless the client key opted in.
CREATE TABLE IF NOT EXISTS {{.schema}}.request_log (
    time              timestamptz      NOT NULL,
    request_id        text             NOT NULL,
    trace_id          text             NOT NULL DEFAULT '',
    tenant            text             NOT NULL DEFAULT '',
    key_id            text             NOT NULL DEFAULT '',
    api               text             NOT NULL DEFAULT '',
    model             text             NOT NULL DEFAULT '',
    stream            boolean          NOT NULL DEFAULT false,
    tier              text             NOT NULL DEFAULT '',
    score             double precision NOT NULL DEFAULT 0,
    reasons           text[]           NOT NULL DEFAULT '{}',
    cache             text             NOT NULL DEFAULT '',
    similarity        double precision NOT NULL DEFAULT 0,
    attempts          jsonb            NOT NULL DEFAULT '[]',
    provider          text             NOT NULL DEFAULT '',
    upstream_model    text             NOT NULL DEFAULT '',
    input_tokens      integer          NOT NULL DEFAULT 0,
    output_tokens     integer          NOT NULL DEFAULT 0,
    cost_usd          double precision NOT NULL DEFAULT 0,
    baseline_cost_usd double precision NOT NULL DEFAULT 0,
    saved_usd         double precision NOT NULL DEFAULT 0,
    status            integer          NOT NULL DEFAULT 0,
    error_kind        text             NOT NULL DEFAULT '',
    ttft_ms           double precision NOT NULL DEFAULT 0,
    latency_ms        double precision NOT NULL DEFAULT 0,
    prompt            text             NOT NULL DEFAULT ''
);
-- Newest first, with request_id as the tie-breaker of the cursor.
CREATE INDEX IF NOT EXISTS request_log_time_idx ON {{.schema}}.request_log (time DESC, request_id DESC);
CREATE INDEX IF NOT EXISTS request_log_tenant_time_idx ON {{.schema}}.request_log (tenant, time DESC);
CREATE INDEX IF NOT EXISTS request_log_request_id_idx ON {{.schema}}.request_log (request_id);
