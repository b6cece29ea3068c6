-- Semantic cache entries.
--
-- Layout: one table for every embedder. The embedding column has no fixed
-- dimension, because HNSW needs one and operators may switch embedders; each
-- row records its embedder and dim, and the cache creates (at start-up, under
-- the migration advisory lock) one partial expression HNSW index per
-- dimension it uses:
--   CREATE INDEX semantic_entries_hnsw_d<N> ON semantic_entries
--     USING hnsw ((embedding::vector(<N>)) vector_cosine_ops) WHERE dim = <N>;
-- Searches filter on dim = <N> and order by embedding::vector(<N>) <=> $q,
-- so vectors of two dimensions (or two embedders: the embedder name is part
-- of scope_hash) are never compared.
--
-- The vector extension must already exist (scripts/setup-pgvector.sh); it
-- normally lives in public, so connections use search_path = <schema>, public.
CREATE EXTENSION IF NOT EXISTS vector;

CREATE TABLE IF NOT EXISTS {{.schema}}.semantic_entries (
    id                bigserial   PRIMARY KEY,
    scope_hash        bytea       NOT NULL,
    tenant            text        NOT NULL,
    namespace_version bigint      NOT NULL,
    embedder          text        NOT NULL,
    dim               integer     NOT NULL CHECK (dim > 0),
    prompt            text        NOT NULL,
    embedding         vector      NOT NULL,
    provider          text        NOT NULL DEFAULT '',
    response          jsonb       NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    expires_at        timestamptz NOT NULL,
    CHECK (vector_dims(embedding) = dim)
);

-- The purge job deletes expired rows oldest first in bounded batches.
CREATE INDEX IF NOT EXISTS semantic_entries_expires_at ON {{.schema}}.semantic_entries (expires_at);
-- Invalidation deletes a tenant's rows of older namespace versions.
CREATE INDEX IF NOT EXISTS semantic_entries_tenant ON {{.schema}}.semantic_entries (tenant, namespace_version);
