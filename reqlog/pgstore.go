package reqlog

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"llmrouter/llm"
)

// PGStore keeps the request log in the request_log table (migration 004),
// written with COPY in batches.
type PGStore struct {
	pool  *pgxpool.Pool
	setup func(ctx context.Context) error

	mu    sync.Mutex
	ready bool
}

// NewPGStore uses pool. setup (optional) creates the schema (apply the
// migrations); it is retried before each write and query until it
// succeeds, so a database that is down at start-up comes up later.
func NewPGStore(pool *pgxpool.Pool, setup func(ctx context.Context) error) *PGStore {
	return &PGStore{pool: pool, setup: setup}
}

func (s *PGStore) ensure(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ready || s.setup == nil {
		return nil
	}
	if err := s.setup(ctx); err != nil {
		return fmt.Errorf("request log: schema setup: %w", err)
	}
	s.ready = true
	return nil
}

var pgColumns = []string{"time", "request_id", "trace_id", "tenant", "key_id", "api", "model", "stream",
	"tier", "score", "reasons", "cache", "similarity", "attempts", "provider", "upstream_model",
	"input_tokens", "output_tokens", "cost_usd", "baseline_cost_usd", "saved_usd", "status",
	"error_kind", "ttft_ms", "latency_ms", "prompt"}

// Insert implements Store with one COPY.
func (s *PGStore) Insert(ctx context.Context, rows []llm.RequestRecord) error {
	if err := s.ensure(ctx); err != nil {
		return err
	}
	_, err := s.pool.CopyFrom(ctx, pgx.Identifier{"request_log"}, pgColumns,
		pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) {
			r := &rows[i]
			att, err := json.Marshal(r.Attempts)
			if err != nil {
				return nil, err
			}
			if r.Attempts == nil {
				att = []byte("[]")
			}
			reasons := r.Reasons
			if reasons == nil {
				reasons = []string{}
			}
			return []any{r.Time, r.RequestID, r.TraceID, r.Tenant, r.KeyID, r.API, r.Model, r.Stream,
				r.Tier, r.Score, reasons, r.Cache, r.Similarity, string(att), r.Provider, r.UpstreamModel,
				r.InputTokens, r.OutputTokens, r.CostUSD, r.BaselineUSD, r.SavedUSD, r.Status,
				r.ErrorKind, r.TTFTMillis, r.LatencyMillis, r.Prompt}, nil
		}))
	if err != nil {
		return fmt.Errorf("request log: copy: %w", err)
	}
	return nil
}

// Query implements Store.
func (s *PGStore) Query(ctx context.Context, q Query) ([]llm.RequestRecord, error) {
	if err := s.ensure(ctx); err != nil {
		return nil, err
	}
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if !q.From.IsZero() {
		where = append(where, "time >= "+arg(q.From))
	}
	if !q.To.IsZero() {
		where = append(where, "time < "+arg(q.To))
	}
	if q.Tenant != "" {
		where = append(where, "tenant = "+arg(q.Tenant))
	}
	if q.Model != "" {
		p := arg(q.Model)
		where = append(where, "(model = "+p+" OR upstream_model = "+p+")")
	}
	if q.Tier != "" {
		where = append(where, "tier = "+arg(q.Tier))
	}
	if q.Cache != "" {
		where = append(where, "cache = "+arg(q.Cache))
	}
	if q.Status != "" {
		lo, hi := statusRange(q.Status)
		where = append(where, "status BETWEEN "+arg(lo)+" AND "+arg(hi))
	}
	if q.MinCost > 0 {
		where = append(where, "cost_usd >= "+arg(q.MinCost))
	}
	if q.After != nil {
		where = append(where, "(time, request_id) < ("+arg(q.After.Time)+", "+arg(q.After.RequestID)+")")
	}
	if q.Q != "" {
		p := arg("%" + likeEscape(q.Q) + "%")
		where = append(where, "(request_id ILIKE "+p+" OR trace_id ILIKE "+p+" OR model ILIKE "+p+
			" OR upstream_model ILIKE "+p+" OR provider ILIKE "+p+" OR error_kind ILIKE "+p+
			" OR array_to_string(reasons, ' ') ILIKE "+p+")")
	}
	sql := "SELECT " + strings.Join(pgColumns, ", ") + " FROM request_log"
	if len(where) > 0 {
		sql += " WHERE " + strings.Join(where, " AND ")
	}
	sql += " ORDER BY time DESC, request_id DESC LIMIT " + arg(q.limit()+1)
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("request log: query: %w", err)
	}
	defer rows.Close()
	var out []llm.RequestRecord
	for rows.Next() {
		var r llm.RequestRecord
		var att []byte
		if err := rows.Scan(&r.Time, &r.RequestID, &r.TraceID, &r.Tenant, &r.KeyID, &r.API, &r.Model, &r.Stream,
			&r.Tier, &r.Score, &r.Reasons, &r.Cache, &r.Similarity, &att, &r.Provider, &r.UpstreamModel,
			&r.InputTokens, &r.OutputTokens, &r.CostUSD, &r.BaselineUSD, &r.SavedUSD, &r.Status,
			&r.ErrorKind, &r.TTFTMillis, &r.LatencyMillis, &r.Prompt); err != nil {
			return nil, fmt.Errorf("request log: scan: %w", err)
		}
		if err := json.Unmarshal(att, &r.Attempts); err != nil {
			return nil, fmt.Errorf("request log: attempts of %s: %w", r.RequestID, err)
		}
		if len(r.Reasons) == 0 {
			r.Reasons = nil
		}
		if len(r.Attempts) == 0 {
			r.Attempts = nil
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// Purge implements Store.
func (s *PGStore) Purge(ctx context.Context, before time.Time) (int64, error) {
	if err := s.ensure(ctx); err != nil {
		return 0, err
	}
	tag, err := s.pool.Exec(ctx, "DELETE FROM request_log WHERE time < $1", before)
	if err != nil {
		return 0, fmt.Errorf("request log: purge: %w", err)
	}
	return tag.RowsAffected(), nil
}
