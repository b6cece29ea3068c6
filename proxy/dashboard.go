package proxy

import (
	_ "embed"

	"github.com/valyala/fasthttp"
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
