package proxy

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/valyala/fasthttp"

	"llmrouter/llm"
)

// repeatJSON returns n copies of item joined by commas.
func repeatJSON(item string, n int) string {
	var b strings.Builder
	b.Grow((len(item) + 1) * n)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(item)
	}
	return b.String()
}

const userMsg = `{"role":"user","content":"hi"}`

// TestHostileInputsGet4xxInOpenAIShapeWithBoundedMemory sends what an
// attacker or a broken client sends. Every case gets a 4xx in the OpenAI
// error shape, never reaches the Completer, and allocates at most a stated
// multiple of its body on the server (runtime.MemStats.TotalAlloc, a count,
// not a timing).
func TestHostileInputsGet4xxInOpenAIShapeWithBoundedMemory(t *testing.T) {
	c := &cannedCompleter{resp: cannedResponse()}
	h := start(t, Options{Completer: c})
	deep := strings.Repeat("[", 200000) + strings.Repeat("]", 200000)
	cases := []struct {
		name   string
		body   string
		hdr    []string
		status int
		param  string
	}{
		{"huge n", `{"model":"auto","n":1125899906842624,"messages":[` + userMsg + `]}`, nil, 400, "n"},
		{"a million n", `{"model":"auto","n":1000000,"messages":[` + userMsg + `]}`, nil, 400, "n"},
		{"n over the int range", `{"model":"auto","n":1e300,"messages":[` + userMsg + `]}`, nil, 400, "n"},
		{"huge max_tokens", `{"model":"auto","max_tokens":9007199254740993,"messages":[` + userMsg + `]}`, nil, 400, "max_tokens"},
		{"huge max_completion_tokens", `{"model":"auto","max_completion_tokens":100000000,"messages":[` + userMsg + `]}`, nil, 400, "max_completion_tokens"},
		{"100k messages", `{"model":"auto","messages":[` + repeatJSON(userMsg, 100000) + `]}`, nil, 400, "messages"},
		{"1M stop strings", `{"model":"auto","stop":[` + repeatJSON(`"a"`, 1000000) + `],"messages":[` + userMsg + `]}`, nil, 400, "stop"},
		{"a 1 MiB stop string", `{"model":"auto","stop":"` + strings.Repeat("x", 1<<20) + `","messages":[` + userMsg + `]}`, nil, 400, "stop[0]"},
		{"10k tools", `{"model":"auto","tools":[` + repeatJSON(`{"type":"function","function":{"name":"f"}}`, 10000) + `],"messages":[` + userMsg + `]}`, nil, 400, "tools"},
		{"100k content parts", `{"model":"auto","messages":[{"role":"user","content":[` + repeatJSON(`{"type":"text","text":"a"}`, 100000) + `]}]}`, nil, 400, "messages[0].content"},
		{"deep nesting in an unknown field", `{"model":"auto","x":` + deep + `,"messages":[` + userMsg + `]}`, nil, 400, ""},
		{"deep nesting in response_format", `{"model":"auto","response_format":` + deep + `,"messages":[` + userMsg + `]}`, nil, 400, ""},
		{"invalid UTF-8 in content", "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":\"caf\xe9 \xff\"}]}", nil, 400, ""},
		{"invalid UTF-8 in a key", "{\"model\":\"auto\",\"\xc3\x28\":1,\"messages\":[" + userMsg + "]}", nil, 400, ""},
		{"raw NUL in a string", "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":\"a\x00b\"}]}", nil, 400, ""},
		{"raw NUL between tokens", "{\"model\":\"auto\",\x00\"messages\":[" + userMsg + "]}", nil, 400, ""},
		{"duplicate top-level key", `{"model":"auto","model":"gpt-4o","messages":[` + userMsg + `]}`, nil, 400, ""},
		{"duplicate key in a message", `{"model":"auto","messages":[{"role":"user","role":"system","content":"hi"}]}`, nil, 400, ""},
		{"duplicate escaped key", `{"model":"auto","messages":[` + userMsg + `],"\u006dodel":"x"}`, nil, 400, ""},
		{"unknown content part type", `{"model":"auto","messages":[{"role":"user","content":[{"type":"hologram","data":"x"}]}]}`, nil, 400, "messages[0].content[0].type"},
		{"content part without a type", `{"model":"auto","messages":[{"role":"user","content":[{"text":"x"}]}]}`, nil, 400, "messages[0].content[0].type"},
		{"oversized header", `{"model":"auto","messages":[` + userMsg + `]}`, []string{"X-Junk", strings.Repeat("j", 20<<10)}, 431, ""},
		{"oversized authorization header", `{"model":"auto","messages":[` + userMsg + `]}`, []string{"Authorization", "Bearer " + strings.Repeat("k", 20<<10)}, 431, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := c.requests
			h.c.CloseIdleConnections() // a 4xx may close the connection
			var m0, m1 runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&m0)
			var resp *http.Response
			var body string
			if tc.status == fasthttp.StatusRequestHeaderFieldsTooLarge {
				// The server answers 431 and closes while the client may
				// still be writing the head: read the answer concurrently.
				resp, body = h.doRacingClose(tc.body, tc.hdr...)
			} else {
				resp, body = h.do("POST", "/v1/chat/completions", tc.body, tc.hdr...)
			}
			runtime.ReadMemStats(&m1)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %.300s", resp.StatusCode, tc.status, body)
			}
			_, typ, param, _ := openAIError(t, body)
			if typ != "invalid_request_error" {
				t.Errorf("type %q, want invalid_request_error", typ)
			}
			if tc.param != "" && str(param) != tc.param {
				t.Errorf("param %s, want %s", str(param), tc.param)
			}
			if c.requests != before {
				t.Errorf("the Completer was called for a hostile request")
			}
			// The test's own client (net/http, reading the body from a
			// strings.Reader) allocates little; the server reads the body
			// into its buffer (grown by doubling: about 2x the body) and
			// counts messages, parts, tools and stop strings before
			// decoding (llm.Limits.CheckBody), so a body of 100,000 tiny
			// messages is refused without building one Message. 3x the
			// body plus 4 MiB bounds that. (Decoding first cost about 40
			// bytes per body byte: the bound was 48x before CheckBody.)
			bound := uint64(3*len(tc.body) + 4<<20)
			t.Logf("allocated %.2fx the body", float64(m1.TotalAlloc-m0.TotalAlloc)/float64(len(tc.body)))
			if got := m1.TotalAlloc - m0.TotalAlloc; got > bound {
				t.Errorf("allocated %d bytes for a %d-byte body, bound %d", got, len(tc.body), bound)
			}
		})
	}
	// The server still answers a good request afterwards.
	if resp, body := h.do("POST", "/v1/chat/completions", chatBody); resp.StatusCode != 200 {
		t.Fatalf("after the hostile inputs: %d %s", resp.StatusCode, body)
	}
}

// TestLimitsAreConfigurable: a lower configured limit applies, with the
// limit in the message.
func TestLimitsAreConfigurable(t *testing.T) {
	h := start(t, Options{Completer: &cannedCompleter{resp: cannedResponse()}, Limits: llm.Limits{MaxN: 2, MaxMessages: 2}})
	for _, tc := range []struct {
		body, param string
		status      int
	}{
		{`{"model":"auto","n":2,"messages":[` + userMsg + `]}`, "", 200},
		{`{"model":"auto","n":3,"messages":[` + userMsg + `]}`, "n", 400},
		{`{"model":"auto","messages":[` + repeatJSON(userMsg, 3) + `]}`, "messages", 400},
	} {
		resp, body := h.do("POST", "/v1/chat/completions", tc.body)
		if resp.StatusCode != tc.status {
			t.Fatalf("%s: status %d, want %d: %s", tc.body, resp.StatusCode, tc.status, body)
		}
		if tc.status == 400 {
			msg, _, param, code := openAIError(t, body)
			if str(param) != tc.param || str(code) != "limit_exceeded" || !strings.Contains(msg, "limit of 2") {
				t.Errorf("%s: param %s code %s msg %q", tc.body, str(param), str(code), msg)
			}
		}
	}
}

// panickingCompleter panics in Complete on its first call, and in the
// stream's Recv, then behaves.
type panickingCompleter struct {
	calls int
}

func (p *panickingCompleter) Complete(_ context.Context, r *llm.Request) (*llm.Response, error) {
	p.calls++
	if p.calls == 1 {
		var choices []llm.Choice
		_ = choices[r.MaxOutputTokens()+5] // index out of range, like the simulator's make([]Choice, n)
	}
	return cannedResponse(), nil
}

func (p *panickingCompleter) Stream(context.Context, *llm.Request) (llm.Stream, error) {
	return panicStream{}, nil
}

type panicStream struct{}

func (panicStream) Recv() (*llm.Chunk, error) { panic("stream exploded") }
func (panicStream) Close() error              { return nil }

// TestPanicIsA500ForThatRequestOnly: a Completer that panics gives that
// request a 500 in the OpenAI shape, logs the stack, counts the panic, and
// the next request succeeds. A panic while streaming ends that stream with
// an error event.
func TestPanicIsA500ForThatRequestOnly(t *testing.T) {
	var logs syncBuffer
	pc := &panickingCompleter{}
	h := start(t, Options{Completer: pc, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	resp, body := h.do("POST", "/v1/chat/completions", chatBody)
	if resp.StatusCode != 500 {
		t.Fatalf("status %d, want 500: %s", resp.StatusCode, body)
	}
	msg, typ, _, code := openAIError(t, body)
	if typ != "server_error" || str(code) != "internal_error" || strings.Contains(msg, "index out of range") {
		t.Errorf("panic answer: %s", body)
	}
	if resp.Header.Get("x-request-id") == "" {
		t.Error("the 500 lacks x-request-id")
	}
	if resp, body := h.do("POST", "/v1/chat/completions", chatBody); resp.StatusCode != 200 {
		t.Fatalf("the request after the panic: %d %s", resp.StatusCode, body)
	}
	resp, body = h.do("POST", "/v1/chat/completions", `{"model":"auto","stream":true,"messages":[`+userMsg+`]}`)
	if resp.StatusCode != 200 || !strings.Contains(body, `"internal_error"`) || strings.Contains(body, "[DONE]") {
		t.Fatalf("panicking stream: %d %s", resp.StatusCode, body)
	}
	if resp, _ := h.do("POST", "/v1/chat/completions", chatBody); resp.StatusCode != 200 {
		t.Fatalf("the request after the stream panic: %d", resp.StatusCode)
	}
	logs.mu.Lock()
	out := logs.b.String()
	logs.mu.Unlock()
	if !strings.Contains(out, "panic while serving a request") || !strings.Contains(out, "goroutine ") ||
		!strings.Contains(out, `"where":"handler"`) || !strings.Contains(out, `"where":"stream_recv"`) {
		t.Errorf("log lacks the panics with stacks:\n%.2000s", out)
	}
	var dm dto.Metric
	_ = h.s.m.panics.WithLabelValues("handler").Write(&dm)
	if got := dm.GetCounter().GetValue(); got != 1 {
		t.Errorf("panics{handler} = %v, want 1", got)
	}
	if h.s.inFlight.Load() != 0 {
		t.Errorf("in flight after the panics: %d", h.s.inFlight.Load())
	}
}

// doRacingClose sends a chat request over a fresh in-memory connection,
// writing it on its own goroutine and reading the answer at the same time,
// so that a server that answers and closes before the whole request is
// written (431 on an oversized head) is still read, not seen as a broken
// connection.
func (h *harness) doRacingClose(body string, hdr ...string) (*http.Response, string) {
	h.t.Helper()
	conn, err := h.ln.Dial()
	if err != nil {
		h.t.Fatal(err)
	}
	defer conn.Close()
	var req strings.Builder
	req.WriteString("POST /v1/chat/completions HTTP/1.1\r\nHost: proxy.test\r\nContent-Type: application/json\r\n")
	auth := "Bearer " + testKey
	for i := 0; i+1 < len(hdr); i += 2 {
		if strings.EqualFold(hdr[i], "Authorization") {
			auth = hdr[i+1]
			continue
		}
		req.WriteString(hdr[i] + ": " + hdr[i+1] + "\r\n")
	}
	req.WriteString("Authorization: " + auth + "\r\n")
	req.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body)
	wrote := make(chan struct{})
	go func() { // owner: this call; ends when the write ends or the conn closes
		defer close(wrote)
		_, _ = io.WriteString(conn, req.String())
	}()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		h.t.Fatalf("read the answer: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	conn.Close()
	<-wrote
	return resp, string(b)
}

// TestLimitsOnMessagesAndResponses: the Messages and Responses APIs refuse
// what is over the limits, in their own error shapes, before decoding for
// counted arrays (memory stays a small multiple of the body), and never
// call the Completer.
func TestLimitsOnMessagesAndResponses(t *testing.T) {
	c := &cannedCompleter{resp: cannedResponse()}
	h := start(t, Options{Completer: c})
	amsg := `{"role":"user","content":"hi"}`
	cases := []struct {
		name, path, body, param string
	}{
		{"messages: 100k messages", "/v1/messages", `{"model":"auto","max_tokens":10,"messages":[` + repeatJSON(amsg, 100000) + `]}`, "messages"},
		{"messages: 100k content blocks", "/v1/messages", `{"model":"auto","max_tokens":10,"messages":[{"role":"user","content":[` + repeatJSON(`{"type":"text","text":"a"}`, 100000) + `]}]}`, "messages[0].content"},
		{"messages: huge max_tokens", "/v1/messages", `{"model":"auto","max_tokens":100000000,"messages":[` + amsg + `]}`, "max_tokens"},
		{"messages: 1M stop sequences", "/v1/messages", `{"model":"auto","max_tokens":10,"stop_sequences":[` + repeatJSON(`"a"`, 1000000) + `],"messages":[` + amsg + `]}`, "stop_sequences"},
		{"messages: 10k tools", "/v1/messages", `{"model":"auto","max_tokens":10,"tools":[` + repeatJSON(`{"name":"f","input_schema":{"type":"object"}}`, 10000) + `],"messages":[` + amsg + `]}`, "tools"},
		{"count_tokens: 100k messages", "/v1/messages/count_tokens", `{"model":"auto","messages":[` + repeatJSON(amsg, 100000) + `]}`, "messages"},
		{"responses: 100k input items", "/v1/responses", `{"model":"auto","input":[` + repeatJSON(`{"role":"user","content":"hi"}`, 100000) + `]}`, "input"},
		{"responses: huge max_output_tokens", "/v1/responses", `{"model":"auto","max_output_tokens":100000000,"input":"hi"}`, "max_output_tokens"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := c.requests
			var m0, m1 runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&m0)
			resp, body := h.do("POST", tc.path, tc.body)
			runtime.ReadMemStats(&m1)
			if resp.StatusCode != 400 {
				t.Fatalf("status %d, want 400: %.300s", resp.StatusCode, body)
			}
			if strings.HasPrefix(tc.path, "/v1/messages") {
				var e struct {
					Type  string `json:"type"`
					Error struct{ Type, Message string }
				}
				if err := json.Unmarshal([]byte(body), &e); err != nil || e.Type != "error" || e.Error.Type != "invalid_request_error" ||
					!strings.Contains(e.Error.Message, "limit of") {
					t.Fatalf("not an Anthropic limit error: %s", body)
				}
			} else {
				msg, typ, param, code := openAIError(t, body)
				if typ != "invalid_request_error" || str(param) != tc.param || str(code) != "limit_exceeded" || !strings.Contains(msg, "limit of") {
					t.Fatalf("type %s param %s code %s msg %q", typ, str(param), str(code), msg)
				}
			}
			if c.requests != before {
				t.Error("the Completer was called")
			}
			if got, bound := m1.TotalAlloc-m0.TotalAlloc, uint64(3*len(tc.body)+4<<20); got > bound {
				t.Errorf("allocated %d bytes for a %d-byte body, bound %d", got, len(tc.body), bound)
			}
		})
	}
}
