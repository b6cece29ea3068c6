package proxy

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"

	"llmrouter/llm"
)

const (
	readyTimeout      = 2 * time.Second
	invalidateTimeout = 10 * time.Second
)

type modelObject struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

type modelList struct {
	Object string        `json:"object"`
	Data   []modelObject `json:"data"`
}

func (s *Server) modelNames() []string {
	if s.lister == nil {
		return nil
	}
	return s.lister.Models()
}

func (s *Server) modelObject(id string) modelObject {
	return modelObject{ID: id, Object: "model", Created: s.started, OwnedBy: "llmrouter"}
}

// models serves GET /v1/models from the Completer's ModelLister (an empty
// list without one).
func (s *Server) models(ctx *fasthttp.RequestCtx, x *exchange, _ *principal) bool {
	names := s.modelNames()
	out := modelList{Object: "list", Data: make([]modelObject, len(names))}
	for i, n := range names {
		out.Data[i] = s.modelObject(n)
	}
	_ = writeJSON(ctx, &out)
	x.status = fasthttp.StatusOK
	return true
}

// model serves GET /v1/models/{id}; an unlisted id is 404 model_not_found.
func (s *Server) model(ctx *fasthttp.RequestCtx, x *exchange, _ *principal) bool {
	id := string(ctx.Path()[len("/v1/models/"):])
	for _, n := range s.modelNames() {
		if n == id {
			_ = writeJSON(ctx, s.modelObject(id))
			x.status = fasthttp.StatusOK
			return true
		}
	}
	return s.fail(ctx, x, &llm.Error{Kind: llm.KindUnknownModel, Param: "model", Code: llm.CodeModelNotFound,
		Message: "the model '" + string(limit([]byte(id), 200)) + "' does not exist"})
}

// healthz is liveness: 200 while the process serves.
func (s *Server) healthz(ctx *fasthttp.RequestCtx) {
	ctx.Response.Header.SetContentTypeBytes(contentTypeJSON)
	ctx.SetBodyString(`{"status":"ok"}`)
}

// readyz reports Options.Ready; "down" (or a shutdown in progress) is 503.
func (s *Server) readyz(ctx *fasthttp.RequestCtx) {
	rep := ReadyReport{Status: "ok", Checks: map[string]string{}}
	if s.stopping.Load() {
		rep = ReadyReport{Status: "down", Checks: map[string]string{"server": "shutting down"}}
	} else if s.o.Ready != nil {
		rctx, cancel := context.WithTimeout(s.base, readyTimeout)
		rep = s.o.Ready(rctx)
		cancel()
		if rep.Checks == nil {
			rep.Checks = map[string]string{}
		}
		switch rep.Status {
		case "ok", "degraded", "down":
		default:
			rep.Status = "down"
		}
	}
	if rep.Status == "down" {
		ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
	}
	_ = writeJSON(ctx, &rep)
}

// metricsHandlers returns the handler of every series and the handler of
// the public ones (no series with a "tenant" label), or nils when there is
// nothing to gather.
func metricsHandlers(g prometheus.Gatherer, r prometheus.Registerer) (full, public fasthttp.RequestHandler) {
	if g == nil {
		g, _ = r.(prometheus.Gatherer)
	}
	if g == nil {
		return nil, nil
	}
	full = fasthttpadaptor.NewFastHTTPHandler(promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	public = fasthttpadaptor.NewFastHTTPHandler(promhttp.HandlerFor(untenanted{g}, promhttp.HandlerOpts{}))
	return full, public
}

// tenantLabel is the label that names a tenant in any series.
const tenantLabel = "tenant"

// untenanted gathers from g without the series that carry a tenant label,
// so the public /metrics says nothing about who uses the proxy.
type untenanted struct{ g prometheus.Gatherer }

func (u untenanted) Gather() ([]*dto.MetricFamily, error) {
	mfs, err := u.g.Gather()
	out := mfs[:0]
	for _, mf := range mfs {
		kept := mf.Metric[:0]
		for _, m := range mf.Metric {
			if !hasLabel(m, tenantLabel) {
				kept = append(kept, m)
			}
		}
		if len(kept) > 0 {
			mf.Metric = kept
			out = append(out, mf)
		}
	}
	return out, err
}

func hasLabel(m *dto.Metric, name string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return true
		}
	}
	return false
}

// metrics serves GET /metrics in the Prometheus text format: every series
// to a caller with an admin key, and the series without a tenant label to
// anyone else. MetricsHandler serves every series for a separate listener.
func (s *Server) metrics(ctx *fasthttp.RequestCtx) {
	if s.metricsH == nil {
		writeError(ctx, &llm.Error{Kind: llm.KindUnknownModel, Code: "unknown_url", Message: "metrics are not configured"})
		return
	}
	if key := presentedKey(&ctx.Request.Header); len(key) > 0 && lookup(s.auth.Load().admins, key) != nil {
		s.metricsH(ctx)
		return
	}
	s.publicMetricsH(ctx)
}

// MetricsHandler returns a handler of every series (tenant-labelled ones
// included) with no authentication, for a listener only trusted scrapers
// reach (server.metrics_listen, loopback by default), or nil when the
// server has no metrics.
func (s *Server) MetricsHandler() fasthttp.RequestHandler { return s.metricsH }

type invalidateBody struct {
	Tenant *string `json:"tenant"`
}

// invalidate serves POST /admin/cache/invalidate (admin key required). The
// body {"tenant":"..."} is optional; by default the admin's own tenant is
// invalidated.
func (s *Server) invalidate(ctx *fasthttp.RequestCtx) {
	x := &exchange{start: time.Now(), route: routeInvalidate, requestID: s.requestID(ctx), meta: &llm.Meta{}}
	ctx.Response.Header.SetBytesK(hdrRequestID, x.requestID)
	defer s.finish(x)
	p, aerr := s.auth.Load().authenticateAdmin(&ctx.Request.Header)
	if aerr != nil {
		s.fail(ctx, x, aerr)
		return
	}
	x.tenant = p.tenant
	if s.o.Invalidate == nil {
		s.fail(ctx, x, &llm.Error{Kind: llm.KindUnknownModel, Code: "unknown_url", Message: "cache invalidation is not configured"})
		return
	}
	tenant := p.tenant
	if body := ctx.PostBody(); len(body) > 0 {
		var b invalidateBody
		if err := json.Unmarshal(body, &b); err != nil {
			s.fail(ctx, x, invalid("tenant", "body must be {\"tenant\": \"...\"}"))
			return
		}
		if b.Tenant != nil {
			tenant = *b.Tenant
		}
	}
	ictx, cancel := context.WithTimeout(s.base, invalidateTimeout)
	err := s.o.Invalidate(ictx, tenant)
	cancel()
	if err != nil {
		s.fail(ctx, x, llm.AsError(err))
		return
	}
	s.log.LogAttrs(context.Background(), slog.LevelInfo, "cache invalidated",
		slog.String("request_id", x.requestID), slog.String("admin", p.tenant), slog.String("tenant", tenant))
	_ = writeJSON(ctx, map[string]any{"invalidated": true, "tenant": tenant})
	x.status = fasthttp.StatusOK
}
