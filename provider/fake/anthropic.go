package fake

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"unicode"

	"github.com/valyala/fasthttp"
)

// AnthropicOptions configures the fake Anthropic Messages API served by
// Anthropic. The zero value echoes the last user message.
type AnthropicOptions struct {
	// Model is the snapshot name put in answers. Default: the requested
	// model with "-20250929" appended, unless it already ends in a date,
	// so that callers never compare the answer's model with the request's.
	Model string
	// APIKey, when set, must equal the x-api-key header (else 401
	// authentication_error). A missing x-api-key is always a 401.
	APIKey string
	// ToolUse, when set, makes the model call that tool whenever the
	// request offers a tool of that name, tool_choice is not "none", and
	// the last user turn does not already carry tool results.
	ToolUse *AnthropicToolUse
	// Thinking, when set, opens every answer with a thinking block of this
	// text (plus a signature). A request with thinking enabled gets a
	// thinking block even when it is empty.
	Thinking string
	// MaxPromptChars, when > 0, rejects requests whose text is longer with
	// 400 "prompt is too long: N tokens > M maximum".
	MaxPromptChars int

	// Overloaded529 answers every request with 529 overloaded_error.
	Overloaded529 bool
	// RateLimited429 answers every request with 429 rate_limit_error and a
	// retry-after of RetryAfterSeconds (default 1).
	RateLimited429    bool
	RetryAfterSeconds int
	// ErrorEventMidStream sends an overloaded_error event after the first
	// two text deltas of a stream, then ends the body.
	ErrorEventMidStream bool
	// CutMidStream ends a stream's body (and closes the connection) after
	// the first two text deltas, without message_delta or message_stop.
	CutMidStream bool

	// OnRequest, when set, gets a copy of every request body before it is
	// validated. It is called from the server's goroutines.
	OnRequest func(body []byte)
}

// AnthropicToolUse is the tool call the fake model makes.
type AnthropicToolUse struct {
	Name string
	// Input is the call's input object; nil or {} is a call without
	// arguments (streamed as a single "" input_json_delta, like the API).
	Input json.RawMessage
}

// Anthropic returns a handler speaking POST /v1/messages like the real API
// (see /work/shared/fixtures/anthropic): compact JSON answers; streams with
// event names equal to payload types, payloads padded with spaces before
// their last brace, pings between and inside blocks, content-type
// text/event-stream; charset=utf-8 and cache-control: no-cache. It
// validates requests like the API does (max_tokens required, roles
// alternate, tool_result answers the previous turn's tool_use, no trailing
// whitespace in a final assistant turn, no unknown fields) and answers 400
// invalid_request_error in the API's error shape when a rule is broken.
// Answers are deterministic: "echo: " + the last user text, the continuation
// of a prefill, a tool call (ToolUse), or "tool results: ..." after tool
// results. stop_sequences and max_tokens (counted in words) are honoured.
func Anthropic(o AnthropicOptions) fasthttp.RequestHandler {
	var seq atomic.Int64
	return func(ctx *fasthttp.RequestCtx) {
		n := seq.Add(1)
		reqID := fmt.Sprintf("req_fake_%06d", n)
		ctx.Response.Header.Set("request-id", reqID)
		if o.OnRequest != nil {
			o.OnRequest(append([]byte(nil), ctx.PostBody()...))
		}
		if string(ctx.Path()) != "/v1/messages" {
			anthropicError(ctx, fasthttp.StatusNotFound, "not_found_error", "Not Found", reqID)
			return
		}
		if !ctx.IsPost() {
			anthropicError(ctx, fasthttp.StatusMethodNotAllowed, "invalid_request_error", "Method Not Allowed", reqID)
			return
		}
		key := string(ctx.Request.Header.Peek("x-api-key"))
		switch {
		case key == "":
			anthropicError(ctx, fasthttp.StatusUnauthorized, "authentication_error", "x-api-key header is required", reqID)
			return
		case o.APIKey != "" && key != o.APIKey:
			anthropicError(ctx, fasthttp.StatusUnauthorized, "authentication_error", "invalid x-api-key", reqID)
			return
		}
		if len(ctx.Request.Header.Peek("anthropic-version")) == 0 {
			anthropicError(ctx, fasthttp.StatusBadRequest, "invalid_request_error", "anthropic-version: header is required", reqID)
			return
		}
		switch {
		case o.Overloaded529:
			anthropicError(ctx, 529, "overloaded_error", "Overloaded", reqID)
			return
		case o.RateLimited429:
			secs := o.RetryAfterSeconds
			if secs <= 0 {
				secs = 1
			}
			ctx.Response.Header.Set("retry-after", strconv.Itoa(secs))
			anthropicError(ctx, fasthttp.StatusTooManyRequests, "rate_limit_error",
				"This request would exceed your organization's rate limit. Please try again later.", reqID)
			return
		}
		req, err := parseMessagesRequest(ctx.PostBody())
		if err == nil {
			err = validateMessagesRequest(req)
		}
		if err == nil && o.MaxPromptChars > 0 && req.promptChars > o.MaxPromptChars {
			err = fmt.Errorf("prompt is too long: %d tokens > %d maximum", req.promptChars/4+1, o.MaxPromptChars/4)
		}
		if err != nil {
			anthropicError(ctx, fasthttp.StatusBadRequest, "invalid_request_error", err.Error(), reqID)
			return
		}
		a := answerFor(req, &o, n)
		if req.Stream {
			streamAnswer(ctx, a, &o)
			return
		}
		b, _ := json.Marshal(a.message())
		ctx.SetContentType("application/json")
		ctx.SetBody(b)
	}
}

// anthropicError writes the API's error shape with its headers.
func anthropicError(ctx *fasthttp.RequestCtx, status int, errType, msg, reqID string) {
	b, _ := json.Marshal(map[string]any{
		"type":       "error",
		"error":      map[string]string{"type": errType, "message": msg},
		"request_id": reqID,
	})
	retry := status == fasthttp.StatusTooManyRequests || status == 529 || status >= 500 || status == fasthttp.StatusConflict
	ctx.Response.Header.Set("x-should-retry", strconv.FormatBool(retry))
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
}

// fakeAnswer is the model's deterministic answer to one request.
type fakeAnswer struct {
	id, model    string
	thinking     []string // pieces
	text         []string // pieces, one per output "token"
	tool         *AnthropicToolUse
	toolID       string
	stopReason   string
	stopSequence *string
	inputTokens  int
}

func answerFor(r *fakeRequest, o *AnthropicOptions, n int64) *fakeAnswer {
	a := &fakeAnswer{
		id:          fmt.Sprintf("msg_fake_%06d", n),
		model:       snapshotName(r.Model, o.Model),
		inputTokens: r.promptChars/4 + 1,
		stopReason:  "end_turn",
	}
	if o.Thinking != "" || r.thinkingEnabled {
		t := o.Thinking
		if t == "" {
			t = "Let me think about: " + r.lastUserText
		}
		a.thinking = wordPieces(t)
	}
	full := "echo: " + r.lastUserText
	switch {
	case len(r.lastToolResults) > 0:
		full = "tool results: " + strings.Join(r.lastToolResults, "; ")
	case o.ToolUse != nil && r.offersTool(o.ToolUse.Name) && r.toolChoice != "none":
		a.tool = o.ToolUse
		a.toolID = fmt.Sprintf("toolu_fake_%06d", n)
		full = "Calling " + o.ToolUse.Name + "."
		a.stopReason = "tool_use"
	}
	if r.images > 0 {
		full += fmt.Sprintf(" (+%d images)", r.images)
	}
	text := full
	if r.prefill != "" {
		// The API returns only the continuation of the final assistant turn.
		if rest, ok := strings.CutPrefix(full, r.prefill); ok {
			text = rest
		} else {
			text = " (continued)"
		}
	}
	for _, s := range r.StopSequences {
		if i := strings.Index(text, s); i >= 0 && a.tool == nil {
			text = text[:i]
			a.stopReason = "stop_sequence"
			a.stopSequence = &s
			break
		}
	}
	a.text = wordPieces(text)
	if r.MaxTokens != nil && len(a.text) > *r.MaxTokens {
		a.text = a.text[:*r.MaxTokens]
		a.stopReason = "max_tokens"
		a.tool = nil
		a.stopSequence = nil
	}
	return a
}

// snapshotName returns the dated model name the answer reports.
func snapshotName(requested, configured string) string {
	if configured != "" {
		return configured
	}
	if i := strings.LastIndexByte(requested, '-'); i >= 0 && len(requested)-i-1 == 8 {
		if _, err := strconv.Atoi(requested[i+1:]); err == nil {
			return requested
		}
	}
	return requested + "-20250929"
}

// wordPieces splits s into pieces that each end after a run of spaces.
func wordPieces(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' && (i+1 == len(s) || s[i+1] != ' ') {
			out = append(out, s[start:i+1])
			start = i + 1
		}
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}

func (a *fakeAnswer) toolInput() json.RawMessage {
	if a.tool == nil || len(bytes.TrimSpace(a.tool.Input)) == 0 {
		return json.RawMessage(`{}`)
	}
	var buf bytes.Buffer
	if json.Compact(&buf, a.tool.Input) != nil {
		return json.RawMessage(`{}`)
	}
	return buf.Bytes()
}

func (a *fakeAnswer) outputTokens() int {
	n := len(a.text) + len(a.thinking)
	if a.tool != nil {
		n += len(a.toolInput())/4 + 1
	}
	return max(n, 1)
}

func (a *fakeAnswer) usage(output int) map[string]any {
	return map[string]any{
		"input_tokens":                a.inputTokens,
		"cache_creation_input_tokens": 0,
		"cache_read_input_tokens":     0,
		"cache_creation":              map[string]int{"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
		"output_tokens":               output,
		"service_tier":                "standard",
	}
}

// message is the non-streamed Message.
func (a *fakeAnswer) message() map[string]any {
	content := []map[string]any{}
	if a.thinking != nil {
		content = append(content, map[string]any{"type": "thinking", "thinking": strings.Join(a.thinking, ""), "signature": fakeSignature})
	}
	if t := strings.Join(a.text, ""); t != "" {
		content = append(content, map[string]any{"type": "text", "text": t})
	}
	if a.tool != nil {
		content = append(content, map[string]any{"type": "tool_use", "id": a.toolID, "name": a.tool.Name,
			"input": a.toolInput(), "caller": map[string]string{"type": "direct"}})
	}
	return map[string]any{
		"model": a.model, "id": a.id, "type": "message", "role": "assistant",
		"content": content, "stop_reason": a.stopReason, "stop_sequence": a.stopSequence,
		"usage": a.usage(a.outputTokens()),
	}
}

// fakeSignature stands in for a thinking block's signature; it must never
// reach an OpenAI client.
const fakeSignature = "RmFrZVNpZ25hdHVyZURvTm90TGVhaw=="

// streamAnswer writes the answer as the API's SSE stream.
func streamAnswer(ctx *fasthttp.RequestCtx, a *fakeAnswer, o *AnthropicOptions) {
	ctx.SetContentType("text/event-stream; charset=utf-8")
	ctx.Response.Header.Set("cache-control", "no-cache")
	errorMid, cut := o.ErrorEventMidStream, o.CutMidStream
	if cut {
		ctx.SetConnectionClose()
	}
	ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
		sw := &sseWriter{w: w}
		start := map[string]any{
			"model": a.model, "id": a.id, "type": "message", "role": "assistant", "content": []any{},
			"stop_reason": nil, "stop_sequence": nil, "usage": a.usage(1),
		}
		if !sw.event(map[string]any{"type": "message_start", "message": start}) || !sw.ping() {
			return
		}
		idx := 0
		if a.thinking != nil {
			if !sw.event(map[string]any{"type": "content_block_start", "index": idx,
				"content_block": map[string]any{"type": "thinking", "thinking": "", "signature": ""}}) {
				return
			}
			for _, p := range append(a.thinking, "") {
				if !sw.delta(idx, map[string]any{"type": "thinking_delta", "thinking": p}) {
					return
				}
			}
			if !sw.delta(idx, map[string]any{"type": "signature_delta", "signature": fakeSignature}) ||
				!sw.event(map[string]any{"type": "content_block_stop", "index": idx}) {
				return
			}
			idx++
		}
		if len(a.text) > 0 {
			if !sw.event(map[string]any{"type": "content_block_start", "index": idx,
				"content_block": map[string]any{"type": "text", "text": ""}}) {
				return
			}
			for i, p := range a.text {
				if i == 2 && (errorMid || cut) {
					if errorMid {
						sw.event(map[string]any{"type": "error", "error": map[string]string{"type": "overloaded_error", "message": "Overloaded"}})
					}
					return
				}
				if !sw.delta(idx, map[string]any{"type": "text_delta", "text": p}) {
					return
				}
				if i == 1 && !sw.ping() { // a ping in the middle of a block
					return
				}
			}
			if !sw.event(map[string]any{"type": "content_block_stop", "index": idx}) {
				return
			}
			idx++
		}
		if a.tool != nil {
			if !sw.event(map[string]any{"type": "content_block_start", "index": idx, "content_block": map[string]any{
				"type": "tool_use", "id": a.toolID, "name": a.tool.Name, "input": map[string]any{}}}) {
				return
			}
			frags := []string{""}
			if in := string(a.toolInput()); in != "{}" {
				for len(in) > 5 {
					frags = append(frags, in[:5])
					in = in[5:]
				}
				frags = append(frags, in)
			}
			for _, f := range frags {
				if !sw.delta(idx, map[string]any{"type": "input_json_delta", "partial_json": f}) {
					return
				}
			}
			if !sw.event(map[string]any{"type": "content_block_stop", "index": idx}) {
				return
			}
		}
		u := a.usage(a.outputTokens())
		delete(u, "cache_creation")
		delete(u, "service_tier")
		if !sw.event(map[string]any{"type": "message_delta",
			"delta": map[string]any{"stop_reason": a.stopReason, "stop_sequence": a.stopSequence}, "usage": u}) {
			return
		}
		sw.event(map[string]any{"type": "message_stop"})
	})
}

// sseWriter writes events as the API frames them and flushes each one.
type sseWriter struct {
	w *bufio.Writer
	n int
}

// event writes one event; it reports false when the client is gone.
func (s *sseWriter) event(payload map[string]any) bool {
	b, err := json.Marshal(payload)
	if err != nil {
		return false
	}
	// The API pads most payloads with spaces before the last brace.
	s.n++
	if pad := (s.n * 7) % 16; pad > 2 {
		b = append(b[:len(b)-1:len(b)-1], append(bytes.Repeat([]byte(" "), pad), '}')...)
	}
	fmt.Fprintf(s.w, "event: %s\ndata: %s\n\n", payload["type"], b)
	return s.w.Flush() == nil
}

func (s *sseWriter) delta(idx int, d map[string]any) bool {
	return s.event(map[string]any{"type": "content_block_delta", "index": idx, "delta": d})
}

func (s *sseWriter) ping() bool {
	_, _ = s.w.WriteString("event: ping\ndata: {\"type\": \"ping\"}\n\n")
	return s.w.Flush() == nil
}

// trailingSpace reports whether s ends in whitespace.
func trailingSpace(s string) bool {
	return s != "" && strings.TrimRightFunc(s, unicode.IsSpace) != s
}
