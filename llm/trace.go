package llm

import (
	"context"
	"time"
)

// Span names of the phases of one request, as the layers report them.
const (
	SpanClassify    = "llmrouter.classify"
	SpanExactCache  = "llmrouter.cache.exact"
	SpanSemantic    = "llmrouter.cache.semantic"
	SpanEmbed       = "llmrouter.cache.embed"
	SpanCoalesce    = "llmrouter.coalesce.wait"
	SpanAttempt     = "llmrouter.attempt"
	SpanStreamRelay = "llmrouter.stream.relay"
	SpanLedgerWrite = "llmrouter.ledger.write"
)

// Tracer starts spans. The proxy puts one into a request's context (see
// WithTracer) when tracing is on; layers below reach it only through
// StartSpan, so they need no tracing library. Implementations must be safe
// for concurrent use.
type Tracer interface {
	// Start begins a span named name, a child of the span in ctx, and
	// returns a context carrying it.
	Start(ctx context.Context, name string) (context.Context, SpanRecorder)
	// Inject writes the propagation headers (traceparent, tracestate) of
	// the span in ctx into h.
	Inject(ctx context.Context, h HeaderSetter)
}

// SpanRecorder is one started span. Its methods must not be called after
// End; End must be called exactly once.
type SpanRecorder interface {
	SetString(key, value string)
	SetInt(key string, value int64)
	SetFloat(key string, value float64)
	// SetError marks the span failed with an error kind and message.
	SetError(kind, message string)
	End()
}

// HeaderSetter is where Inject writes headers (*fasthttp.RequestHeader and
// http.Header both have this method).
type HeaderSetter interface {
	Set(key, value string)
}

type tracerKey struct{}

// WithTracer returns ctx carrying t; a nil t returns ctx unchanged.
func WithTracer(ctx context.Context, t Tracer) context.Context {
	if t == nil {
		return ctx
	}
	return context.WithValue(ctx, tracerKey{}, t)
}

// TracerFrom returns the tracer in ctx, or nil.
func TracerFrom(ctx context.Context) Tracer {
	t, _ := ctx.Value(tracerKey{}).(Tracer)
	return t
}

// Span is a started span or, when tracing is off, nothing: the zero Span
// ignores every call, so instrumented code needs no checks and allocates
// nothing when there is no tracer.
type Span struct{ r SpanRecorder }

// StartSpan begins a span named name under the span in ctx when ctx carries
// a Tracer; otherwise it returns ctx and the zero Span. The caller must
// call End.
func StartSpan(ctx context.Context, name string) (context.Context, Span) {
	t := TracerFrom(ctx)
	if t == nil {
		return ctx, Span{}
	}
	ctx, r := t.Start(ctx, name)
	return ctx, Span{r}
}

// InjectTrace writes the trace propagation headers of ctx's span into h;
// it does nothing when tracing is off.
func InjectTrace(ctx context.Context, h HeaderSetter) {
	if t := TracerFrom(ctx); t != nil {
		t.Inject(ctx, h)
	}
}

// WrapSpan returns the Span of a started recorder (for the code that
// starts root spans itself); nil gives the zero Span.
func WrapSpan(r SpanRecorder) Span { return Span{r} }

// TraceID returns the trace id of the span when its recorder reports one
// (a TraceID() string method), else "".
func (s Span) TraceID() string {
	if t, ok := s.r.(interface{ TraceID() string }); ok {
		return t.TraceID()
	}
	return ""
}

// Recording reports whether s records anything; use it to skip building
// attribute values that cost something.
func (s Span) Recording() bool { return s.r != nil }

// SetString sets a string attribute.
func (s Span) SetString(key, value string) {
	if s.r != nil {
		s.r.SetString(key, value)
	}
}

// SetInt sets an integer attribute.
func (s Span) SetInt(key string, value int64) {
	if s.r != nil {
		s.r.SetInt(key, value)
	}
}

// SetFloat sets a float attribute.
func (s Span) SetFloat(key string, value float64) {
	if s.r != nil {
		s.r.SetFloat(key, value)
	}
}

// SetError marks the span failed with e's kind and message; nil e is a no-op.
func (s Span) SetError(e *Error) {
	if s.r != nil && e != nil {
		s.r.SetError(e.Kind.String(), e.Error())
	}
}

// End ends the span.
func (s Span) End() {
	if s.r != nil {
		s.r.End()
	}
}

// Attempt is one upstream call the router made for a request, as the
// request log and the trace show it.
type Attempt struct {
	Provider string        `json:"provider"`
	Model    string        `json:"model"`
	Start    time.Time     `json:"start"`
	Latency  time.Duration `json:"latency_ns"`
	// Outcome is "ok" or the error kind of the attempt.
	Outcome string `json:"outcome"`
	// Status is the upstream HTTP status; 0 when there was none.
	Status int `json:"status,omitempty"`
	// Reason says why the router moved on after a failure ("retry",
	// "failover", "rate_limited", ...); "" for the answering attempt.
	Reason string `json:"reason,omitempty"`
}
