package proxy

import (
	"context"
	"crypto/sha256"
	"slices"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"llmrouter/llm"
)

// Gate is the governance the edge consults after authentication: virtual
// keys, budgets and rate limits. Implementations answer from local state
// (synchronised in the background), never with a database round trip, and
// must be safe for concurrent use.
type Gate interface {
	// VirtualKey returns the live (not revoked) virtual key whose SHA-256
	// digest is digest.
	VirtualKey(digest [sha256.Size]byte) (GateKey, bool)
	// Admit decides whether the caller may make one more request now. It
	// returns nil to admit it (and counts it), or the refusal: KindRateLimited
	// with Code "insufficient_quota" over budget, or with RetryAfter over a
	// rate limit.
	Admit(a Admission) *llm.Error
}

// GateKey is a virtual key as the edge needs it.
type GateKey struct {
	ID     string
	Tenant string
	// Models is the allow-list of model names a client may send; empty
	// allows every model.
	Models []string
	// MaxTier caps the tier of auto requests and refuses pinned aliases
	// above it; llm.TierUnset means no cap.
	MaxTier llm.Tier
}

// Admission is one request asking the Gate.
type Admission struct {
	KeyID  string
	Tenant string
	Model  string
}

// KeyAdmin serves /admin/keys. Each method returns a JSON-encodable answer
// or an error (an *llm.Error is sent as is).
type KeyAdmin interface {
	// CreateKey creates a key from the JSON body; the answer holds the
	// plaintext key, shown this once.
	CreateKey(ctx context.Context, body []byte) (any, error)
	// ListKeys lists keys (never their plaintext).
	ListKeys(ctx context.Context) (any, error)
	// RevokeKey revokes the key with this id.
	RevokeKey(ctx context.Context, id string) (any, error)
}

// authenticate returns the caller of a /v1 request: a configured key, an
// admin key, or a live virtual key.
func (s *Server) authenticate(h *fasthttp.RequestHeader) (*principal, *llm.Error) {
	t := s.auth.Load()
	p, err := t.authenticate(h)
	if err != errBadKey || s.o.Gate == nil {
		return p, err
	}
	k, ok := s.o.Gate.VirtualKey(sha256.Sum256(presentedKey(h)))
	if !ok {
		return nil, errBadKey
	}
	return &principal{keyID: k.ID, tenant: k.Tenant, models: k.Models, maxTier: k.MaxTier, virtual: true}, nil
}

// admit applies the key's model allow-list and max tier (pinned aliases
// included) and asks the Gate. model is the requested model.
func (s *Server) admit(p *principal, model string) *llm.Error {
	if len(p.models) > 0 && !slices.Contains(p.models, model) {
		return &llm.Error{Kind: llm.KindForbidden, Code: "model_not_allowed", Param: "model",
			Message: "this key may not use model " + quote(model) + "; it may use: " + joinQuoted(p.models)}
	}
	if p.maxTier != llm.TierUnset && s.o.AliasTier != nil {
		if t := s.o.AliasTier(model); t > p.maxTier {
			return &llm.Error{Kind: llm.KindForbidden, Code: "tier_not_allowed", Param: "model",
				Message: "model " + quote(model) + " is in tier " + t.String() + ", above this key's max tier " + p.maxTier.String() +
					"; use a model of tier " + p.maxTier.String() + " or below, or \"auto\""}
		}
	}
	if s.o.Gate == nil {
		return nil
	}
	return s.o.Gate.Admit(Admission{KeyID: p.keyID, Tenant: p.tenant, Model: model})
}

func quote(s string) string {
	if len(s) > 100 {
		s = s[:100]
	}
	return "\"" + s + "\""
}

func joinQuoted(ss []string) string {
	out := ""
	for i, s := range ss {
		if i > 0 {
			out += ", "
		}
		out += quote(s)
	}
	return out
}

// adminKeys serves POST /admin/keys (create), GET /admin/keys (list) and
// DELETE /admin/keys/<id> (revoke), for admin keys only.
func (s *Server) adminKeys(ctx *fasthttp.RequestCtx, id string) {
	x := &exchange{start: time.Now(), route: routeAdminKeys, requestID: s.requestID(ctx), meta: &llm.Meta{}}
	ctx.Response.Header.SetBytesK(hdrRequestID, x.requestID)
	defer s.finish(x)
	p, aerr := s.auth.Load().authenticateAdmin(&ctx.Request.Header)
	if aerr != nil {
		s.fail(ctx, x, aerr)
		return
	}
	x.tenant = p.tenant
	if s.o.Keys == nil {
		s.fail(ctx, x, &llm.Error{Kind: llm.KindUnknownModel, Code: "unknown_url", Message: "virtual keys are not configured"})
		return
	}
	cctx, cancel := context.WithTimeout(s.base, 10*time.Second)
	defer cancel()
	var out any
	var err error
	method := string(ctx.Method())
	switch {
	case id == "" && method == fasthttp.MethodPost:
		out, err = s.o.Keys.CreateKey(cctx, ctx.PostBody())
	case id == "" && (method == fasthttp.MethodGet || method == fasthttp.MethodHead):
		out, err = s.o.Keys.ListKeys(cctx)
	case id != "" && method == fasthttp.MethodDelete:
		out, err = s.o.Keys.RevokeKey(cctx, id)
	default:
		want := "GET, POST"
		if id != "" {
			want = "DELETE"
		}
		s.fail(ctx, x, invalid("", "method "+strconv.Quote(method)+" not allowed; use "+want))
		x.status = fasthttp.StatusMethodNotAllowed
		ctx.SetStatusCode(x.status)
		ctx.Response.Header.SetBytesK(hdrAllow, want)
		return
	}
	if err != nil {
		s.fail(ctx, x, llm.AsError(err))
		return
	}
	if method == fasthttp.MethodPost {
		ctx.SetStatusCode(fasthttp.StatusCreated)
	}
	if err := writeJSON(ctx, out); err != nil {
		s.log.Warn("writing keys", "err", err)
	}
	x.status = ctx.Response.StatusCode()
}
