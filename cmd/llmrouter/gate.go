package main

import (
	"context"
	"crypto/sha256"
	"math"

	"llmrouter/config"
	"llmrouter/governance"
	"llmrouter/llm"
	"llmrouter/proxy"
)

// gate adapts the governor to the proxy's Gate.
type gate struct{ g *governance.Governor }

func (g gate) VirtualKey(d [sha256.Size]byte) (proxy.GateKey, bool) {
	k, ok := g.g.Lookup(d)
	if !ok {
		return proxy.GateKey{}, false
	}
	return proxy.GateKey{ID: k.ID, Tenant: k.Tenant, Models: k.Models, MaxTier: k.MaxTier}, true
}

func (g gate) Admit(a proxy.Admission) *llm.Error { return g.g.Admit(a.KeyID, a.Tenant) }

// buildGovernance starts the governor (with the database when one is
// configured). Call it before buildUsage: the recorder charges it.
func (a *app) buildGovernance(ctx context.Context, cfg *config.Config) error {
	o := governance.Options{SyncInterval: cfg.Governance.SyncInterval, Tenants: tenantBudgets(cfg), Logger: a.log, Registerer: a.reg}
	if cfg.Database.URL != "" {
		pool, err := a.openPool(ctx, cfg)
		if err != nil {
			return err
		}
		o.Pool = pool
		o.Setup = migrateFor(cfg, pool)
	}
	a.gate = governance.New(o)
	return nil
}

func tenantBudgets(cfg *config.Config) map[string]governance.Budget {
	out := make(map[string]governance.Budget, len(cfg.Governance.Tenants))
	for name, b := range cfg.Governance.Tenants {
		out[name] = governance.Budget{DailyMicro: int64(math.Round(b.DailyUSD * 1e6)), MonthlyMicro: int64(math.Round(b.MonthlyUSD * 1e6))}
	}
	return out
}
