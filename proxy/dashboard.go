package proxy

import (
	"embed"
	"path"
	"strings"

	"github.com/valyala/fasthttp"

	"llmrouter/llm"
)

var llmErrNotFound = llm.Error{Kind: llm.KindUnknownModel, Code: "unknown_url", Message: "no such dashboard asset"}

// dashboardFS holds the cost dashboard: index.html, its script and style,
// and the vendored uPlot chart library (see scripts/vendor-uplot.sh). The
// page reads /v1/usage (a tenant's own figures; every tenant for an admin
// key), /admin/usage?tenant= and /readyz with the key typed into it, and
// refreshes itself. Nothing is loaded from elsewhere.
//
//go:embed dashboard/*
var dashboardFS embed.FS

const dashboardCSP = "default-src 'self'; style-src 'self' 'unsafe-inline'; script-src 'self'; connect-src 'self'; img-src 'self' data: blob:"

// dashboard serves the page (GET /dashboard) and its assets (GET
// /dashboard/assets/NAME). It holds no data, so it needs no key; the
// figures it shows come from the usage endpoints, which do.
func (s *Server) dashboard(ctx *fasthttp.RequestCtx) {
	name := "index.html"
	if a, ok := strings.CutPrefix(string(ctx.Path()), "/dashboard/assets/"); ok {
		name = a
	}
	b, err := dashboardFS.ReadFile("dashboard/" + path.Clean("/" + name)[1:])
	if err != nil || name == "" {
		writeError(ctx, &llmErrNotFound)
		ctx.SetStatusCode(fasthttp.StatusNotFound)
		return
	}
	switch path.Ext(name) {
	case ".html":
		ctx.Response.Header.SetContentType("text/html; charset=utf-8")
	case ".js":
		ctx.Response.Header.SetContentType("text/javascript; charset=utf-8")
	case ".css":
		ctx.Response.Header.SetContentType("text/css; charset=utf-8")
	default:
		ctx.Response.Header.SetContentType("text/plain; charset=utf-8")
	}
	ctx.Response.Header.Set("Cache-Control", "no-cache")
	ctx.Response.Header.Set("X-Content-Type-Options", "nosniff")
	ctx.Response.Header.Set("Content-Security-Policy", dashboardCSP)
	ctx.SetBody(b)
}
