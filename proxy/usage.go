package proxy

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"llmrouter/llm"
)

// UsageQuery is a parsed GET /v1/usage (or /admin/usage) request.
//
// Query parameters: from and to (RFC 3339 times or YYYY-MM-DD dates, UTC;
// default the last 7 days up to now; to is exclusive, and a date as to
// means the end of that day), group_by (model, tenant, key, tier,
// provider; default model), granularity (hour or day; default day),
// format (json or csv). An admin key (or auth mode "none") sees every
// tenant, or one with tenant=NAME; any other key sees only its own tenant,
// whatever it asks.
type UsageQuery struct {
	From, To    time.Time
	GroupBy     string
	Granularity string
	// Tenant is the one tenant to report when All is false.
	Tenant string
	// All reports every tenant.
	All bool
}

// UsageReport is what Options.Usage returns: JSON-encodable, and able to
// write itself as CSV.
type UsageReport interface {
	WriteCSV(w io.Writer) error
}

// setCostHeader writes x-llmrouter-cost-usd: dollars with six decimals, or
// "unpriced" when the model has no price.
func setCostHeader(h *fasthttp.ResponseHeader, mv *llm.MetaValues) {
	if !mv.Priced {
		h.SetBytesK(hdrOutCost, "unpriced")
		return
	}
	h.SetBytesKV(hdrOutCost, appendMicroUSD(make([]byte, 0, 16), mv.CostMicroUSD))
}

func appendMicroUSD(b []byte, v int64) []byte {
	if v < 0 {
		b = append(b, '-')
		v = -v
	}
	b = strconv.AppendInt(b, v/1_000_000, 10)
	b = append(b, '.')
	frac := v % 1_000_000
	for d := int64(100_000); d > 0; d /= 10 {
		b = append(b, byte('0'+frac/d%10))
	}
	return b
}

// parseUsageTime reads an RFC 3339 time or a YYYY-MM-DD date (UTC); a date
// given as an end bound means the end of that day.
func parseUsageTime(v string, end bool) (time.Time, bool) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t.UTC(), true
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		if end {
			t = t.Add(24 * time.Hour)
		}
		return t, true
	}
	return time.Time{}, false
}

// usage answers GET /v1/usage (admin=false) and GET /admin/usage
// (admin=true: an admin key is required).
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
		p, aerr = s.authenticate(&ctx.Request.Header)
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
	args := ctx.QueryArgs()
	now := time.Now().UTC()
	q := UsageQuery{To: now.Truncate(time.Hour).Add(time.Hour), GroupBy: string(args.Peek("group_by")), Granularity: string(args.Peek("granularity"))}
	q.From = q.To.Add(-7 * 24 * time.Hour)
	for _, b := range []struct {
		name string
		dst  *time.Time
		end  bool
	}{{"from", &q.From, false}, {"to", &q.To, true}} {
		if v := args.Peek(b.name); len(v) > 0 {
			t, ok := parseUsageTime(string(v), b.end)
			if !ok {
				s.fail(ctx, x, invalid(b.name, b.name+" must be an RFC 3339 time or a YYYY-MM-DD date"))
				return
			}
			*b.dst = t
		}
	}
	csv := false
	switch f := string(args.Peek("format")); f {
	case "", "json":
	case "csv":
		csv = true
	default:
		s.fail(ctx, x, invalid("format", "format must be json or csv"))
		return
	}
	if p.admin {
		q.All = true
		if t := args.Peek("tenant"); len(t) > 0 {
			q.Tenant, q.All = string(t), false
		}
	} else {
		q.Tenant = p.tenant
	}
	cctx, cancel := context.WithTimeout(s.base, 30*time.Second)
	rep, err := s.o.Usage(cctx, q)
	cancel()
	if err != nil {
		s.fail(ctx, x, llm.AsError(err))
		return
	}
	if csv {
		ctx.Response.Header.SetContentType("text/csv; charset=utf-8")
		ctx.Response.Header.Set("Content-Disposition", `attachment; filename="llmrouter-usage.csv"`)
		err = rep.WriteCSV(ctx.Response.BodyWriter())
	} else {
		err = writeJSON(ctx, rep)
	}
	if err != nil {
		s.log.LogAttrs(ctx, slog.LevelWarn, "writing usage", slog.String("err", err.Error()))
	}
	x.status = fasthttp.StatusOK
}
