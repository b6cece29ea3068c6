-- Batch jobs (/v1/files, /v1/batches): uploaded files, jobs as their OpenAI
-- batch object, and one row per answered line so that a restart resumes a
-- job without losing or repeating an answered line.
CREATE TABLE IF NOT EXISTS {{.schema}}.batch_files (
    id         text        PRIMARY KEY,
    tenant     text        NOT NULL,
    object     jsonb       NOT NULL,
    content    bytea       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS {{.schema}}.batch_jobs (
    id         text        PRIMARY KEY,
    tenant     text        NOT NULL,
    active     boolean     NOT NULL,
    created    bigint      NOT NULL,
    object     jsonb       NOT NULL,
    -- the replica running the job, until lease_until (renewed while it runs)
    lease_owner text,
    lease_until timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS batch_jobs_active ON {{.schema}}.batch_jobs (created) WHERE active;
CREATE TABLE IF NOT EXISTS {{.schema}}.batch_lines (
    job_id text   NOT NULL REFERENCES {{.schema}}.batch_jobs (id) ON DELETE CASCADE,
    idx    int    NOT NULL,
    result bytea  NOT NULL,
    PRIMARY KEY (job_id, idx)
);
