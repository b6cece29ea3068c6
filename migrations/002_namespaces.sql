-- Cache namespace versions per tenant. Every cache key and semantic scope
-- includes the tenant's version; invalidation bumps it, and every replica
-- sharing the database reads the new version on its next request.
CREATE TABLE IF NOT EXISTS {{.schema}}.namespaces (
    tenant     text        PRIMARY KEY,
    version    bigint      NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);
