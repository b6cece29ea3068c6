package proxy

import (
	"context"
	_ "embed"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"llmrouter/llm"
)

const routeAdminRequests = "admin_requests"

// requestsQueryTimeout bounds one GET /admin/requests.
const requestsQueryTimeout = 10 * time.Second

// logged reports whether a route's requests go to the request log: the
// model APIs, not the listing, health and admin routes.
func logged(route string) bool {
	switch route {
	case routeChat, routeCompletions, routeEmbeddings:
		return true
	}
	return false
}

// operation is the gen_ai.operation.name of a route.
func operation(route string) string {
	switch route {
	case routeCompletions:
		return "text_completion"
	case routeEmbeddings:
		return "embeddings"
	}
	return "chat"
}

// startTrace opens x's server span, continuing an incoming traceparent.
func (s *Server) startTrace(ctx *fasthttp.RequestCtx, x *exchange) {
	h := &ctx.Request.Header
	tctx, rec := s.o.Tracer.StartRequest(s.base, "llmrouter "+x.route, func(k string) string { return string(h.Peek(k)) })
	x.ctx, x.span = tctx, llm.WrapSpan(rec)
	x.span.SetString("llmrouter.request_id", x.requestID)
	x.span.SetString("gen_ai.operation.name", operation(x.route))
}

// endTrace sets the decision trail on x's span, ends it, and returns its
// trace id ("" when tracing is off or the trace is not sampled).
func (s *Server) endTrace(x *exchange, mv *llm.MetaValues) string {
	sp := x.span
	if !sp.Recording() {
		return ""
	}
	sp.SetString("llmrouter.tenant", x.tenant)
	sp.SetString("gen_ai.request.model", x.model)
	if m := firstNonEmpty(mv.Model, x.upstreamModel); m != "" {
		sp.SetString("gen_ai.response.model", m)
	}
	if mv.Provider != "" {
		sp.SetString("gen_ai.system", mv.Provider)
	}
	if x.usage != nil {
		sp.SetInt("gen_ai.usage.input_tokens", int64(x.usage.PromptTokens))
		sp.SetInt("gen_ai.usage.output_tokens", int64(x.usage.CompletionTokens))
	}
	if t := mv.Tier.String(); t != "" {
		sp.SetString("llmrouter.tier", t)
		sp.SetFloat("llmrouter.score", mv.Score)
		sp.SetString("llmrouter.reasons", strings.Join(mv.Reasons, ","))
	}
	if mv.Cache != "" {
		sp.SetString("llmrouter.cache", mv.Cache)
		if mv.Cache == llm.CacheSemantic {
			sp.SetFloat("llmrouter.similarity", mv.Similarity)
		}
	}
	sp.SetInt("llmrouter.attempts", int64(mv.Attempts))
	sp.SetFloat("llmrouter.cost_usd", mv.CostUSD)
	sp.SetFloat("llmrouter.savings_usd", mv.SavedUSD)
	sp.SetInt("http.response.status_code", int64(x.status))
	if x.ttft > 0 {
		sp.SetFloat("llmrouter.ttft_ms", float64(x.ttft.Microseconds())/1000)
	}
	if s.o.TraceContent && x.answer != "" {
		sp.SetString("llmrouter.completion", x.answer)
	}
	sp.SetError(x.err)
	id := sp.TraceID()
	sp.End()
	return id
}

// requestRecord is x's request-log row.
func requestRecord(x *exchange, mv *llm.MetaValues, elapsed time.Duration, traceID string) llm.RequestRecord {
	r := llm.RequestRecord{
		Time: x.start, RequestID: x.requestID, TraceID: traceID, Tenant: x.tenant, KeyID: x.keyID,
		API: x.route, Model: x.model, Stream: x.stream, Tier: mv.Tier.String(), Score: mv.Score,
		Reasons: mv.Reasons, Cache: mv.Cache, Similarity: mv.Similarity, Attempts: mv.Tried,
		Provider: mv.Provider, UpstreamModel: firstNonEmpty(mv.Model, x.upstreamModel),
		CostUSD: mv.CostUSD, BaselineUSD: mv.BaselineUSD, SavedUSD: mv.SavedUSD,
		Status: x.status, LatencyMillis: float64(elapsed.Microseconds()) / 1000, Prompt: x.snippet,
	}
	if x.usage != nil {
		r.InputTokens, r.OutputTokens = x.usage.PromptTokens, x.usage.CompletionTokens
	}
	if x.err != nil {
		r.ErrorKind = x.err.Kind.String()
	}
	if x.ttft > 0 {
		r.TTFTMillis = float64(x.ttft.Microseconds()) / 1000
	}
	if r.Tier == "" {
		r.Score = 0
	}
	return r
}

// firstChars returns the first n characters (runes) of s.
func firstChars(s string, n int) string {
	i := 0
	for j := range s {
		if i == n {
			s = s[:j]
			break
		}
		i++
	}
	return strings.ToValidUTF8(s, "")
}

// adminRequests serves GET /admin/requests. An admin key sees every
// tenant's rows (or ?tenant=); a tenant key sees only its own rows,
// whatever ?tenant= says.
func (s *Server) adminRequests(ctx *fasthttp.RequestCtx) {
	x := &exchange{start: time.Now(), route: routeAdminRequests, requestID: s.requestID(ctx), meta: &llm.Meta{}}
	ctx.Response.Header.SetBytesK(hdrRequestID, x.requestID)
	defer s.finish(x)
	auth := s.auth.Load()
	p, aerr := auth.authenticate(&ctx.Request.Header)
	if aerr != nil {
		s.fail(ctx, x, aerr)
		return
	}
	x.tenant = p.tenant
	if s.o.Requests == nil {
		s.fail(ctx, x, &llm.Error{Kind: llm.KindUnknownModel, Code: "unknown_url", Message: "the request log is not configured"})
		return
	}
	q, err := url.ParseQuery(string(ctx.QueryArgs().QueryString()))
	if err != nil {
		s.fail(ctx, x, invalid("", "malformed query string"))
		return
	}
	tenant, all := p.tenant, false
	if p.admin || auth.none {
		all = true
		if t := q.Get("tenant"); t != "" {
			tenant, all = t, false
		}
	}
	q.Del("tenant")
	qctx, cancel := context.WithTimeout(s.base, requestsQueryTimeout)
	out, err := s.o.Requests(qctx, tenant, all, q)
	cancel()
	if err != nil {
		s.fail(ctx, x, llm.AsError(err))
		return
	}
	if err := writeJSON(ctx, out); err != nil {
		s.log.LogAttrs(context.Background(), slog.LevelWarn, "writing the request log", slog.String("err", err.Error()))
	}
	x.status = fasthttp.StatusOK
}

// requestsHTML is the dashboard's Requests view: a filterable table of the
// request log and a detail panel with one request's decision trail.
//
//go:embed requests.html
var requestsHTML []byte

// requestsPage serves /dashboard/requests. Like the dashboard it holds no
// data; it reads /admin/requests with the key typed into it.
func (s *Server) requestsPage(ctx *fasthttp.RequestCtx) {
	ctx.Response.Header.SetContentType("text/html; charset=utf-8")
	ctx.Response.Header.Set("Cache-Control", "no-cache")
	ctx.Response.Header.Set("Content-Security-Policy", "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'")
	ctx.SetBody(requestsHTML)
}
