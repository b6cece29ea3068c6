// Package proxy is llmrouter's OpenAI-compatible HTTP front end: a fasthttp
// server that authenticates clients, enforces limits, decodes and validates
// requests, hands them to one llm.Completer, and writes answers back as JSON
// or server-sent events, with errors in the OpenAI envelope.
package proxy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"llmrouter/llm"
)

// Defaults for zero Options fields.
const (
	DefaultMaxBodyBytes      = 8 << 20
	DefaultMaxHeaderBytes    = 16 << 10
	DefaultReadTimeout       = 30 * time.Second
	DefaultIdleTimeout       = 120 * time.Second
	DefaultWriteTimeout      = 30 * time.Second
	DefaultRequestTimeout    = 120 * time.Second
	DefaultStreamTimeout     = 15 * time.Minute
	DefaultHeartbeatInterval = 15 * time.Second
)

// streamWriteGrace is how long past its budget a stream may still write its
// final error event.
const streamWriteGrace = 5 * time.Second

// smallBodyBytes is the body limit of routes that take no real body
// (models, health, metrics, admin).
const smallBodyBytes = 64 << 10

// Options configure a Server. Zero durations and sizes take the defaults
// above.
type Options struct {
	// Completer answers chat (and legacy) completions. Required. If it also
	// implements llm.Embedder, /v1/embeddings is served; if llm.ModelLister,
	// /v1/models lists its names.
	Completer llm.Completer
	// Auth says which client keys are accepted; see AuthOptions.
	Auth AuthOptions
	// MaxBodyBytes bounds request bodies of the /v1 POST routes; larger
	// bodies get 413. Default 8 MiB.
	MaxBodyBytes int
	// MaxHeaderBytes bounds the request head (fasthttp's read buffer);
	// larger heads get 431. Default 16 KiB.
	MaxHeaderBytes int
	// ReadTimeout bounds reading one request (head and body).
	ReadTimeout time.Duration
	// IdleTimeout bounds waiting for the next request on a keep-alive
	// connection.
	IdleTimeout time.Duration
	// WriteTimeout bounds writing a unary (non-streamed) response. Streams
	// are not subject to it; they get StreamTimeout.
	WriteTimeout time.Duration
	// StreamTimeout is the whole budget of a streamed answer, upstream call
	// and writing included. Default 15 minutes.
	StreamTimeout time.Duration
	// RequestTimeout is the budget of a non-streamed request (the context
	// deadline handed to the Completer). Default 120 s.
	RequestTimeout time.Duration
	// HeartbeatInterval is how long a stream may stay silent before the
	// proxy writes an SSE comment to keep intermediaries from timing out.
	// Default 15 s.
	HeartbeatInterval time.Duration
	// StreamCoalesce is how long a stream may hold written events before
	// flushing them to the client, so that events arriving within it leave
	// in one write. The first event of a stream, and the last (done or
	// error), are always flushed at once. 0 (the default) flushes every
	// event as it is written.
	StreamCoalesce time.Duration
	// MaxConcurrency bounds requests in progress on the /v1 routes (streams
	// count until they end); beyond it requests get 503 overloaded at once.
	// 0 means unbounded.
	MaxConcurrency int
	// Logger receives one line per request and warnings. nil discards.
	Logger *slog.Logger
	// Registerer receives the proxy's metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// Gatherer is served on GET /metrics. nil falls back to Registerer if
	// that is also a Gatherer; otherwise /metrics is 404.
	Gatherer prometheus.Gatherer
	// Ready reports readiness for GET /readyz. It must honour ctx (the
	// proxy gives it 2 s). nil means always ready.
	Ready func(ctx context.Context) ReadyReport
	// Invalidate drops the cache entries of a tenant, for POST
	// /admin/cache/invalidate. nil makes that endpoint 404.
	Invalidate func(ctx context.Context, tenant string) error
	// Usage answers GET /v1/usage and GET /admin/usage (see UsageQuery)
	// with a report that is encoded as JSON, or as CSV with format=csv. An
	// *llm.Error it returns is sent as is (invalid queries: KindInvalidRequest);
	// other errors are internal. It must honour ctx and be safe for
	// concurrent use. nil makes those endpoints 404; the /dashboard page
	// shows what they return.
	Usage func(ctx context.Context, q UsageQuery) (UsageReport, error)
	// Gate, when set, is consulted after authentication: virtual keys,
	// budgets and rate limits. nil admits every authenticated request.
	Gate Gate
	// Keys serves POST/GET/DELETE /admin/keys; nil makes them 404.
	Keys KeyAdmin
	// AliasTier returns the tier of a pinned model alias (llm.TierUnset
	// for auto aliases and unknown names), so that a key's max tier
	// refuses pinned aliases above it with 403. nil checks nothing.
	AliasTier func(model string) llm.Tier
	// Batches serves the Files and Batches APIs (/v1/files...,
	// /v1/batches...) for the authenticated tenant. nil makes them 404.
	Batches BatchAPI
	// DebugLogPrompts adds the last user message to request log lines. Off
	// by default: prompts are user data.
	DebugLogPrompts bool
	// Redactor replaces registered secrets in error messages sent to
	// clients and in fasthttp's own log lines. nil redacts by pattern only.
	// (The Logger should be wrapped with Redactor.Handler too.)
	Redactor *llm.Redactor
	// Limits bound the numbers in a request that size allocations (n,
	// max_tokens, messages, tools, stop strings, parts); a request over one
	// gets 400 with code "limit_exceeded". Zero fields take llm's defaults.
	Limits llm.Limits
	// Tracer, when set, opens a server span per /v1 request (continuing
	// an incoming traceparent) and carries itself in the request context
	// so that every layer's llm.StartSpan makes children. nil: tracing off,
	// at no cost.
	Tracer RequestTracer
	// TraceContent adds the last user message and the answer text to the
	// request span. Off by default: prompts are user data.
	TraceContent bool
	// RequestLog receives one record per /v1 request when it ends. It must
	// not block (queue and return). nil: no request log.
	RequestLog func(llm.RequestRecord)
	// Requests answers GET /admin/requests: rows of tenant (all tenants
	// when all) selected by query. A returned *llm.Error is answered in the
	// OpenAI shape; the value is encoded as JSON. nil makes the endpoint 404.
	Requests func(ctx context.Context, tenant string, all bool, query url.Values) (any, error)
}

// RequestTracer opens the root span of a request. Implementations (package
// tracing) must be safe for concurrent use.
type RequestTracer interface {
	// StartRequest begins the server span named name, continuing the trace
	// of the incoming headers that get reads (get returns "" when absent).
	// The returned context must carry the span and an llm.Tracer.
	StartRequest(ctx context.Context, name string, get func(key string) string) (context.Context, llm.SpanRecorder)
}

// ReadyReport is the body of /readyz. Status is "ok", "degraded" or "down";
// only "down" answers 503.
type ReadyReport struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

// Server is the HTTP front end. Create it with New; it is safe for
// concurrent use.
type Server struct {
	o         Options
	completer llm.Completer
	embedder  llm.Embedder
	lister    llm.ModelLister
	auth      atomic.Pointer[authTable]
	srv       *fasthttp.Server
	log       *slog.Logger
	m         *metrics
	metricsH  fasthttp.RequestHandler // every series
	// publicMetricsH serves the series without a tenant label.
	publicMetricsH fasthttp.RequestHandler
	started        int64 // unix seconds, the "created" of model objects

	base       context.Context // cancelled at hard shutdown
	cancelBase context.CancelFunc

	inFlight atomic.Int64
	stopping atomic.Bool

	idPrefix string
	idSeq    atomic.Uint64

	// streams counts stream writers still running, so Shutdown can wait
	// for their goroutines.
	streams sync.WaitGroup
}

// New validates o and builds a Server. It returns an error for a missing
// Completer, a bad auth configuration, or a metrics registration conflict.
func New(o Options) (*Server, error) {
	if o.Completer == nil {
		return nil, errors.New("proxy: Options.Completer is required")
	}
	setDefaults(&o)
	at, err := buildAuth(o.Auth)
	if err != nil {
		return nil, err
	}
	m, err := newMetrics(o.Registerer)
	if err != nil {
		return nil, err
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var idb [6]byte
	if _, err := rand.Read(idb[:]); err != nil {
		return nil, err
	}
	s := &Server{
		o:         o,
		completer: o.Completer,
		log:       log,
		m:         m,
		started:   time.Now().Unix(),
		idPrefix:  "req_" + hex.EncodeToString(idb[:]),
	}
	s.embedder, _ = o.Completer.(llm.Embedder)
	s.lister, _ = o.Completer.(llm.ModelLister)
	s.auth.Store(at)
	s.base, s.cancelBase = context.WithCancel(context.Background())
	s.metricsH, s.publicMetricsH = metricsHandlers(o.Gatherer, o.Registerer)
	if at.none {
		log.Warn("client authentication is off (auth mode \"none\"): anyone who can reach the proxy can use it")
	}
	s.srv = &fasthttp.Server{
		Handler:               s.Handler(),
		ErrorHandler:          s.serverError,
		HeaderReceived:        s.routeConfig,
		Name:                  "llmrouter",
		ReadBufferSize:        o.MaxHeaderBytes,
		MaxRequestBodySize:    o.MaxBodyBytes,
		ReadTimeout:           o.ReadTimeout,
		WriteTimeout:          o.WriteTimeout,
		IdleTimeout:           o.IdleTimeout,
		CloseOnShutdown:       true,
		NoDefaultServerHeader: true,
		NoDefaultContentType:  true,
		Logger:                fasthttpLogger{l: log, r: o.Redactor},
	}
	return s, nil
}

func setDefaults(o *Options) {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.MaxHeaderBytes <= 0 {
		o.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	o.Limits = o.Limits.WithDefaults()
	def(&o.ReadTimeout, DefaultReadTimeout)
	def(&o.IdleTimeout, DefaultIdleTimeout)
	def(&o.WriteTimeout, DefaultWriteTimeout) // must stay > 0: see streamChat
	def(&o.RequestTimeout, DefaultRequestTimeout)
	def(&o.StreamTimeout, DefaultStreamTimeout)
	def(&o.HeartbeatInterval, DefaultHeartbeatInterval)
}

// SetAuth swaps the authentication table (config reload). Requests already
// authenticated keep their tenant. On error the old table stays.
func (s *Server) SetAuth(a AuthOptions) error {
	t, err := BuildAuth(a)
	if err != nil {
		return err
	}
	s.SwapAuth(t)
	return nil
}

// AuthTable is a validated authentication table; see BuildAuth.
type AuthTable struct{ t *authTable }

// BuildAuth validates a and builds the table SetAuth would swap in, so a
// reload can build everything before it applies anything. New and SetAuth
// accept exactly what BuildAuth accepts.
func BuildAuth(a AuthOptions) (*AuthTable, error) {
	t, err := buildAuth(a)
	if err != nil {
		return nil, err
	}
	return &AuthTable{t: t}, nil
}

// SwapAuth swaps in a table from BuildAuth. It cannot fail.
func (s *Server) SwapAuth(a *AuthTable) {
	if a.t.none && !s.auth.Load().none {
		s.log.Warn("client authentication turned off by reload (auth mode \"none\")")
	}
	s.auth.Store(a.t)
}

// TenantPolicy returns the tier-override policy of a tenant's (first) key,
// for wiring the classifier's Policy from the same configuration. With auth
// mode "none" every tenant may override without a cap.
func (s *Server) TenantPolicy(tenant string) (allowOverride bool, maxTier llm.Tier) {
	t := s.auth.Load()
	if t.none {
		return true, llm.TierUnset
	}
	if p, ok := t.byName[tenant]; ok {
		return p.allowOverride, p.maxTier
	}
	return false, llm.TierUnset
}

// Serve accepts connections on ln until Shutdown. It returns nil after
// Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	return s.srv.Serve(ln)
}

// Shutdown stops accepting connections, closes idle ones, and waits for
// in-flight requests and streams to finish. When ctx ends first, it
// cancels every request's context (upstream calls stop, streams end with
// an error event), waits briefly for the handlers to unwind, and returns
// ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stopping.Store(true)
	err := s.srv.ShutdownWithContext(ctx)
	if err == nil {
		s.streams.Wait()
		s.cancelBase()
		return nil
	}
	s.cancelBase()
	hard, cancel := context.WithTimeout(context.Background(), 2*streamWriteGrace)
	defer cancel()
	_ = s.srv.ShutdownWithContext(hard)
	waitGroupCtx(hard, &s.streams)
	return err
}

func waitGroupCtx(ctx context.Context, wg *sync.WaitGroup) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// newRequestID returns the client's x-request-id when it is sane (1..128
// visible ASCII bytes), else a new process-unique id.
func (s *Server) requestID(ctx *fasthttp.RequestCtx) string {
	if v := ctx.Request.Header.PeekBytes(hdrRequestID); len(v) > 0 && len(v) <= 128 && visibleASCII(v) {
		return string(v)
	}
	var b [40]byte
	n := copy(b[:], s.idPrefix)
	b[n] = '_'
	n++
	out := appendHex(b[:n], s.idSeq.Add(1))
	return string(out)
}

func appendHex(b []byte, v uint64) []byte {
	const digits = "0123456789abcdef"
	var tmp [16]byte
	i := len(tmp)
	for {
		i--
		tmp[i] = digits[v&15]
		v >>= 4
		if v == 0 {
			break
		}
	}
	return append(b, tmp[i:]...)
}

func visibleASCII(b []byte) bool {
	for _, c := range b {
		if c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

// fasthttpLogger sends fasthttp's own messages (connection errors) to the
// proxy's logger at debug level. fasthttp quotes the raw request head in
// some of them, so the values of credential headers are cut out first, then
// registered secrets are replaced.
type fasthttpLogger struct {
	l *slog.Logger
	r *llm.Redactor
}

func (f fasthttpLogger) Printf(format string, args ...any) {
	if f.l.Enabled(context.Background(), slog.LevelDebug) {
		f.l.Debug("fasthttp: " + f.r.Redact(redactCredentialHeaders(fmt.Sprintf(format, args...))))
	}
}

// credentialHeader matches a credential header and its value in a quoted
// request head (fasthttp writes it with %q, so line ends are "\r\n").
var credentialHeader = regexp.MustCompile(`(?i)((?:authorization|proxy-authorization|api-key|x-api-key|cookie)\s*:\s*)(?:[^\\"\r\n]|\\[^rn])*`)

func redactCredentialHeaders(s string) string {
	return credentialHeader.ReplaceAllString(s, "${1}"+llm.Redacted)
}
