package proxy

import (
	_ "embed"
	"log/slog"
	"time"

	"github.com/valyala/fasthttp"

	"llmrouter/llm"
)

// dashboardHTML is the cost dashboard: a self-contained page that reads
// /v1/usage (a tenant's own figures) or /admin/usage (every tenant) with
// the key typed into it, and refreshes itself.
//
//go:embed dashboard.html
var dashboardHTML []byte

// dashboard serves the page. It holds no data, so it needs no key; the
// figures it shows come from the usage endpoints, which do.
func (s *Server) dashboard(ctx *fasthttp.RequestCtx) {
	ctx.Response.Header.SetContentType("text/html; charset=utf-8")
	ctx.Response.Header.Set("Cache-Control", "no-cache")
	ctx.Response.Header.Set("Content-Security-Policy", "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'")
	ctx.SetBody(dashboardHTML)
}

// usage answers GET /v1/usage (admin=false: the caller's own tenant) and
// GET /admin/usage (admin=true: every tenant, or ?tenant=NAME).
func (s *Server) usage(ctx *fasthttp.RequestCtx, admin bool) {
	route := routeUsage
	if admin {
		route = routeAdminUsage
	}
	x := &exchange{start: time.Now(), route: route, requestID: s.requestID(ctx), meta: &llm.Meta{}}
	ctx.Response.Header.SetBytesK(hdrRequestID, x.requestID)
	defer s.finish(x)
	auth := s.auth.Load()
	var p *principal
	var aerr *llm.Error
	if admin {
		p, aerr = auth.authenticateAdmin(&ctx.Request.Header)
	} else {
		p, aerr = auth.authenticate(&ctx.Request.Header)
	}
	if aerr != nil {
		s.fail(ctx, x, aerr)
		return
	}
	x.tenant = p.tenant
	if s.o.Usage == nil {
		s.fail(ctx, x, &llm.Error{Kind: llm.KindUnknownModel, Code: "unknown_url", Message: "usage reporting is not configured"})
		return
	}
	tenant, all := p.tenant, false
	if admin {
		tenant, all = "", true
		if t := ctx.QueryArgs().Peek("tenant"); len(t) > 0 {
			tenant, all = string(t), false
		}
	} else if auth.none {
		all = true // no tenants without auth: the one operator sees everything
	}
	if err := writeJSON(ctx, s.o.Usage(tenant, all)); err != nil {
		s.log.LogAttrs(ctx, slog.LevelWarn, "writing usage", slog.String("err", err.Error()))
	}
	x.status = fasthttp.StatusOK
}
