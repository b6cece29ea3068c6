package tracing

import (
	"context"
	"net/http"
	"testing"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"llmrouter/llm"
)

func TestHTTPTracesURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://localhost:4318":            "http://localhost:4318/v1/traces",
		"http://localhost:4318/":           "http://localhost:4318/v1/traces",
		"https://otel.example/v1/traces":   "https://otel.example/v1/traces",
		"https://otel.example/custom/path": "https://otel.example/custom/path",
	} {
		if got := httpTracesURL(in); got != want {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	for name, o := range map[string]Options{
		"ratio above 1": {SampleRatio: 1.5},
		"negative":      {SampleRatio: -0.1},
		"protocol":      {Protocol: "carrier-pigeon"},
	} {
		if _, err := New(context.Background(), o); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestSpansAndPropagation(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tr, err := New(context.Background(), Options{Exporter: exp, Sync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Shutdown(context.Background())
	in := map[string]string{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
	ctx, root := tr.StartRequest(context.Background(), "llmrouter chat", func(k string) string { return in[k] })
	actx, sp := llm.StartSpan(ctx, llm.SpanAttempt)
	h := http.Header{}
	llm.InjectTrace(actx, h)
	sp.SetError(&llm.Error{Kind: llm.KindUpstreamError, Status: 500, Message: "boom"})
	sp.End()
	if id := llm.WrapSpan(root).TraceID(); id != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("trace id %q", id)
	}
	root.End()
	spans := exp.GetSpans()
	if len(spans) != 2 {
		t.Fatalf("%d spans", len(spans))
	}
	att := spans[0]
	if want := "00-4bf92f3577b34da6a3ce929d0e0e4736-" + att.SpanContext.SpanID().String() + "-01"; h.Get("traceparent") != want {
		t.Errorf("injected %q, want %q", h.Get("traceparent"), want)
	}
	if att.Parent.SpanID() != spans[1].SpanContext.SpanID() || spans[1].Parent.SpanID().String() != "00f067aa0ba902b7" {
		t.Error("span tree is not attempt -> request -> incoming parent")
	}
	if att.Status.Code.String() != "Error" {
		t.Errorf("attempt status %v", att.Status)
	}
}
