-- Scope lookups. Most scopes hold few entries (a scope is one tenant, model,
-- tier, system prompt, history and parameter set), and for those the planner
-- prefers this index plus an exact sort over the HNSW graph: exact results
-- and no filtering loss. Large scopes use the per-dimension HNSW index with
-- iterative scans (see 001).
CREATE INDEX IF NOT EXISTS semantic_entries_scope ON {{.schema}}.semantic_entries (scope_hash, expires_at);
