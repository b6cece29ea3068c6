package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"llmrouter/cache"
	"llmrouter/config"
	"llmrouter/configs"
	"llmrouter/llm"
	"llmrouter/migrations"
	"llmrouter/proxy"
	"llmrouter/usage"
)

// openPool returns the process's one database pool, opening it on first
// use. Opening does not wait for the database: pgxpool connects lazily.
func (a *app) openPool(ctx context.Context, cfg *config.Config) (*pgxpool.Pool, error) {
	if a.pool != nil {
		return a.pool, nil
	}
	pool, err := cache.OpenPool(ctx, cfg.Database.URL, cache.PoolOptions{
		MaxConns: int32(cfg.Database.MaxConns), ConnectTimeout: cfg.Database.ConnectTimeout,
	})
	if err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	a.pool = pool
	return pool, nil
}

// migrateFor returns the migration step for cfg's database: the schema of
// the URL's search_path (see migrationSchema).
func migrateFor(cfg *config.Config, pool *pgxpool.Pool) func(ctx context.Context) error {
	schema := migrationSchema(cfg.Database.URL)
	return func(ctx context.Context) error { return migrations.Apply(ctx, pool, schema) }
}

// buildUsage builds the usage recorder over next: the Postgres ledger when
// a database is configured, else the in-memory one (and says so).
func (a *app) buildUsage(ctx context.Context, cfg *config.Config, next llm.Completer) error {
	prices, err := priceTable(cfg)
	if err != nil {
		return err
	}
	tiers := aliasTiers(cfg)
	a.aliasTiers.Store(&tiers)
	o := usage.Options{
		Prices: prices, Baseline: baselineModel(cfg), MaxRows: cfg.Usage.MaxRows, QueueSize: cfg.Usage.QueueSize,
		BatchSize: cfg.Usage.BatchSize, FlushInterval: cfg.Usage.FlushInterval,
		Logger: a.log, Registerer: a.reg, OnRecord: a.onRecord,
	}
	if a.redactor != nil {
		o.Redact = a.redactor.Redact
	}
	if cfg.Database.URL != "" {
		pool, err := a.openPool(ctx, cfg)
		if err != nil {
			return err
		}
		o.Store = usage.NewPGStore(pool, usage.PGOptions{
			Setup:           migrateFor(cfg, pool),
			EventRetention:  cfg.Usage.EventRetention,
			RollupRetention: cfg.Usage.RollupRetention,
		})
		a.log.Info("usage ledger: PostgreSQL (usage_events, usage_hourly)")
	} else {
		a.log.Warn("usage ledger: in memory (no database configured): usage is per replica and lost on restart")
	}
	a.usage = usage.NewRecorder(next, o)
	return nil
}

// onRecord passes each usage record to governance (budgets, tokens per
// minute). Set before the recorder starts; a.gate may be nil.
func (a *app) onRecord(r *usage.Record) {
	if a.gate != nil {
		a.gate.Charge(r.Key, r.Tenant, r.CostMicro, int64(r.Tokens.Prompt+r.Tokens.Completion), r.Time)
	}
}

// priceTable merges the built-in (or usage.prices_file) price table with
// the config's prices, which win model by model.
func priceTable(cfg *config.Config) (*usage.PriceTable, error) {
	var base map[string]config.Price
	var err error
	if cfg.Usage.PricesFile != "" {
		base, err = config.LoadPrices(cfg.Usage.PricesFile)
	} else {
		base, err = config.ParsePrices(configs.Prices)
	}
	if err != nil {
		return nil, err
	}
	for model, p := range cfg.Prices {
		base[model] = p
	}
	m := make(map[string]usage.Price, len(base))
	for model, p := range base {
		up := usage.Price{Input: p.Input, Output: p.Output, CacheRead: p.Input, CacheWrite: p.Input, BatchDiscount: 0.5}
		if p.CachedInput != nil {
			up.CacheRead = *p.CachedInput
		}
		if p.CacheWrite != nil {
			up.CacheWrite = *p.CacheWrite
		}
		if p.BatchDiscount != nil {
			up.BatchDiscount = *p.BatchDiscount
		}
		m[model] = up
	}
	t, err := usage.NewPriceTable(m)
	if err != nil {
		return nil, fmt.Errorf("prices: %w", err)
	}
	return t, nil
}

// baselineModel is usage.baseline_model, or the first target of the
// highest configured tier.
func baselineModel(cfg *config.Config) string {
	if cfg.Usage.BaselineModel != "" {
		return cfg.Usage.BaselineModel
	}
	for _, t := range []llm.Tier{llm.TierLarge, llm.TierMedium, llm.TierSmall} {
		if tp, ok := cfg.Routing.Tiers[t.String()]; ok && len(tp.Chain) > 0 {
			return tp.Chain[0].Model
		}
	}
	return ""
}

// aliasTiers gives each pinned alias a tier: the highest tier whose chain
// starts with the alias's first target, else the highest tier whose chain
// contains it. Aliases in no tier have none (a max tier does not refuse
// them).
func aliasTiers(cfg *config.Config) map[string]llm.Tier {
	out := map[string]llm.Tier{}
	for alias, ts := range cfg.Models {
		if len(ts) == 0 {
			continue
		}
		first := ts[0]
		var primary, anywhere llm.Tier
		for name, tp := range cfg.Routing.Tiers {
			t, ok := llm.ParseTier(name)
			if !ok {
				continue
			}
			for i, c := range tp.Chain {
				if c.Provider == first.Provider && c.Model == first.Model {
					if i == 0 && t > primary {
						primary = t
					}
					if t > anywhere {
						anywhere = t
					}
				}
			}
		}
		if primary != llm.TierUnset {
			out[alias] = primary
		} else if anywhere != llm.TierUnset {
			out[alias] = anywhere
		}
	}
	return out
}

// aliasTier is proxy.Options.AliasTier.
func (a *app) aliasTier(model string) llm.Tier {
	if m := a.aliasTiers.Load(); m != nil {
		return (*m)[model]
	}
	return llm.TierUnset
}

// usageReport is proxy.Options.Usage: the ledger's answer to a query.
func (a *app) usageReport(ctx context.Context, q proxy.UsageQuery) (proxy.UsageReport, error) {
	uq := usage.Query{Filter: usage.Filter{From: q.From, To: q.To, Tenant: q.Tenant, All: q.All}, GroupBy: q.GroupBy, Granularity: q.Granularity}
	if err := uq.Validate(); err != nil {
		return nil, &llm.Error{Kind: llm.KindInvalidRequest, Message: err.Error()}
	}
	rep, err := a.usage.Report(ctx, uq)
	if err != nil {
		return nil, &llm.Error{Kind: llm.KindOverloaded, Message: "the usage ledger is unavailable; retry shortly", Err: errors.Unwrap(err)}
	}
	return rep, nil
}
