// Package tracing exports llmrouter's request traces with the OpenTelemetry
// Go SDK over OTLP (HTTP/protobuf or gRPC). It implements llm.Tracer, so the
// layers below the proxy open spans through llm.StartSpan without importing
// OpenTelemetry; the proxy opens each request's root span with StartRequest,
// continuing an incoming W3C traceparent.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"

	"llmrouter/llm"
)

// Protocols of the OTLP exporter.
const (
	ProtocolHTTP = "http/protobuf"
	ProtocolGRPC = "grpc"
)

// Options configure a Tracer.
type Options struct {
	// Endpoint is the OTLP endpoint URL, e.g. http://localhost:4318 (HTTP;
	// the path /v1/traces is added when absent) or http://localhost:4317
	// (gRPC). Empty: the exporter reads OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
	// or OTEL_EXPORTER_OTLP_ENDPOINT, defaulting to localhost.
	Endpoint string
	// Protocol is ProtocolHTTP or ProtocolGRPC. Empty: the
	// OTEL_EXPORTER_OTLP_TRACES_PROTOCOL or OTEL_EXPORTER_OTLP_PROTOCOL
	// variable, else ProtocolHTTP.
	Protocol string
	// Headers are sent with every export (e.g. an API key of a hosted
	// collector), on top of OTEL_EXPORTER_OTLP_HEADERS.
	Headers map[string]string
	// SampleRatio is the fraction of new traces recorded, in [0, 1]. A
	// request that arrives with a sampled traceparent is always recorded
	// (parent-based sampling). 0 takes the default, 1.
	SampleRatio float64
	// ServiceName is the resource's service.name. Default "llmrouter".
	ServiceName string
	// ExportTimeout bounds one export. Default 10 s.
	ExportTimeout time.Duration
	// Exporter replaces the OTLP exporter (tests). Optional.
	Exporter sdktrace.SpanExporter
	// Sync exports each span as it ends instead of in batches (tests).
	Sync bool
}

// Tracer is an llm.Tracer backed by an OpenTelemetry TracerProvider.
// Safe for concurrent use; call Shutdown to flush.
type Tracer struct {
	tp   *sdktrace.TracerProvider
	t    trace.Tracer
	prop propagation.TextMapPropagator
}

var _ llm.Tracer = (*Tracer)(nil)

// New builds the exporter and the provider. It does not connect: exports
// happen in the background, and an unreachable collector costs dropped
// spans, never a failed request.
func New(ctx context.Context, o Options) (*Tracer, error) {
	if o.SampleRatio < 0 || o.SampleRatio > 1 {
		return nil, fmt.Errorf("tracing: sample ratio %v is outside [0, 1]", o.SampleRatio)
	}
	if o.SampleRatio == 0 {
		o.SampleRatio = 1
	}
	if o.ServiceName == "" {
		o.ServiceName = "llmrouter"
	}
	if o.ExportTimeout <= 0 {
		o.ExportTimeout = 10 * time.Second
	}
	exp := o.Exporter
	if exp == nil {
		var err error
		if exp, err = newExporter(ctx, o); err != nil {
			return nil, err
		}
	}
	res := resource.NewSchemaless(semconv.ServiceName(o.ServiceName))
	popt := sdktrace.WithBatcher(exp, sdktrace.WithExportTimeout(o.ExportTimeout))
	if o.Sync {
		popt = sdktrace.WithSyncer(exp)
	}
	tp := sdktrace.NewTracerProvider(popt, sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(o.SampleRatio))))
	return &Tracer{
		tp:   tp,
		t:    tp.Tracer("llmrouter"),
		prop: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
	}, nil
}

func protocol(o Options) string {
	for _, p := range []string{o.Protocol, os.Getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"), os.Getenv("OTEL_EXPORTER_OTLP_PROTOCOL")} {
		if p != "" {
			return p
		}
	}
	return ProtocolHTTP
}

func newExporter(ctx context.Context, o Options) (sdktrace.SpanExporter, error) {
	switch p := protocol(o); p {
	case ProtocolHTTP, "http":
		opts := []otlptracehttp.Option{otlptracehttp.WithTimeout(o.ExportTimeout)}
		if o.Endpoint != "" {
			opts = append(opts, otlptracehttp.WithEndpointURL(httpTracesURL(o.Endpoint)))
		}
		if len(o.Headers) > 0 {
			opts = append(opts, otlptracehttp.WithHeaders(o.Headers))
		}
		return otlptracehttp.New(ctx, opts...)
	case ProtocolGRPC:
		opts := []otlptracegrpc.Option{otlptracegrpc.WithTimeout(o.ExportTimeout)}
		if o.Endpoint != "" {
			opts = append(opts, otlptracegrpc.WithEndpointURL(o.Endpoint))
		}
		if len(o.Headers) > 0 {
			opts = append(opts, otlptracegrpc.WithHeaders(o.Headers))
		}
		return otlptracegrpc.New(ctx, opts...)
	default:
		return nil, fmt.Errorf("tracing: unknown OTLP protocol %q (want %q or %q)", p, ProtocolHTTP, ProtocolGRPC)
	}
}

// httpTracesURL adds the OTLP traces path to a bare collector URL, as the
// OTEL_EXPORTER_OTLP_ENDPOINT convention does.
func httpTracesURL(u string) string {
	rest := u
	if i := strings.Index(rest, "://"); i >= 0 {
		rest = rest[i+3:]
	}
	if i := strings.IndexByte(rest, '/'); i < 0 || rest[i:] == "/" {
		return strings.TrimSuffix(u, "/") + "/v1/traces"
	}
	return u
}

// Start implements llm.Tracer.
func (t *Tracer) Start(ctx context.Context, name string) (context.Context, llm.SpanRecorder) {
	ctx, sp := t.t.Start(ctx, name, trace.WithSpanKind(spanKind(name)))
	return ctx, span{sp}
}

func spanKind(name string) trace.SpanKind {
	if name == llm.SpanAttempt {
		return trace.SpanKindClient
	}
	return trace.SpanKindInternal
}

// Inject implements llm.Tracer: W3C traceparent and tracestate.
func (t *Tracer) Inject(ctx context.Context, h llm.HeaderSetter) {
	t.prop.Inject(ctx, setter{h})
}

// StartRequest begins the server span of one request, continuing the trace
// of the incoming traceparent/tracestate that get returns (get(name) must
// return "" for an absent header). The returned context carries the span
// and t, so llm.StartSpan under it makes children.
func (t *Tracer) StartRequest(ctx context.Context, name string, get func(key string) string) (context.Context, llm.SpanRecorder) {
	ctx = t.prop.Extract(ctx, getter(get))
	ctx, sp := t.t.Start(ctx, name, trace.WithSpanKind(trace.SpanKindServer))
	return llm.WithTracer(ctx, t), span{sp}
}

// Shutdown flushes the spans still queued and stops the exporter; ctx
// bounds it.
func (t *Tracer) Shutdown(ctx context.Context) error {
	err := t.tp.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("tracing: spans not flushed before the deadline: %w", err)
	}
	return err
}

// ForceFlush exports the spans that have ended so far; ctx bounds it.
func (t *Tracer) ForceFlush(ctx context.Context) error { return t.tp.ForceFlush(ctx) }

// span adapts a trace.Span to llm.SpanRecorder.
type span struct{ s trace.Span }

func (s span) SetString(k, v string)        { s.s.SetAttributes(attribute.String(k, v)) }
func (s span) SetInt(k string, v int64)     { s.s.SetAttributes(attribute.Int64(k, v)) }
func (s span) SetFloat(k string, v float64) { s.s.SetAttributes(attribute.Float64(k, v)) }
func (s span) End()                         { s.s.End() }
func (s span) SetError(kind, message string) {
	s.s.SetAttributes(attribute.String("error.type", kind))
	s.s.SetStatus(codes.Error, message)
}

// TraceID returns the span's trace id in hex ("" when not sampled), for
// log lines and the request log.
func (s span) TraceID() string {
	sc := s.s.SpanContext()
	if !sc.IsSampled() {
		return ""
	}
	return sc.TraceID().String()
}

type setter struct{ h llm.HeaderSetter }

func (s setter) Get(string) string   { return "" }
func (s setter) Set(k, v string)     { s.h.Set(k, v) }
func (s setter) Keys() []string      { return nil }
func (g getter) Get(k string) string { return g(k) }
func (g getter) Set(string, string)  {}
func (g getter) Keys() []string      { return []string{"traceparent", "tracestate", "baggage"} }

type getter func(string) string
