-- The durable usage ledger. Every recorded request is one usage_events row
-- (written in batches with COPY); usage_hourly holds the hourly rollups that
-- /v1/usage, the dashboard and budgets read. Both are written in the same
-- transaction, so they always agree. Several replicas write to one database:
-- rollup upserts add, so queries see the sum. Money is integer micro-dollars.
CREATE TABLE IF NOT EXISTS {{.schema}}.usage_events (
    ts                 timestamptz NOT NULL,
    tenant             text        NOT NULL,
    key_id             text        NOT NULL,
    model              text        NOT NULL,
    provider           text        NOT NULL,
    tier               text        NOT NULL,
    prompt_tokens      integer     NOT NULL,
    completion_tokens  integer     NOT NULL,
    cache_read_tokens  integer     NOT NULL,
    cache_write_tokens integer     NOT NULL,
    estimated          boolean     NOT NULL,
    cost_micro         bigint      NOT NULL,
    priced             boolean     NOT NULL,
    cache_hit          boolean     NOT NULL,
    saved_cache_micro  bigint      NOT NULL,
    routed             boolean     NOT NULL,
    baseline_micro     bigint      NOT NULL,
    error              boolean     NOT NULL,
    latency_ms         integer     NOT NULL,
    ttft_ms            integer     NOT NULL
);
CREATE INDEX IF NOT EXISTS usage_events_ts ON {{.schema}}.usage_events (ts);

CREATE TABLE IF NOT EXISTS {{.schema}}.usage_hourly (
    hour               timestamptz NOT NULL,
    tenant             text        NOT NULL,
    key_id             text        NOT NULL,
    model              text        NOT NULL,
    tier               text        NOT NULL,
    provider           text        NOT NULL,
    requests           bigint      NOT NULL,
    errors             bigint      NOT NULL,
    cache_hits         bigint      NOT NULL,
    routed             bigint      NOT NULL,
    unpriced           bigint      NOT NULL,
    estimated          bigint      NOT NULL,
    prompt_tokens      bigint      NOT NULL,
    completion_tokens  bigint      NOT NULL,
    cache_read_tokens  bigint      NOT NULL,
    cache_write_tokens bigint      NOT NULL,
    cost_micro         bigint      NOT NULL,
    saved_cache_micro  bigint      NOT NULL,
    baseline_micro     bigint      NOT NULL,
    routed_cost_micro  bigint      NOT NULL,
    latency_hist       bigint[]    NOT NULL,
    ttft_hist          bigint[]    NOT NULL,
    PRIMARY KEY (hour, tenant, key_id, model, tier, provider)
);
CREATE INDEX IF NOT EXISTS usage_hourly_tenant_hour ON {{.schema}}.usage_hourly (tenant, hour);

-- Element-wise sum of two histograms of the same length.
CREATE OR REPLACE FUNCTION {{.schema}}.llmrouter_hist_add(a bigint[], b bigint[]) RETURNS bigint[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT array_agg(coalesce(x, 0) + coalesce(y, 0) ORDER BY i) FROM unnest(a, b) WITH ORDINALITY AS t(x, y, i)
$$;

-- Virtual keys, created with POST /admin/keys. Only the SHA-256 digest of a
-- key is stored; the plaintext is shown once, at creation. Money in
-- micro-dollars; 0 means no limit.
CREATE TABLE IF NOT EXISTS {{.schema}}.virtual_keys (
    id                   text        PRIMARY KEY,
    digest               bytea       NOT NULL UNIQUE,
    prefix               text        NOT NULL,
    name                 text        NOT NULL,
    tenant               text        NOT NULL,
    models               text[]      NOT NULL,
    max_tier             text        NOT NULL,
    daily_budget_micro   bigint      NOT NULL,
    monthly_budget_micro bigint      NOT NULL,
    rpm                  integer     NOT NULL,
    tpm                  integer     NOT NULL,
    created_at           timestamptz NOT NULL DEFAULT now(),
    revoked_at           timestamptz
);

-- Governance counters shared by replicas: spend per key and tenant per day
-- and month, requests and tokens per key per minute. Each replica adds its
-- local deltas in the background and reads the totals back.
CREATE TABLE IF NOT EXISTS {{.schema}}.governance_counters (
    scope  text        NOT NULL,
    period timestamptz NOT NULL,
    value  bigint      NOT NULL,
    PRIMARY KEY (scope, period)
);
CREATE INDEX IF NOT EXISTS governance_counters_period ON {{.schema}}.governance_counters (period);
