package llm

import (
	"context"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// hooked is one layer's work wrapped in every tracing hook a layer uses:
// a span with attributes, an error, and trace propagation.
func hooked(ctx context.Context, work func(context.Context), h HeaderSetter) {
	ctx, sp := StartSpan(ctx, SpanAttempt)
	if sp.Recording() {
		sp.SetString("gen_ai.system", "expensive-"+strconv.Itoa(1))
	}
	work(ctx)
	sp.SetString("gen_ai.request.model", "m")
	sp.SetInt("http.response.status_code", 200)
	sp.SetFloat("llmrouter.score", 0.5)
	sp.SetError(nil)
	InjectTrace(ctx, h)
	_ = sp.TraceID()
	sp.End()
}

// TestTracingOffAddsNoAllocations: with no tracer in the context, the hooks
// cost nothing: a layer's work allocates exactly as much with them as
// without them.
func TestTracingOffAddsNoAllocations(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.WithValue(context.Background(), struct{ k int }{1}, "v"), time.Minute)
	defer cancel()
	h := http.Header{}
	var sink []byte
	work := func(context.Context) { sink = strconv.AppendInt(make([]byte, 0, 32), 42, 10) }
	without := testing.AllocsPerRun(1000, func() { work(ctx) })
	with := testing.AllocsPerRun(1000, func() { hooked(ctx, work, h) })
	if with != without {
		t.Errorf("tracing off: %v allocations per run with the hooks, %v without", with, without)
	}
	if len(h) != 0 || len(sink) == 0 {
		t.Errorf("tracing off injected headers %v", h)
	}
}

type fakeTracer struct{ spans []*fakeSpan }

type fakeSpan struct {
	name  string
	attrs map[string]any
	ended int
	err   string
}

func (f *fakeTracer) Start(ctx context.Context, name string) (context.Context, SpanRecorder) {
	s := &fakeSpan{name: name, attrs: map[string]any{}}
	f.spans = append(f.spans, s)
	return ctx, s
}
func (f *fakeTracer) Inject(_ context.Context, h HeaderSetter) { h.Set("traceparent", "00-x") }
func (s *fakeSpan) SetString(k, v string)                      { s.attrs[k] = v }
func (s *fakeSpan) SetInt(k string, v int64)                   { s.attrs[k] = v }
func (s *fakeSpan) SetFloat(k string, v float64)               { s.attrs[k] = v }
func (s *fakeSpan) SetError(kind, msg string)                  { s.err = kind }
func (s *fakeSpan) End()                                       { s.ended++ }

func TestTracingOnReachesTheTracer(t *testing.T) {
	ft := &fakeTracer{}
	ctx := WithTracer(context.Background(), ft)
	h := http.Header{}
	hooked(ctx, func(context.Context) {}, h)
	_, sp := StartSpan(ctx, SpanClassify)
	sp.SetError(&Error{Kind: KindTimeout, Message: "slow"})
	sp.End()
	if len(ft.spans) != 2 || ft.spans[0].name != SpanAttempt || ft.spans[0].ended != 1 ||
		ft.spans[0].attrs["http.response.status_code"] != int64(200) || ft.spans[1].err != "timeout" {
		t.Errorf("spans: %+v %+v", ft.spans[0], ft.spans[1])
	}
	if h.Get("traceparent") != "00-x" {
		t.Errorf("inject: %v", h)
	}
	if WithTracer(context.Background(), nil) != context.Background() {
		t.Error("WithTracer(nil) changed the context")
	}
}
