-- Provider batches a batch job's lines were submitted to (OpenAI Batch API,
-- Anthropic Message Batches): stored once the provider accepted them, so a
-- restart polls them again instead of submitting (and paying for) the
-- lines twice.
CREATE TABLE IF NOT EXISTS {{.schema}}.batch_upstream (
    job_id      text        NOT NULL REFERENCES {{.schema}}.batch_jobs (id) ON DELETE CASCADE,
    upstream_id text        NOT NULL,
    object      jsonb       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (job_id, upstream_id)
);
