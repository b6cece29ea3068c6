-- Tenant isolation in the semantic search. Every search filters on
-- tenant = $tenant (equality) as well as on the scope hash, which already
-- includes the tenant: a scope-hash bug or collision can then never return
-- another tenant's row. This index serves that filter together with the
-- scope (small scopes: an index scan plus an exact sort), and replaces
-- semantic_entries_scope (003), whose columns it leads with the tenant.
-- Large scopes use the per-dimension HNSW index (see 001), where the
-- tenant is checked as a filter on every row the scan returns.
CREATE INDEX IF NOT EXISTS semantic_entries_tenant_scope ON {{.schema}}.semantic_entries (tenant, scope_hash, expires_at);
DROP INDEX IF EXISTS {{.schema}}.semantic_entries_scope;
