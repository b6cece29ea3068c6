package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"llmrouter/llm"
	"llmrouter/provider/fake"
)

// otlpReceiver is an in-process OTLP/HTTP collector: it decodes every
// export into spans.
type otlpReceiver struct {
	URL   string
	mu    sync.Mutex
	spans []*tracepb.Span
}

func startOTLPReceiver(t *testing.T) *otlpReceiver {
	t.Helper()
	r := &otlpReceiver{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path != "/v1/traces" || req.Header.Get("Content-Type") != "application/x-protobuf" {
			http.Error(w, "want POST /v1/traces protobuf", http.StatusBadRequest)
			return
		}
		body, err := io.ReadAll(req.Body)
		var ex coltracepb.ExportTraceServiceRequest
		if err == nil {
			err = proto.Unmarshal(body, &ex)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		for _, rs := range ex.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				r.spans = append(r.spans, ss.Spans...)
			}
		}
		r.mu.Unlock()
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	r.URL = "http://" + ln.Addr().String()
	return r
}

func (r *otlpReceiver) trace(id string) []*tracepb.Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*tracepb.Span
	for _, s := range r.spans {
		if hex.EncodeToString(s.TraceId) == id {
			out = append(out, s)
		}
	}
	return out
}

func attr(s *tracepb.Span, key string) (string, bool) {
	for _, kv := range s.Attributes {
		if kv.Key != key {
			continue
		}
		switch v := kv.Value.Value.(type) {
		case *commonpb.AnyValue_StringValue:
			return v.StringValue, true
		case *commonpb.AnyValue_IntValue:
			return strconv.FormatInt(v.IntValue, 10), true
		case *commonpb.AnyValue_DoubleValue:
			return strconv.FormatFloat(v.DoubleValue, 'g', -1, 64), true
		case *commonpb.AnyValue_BoolValue:
			return strconv.FormatBool(v.BoolValue), true
		}
	}
	return "", false
}

// headerRecorder wraps an upstream handler and keeps each request's
// traceparent.
type headerRecorder struct {
	mu  sync.Mutex
	got []string
}

func (h *headerRecorder) wrap(next fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		h.mu.Lock()
		h.got = append(h.got, string(ctx.Request.Header.Peek("traceparent")))
		h.mu.Unlock()
		next(ctx)
	}
}

func (h *headerRecorder) all() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.got...)
}

// failoverYAML routes every tier to a failing upstream, then a good one.
func failoverYAML(bad, good, extra string) string {
	chain := "{chain: [{provider: bad, model: m-bad}, {provider: good, model: m-good}]}"
	return fmt.Sprintf(`
auth:
  mode: none
providers:
  - {name: bad, type: openai, base_url: "%s/v1"}
  - {name: good, type: openai, base_url: "%s/v1"}
models:
  chat: [{provider: bad, model: m-bad}, {provider: good, model: m-good}]
routing:
  retry: {max_attempts_per_target: 2, backoff_initial: 1ms, backoff_max: 2ms}
  tiers:
    small: %s
    medium: %s
    large: %s
cache:
  exact: {enabled: true}
prices:
  m-good: {input: 1000000, output: 2000000}
`, bad, good, chain, chain, chain) + extra
}

func TestTraceOfAFailoverRequest(t *testing.T) {
	rcv := startOTLPReceiver(t)
	var badH, goodH headerRecorder
	bad := fake.Start(t, badH.wrap(fake.OpenAI(fake.OpenAIOptions{Fault: fake.AlwaysFails500()})))
	good := fake.Start(t, goodH.wrap(fake.OpenAI(fake.OpenAIOptions{Model: "m-good"})))
	a, base := startApp(t, failoverYAML(bad.URL, good.URL, fmt.Sprintf(`
tracing: {enabled: true, endpoint: "%s", protocol: http/protobuf}
`, rcv.URL)), nil)

	const traceID, parentID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	status, h, body := send(t, base, "", `{"model":"auto","messages":[{"role":"user","content":"tell me about traces"}]}`,
		"traceparent", "00-"+traceID+"-"+parentID+"-01")
	if status != 200 {
		t.Fatalf("status %d: %s", status, body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.tracer.ForceFlush(ctx); err != nil {
		t.Fatal(err)
	}
	spans := rcv.trace(traceID)
	byName := map[string][]*tracepb.Span{}
	for _, s := range spans {
		byName[s.Name] = append(byName[s.Name], s)
	}
	roots := byName["llmrouter chat"]
	if len(roots) != 1 {
		t.Fatalf("want one server span in trace %s, got spans %v", traceID, names(spans))
	}
	root := roots[0]
	if got := hex.EncodeToString(root.ParentSpanId); got != parentID {
		t.Errorf("server span parent = %s, want the incoming traceparent's %s", got, parentID)
	}
	for k, want := range map[string]string{
		"gen_ai.operation.name": "chat", "gen_ai.request.model": "auto", "gen_ai.response.model": "m-good",
		"gen_ai.system": "good", "llmrouter.request_id": h["x-request-id"], "llmrouter.attempts": "3",
		"llmrouter.cache": llm.CacheMiss,
	} {
		if got, _ := attr(root, k); got != want {
			t.Errorf("server span %s = %q, want %q", k, got, want)
		}
	}
	for _, k := range []string{"gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens", "llmrouter.tier",
		"llmrouter.score", "llmrouter.reasons", "llmrouter.cost_usd"} {
		if _, ok := attr(root, k); !ok {
			t.Errorf("server span has no %s", k)
		}
	}
	if _, ok := attr(root, "llmrouter.prompt"); ok {
		t.Error("prompt text on the span without capture_content")
	}
	for _, n := range []string{llm.SpanClassify, llm.SpanExactCache, llm.SpanCoalesce, llm.SpanLedgerWrite} {
		if len(byName[n]) != 1 {
			t.Errorf("want one %s span, got %d (spans: %v)", n, len(byName[n]), names(spans))
		}
	}
	attempts := byName[llm.SpanAttempt]
	if len(attempts) != 3 {
		t.Fatalf("want 3 attempt spans (bad twice, then good), got %d", len(attempts))
	}
	reasons := map[string]int{}
	var okSpan *tracepb.Span
	for _, s := range attempts {
		prov, _ := attr(s, "gen_ai.system")
		reason, _ := attr(s, "llmrouter.retry_reason")
		code, _ := attr(s, "http.response.status_code")
		if prov == "bad" {
			if code != "500" || s.Status.GetCode() != tracepb.Status_STATUS_CODE_ERROR {
				t.Errorf("failed attempt: status %q, span status %v", code, s.Status.GetCode())
			}
			reasons[reason]++
		} else {
			okSpan = s
			if reason != "" {
				t.Errorf("answering attempt has retry reason %q", reason)
			}
		}
		if m, _ := attr(s, "gen_ai.request.model"); m == "" {
			t.Error("attempt without gen_ai.request.model")
		}
	}
	if reasons["retry"] != 1 || reasons["failover"] != 1 || okSpan == nil {
		t.Errorf("retry reasons of the failed attempts = %v, want one retry and one failover", reasons)
	}
	// Every upstream call carries a child traceparent of its attempt span.
	for _, tp := range append(badH.all(), goodH.all()...) {
		if !strings.HasPrefix(tp, "00-"+traceID+"-") {
			t.Errorf("upstream got traceparent %q, want trace %s", tp, traceID)
		}
	}
	if g := goodH.all(); len(g) != 1 || g[0] != "00-"+traceID+"-"+hex.EncodeToString(okSpan.SpanId)+"-01" {
		t.Errorf("good upstream traceparent = %v, want its attempt span %x as parent", g, okSpan.SpanId)
	}
}

// send POSTs a chat body with extra request headers (name, value pairs)
// and returns the status, the x-request-id response header and the body.
func send(t *testing.T, base, key, body string, hdr ...string) (int, map[string]string, string) {
	t.Helper()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(base + "/v1/chat/completions")
	req.Header.SetMethod("POST")
	req.Header.SetContentType("application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	req.SetBodyString(body)
	if err := fasthttp.DoTimeout(req, resp, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode(), map[string]string{"x-request-id": string(resp.Header.Peek("x-request-id")),
		"x-llmrouter-cache": string(resp.Header.Peek("x-llmrouter-cache"))}, string(resp.Body())
}

func names(spans []*tracepb.Span) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name)
	}
	return out
}
