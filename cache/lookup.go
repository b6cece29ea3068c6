package cache

import (
	"context"

	"llmrouter/llm"
)

// Lookup answers req from the cache without calling next: the exact layer,
// then the semantic one, under the same rules as Complete (Cache-Control:
// no-cache, logprobs and the semantic eligibility rules bypass it). A hit
// is a copy with a fresh id and is reported in req.Meta like Complete's;
// a miss reports nothing (the caller sends req on, and the layer that
// answers it reports). Batch jobs use it to answer lines at once.
func (c *Cache) Lookup(ctx context.Context, req *llm.Request) (*llm.Response, bool) {
	p := c.plan(ctx, req)
	if !p.read {
		return nil, false
	}
	h, ok := c.find(ctx, req, &p)
	if !ok {
		return nil, false
	}
	c.report(req, h.outcome, &h)
	r := hitResponse(h.resp, c.o.Now())
	r.Encodings = nil // the caller may change its copy
	return r, true
}

// Save stores resp, an answer to req that provider made without passing
// through Complete (a provider batch), under the same rules as Complete's
// writes: Cache-Control: no-store and incomplete answers are not stored.
// It never blocks on the store.
func (c *Cache) Save(ctx context.Context, req *llm.Request, provider string, resp *llm.Response) {
	p := c.plan(ctx, req)
	if resp == nil || !p.write || !p.exactOK && !p.semOK {
		return
	}
	c.save(&p, provider, cloneResponse(resp))
}
