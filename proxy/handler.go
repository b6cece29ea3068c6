package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"llmrouter/llm"
)

// Header names and values, built once.
var (
	hdrAuthorization   = []byte("Authorization")
	hdrAPIKey          = []byte("api-key")
	hdrXAPIKey         = []byte("x-api-key")
	hdrRequestID       = []byte("x-request-id")
	hdrIdempotencyKey  = []byte("Idempotency-Key")
	hdrTier            = []byte("x-llmrouter-tier")
	hdrCacheControlReq = []byte("Cache-Control")
	hdrRetryAfter      = []byte("Retry-After")
	hdrAllow           = []byte("Allow")
	hdrOutTier         = []byte("x-llmrouter-tier")
	hdrOutModel        = []byte("x-llmrouter-model")
	hdrOutProvider     = []byte("x-llmrouter-provider")
	hdrOutScore        = []byte("x-llmrouter-score")
	hdrOutCache        = []byte("x-llmrouter-cache")
	hdrOutSimilarity   = []byte("x-llmrouter-similarity")
	hdrOutCost         = []byte("x-llmrouter-cost-usd")
	hdrOutSession      = []byte("x-llmrouter-session")
	hdrSessionID       = []byte("x-session-id")
	hdrCacheControl    = []byte("Cache-Control")
	hdrConnection      = []byte("Connection")
	hdrAccelBuffering  = []byte("X-Accel-Buffering")

	contentTypeJSON = []byte("application/json")
	contentTypeSSE  = []byte("text/event-stream; charset=utf-8")
	valNoCache      = []byte("no-cache")
	valKeepAlive    = []byte("keep-alive")
	valNo           = []byte("no")
)

// Route labels (also the metric "route" label).
const (
	routeChat        = "chat"
	routeMessages    = "messages"
	routeCountTokens = "count_tokens"
	routeResponses   = "responses"
	routeCompletions = "completions"
	routeEmbeddings  = "embeddings"
	routeModels      = "models"
	routeModel       = "model"
	routeHealth      = "healthz"
	routeReady       = "readyz"
	routeMetrics     = "metrics"
	routeInvalidate  = "admin_invalidate"
	routeUsage       = "usage"
	routeAdminUsage  = "admin_usage"
	routeAdminKeys   = "admin_keys"
	routeUnknown     = "unknown"
	routeBatches     = "batches"
)

// exchange is the per-request record that ends up in the log line and the
// metrics. It holds only owned values, so a stream writer may keep it.
type exchange struct {
	start         time.Time
	route         string
	requestID     string
	tenant        string
	model         string // requested
	upstreamModel string // from the answer, when Meta has none
	stream        bool
	status        int
	meta          *llm.Meta
	usage         *llm.Usage
	err           *llm.Error
	events        int
	prompt        string // only with DebugLogPrompts

	ctx     context.Context // the request's trace context; nil when tracing is off
	span    llm.Span        // the request's server span (zero when off)
	ttft    time.Duration   // streams: until the first chunk was written
	keyID   string
	snippet string // opted-in, redacted prompt prefix for the request log
	answer  string // only with TraceContent (unary)
	// errs writes an error in the route's wire API; nil is the OpenAI
	// envelope.
	errs func(ctx *fasthttp.RequestCtx, e *llm.Error) int
}

// writeError answers ctx with e in x's wire API and returns the status.
func (x *exchange) writeError(ctx *fasthttp.RequestCtx, e *llm.Error) int {
	if x.errs != nil {
		return x.errs(ctx, e)
	}
	return writeError(ctx, e)
}

// Handler returns the request handler (the server's; exposed for tests).
func (s *Server) Handler() fasthttp.RequestHandler { return s.handle }

func (s *Server) handle(ctx *fasthttp.RequestCtx) {
	path := ctx.Path()
	method := ctx.Method()
	switch string(path) {
	case "/v1/messages":
		if s.allow(ctx, method, fasthttp.MethodPost) {
			s.api(ctx, routeMessages, s.messages)
		}
	case "/v1/messages/count_tokens":
		if s.allow(ctx, method, fasthttp.MethodPost) {
			s.api(ctx, routeCountTokens, s.countTokens)
		}
	case "/v1/responses":
		if s.allow(ctx, method, fasthttp.MethodPost) {
			s.api(ctx, routeResponses, s.responses)
		}
	case "/v1/chat/completions", "/chat/completions":
		if s.allow(ctx, method, fasthttp.MethodPost) {
			s.api(ctx, routeChat, s.chat)
		}
	case "/v1/completions", "/completions":
		if s.allow(ctx, method, fasthttp.MethodPost) {
			s.api(ctx, routeCompletions, s.legacy)
		}
	case "/v1/embeddings", "/embeddings":
		if s.allow(ctx, method, fasthttp.MethodPost) {
			s.api(ctx, routeEmbeddings, s.embeddings)
		}
	case "/v1/models", "/models":
		if s.allow(ctx, method, fasthttp.MethodGet) {
			s.api(ctx, routeModels, s.models)
		}
	case "/healthz":
		if s.allow(ctx, method, fasthttp.MethodGet) {
			s.healthz(ctx)
		}
	case "/readyz":
		if s.allow(ctx, method, fasthttp.MethodGet) {
			s.readyz(ctx)
		}
	case "/metrics":
		if s.allow(ctx, method, fasthttp.MethodGet) {
			s.metrics(ctx)
		}
	case "/v1/usage":
		if s.allow(ctx, method, fasthttp.MethodGet) {
			s.usage(ctx, false)
		}
	case "/admin/usage":
		if s.allow(ctx, method, fasthttp.MethodGet) {
			s.usage(ctx, true)
		}
	case "/dashboard", "/dashboard/":
		if s.allow(ctx, method, fasthttp.MethodGet) {
			s.dashboard(ctx)
		}
	case "/admin/keys":
		s.adminKeys(ctx, "")
	case "/dashboard/requests":
		if s.allow(ctx, method, fasthttp.MethodGet) {
			s.requestsPage(ctx)
		}
	case "/admin/requests":
		if s.allow(ctx, method, fasthttp.MethodGet) {
			s.adminRequests(ctx)
		}
	case "/admin/cache/invalidate":
		if s.allow(ctx, method, fasthttp.MethodPost) {
			s.invalidate(ctx)
		}
	default:
		if id, ok := bytes.CutPrefix(path, []byte("/admin/keys/")); ok && len(id) > 0 && len(id) <= 64 {
			s.adminKeys(ctx, string(id))
			return
		}
		if bytes.HasPrefix(path, []byte("/dashboard/assets/")) {
			if s.allow(ctx, method, fasthttp.MethodGet) {
				s.dashboard(ctx)
			}
			return
		}
		if s.o.Batches != nil && isBatchPath(path) {
			s.api(ctx, routeBatches, s.batches)
			return
		}
		if (bytes.HasPrefix(path, []byte("/v1/models/")) && len(path) > len("/v1/models/")) ||
			(bytes.HasPrefix(path, []byte("/models/")) && len(path) > len("/models/")) {
			if s.allow(ctx, method, fasthttp.MethodGet) {
				s.api(ctx, routeModel, s.model)
			}
			return
		}
		writeError(ctx, &llm.Error{Kind: llm.KindUnknownModel, Code: "unknown_url",
			Message: "unknown url: " + strconv.Quote(string(limit(path, 200)))})
		ctx.SetStatusCode(fasthttp.StatusNotFound)
	}
}

func limit(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

// allow answers 405 (OpenAI error shape, with Allow) unless method is want.
// HEAD is allowed where GET is.
func (s *Server) allow(ctx *fasthttp.RequestCtx, method []byte, want string) bool {
	if string(method) == want || (want == fasthttp.MethodGet && string(method) == fasthttp.MethodHead) {
		return true
	}
	writeError(ctx, invalid("", "method "+strconv.Quote(string(limit(method, 20)))+" not allowed; use "+want))
	ctx.SetStatusCode(fasthttp.StatusMethodNotAllowed)
	ctx.Response.Header.SetBytesK(hdrAllow, want)
	return false
}

// routeConfig gives each route its own limits before the body is read.
// Routes with no real body get a small body limit; the /v1 POST routes get
// MaxBodyBytes. Streams set their own write deadline in the handler,
// because whether a request streams is written in its body.
func (s *Server) routeConfig(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
	uri := h.RequestURI()
	if bytes.HasPrefix(uri, []byte("/v1/chat/")) || bytes.HasPrefix(uri, []byte("/v1/completions")) ||
		bytes.HasPrefix(uri, []byte("/v1/embeddings")) || bytes.HasPrefix(uri, []byte("/v1/messages")) ||
		bytes.HasPrefix(uri, []byte("/v1/responses")) || bytes.HasPrefix(uri, []byte("/chat/")) ||
		bytes.HasPrefix(uri, []byte("/completions")) || bytes.HasPrefix(uri, []byte("/embeddings")) ||
		bytes.HasPrefix(uri, []byte("/v1/files")) {
		return fasthttp.RequestConfig{MaxRequestBodySize: s.o.MaxBodyBytes}
	}
	return fasthttp.RequestConfig{MaxRequestBodySize: min(smallBodyBytes, s.o.MaxBodyBytes)}
}

// serverError answers errors fasthttp meets before the handler runs, in the
// OpenAI shape.
func (s *Server) serverError(ctx *fasthttp.RequestCtx, err error) {
	var e *llm.Error
	status := 0
	switch {
	case isBodyTooLarge(err):
		e = &llm.Error{Kind: llm.KindPayloadTooLarge, Message: "request body is larger than " + strconv.Itoa(s.o.MaxBodyBytes) + " bytes"}
	case isSmallBuffer(err):
		e, status = invalid("", "request headers are too large"), fasthttp.StatusRequestHeaderFieldsTooLarge
	case isTimeout(err):
		e, status = invalid("", "timed out reading the request"), fasthttp.StatusRequestTimeout
	default:
		e = invalid("", "malformed http request")
	}
	writeError(ctx, e)
	if status != 0 {
		ctx.SetStatusCode(status)
	}
	s.m.requests.WithLabelValues(routeUnknown, statusText(ctx.Response.StatusCode()), "", "", "").Inc()
}

// apiHandler serves one /v1 route for an authenticated caller. It returns
// false when it handed the response to a stream writer, which then
// finishes the exchange itself.
type apiHandler func(ctx *fasthttp.RequestCtx, x *exchange, p *principal) (finished bool)

// api runs the steps common to /v1 routes: request id, auth, concurrency
// bound, then h; then headers, log line and metrics.
//
// A panic in h (or below it, on this goroutine) is recovered: the request
// gets a 500 in the OpenAI shape, the log a line with the stack, and
// llmrouter_proxy_panics_total{where="handler"} one more.
func (s *Server) api(ctx *fasthttp.RequestCtx, route string, h apiHandler) {
	x := &exchange{start: time.Now(), route: route, requestID: s.requestID(ctx), meta: &llm.Meta{}, errs: errorWriterFor(route)}
	ctx.Response.Header.SetBytesK(hdrRequestID, x.requestID)
	if s.o.Tracer != nil {
		s.startTrace(ctx, x)
	}
	held := false
	defer func() {
		v := recover()
		if v == nil {
			return
		}
		pe := llm.Recovered(v)
		s.logPanic("handler", x, pe)
		ctx.Response.Reset()
		ctx.Response.Header.SetBytesK(hdrRequestID, x.requestID)
		x.err = pe
		x.status = x.writeError(ctx, pe)
		if held {
			s.release()
		}
		s.finish(x)
	}()
	p, aerr := s.authenticate(&ctx.Request.Header)
	if aerr != nil {
		x.err = aerr
		x.status = x.writeError(ctx, aerr)
		s.finish(x)
		return
	}
	x.tenant, x.keyID = p.tenant, p.keyID
	n := s.inFlight.Add(1)
	s.m.inFlight.Inc()
	if s.o.MaxConcurrency > 0 && n > int64(s.o.MaxConcurrency) {
		s.release()
		x.err = &llm.Error{Kind: llm.KindOverloaded, Message: "the proxy is at its concurrency limit; retry shortly", RetryAfter: time.Second}
		x.status = x.writeError(ctx, x.err)
		s.finish(x)
		return
	}
	held = true
	if h(ctx, x, p) {
		held = false
		s.release()
		s.finish(x)
	}
}

// logPanic logs a recovered panic with its stack and counts it.
func (s *Server) logPanic(where string, x *exchange, e *llm.Error) {
	s.m.panics.WithLabelValues(where).Inc()
	var pe *llm.PanicError
	stack := ""
	if errors.As(e, &pe) {
		stack = string(pe.Stack)
	}
	s.log.LogAttrs(context.Background(), slog.LevelError, "panic while serving a request; answered 500",
		slog.String("where", where), slog.String("request_id", x.requestID), slog.String("route", x.route),
		slog.String("panic", e.Error()), slog.String("stack", stack))
}

func (s *Server) release() {
	s.inFlight.Add(-1)
	s.m.inFlight.Dec()
}

// fail writes e as the response of x.
func (s *Server) fail(ctx *fasthttp.RequestCtx, x *exchange, e *llm.Error) bool {
	e = s.scrub(e)
	if x.route == routeResponses {
		// A limit found below the edge (a tier's output cap) names the
		// canonical parameter; the client sent max_output_tokens.
		e = renameLimitParam(e, "stop", "max_output_tokens")
	}
	x.err = e
	x.status = x.writeError(ctx, e)
	return true
}

// finish writes the log line and records metrics for x.
func (s *Server) finish(x *exchange) {
	elapsed := time.Since(x.start)
	x.model = s.o.Redactor.Redact(x.model) // a metric label and a log attribute
	mv := x.meta.Values()
	s.m.observe(x, &mv, elapsed)
	traceID := s.endTrace(x, &mv)
	if s.o.RequestLog != nil && logged(x.route) {
		s.o.RequestLog(requestRecord(x, &mv, elapsed, traceID))
	}
	if x.err != nil && upstreamAuthFailure(x.err) {
		s.log.LogAttrs(context.Background(), slog.LevelError, "upstream rejected the proxy's provider key",
			slog.String("request_id", x.requestID), slog.String("provider", x.err.Provider),
			slog.Int("upstream_status", x.err.Status))
	}
	lvl := slog.LevelInfo
	if x.status >= 500 {
		lvl = slog.LevelWarn
	}
	if !s.log.Enabled(context.Background(), lvl) {
		return
	}
	attrs := make([]slog.Attr, 0, 20)
	attrs = append(attrs,
		slog.String("request_id", x.requestID),
		slog.String("route", x.route),
		slog.String("tenant", x.tenant),
		slog.String("model", x.model),
		slog.Bool("stream", x.stream),
		slog.String("tier", mv.Tier.String()),
		slog.String("provider", mv.Provider),
		slog.String("upstream_model", firstNonEmpty(mv.Model, x.upstreamModel)),
		slog.String("cache", mv.Cache),
		slog.Int("status", x.status),
		slog.Float64("latency_ms", float64(elapsed.Microseconds())/1000),
		slog.Int("attempts", mv.Attempts),
	)
	if mv.Tier != llm.TierUnset {
		attrs = append(attrs, slog.Float64("score", mv.Score), slog.Any("reasons", mv.Reasons))
		if mv.Session != "" {
			attrs = append(attrs, slog.String("session", mv.Session))
		}
	}
	if traceID != "" {
		attrs = append(attrs, slog.String("trace_id", traceID))
	}
	if x.usage != nil {
		attrs = append(attrs, slog.Int("prompt_tokens", x.usage.PromptTokens),
			slog.Int("completion_tokens", x.usage.CompletionTokens))
	}
	if x.stream {
		attrs = append(attrs, slog.Int("events", x.events))
	}
	if x.err != nil {
		attrs = append(attrs, slog.String("error_kind", x.err.Kind.String()), slog.String("error", x.err.Error()))
	}
	if s.o.DebugLogPrompts && x.prompt != "" {
		attrs = append(attrs, slog.String("prompt", x.prompt))
	}
	s.log.LogAttrs(context.Background(), lvl, "request", attrs...)
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// maxIdempotencyKey bounds the Idempotency-Key header (Stripe's limit).
const maxIdempotencyKey = 255

// prepare fills the routing fields of a decoded request from the caller and
// the request headers: tenant, request id, meta, tier override (only for
// keys that may override, capped at their MaxTier) and cache control.
func (s *Server) prepare(ctx *fasthttp.RequestCtx, x *exchange, p *principal, r *llm.Request) *llm.Error {
	x.model = r.Model
	if e := s.admit(p, r.Model); e != nil {
		return e
	}
	r.Tenant = p.tenant
	r.KeyID = p.keyID
	r.MaxTier = p.maxTier
	r.RequestID = x.requestID
	r.Meta = x.meta
	if v := ctx.Request.Header.PeekBytes(hdrTier); len(v) > 0 && string(v) != "auto" {
		t, ok := llm.ParseTier(string(v))
		if !ok {
			return invalid("x-llmrouter-tier", "x-llmrouter-tier must be small, medium, large or auto")
		}
		if p.allowOverride {
			if p.maxTier != llm.TierUnset && t > p.maxTier {
				t = p.maxTier
			}
			r.TierOverride = t
		}
	}
	if v := ctx.Request.Header.PeekBytes(hdrCacheControlReq); len(v) > 0 {
		r.CacheControl = parseCacheControl(v)
	}
	if v := ctx.Request.Header.PeekBytes(hdrSessionID); len(v) > 0 {
		r.SessionID = string(v) // copied: the header buffer is reused
	}
	if v := ctx.Request.Header.PeekBytes(hdrIdempotencyKey); len(v) > 0 {
		if len(v) > maxIdempotencyKey {
			return invalid("Idempotency-Key", "Idempotency-Key must be at most 255 bytes")
		}
		r.IdempotencyKey = string(v)
	}
	x.model = r.Model
	x.stream = r.Stream
	if s.o.DebugLogPrompts {
		x.prompt = r.LastUserText()
	}
	if p.promptChars > 0 && s.o.RequestLog != nil {
		x.snippet = firstChars(llm.Redact(r.LastUserText()), p.promptChars)
	}
	if s.o.TraceContent && x.span.Recording() {
		x.span.SetString("llmrouter.prompt", r.LastUserText())
	}
	return nil
}

// parseCacheControl reads no-cache, no-store and max-age=0 (as no-cache).
func parseCacheControl(v []byte) llm.CacheControl {
	var cc llm.CacheControl
	for len(v) > 0 {
		var tok []byte
		tok, v, _ = bytes.Cut(v, []byte(","))
		tok = bytes.TrimSpace(tok)
		switch {
		case bytes.EqualFold(tok, []byte("no-cache")):
			cc.NoCache = true
		case bytes.EqualFold(tok, []byte("no-store")):
			cc.NoStore = true
		case bytes.EqualFold(tok, []byte("max-age=0")):
			cc.NoCache = true
		}
	}
	return cc
}

// setMetaHeaders writes the x-llmrouter-* headers from the request's Meta.
func setMetaHeaders(h *fasthttp.ResponseHeader, mv *llm.MetaValues) {
	if t := mv.Tier.String(); t != "" {
		h.SetBytesK(hdrOutTier, t)
		h.SetBytesKV(hdrOutScore, strconv.AppendFloat(make([]byte, 0, 8), mv.Score, 'f', 3, 64))
	}
	if mv.Session != "" {
		h.SetBytesK(hdrOutSession, mv.Session)
	}
	if mv.Model != "" {
		h.SetBytesK(hdrOutModel, mv.Model)
	}
	if mv.Provider != "" {
		h.SetBytesK(hdrOutProvider, mv.Provider)
	}
	if mv.Cache != "" {
		h.SetBytesK(hdrOutCache, mv.Cache)
		if mv.Cache == llm.CacheSemantic {
			h.SetBytesKV(hdrOutSimilarity, strconv.AppendFloat(make([]byte, 0, 8), mv.Similarity, 'f', 4, 64))
		}
	}
}

// writeJSON answers 200 with v encoded as JSON (HTML characters unescaped,
// as OpenAI sends them).
func writeJSON(ctx *fasthttp.RequestCtx, v any) error {
	ctx.Response.Header.SetContentTypeBytes(contentTypeJSON)
	enc := json.NewEncoder(ctx.Response.BodyWriter())
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// writeResponseJSON answers 200 with resp in the Chat Completions shape:
// the bytes writeJSON(ctx, resp) writes, from llm.AppendResponseJSON (no
// reflection), straight into the response's body buffer.
func writeResponseJSON(ctx *fasthttp.RequestCtx, resp *llm.Response) error {
	body := ctx.Response.SwapBody(nil)
	body, err := llm.AppendResponseJSON(body[:0], resp)
	ctx.Response.SwapBody(body)
	if err != nil {
		return err
	}
	ctx.Response.Header.SetContentTypeBytes(contentTypeJSON)
	return nil
}

// writeMemoised answers 200 with resp's memoised Chat Completions JSON,
// with resp's own id and created, and reports whether it could: resp must
// carry Encodings (an exact-cache hit) that template this shape. The bytes
// are those writeJSON(ctx, resp) writes (NewTemplate checks it).
func writeMemoised(ctx *fasthttp.RequestCtx, resp *llm.Response) bool {
	if resp.Encodings == nil {
		return false
	}
	t, ok := resp.Encodings.Template(llm.ShapeChatJSON, func(id string, created int64) ([]byte, error) {
		c := *resp
		c.ID, c.Created = id, created
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		err := enc.Encode(&c)
		return b.Bytes(), err
	})
	if !ok {
		return false
	}
	body := ctx.Response.SwapBody(nil)
	body, ok = t.Append(body[:0], resp.ID, resp.Created)
	ctx.Response.SwapBody(body)
	if !ok {
		return false
	}
	ctx.Response.Header.SetContentTypeBytes(contentTypeJSON)
	return true
}

// budget returns a request context derived from the server's base context
// (through x's trace context when tracing is on).
func (s *Server) budget(x *exchange, stream bool) (context.Context, context.CancelFunc) {
	parent := s.base
	if x.ctx != nil {
		parent = x.ctx
	}
	if stream {
		return context.WithTimeout(parent, s.o.StreamTimeout)
	}
	return context.WithTimeout(parent, s.o.RequestTimeout)
}

// chat serves POST /v1/chat/completions.
func (s *Server) chat(ctx *fasthttp.RequestCtx, x *exchange, p *principal) bool {
	if e := s.o.Limits.CheckBody(ctx.PostBody(), llm.ChatBodyFields); e != nil {
		return s.fail(ctx, x, e)
	}
	r := new(llm.Request)
	if err := llm.DecodeRequest(ctx.PostBody(), r); err != nil {
		return s.fail(ctx, x, llm.AsError(err))
	}
	if e := s.validate(r); e != nil {
		x.model = r.Model
		return s.fail(ctx, x, e)
	}
	if e := s.prepare(ctx, x, p, r); e != nil {
		return s.fail(ctx, x, e)
	}
	if r.Stream {
		return s.streamChat(ctx, x, r, chatEncoder{})
	}
	return s.completeUnary(ctx, x, r, nil)
}

// completeUnary answers a non-streamed request: the call within the request
// budget, the x-llmrouter-* headers, then the answer as shape(resp) JSON
// (nil shape: resp itself, in the Chat Completions shape, written from its
// memoised bytes when the cache gave it some).
func (s *Server) completeUnary(ctx *fasthttp.RequestCtx, x *exchange, r *llm.Request, shape func(*llm.Response) any) bool {
	cctx, cancel := s.budget(x, false)
	resp, err := s.completer.Complete(cctx, r)
	cancel()
	mv := x.meta.Values()
	setMetaHeaders(&ctx.Response.Header, &mv)
	if err != nil {
		return s.fail(ctx, x, llm.AsError(err))
	}
	x.usage = resp.Usage
	x.upstreamModel = resp.Model
	if mv := x.meta.Values(); mv.Costed {
		setCostHeader(&ctx.Response.Header, &mv)
	}
	if s.o.TraceContent && x.span.Recording() && len(resp.Choices) > 0 {
		x.answer = resp.Choices[0].Message.Content.Text()
	}
	setCachedShare(&ctx.Response.Header, resp.Usage)
	switch {
	case shape != nil:
		err = writeJSON(ctx, shape(resp))
	case !writeMemoised(ctx, resp):
		err = writeResponseJSON(ctx, resp)
	}
	if err != nil {
		ctx.ResetBody()
		return s.fail(ctx, x, &llm.Error{Kind: llm.KindInternal, Message: "could not encode the answer", Err: err})
	}
	x.status = fasthttp.StatusOK
	return true
}
