package usage

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PGOptions configure a PGStore.
type PGOptions struct {
	// Setup prepares the schema (migrations). It runs before the first
	// write or query, and again after a failure until it succeeds, so a
	// database that is down at start-up is picked up when it comes back.
	// nil means the schema is ready.
	Setup func(ctx context.Context) error
	// EventRetention is how long usage_events rows are kept. Default 30
	// days.
	EventRetention time.Duration
	// RollupRetention is how long usage_hourly rows are kept. Default 400
	// days.
	RollupRetention time.Duration
}

// PGStore is the durable ledger in PostgreSQL (usage_events and
// usage_hourly, see migrations/004). Several replicas may share one
// database; their rollups add up. Safe for concurrent use.
type PGStore struct {
	pool *pgxpool.Pool
	o    PGOptions

	mu    sync.Mutex
	ready bool
}

var _ Store = (*PGStore)(nil)

// NewPGStore returns a store on pool (whose search_path names the migrated
// schema). It does no I/O; the pool stays the caller's.
func NewPGStore(pool *pgxpool.Pool, o PGOptions) *PGStore {
	if o.EventRetention <= 0 {
		o.EventRetention = 30 * 24 * time.Hour
	}
	if o.RollupRetention <= 0 {
		o.RollupRetention = 400 * 24 * time.Hour
	}
	return &PGStore{pool: pool, o: o}
}

func (s *PGStore) setup(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ready || s.o.Setup == nil {
		s.ready = true
		return nil
	}
	if err := s.o.Setup(ctx); err != nil {
		return fmt.Errorf("usage: database setup: %w", err)
	}
	s.ready = true
	return nil
}

var eventColumns = []string{"ts", "tenant", "key_id", "model", "provider", "tier", "prompt_tokens", "completion_tokens",
	"cache_read_tokens", "cache_write_tokens", "estimated", "cost_micro", "priced", "cache_hit", "saved_cache_micro",
	"routed", "baseline_micro", "error", "latency_ms", "ttft_ms"}

const upsertHourly = `INSERT INTO usage_hourly (hour, tenant, key_id, model, tier, provider, requests, errors, cache_hits,
 routed, unpriced, estimated, prompt_tokens, completion_tokens, cache_read_tokens, cache_write_tokens, cost_micro,
 saved_cache_micro, baseline_micro, routed_cost_micro, latency_hist, ttft_hist)
VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22)
ON CONFLICT (hour, tenant, key_id, model, tier, provider) DO UPDATE SET
 requests = usage_hourly.requests + excluded.requests,
 errors = usage_hourly.errors + excluded.errors,
 cache_hits = usage_hourly.cache_hits + excluded.cache_hits,
 routed = usage_hourly.routed + excluded.routed,
 unpriced = usage_hourly.unpriced + excluded.unpriced,
 estimated = usage_hourly.estimated + excluded.estimated,
 prompt_tokens = usage_hourly.prompt_tokens + excluded.prompt_tokens,
 completion_tokens = usage_hourly.completion_tokens + excluded.completion_tokens,
 cache_read_tokens = usage_hourly.cache_read_tokens + excluded.cache_read_tokens,
 cache_write_tokens = usage_hourly.cache_write_tokens + excluded.cache_write_tokens,
 cost_micro = usage_hourly.cost_micro + excluded.cost_micro,
 saved_cache_micro = usage_hourly.saved_cache_micro + excluded.saved_cache_micro,
 baseline_micro = usage_hourly.baseline_micro + excluded.baseline_micro,
 routed_cost_micro = usage_hourly.routed_cost_micro + excluded.routed_cost_micro,
 latency_hist = llmrouter_hist_add(usage_hourly.latency_hist, excluded.latency_hist),
 ttft_hist = llmrouter_hist_add(usage_hourly.ttft_hist, excluded.ttft_hist)`

// Write implements Store: one transaction that copies the events into
// usage_events and adds their rollups to usage_hourly (rows upserted in key
// order, so concurrent replicas never deadlock).
func (s *PGStore) Write(ctx context.Context, recs []Record) error {
	if len(recs) == 0 {
		return nil
	}
	if err := s.setup(ctx); err != nil {
		return err
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("usage: begin: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	_, err = tx.CopyFrom(ctx, pgx.Identifier{"usage_events"}, eventColumns, pgx.CopyFromSlice(len(recs), func(i int) ([]any, error) {
		r := &recs[i]
		t := r.Tokens
		return []any{r.Time.UTC(), r.Tenant, r.Key, r.Model, r.Provider, r.Tier, t.Prompt, t.Completion, t.CacheRead, t.CacheWrite,
			r.Estimated, r.CostMicro, r.Priced, r.CacheHit, r.SavedCacheMicro, r.Routed, r.BaselineMicro, r.Error,
			int32(min(r.Latency.Milliseconds(), 1<<31-1)), int32(min(r.TTFT.Milliseconds(), 1<<31-1))}, nil
	}))
	if err != nil {
		return fmt.Errorf("usage: copy events: %w", err)
	}
	b := &pgx.Batch{}
	for _, r := range rollup(recs) {
		b.Queue(upsertHourly, r.Hour, r.Tenant, r.Key, r.Model, r.Tier, r.Provider, r.Requests, r.Errors, r.CacheHits,
			r.Routed, r.Unpriced, r.Estimated, r.PromptTokens, r.CompletionTokens, r.CacheReadTokens, r.CacheWriteTokens,
			r.CostMicro, r.SavedCacheMicro, r.BaselineMicro, r.RoutedCostMicro, r.Latency[:], r.TTFT[:])
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("usage: upsert rollups: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("usage: commit: %w", err)
	}
	return nil
}

// Rows implements Store.
func (s *PGStore) Rows(ctx context.Context, f Filter) ([]Row, error) {
	if err := s.setup(ctx); err != nil {
		return nil, err
	}
	q := `SELECT hour, tenant, key_id, model, tier, provider, requests, errors, cache_hits, routed, unpriced, estimated,
 prompt_tokens, completion_tokens, cache_read_tokens, cache_write_tokens, cost_micro, saved_cache_micro, baseline_micro,
 routed_cost_micro, latency_hist, ttft_hist FROM usage_hourly WHERE hour >= $1 AND hour < $2 AND ($3 OR tenant = $4)
 ORDER BY hour, tenant, key_id, model, tier, provider`
	rows, err := s.pool.Query(ctx, q, f.From.UTC(), f.To.UTC(), f.All, f.Tenant)
	if err != nil {
		return nil, fmt.Errorf("usage: query rollups: %w", err)
	}
	defer rows.Close()
	var out []Row
	for rows.Next() {
		var r Row
		var lat, ttft []int64
		if err := rows.Scan(&r.Hour, &r.Tenant, &r.Key, &r.Model, &r.Tier, &r.Provider, &r.Requests, &r.Errors, &r.CacheHits,
			&r.Routed, &r.Unpriced, &r.Estimated, &r.PromptTokens, &r.CompletionTokens, &r.CacheReadTokens, &r.CacheWriteTokens,
			&r.CostMicro, &r.SavedCacheMicro, &r.BaselineMicro, &r.RoutedCostMicro, &lat, &ttft); err != nil {
			return nil, fmt.Errorf("usage: scan rollup: %w", err)
		}
		r.Hour = r.Hour.UTC()
		copy(r.Latency[:], lat)
		copy(r.TTFT[:], ttft)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("usage: query rollups: %w", err)
	}
	return out, nil
}

// Retain deletes events older than EventRetention and rollups older than
// RollupRetention, as of now.
func (s *PGStore) Retain(ctx context.Context, now time.Time) error {
	if err := s.setup(ctx); err != nil {
		return err
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM usage_events WHERE ts < $1`, now.Add(-s.o.EventRetention)); err != nil {
		return fmt.Errorf("usage: retention: %w", err)
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM usage_hourly WHERE hour < $1`, now.Add(-s.o.RollupRetention)); err != nil {
		return fmt.Errorf("usage: retention: %w", err)
	}
	return nil
}
