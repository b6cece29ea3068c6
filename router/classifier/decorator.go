package classifier

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"llmrouter/llm"
)

// Policy is the per-tenant routing policy the decorator applies. The zero
// value means: auto alias "auto", no overrides, no cap.
type Policy struct {
	// AutoAliases are the model names that are classified; default ["auto"].
	// Other model names are pinned and pass through untouched.
	AutoAliases []string
	// AllowOverride reports whether a tenant may choose its tier with the
	// x-llmrouter-tier header (req.TierOverride). Nil allows nobody.
	AllowOverride func(tenant string) bool
	// MaxTier is a tenant's highest tier; TierUnset means no cap. Nil caps
	// nobody.
	MaxTier func(tenant string) llm.Tier
	// Sessions keeps conversations on their tier (see Sessions); nil
	// routes every turn on its own. Overrides bypass it; the cap applies
	// after it.
	Sessions *Sessions
	// MaxOutputTokens returns the most output tokens a request of tier t
	// may ask for (max_tokens and max_completion_tokens); 0 means no cap
	// beyond the server's. A request over its tier's cap fails with
	// KindInvalidRequest, code limit_exceeded (400 in every wire API), and
	// is not sent on. nil caps nothing.
	MaxOutputTokens func(t llm.Tier) int
	// AliasTier returns the tier of a pinned model alias (llm.TierUnset
	// when it has none), so that pinned requests meet their tier's
	// MaxOutputTokens too. nil: pinned requests are not capped by tier.
	AliasTier func(model string) llm.Tier
}

// Decorator is an llm.Completer that sets the tier of requests to auto
// aliases and passes every request to next.
type Decorator struct {
	next   llm.Completer
	get    func() *Classifier
	policy func() Policy
}

var _ llm.Completer = (*Decorator)(nil)

// NewDecorator returns a Decorator over next. classifier and policy are
// called once per request, so a config reload swaps them by changing what
// they return; they must be safe for concurrent use and fast (an atomic
// load). classifier may return nil: auto requests then get the medium tier.
//
// For an auto alias the decorator uses req.TierOverride when the tenant may
// override, else the classifier's decision; caps the tier at the tenant's
// MaxTier; passes a shallow copy with Tier set to next; and records Tier,
// Score and Reasons (at most three classifier reasons, after "override" or
// "capped" when those applied) in req.Meta. It never fails a request because
// of classification: a panic yields the classifier's DefaultTier and a log
// line. Requests for other models are passed on unchanged.
func NewDecorator(next llm.Completer, classifier func() *Classifier, policy func() Policy) *Decorator {
	return &Decorator{next: next, get: classifier, policy: policy}
}

// Complete implements llm.Completer.
func (d *Decorator) Complete(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	r, err := d.traced(ctx, req)
	if err != nil {
		return nil, err
	}
	return d.next.Complete(ctx, r)
}

// Stream implements llm.Completer.
func (d *Decorator) Stream(ctx context.Context, req *llm.Request) (llm.Stream, error) {
	r, err := d.traced(ctx, req)
	if err != nil {
		return nil, err
	}
	return d.next.Stream(ctx, r)
}

// traced is route inside a classify span (a no-op when tracing is off).
func (d *Decorator) traced(ctx context.Context, req *llm.Request) (*llm.Request, *llm.Error) {
	_, sp := llm.StartSpan(ctx, llm.SpanClassify)
	r, err := d.route(req)
	if err != nil {
		sp.End()
		return nil, err
	}
	if sp.Recording() && r != req {
		mv := req.Meta.Values()
		sp.SetString("llmrouter.tier", r.Tier.String())
		sp.SetFloat("llmrouter.score", mv.Score)
		sp.SetString("llmrouter.reasons", strings.Join(mv.Reasons, ","))
	}
	sp.End()
	return r, nil
}

// Route returns the request Complete would pass to next, without calling
// it: req itself for pinned models, else a copy with Tier set (recorded in
// req.Meta); nil when Complete would refuse it (over its tier's
// MaxOutputTokens). Batch jobs use it to route a line before choosing how
// to send it.
func (d *Decorator) Route(req *llm.Request) *llm.Request {
	r, err := d.route(req)
	if err != nil {
		return nil
	}
	return r
}

// route returns req itself for pinned models, else a copy with Tier set,
// or the error of a request over its tier's output-token cap.
func (d *Decorator) route(req *llm.Request) (*llm.Request, *llm.Error) {
	var p Policy
	if d.policy != nil {
		p = d.policy()
	}
	aliases := p.AutoAliases
	if len(aliases) == 0 {
		aliases = []string{"auto"}
	}
	if !slices.Contains(aliases, req.Model) {
		if p.AliasTier != nil {
			if e := p.checkOutput(req, p.AliasTier(req.Model)); e != nil {
				return nil, e
			}
		}
		return req, nil
	}
	c := d.get()
	dec := d.decide(c, req, p)
	r2 := *req
	r2.Tier = dec.Tier
	req.Meta.Update(func(v *llm.MetaValues) {
		v.Tier = dec.Tier
		v.Score = dec.Score
		v.Reasons = dec.Reasons
		v.Session = dec.session
	})
	if e := p.checkOutput(req, dec.Tier); e != nil {
		return nil, e
	}
	return &r2, nil
}

// checkOutput returns the limit error of a request asking for more output
// tokens than tier t allows, or nil.
func (p *Policy) checkOutput(req *llm.Request, t llm.Tier) *llm.Error {
	if p.MaxOutputTokens == nil || t == llm.TierUnset {
		return nil
	}
	max := p.MaxOutputTokens(t)
	if max <= 0 {
		return nil
	}
	param, v := "max_tokens", req.MaxTokens
	if req.MaxCompletionTokens != nil && (v == nil || *req.MaxCompletionTokens > *v) {
		param, v = "max_completion_tokens", req.MaxCompletionTokens
	}
	if v == nil || *v <= max {
		return nil
	}
	return &llm.Error{Kind: llm.KindInvalidRequest, Param: param, Code: "limit_exceeded",
		Message: fmt.Sprintf("%s is over this proxy's limit of %d output tokens for the %s tier (requested %d)", param, max, t, *v)}
}

// routed is a Decision plus the session outcome.
type routed struct {
	Decision
	session string
}

func (d *Decorator) decide(c *Classifier, req *llm.Request, p Policy) routed {
	var dec routed
	switch {
	case req.TierOverride != llm.TierUnset && req.TierOverride <= llm.TierLarge &&
		p.AllowOverride != nil && p.AllowOverride(req.Tenant):
		dec.Decision = Decision{Tier: req.TierOverride, Reasons: []string{"override"}}
	case c == nil:
		dec.Decision = Decision{Tier: llm.TierMedium, Reasons: []string{"no-classifier"}}
	default:
		dec.Decision = c.safeClassify(req)
		if p.Sessions != nil {
			own := dec.Tier
			dec.session = p.Sessions.apply(SessionKey(req), &dec.Decision, c.over, historyShare(req))
			if dec.session == SessionKept && dec.Tier != own {
				dec.Reasons = append([]string{"session-kept:" + own.String()}, dec.Reasons...)
			}
		}
	}
	m := req.MaxTier // the key's own cap (virtual keys)
	if p.MaxTier != nil {
		if t := p.MaxTier(req.Tenant); t != llm.TierUnset && (m == llm.TierUnset || t < m) {
			m = t
		}
	}
	{
		if m != llm.TierUnset && dec.Tier > m {
			dec.Tier = m
			dec.Reasons = append([]string{"capped"}, dec.Reasons...)
		}
	}
	return dec
}

// safeClassify is Classify with a panic turned into the default tier.
func (c *Classifier) safeClassify(req *llm.Request) (d Decision) {
	defer func() {
		if r := recover(); r != nil {
			c.log.Error("classifier panicked; using default tier",
				slog.Any("panic", r), slog.String("request_id", req.RequestID),
				slog.String("tier", c.opts.DefaultTier.String()))
			d = Decision{Tier: c.opts.DefaultTier, Reasons: []string{"classifier-error"}}
		}
	}()
	return c.Classify(req)
}
