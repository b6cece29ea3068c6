package main

import (
	"context"

	"llmrouter/batch"
	"llmrouter/config"
	"llmrouter/llm"
	"llmrouter/router/classifier"
)

// batchUpstream wires batch jobs to the providers' batch APIs: lines are
// routed by the classifier decorator, looked up in the cache, resolved to
// their first target by the router, and submitted to that provider's batch
// API when its client has one (batch.Batcher) and batch_api is on;
// answers are priced with the batch discount by the usage recorder.
func (a *app) batchUpstream(route *classifier.Decorator) *batch.Upstream {
	up := &batch.Upstream{
		Classify: route.Route,
		Resolve: func(r *llm.Request) (batch.Target, error) {
			res, err := a.router.Resolve(r)
			return batch.Target{Provider: res.Provider, Model: res.Model}, err
		},
		Batcher: a.providerBatcher,
		Record:  a.usage.Record,
	}
	if a.cache != nil {
		up.Lookup = a.cache.Lookup
		up.Save = func(ctx context.Context, r *llm.Request, provider string, resp *llm.Response) {
			a.cache.Save(ctx, r, provider, resp)
		}
	}
	return up
}

// providerBatcher returns provider name's batch API, or nil when its client
// has none or batch_api is off for it.
func (a *app) providerBatcher(name string) batch.Batcher {
	if on := a.batchAPIs.Load(); on == nil || !(*on)[name] {
		return nil
	}
	b, _ := a.router.Client(name).(batch.Batcher)
	return b
}

// storeBatchAPIs publishes which providers' batch APIs batch jobs use.
func (a *app) storeBatchAPIs(cfg *config.Config) {
	on := make(map[string]bool, len(cfg.Providers))
	for _, p := range cfg.Providers {
		on[p.Name] = p.Type != config.ProviderSimulator && (p.BatchAPI == nil || *p.BatchAPI)
	}
	a.batchAPIs.Store(&on)
}
