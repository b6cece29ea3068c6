package router

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"strconv"

	"llmrouter/llm"
)

// PromptRouter is what PromptBatcher needs from the router: whether a
// request's chain accepts prompt arrays, and the merged call. *Router
// implements it.
type PromptRouter interface {
	AcceptsPromptArrays(model string, tier llm.Tier) bool
	CompletePrompts(ctx context.Context, req *llm.Request, prompts []string) (*llm.Response, error)
}

// PromptBatcher is an llm.Completer that merges concurrent legacy
// completions (requests with LegacyPrompt set) with equal tenant, model,
// tier and parameters into one upstream /v1/completions call with a prompt
// array, on chains whose targets accept prompt arrays. Everything else
// (chat, streams, n > 1, chains without such a target, a near deadline)
// goes to next unchanged. Chat completions are never merged: no provider
// offers a synchronous API that answers several conversations in one call.
// Each caller gets its own answer with its own id and its share of the
// usage; a merged call refused as invalid is retried per caller, so one bad
// prompt gets its own error. Safe for concurrent use.
type PromptBatcher struct {
	next llm.Completer
	rt   PromptRouter
	b    *batcher[*llm.Request, *llm.Response]
}

var _ llm.Completer = (*PromptBatcher)(nil)

// NewPromptBatcher returns a PromptBatcher over next (the normal path) and
// rt (the merged call). With o not Enabled every request passes through.
func NewPromptBatcher(next llm.Completer, rt PromptRouter, o MicroBatchOptions) (*PromptBatcher, error) {
	o.applyDefaults()
	m, err := newBatchMetrics(o.Registerer, "completions")
	if err != nil {
		return nil, err
	}
	p := &PromptBatcher{next: next, rt: rt}
	p.b = newBatcher(o, m, p.flush)
	return p, nil
}

// Stream passes through.
func (p *PromptBatcher) Stream(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	return p.next.Stream(ctx, req)
}

// Complete answers req, possibly as one prompt of a merged call.
func (p *PromptBatcher) Complete(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	if !req.LegacyPrompt || req.Stream || len(req.Messages) != 1 || (req.N != nil && *req.N != 1) || len(req.Extra) > 0 {
		return p.next.Complete(ctx, req)
	}
	prompt := req.Messages[0].Content.Text()
	tokens := estimateTokens(prompt) + req.MaxOutputTokens()
	if !p.b.eligible(ctx, tokens) || !p.rt.AcceptsPromptArrays(req.Model, req.Tier) {
		return p.next.Complete(ctx, req)
	}
	key, err := promptKey(req)
	if err != nil {
		return p.next.Complete(ctx, req)
	}
	r := p.b.submit(ctx, key, req, tokens)
	if r.alone {
		return p.next.Complete(ctx, req)
	}
	return r.out, r.err
}

// Wait blocks until every merged call in flight has been answered.
func (p *PromptBatcher) Wait() { p.b.wait() }

// promptKey hashes tenant, model, tier and every parameter (the request
// without its messages).
func promptKey(req *llm.Request) (string, error) {
	r2 := *req
	r2.Messages = nil
	b, err := json.Marshal(&r2)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	h.Write([]byte(req.Tenant + "\x00" + strconv.Itoa(int(req.Tier)) + "\x00"))
	h.Write(b)
	return string(h.Sum(nil)), nil
}

func (p *PromptBatcher) flush(ctx context.Context, reqs []*llm.Request) ([]*llm.Response, []error, error) {
	if len(reqs) == 1 {
		resp, err := p.next.Complete(ctx, reqs[0])
		return []*llm.Response{resp}, nil, err
	}
	tmpl := *reqs[0]
	tmpl.Meta = &llm.Meta{}
	prompts := make([]string, len(reqs))
	weights := make([]int, len(reqs))
	for i, r := range reqs {
		prompts[i] = r.Messages[0].Content.Text()
		weights[i] = len(prompts[i]) + 1
	}
	resp, err := p.rt.CompletePrompts(ctx, &tmpl, prompts)
	if err != nil {
		return nil, nil, err
	}
	if len(resp.Choices) != len(reqs) {
		return nil, nil, &llm.Error{Kind: llm.KindUpstreamError, Message: "upstream returned " +
			strconv.Itoa(len(resp.Choices)) + " choices for " + strconv.Itoa(len(reqs)) + " prompts"}
	}
	mv := tmpl.Meta.Values()
	answerW := make([]int, len(reqs))
	for i := range resp.Choices {
		answerW[i] = len(resp.Choices[i].Message.Content.Text()) + 1
	}
	shares := splitUsage(resp.Usage, weights, answerW)
	outs := make([]*llm.Response, len(reqs))
	for i, r := range reqs {
		out := *resp
		ch := resp.Choices[i]
		ch.Index = 0
		out.Choices = []llm.Choice{ch}
		out.Usage = shares[i]
		if i > 0 {
			out.ID = followerID(resp.ID)
		}
		r.Meta.Update(func(m *llm.MetaValues) { m.Provider, m.Model, m.Attempts = mv.Provider, mv.Model, mv.Attempts })
		outs[i] = &out
	}
	return outs, nil, nil
}
