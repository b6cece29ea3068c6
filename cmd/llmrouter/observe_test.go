package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
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

func startOTLPReceiver(t testing.TB) *otlpReceiver {
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
	// Generous: a loaded CI machine may be slow to export.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
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

	// A stream gets a relay span, and its request-log row a time to first token.
	const streamTrace = "5bf92f3577b34da6a3ce929d0e0e4737"
	status, h, body = send(t, base, "", `{"model":"auto","stream":true,"messages":[{"role":"user","content":"stream it"}]}`,
		"traceparent", "00-"+streamTrace+"-"+parentID+"-01")
	if status != 200 || !strings.Contains(body, "[DONE]") {
		t.Fatalf("stream: %d %s", status, body)
	}
	if err := a.tracer.ForceFlush(ctx); err != nil {
		t.Fatal(err)
	}
	var relay *tracepb.Span
	for _, s := range rcv.trace(streamTrace) {
		if s.Name == llm.SpanStreamRelay {
			relay = s
		}
	}
	if relay == nil {
		t.Fatalf("no %s span in %v", llm.SpanStreamRelay, names(rcv.trace(streamTrace)))
	}
	if ev, _ := attr(relay, "llmrouter.events"); ev == "" || ev == "0" {
		t.Errorf("relay span events = %q", ev)
	}
	var row logRow
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) && row.RequestID == ""; time.Sleep(10 * time.Millisecond) {
		_, _, b := call(t, base, "GET", "/admin/requests?q="+h["x-request-id"], "", "")
		var p logPage
		_ = json.Unmarshal([]byte(b), &p)
		if len(p.Data) == 1 {
			row = p.Data[0]
		}
	}
	if !row.Stream || row.TTFTMillis <= 0 || row.TraceID != streamTrace || len(row.Attempts) != 3 {
		t.Errorf("stream row: %+v", row)
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

type logRow = llm.RequestRecord

type logPage struct {
	Data       []logRow `json:"data"`
	NextCursor string   `json:"next_cursor"`
}

// gathered returns the value of a counter in the app's registry.
func gathered(t *testing.T, a *app, name string) float64 {
	t.Helper()
	mfs, err := a.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.Metric) > 0 {
			return mf.Metric[0].GetCounter().GetValue()
		}
	}
	return 0
}

func TestRequestLogRecordsEveryOutcome(t *testing.T) {
	bad := fake.Start(t, fake.OpenAI(fake.OpenAIOptions{Fault: fake.AlwaysFails500()}))
	good := fake.Start(t, fake.OpenAI(fake.OpenAIOptions{Model: "m-good"}))
	env := map[string]string{"KEY_A": "key-a-0123456789", "KEY_B": "key-b-0123456789", "ADMIN": "admin-0123456789"}
	chain := "{chain: [{provider: good, model: m-good}]}"
	a, base := startApp(t, fmt.Sprintf(`
auth:
  mode: keys
  keys:
    - {tenant: a, key_env: KEY_A, log_prompt_chars: 24}
    - {tenant: b, key_env: KEY_B}
  admin_keys:
    - {tenant: ops, key_env: ADMIN}
providers:
  - {name: bad, type: openai, base_url: "%s/v1"}
  - {name: good, type: openai, base_url: "%s/v1"}
models:
  chat: [{provider: bad, model: m-bad}, {provider: good, model: m-good}]
routing:
  retry: {max_attempts_per_target: 1}
  tiers: {small: %s, medium: %s, large: %s}
cache:
  exact: {enabled: true}
  semantic: {enabled: true}
  embedder: {type: lexical}
prices:
  m-good: {input: 3, output: 15}
request_log: {flush_interval: 10ms}
`, bad.URL, good.URL, chain, chain, chain), env)

	msg := func(model, text string) string {
		return fmt.Sprintf(`{"model":%q,"messages":[{"role":"user","content":%q}]}`, model, text)
	}
	const secretPrompt = "my key is sk-abcdef0123456789 please explain circuit breakers"
	ids := map[string]string{}
	do := func(name, key, body, wantCache string) {
		t.Helper()
		status, h, b := send(t, base, key, body)
		if status != 200 || h["x-llmrouter-cache"] != wantCache {
			t.Fatalf("%s: status %d cache %q (want %q): %s", name, status, h["x-llmrouter-cache"], wantCache, b)
		}
		ids[name] = h["x-request-id"]
	}
	do("routed miss", env["KEY_A"], msg("auto", secretPrompt), llm.CacheMiss)
	do("exact hit", env["KEY_A"], msg("auto", secretPrompt), llm.CacheExact)
	deadline := time.Now().Add(5 * time.Second)
	for gathered(t, a, "llmrouter_cache_semantic_written_total") < 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // semantic entries are written off the hot path
	}
	do("semantic hit", env["KEY_A"], msg("auto", secretPrompt+"."), llm.CacheSemantic)
	do("failover", env["KEY_B"], msg("chat", "tell tenant b a story about failover"), llm.CacheMiss)

	get := func(key, query string) (int, logPage) {
		t.Helper()
		status, _, body := call(t, base, "GET", "/admin/requests?"+query, key, "")
		var p logPage
		if status == 200 {
			if err := json.Unmarshal([]byte(body), &p); err != nil {
				t.Fatalf("%s: %v", body, err)
			}
		}
		return status, p
	}
	var all logPage
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if _, all = get(env["ADMIN"], ""); len(all.Data) >= 4 {
			break
		}
	}
	if len(all.Data) != 4 {
		t.Fatalf("admin sees %d rows, want 4", len(all.Data))
	}
	rows := map[string]logRow{}
	for _, r := range all.Data {
		rows[r.RequestID] = r
	}
	miss, exact, sem, fo := rows[ids["routed miss"]], rows[ids["exact hit"]], rows[ids["semantic hit"]], rows[ids["failover"]]
	t.Run("fields", func(t *testing.T) {
		if miss.Tenant != "a" || miss.API != "chat" || miss.Model != "auto" || miss.Tier == "" || len(miss.Reasons) == 0 ||
			miss.Cache != llm.CacheMiss || len(miss.Attempts) != 1 || miss.Attempts[0].Outcome != "ok" ||
			miss.UpstreamModel != "m-good" || miss.InputTokens == 0 || miss.OutputTokens == 0 || miss.CostUSD <= 0 ||
			miss.Status != 200 || miss.LatencyMillis <= 0 || miss.KeyID == "" {
			t.Errorf("routed miss row: %+v", miss)
		}
		if exact.Cache != llm.CacheExact || len(exact.Attempts) != 0 || exact.CostUSD != 0 || exact.SavedUSD <= 0 {
			t.Errorf("exact hit row: %+v", exact)
		}
		if sem.Cache != llm.CacheSemantic || sem.Similarity < 0.9 || len(sem.Attempts) != 0 || sem.SavedUSD <= 0 {
			t.Errorf("semantic hit row: %+v", sem)
		}
		if fo.Tenant != "b" || fo.Tier != "" || len(fo.Attempts) != 2 || fo.Attempts[0].Provider != "bad" ||
			fo.Attempts[0].Status != 500 || fo.Attempts[0].Reason != "failover" || fo.Attempts[1].Outcome != "ok" ||
			fo.Provider != "good" || fo.Status != 200 {
			t.Errorf("failover row: %+v", fo)
		}
	})
	t.Run("prompt text only when opted in, redacted", func(t *testing.T) {
		if want := "my key is sk-*** please "; miss.Prompt != want {
			t.Errorf("opted-in prompt = %q, want %q", miss.Prompt, want)
		}
		if fo.Prompt != "" {
			t.Errorf("tenant b did not opt in, but its row has prompt %q", fo.Prompt)
		}
	})
	t.Run("filters", func(t *testing.T) {
		for _, tc := range []struct {
			query string
			want  []string
		}{
			{"cache=exact", []string{ids["exact hit"]}},
			{"cache=semantic", []string{ids["semantic hit"]}},
			{"tenant=b", []string{ids["failover"]}},
			{"model=chat", []string{ids["failover"]}},
			{"model=m-good&tenant=a&cache=miss", []string{ids["routed miss"]}},
			{"tier=" + miss.Tier + "&cache=miss", []string{ids["routed miss"]}},
			{"status=5xx", nil},
			{"status=200&tenant=b", []string{ids["failover"]}},
			{"min_cost=0.000001&tenant=a", []string{ids["routed miss"]}},
			{"q=" + ids["semantic hit"], []string{ids["semantic hit"]}},
			{"q=BAD", nil},
			{"from=" + time.Now().Add(time.Hour).UTC().Format(time.RFC3339), nil},
		} {
			status, p := get(env["ADMIN"], tc.query)
			var got []string
			for _, r := range p.Data {
				got = append(got, r.RequestID)
			}
			if status != 200 || fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("%s: status %d rows %v, want %v", tc.query, status, got, tc.want)
			}
		}
		if status, _ := get(env["ADMIN"], "tier=huge"); status != 400 {
			t.Errorf("bad tier: status %d, want 400", status)
		}
	})
	t.Run("cursor pagination", func(t *testing.T) {
		var seen []string
		q := "limit=3"
		for i := 0; i < 3; i++ {
			_, p := get(env["ADMIN"], q)
			for _, r := range p.Data {
				seen = append(seen, r.RequestID)
			}
			if p.NextCursor == "" {
				break
			}
			q = "limit=3&cursor=" + p.NextCursor
		}
		if len(seen) != 4 || fmt.Sprint(seen) != fmt.Sprint(ids4(all.Data)) {
			t.Errorf("pages = %v, want %v", seen, ids4(all.Data))
		}
	})
	t.Run("a tenant key sees only its own rows", func(t *testing.T) {
		for _, q := range []string{"", "tenant=a"} {
			_, p := get(env["KEY_B"], q)
			if len(p.Data) != 1 || p.Data[0].Tenant != "b" {
				t.Errorf("tenant b with %q sees %v", q, p.Data)
			}
		}
		if status, _ := get("wrong-key-000000", ""); status != 401 {
			t.Errorf("bad key: %d", status)
		}
	})
	t.Run("the dashboard's Requests view in headless Chromium", func(t *testing.T) {
		checkRequestsView(t, base, env["ADMIN"], fo)
	})
}

func ids4(rows []logRow) []string {
	var out []string
	for _, r := range rows {
		out = append(out, r.RequestID)
	}
	return out
}
