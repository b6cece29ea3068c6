package router

import (
	"context"
	"fmt"

	"llmrouter/llm"
)

// PromptCompleter is the optional provider capability of answering several
// legacy prompts in one upstream call (POST /v1/completions with a prompt
// array), found by type assertion on a provider client.
type PromptCompleter interface {
	// CompletePrompts answers prompts with req's parameters (req.Model is
	// the upstream model; req.Messages is ignored; N must be unset or 1).
	// The Response's Choices are in prompt order, Choices[i] answering
	// prompts[i]; Usage is the whole call's.
	CompletePrompts(ctx context.Context, req *llm.Request, prompts []string) (*llm.Response, error)
}

// promptTargets returns the targets of (model, tier)'s plan that accept
// prompt arrays.
func (s *snapshot) promptTargets(model string, tier llm.Tier) ([]*target, error) {
	all, err := s.plan(model, tier)
	if err != nil {
		return nil, err
	}
	var out []*target
	for _, t := range all {
		if _, ok := t.provider.(PromptCompleter); ok && t.PromptArrays {
			out = append(out, t)
		}
	}
	return out, nil
}

// AcceptsPromptArrays reports whether the chain of (model, tier) has a
// target flagged PromptArrays whose client implements PromptCompleter.
func (r *Router) AcceptsPromptArrays(model string, tier llm.Tier) bool {
	ts, err := r.snap.Load().promptTargets(model, tier)
	return err == nil && len(ts) > 0
}

// CompletePrompts answers prompts in one upstream call per attempt over the
// prompt-array targets of req's chain (in chain order), with Complete's
// failover rules. Choices[i] answers prompts[i]. req.Meta gets Provider,
// Model and Attempts; req is not modified.
func (r *Router) CompletePrompts(ctx context.Context, req *llm.Request, prompts []string) (*llm.Response, error) {
	s := r.snap.Load()
	targets, err := s.promptTargets(req.Model, req.Tier)
	if err != nil {
		return nil, err
	}
	if len(targets) == 0 {
		return nil, &llm.Error{Kind: llm.KindInvalidRequest, Code: llm.CodeModelNotFound, Param: "model",
			Message: fmt.Sprintf("the model %q has no target that accepts prompt arrays", req.Model)}
	}
	return runUnary(ctx, s, targets, req.Meta, func(actx context.Context, t *target) (*llm.Response, error) {
		r2 := *req
		r2.Model = t.Model
		resp, err := t.provider.(PromptCompleter).CompletePrompts(actx, &r2, prompts)
		if err == nil && resp.Model == "" {
			resp.Model = t.Model
		}
		return resp, err
	})
}
