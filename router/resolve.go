package router

import (
	"time"

	"llmrouter/llm"
)

// Resolution is the target a request would be sent to first.
type Resolution struct {
	Provider string        // provider name (Target.Provider)
	Model    string        // upstream model (Target.Model)
	Client   llm.Completer // the provider's client, for optional capabilities found by type assertion
}

// Resolve returns the first target of req's chain (req.Model and, for an
// auto alias, req.Tier) that Complete would call now: the first one that is
// not set aside after a 429 and whose breaker is not open; when every one
// is, the chain's first. It calls nothing and changes no breaker state.
// Errors are Complete's for an unknown model.
func (r *Router) Resolve(req *llm.Request) (Resolution, error) {
	s := r.snap.Load()
	targets, err := s.plan(req.Model, req.Tier)
	if err != nil {
		return Resolution{}, err
	}
	if len(targets) == 0 {
		return Resolution{}, &llm.Error{Kind: llm.KindNoHealthyProvider, Message: "no target serves model " + req.Model}
	}
	pick := targets[0]
	now := time.Now()
	for _, t := range targets {
		if t.state.asideUntil(now).IsZero() && t.state.cb.view().state != stateOpen {
			pick = t
			break
		}
	}
	return Resolution{Provider: pick.Provider, Model: pick.Model, Client: pick.provider}, nil
}

// Client returns provider name's client in the current routing table, or
// nil when no such provider is configured.
func (r *Router) Client(name string) llm.Completer { return r.snap.Load().opts.Providers[name] }
