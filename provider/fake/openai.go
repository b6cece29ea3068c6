package fake

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"hash/fnv"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/valyala/fasthttp"

	"llmrouter/llm"
)

// OpenAIOptions configures the fake OpenAI upstream. The zero value is a
// well-behaved server that echoes the last user message.
type OpenAIOptions struct {
	// Model is the snapshot name answers report. "" means the requested
	// model plus "-2024-07-18", like the real API's dated snapshots.
	Model string
	// Answer returns the assistant text for a request. nil means
	// "echo: " + the last user message's text.
	Answer func(req *llm.Request) string
	// ToolCalls, when set, is the answer to every chat request instead of
	// text (finish_reason "tool_calls"; arguments are streamed in 5-byte
	// fragments keyed by index). Index fields are ignored.
	ToolCalls []llm.ToolCall
	// APIKey, when set, must arrive as "Authorization: Bearer <APIKey>",
	// else 401 invalid_api_key.
	APIKey string
	// Models are the known models: /v1/models lists them and, when set, a
	// chat or embeddings request for another model gets 404
	// model_not_found. Empty: every model is accepted, /v1/models lists
	// "gpt-4o-mini".
	Models []string
	// EmbeddingDim is the vector size of embeddings (default 8; a request's
	// dimensions overrides it).
	EmbeddingDim int
	// ChunkDelay is the pause between stream events (default none).
	ChunkDelay time.Duration
	// Fault is the misbehaviour (zero: none).
	Fault Fault
	// Recorder, when set, records every request.
	Recorder *Recorder
	// RejectInput, when set, makes an embeddings, legacy completions or
	// chat request (its last user message) fail whole with 400 invalid_request_error when any of its
	// inputs or prompts satisfies it, as the real API does for one input
	// that is too long.
	RejectInput func(input string) bool
}

// fakeCreated is the fixed "created" timestamp of every answer.
const fakeCreated = 1767225600

// OpenAI returns a handler speaking the OpenAI API under any prefix:
// POST .../chat/completions (stream and non-stream), POST .../embeddings
// (float and base64), GET .../models; other paths get 404. Errors use the
// OpenAI envelope {"error":{"message","type","param","code"}}.
//
// Answers are deterministic: the text is split into words (each chunk one
// word with its leading space); usage counts words (prompt: words of all
// messages plus 3 per message; completion: chunks); max_tokens or
// max_completion_tokens cut the answer to that many chunks with
// finish_reason "length". The response id is derived from the request.
func OpenAI(o OpenAIOptions) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		o.Recorder.record(ctx)
		if o.APIKey != "" && string(ctx.Request.Header.Peek("Authorization")) != "Bearer "+o.APIKey {
			OpenAIError(ctx, 401, "invalid_request_error", "invalid_api_key", "",
				"Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.")
			return
		}
		path := string(ctx.Path())
		switch {
		case strings.HasSuffix(path, "/chat/completions") && ctx.IsPost():
			o.chat(ctx)
		case strings.HasSuffix(path, "/embeddings") && ctx.IsPost():
			o.embeddings(ctx)
		case strings.HasSuffix(path, "/completions") && ctx.IsPost():
			o.legacyCompletions(ctx)
		case strings.HasSuffix(path, "/models") && ctx.IsGet():
			o.models(ctx)
		default:
			OpenAIError(ctx, 404, "invalid_request_error", "unknown_url", "", "Invalid URL ("+string(ctx.Method())+" "+path+")")
		}
	}
}

// OpenAIError writes an OpenAI error response; empty code and param are
// sent as null. It is an ErrorWriter.
func OpenAIError(ctx *fasthttp.RequestCtx, status int, errType, code, param, msg string) {
	type body struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	}
	b := body{Message: msg, Type: errType}
	if param != "" {
		b.Param = &param
	}
	if code != "" {
		b.Code = &code
	}
	out, _ := json.Marshal(map[string]body{"error": b})
	ctx.Response.Header.SetContentType("application/json; charset=utf-8")
	ctx.SetStatusCode(status)
	ctx.SetBody(out)
}

func (o *OpenAIOptions) knownModel(m string) bool {
	if len(o.Models) == 0 {
		return true
	}
	for _, k := range o.Models {
		if k == m {
			return true
		}
	}
	return false
}

func (o *OpenAIOptions) modelNotFound(ctx *fasthttp.RequestCtx, m string) {
	OpenAIError(ctx, 404, "invalid_request_error", "model_not_found", "",
		"The model `"+m+"` does not exist or you do not have access to it.")
}

func (o *OpenAIOptions) snapshot(m string) string {
	if o.Model != "" {
		return o.Model
	}
	return m + "-2024-07-18"
}

// answer is the deterministic content of one chat answer.
type answer struct {
	id, model string
	pieces    []string // text chunks; nil for tool calls
	tools     []llm.ToolCall
	finish    string
	usage     llm.Usage
}

func (o *OpenAIOptions) answerFor(req *llm.Request, body []byte) answer {
	h := fnv.New64a()
	h.Write(body)
	a := answer{id: "chatcmpl-fake" + hex64(h.Sum64()), model: o.snapshot(req.Model), finish: llm.FinishStop}
	prompt := 0
	for _, m := range req.Messages {
		prompt += 3 + len(strings.Fields(m.Content.Text()))
	}
	if len(o.ToolCalls) > 0 {
		a.tools = o.ToolCalls
		a.finish = llm.FinishToolCalls
		completion := 0
		for _, tc := range a.tools {
			completion += 1 + len(tc.Function.Arguments)/4
		}
		a.usage = usage(prompt, completion)
		return a
	}
	text := "echo: " + req.LastUserText()
	if o.Answer != nil {
		text = o.Answer(req)
	}
	a.pieces = splitWords(text)
	if limit := req.MaxOutputTokens(); limit > 0 && limit < len(a.pieces) {
		a.pieces = a.pieces[:limit]
		a.finish = llm.FinishLength
	}
	a.usage = usage(prompt, len(a.pieces))
	return a
}

func usage(prompt, completion int) llm.Usage {
	return llm.Usage{PromptTokens: prompt, CompletionTokens: completion, TotalTokens: prompt + completion,
		PromptTokensDetails: &llm.PromptTokensDetails{}, CompletionTokensDetails: &llm.CompletionTokensDetails{}}
}

// splitWords cuts s before each space-led word: "a b  c" -> "a", " b", "  c".
func splitWords(s string) []string {
	var out []string
	start := 0
	for i := 1; i < len(s); i++ {
		if s[i] == ' ' && s[i-1] != ' ' {
			out = append(out, s[start:i])
			start = i
		}
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}

func hex64(v uint64) string {
	const digits = "0123456789abcdef"
	var b [16]byte
	for i := 15; i >= 0; i-- {
		b[i] = digits[v&15]
		v >>= 4
	}
	return string(b[:])
}

func (o *OpenAIOptions) chat(ctx *fasthttp.RequestCtx) {
	body := ctx.PostBody()
	var req llm.Request
	if err := json.Unmarshal(body, &req); err != nil {
		OpenAIError(ctx, 400, "invalid_request_error", "", "", "We could not parse the JSON body of your request.")
		return
	}
	if req.Model == "" {
		OpenAIError(ctx, 400, "invalid_request_error", "", "model", "you must provide a model parameter")
		return
	}
	if len(req.Messages) == 0 {
		OpenAIError(ctx, 400, "invalid_request_error", "empty_array", "messages", "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.")
		return
	}
	if !o.knownModel(req.Model) {
		o.modelNotFound(ctx, req.Model)
		return
	}
	if o.Fault.Request(ctx, OpenAIError) || o.rejected(ctx, "messages", []string{req.LastUserText()}) {
		return
	}
	a := o.answerFor(&req, body)
	if req.Stream {
		ctx.Response.Header.SetContentType("text/event-stream; charset=utf-8")
		o.Fault.ServeStream(ctx, StreamSpec{
			Events: a.chunks(req.WantsUsage()),
			Final:  []byte("data: [DONE]\n\n"),
			Delay:  o.ChunkDelay,
		})
		return
	}
	o.Fault.Wait(ctx.Done())
	msg := llm.Message{Role: "assistant"}
	if a.tools != nil {
		msg.ToolCalls = make([]llm.ToolCall, len(a.tools))
		for i, tc := range a.tools {
			tc.Index = nil
			msg.ToolCalls[i] = tc
		}
	} else {
		msg.Content = llm.TextContent(strings.Join(a.pieces, ""))
	}
	u := a.usage
	resp := llm.Response{ID: a.id, Object: llm.ObjectChatCompletion, Created: fakeCreated, Model: a.model,
		Choices: []llm.Choice{{Message: msg, FinishReason: a.finish, Logprobs: json.RawMessage("null")}},
		Usage:   &u, ServiceTier: "default", SystemFingerprint: "fp_fake"}
	out, _ := json.Marshal(resp)
	ctx.SetContentType("application/json")
	ctx.SetBody(out)
}

// Wire shapes of stream chunks, field order as OpenAI sends them.
type wireChunk struct {
	ID                string          `json:"id"`
	Object            string          `json:"object"`
	Created           int64           `json:"created"`
	Model             string          `json:"model"`
	ServiceTier       string          `json:"service_tier"`
	SystemFingerprint string          `json:"system_fingerprint"`
	Choices           []wireChoice    `json:"choices"`
	Usage             json.RawMessage `json:"usage,omitempty"`
}

type wireChoice struct {
	Index        int             `json:"index"`
	Delta        wireDelta       `json:"delta"`
	Logprobs     json.RawMessage `json:"logprobs"`
	FinishReason *string         `json:"finish_reason"`
}

type wireDelta struct {
	Role      string          `json:"role,omitempty"`
	Content   json.RawMessage `json:"content,omitempty"`
	ToolCalls []wireToolDelta `json:"tool_calls,omitempty"`
	Refusal   json.RawMessage `json:"refusal,omitempty"`
}

type wireToolDelta struct {
	Index    int          `json:"index"`
	ID       string       `json:"id,omitempty"`
	Type     string       `json:"type,omitempty"`
	Function wireToolFunc `json:"function"`
}

type wireToolFunc struct {
	Name      string `json:"name,omitempty"`
	Arguments string `json:"arguments"`
}

var jsonNull = json.RawMessage("null")

// chunks renders the answer as SSE blocks: a role-only first chunk (or the
// first tool call), content or argument fragments, an empty-delta finish
// chunk, and with includeUsage a "choices":[] usage chunk ("usage":null on
// every other chunk).
func (a *answer) chunks(includeUsage bool) [][]byte {
	var deltas []wireDelta
	if a.tools == nil {
		deltas = append(deltas, wireDelta{Role: "assistant", Content: json.RawMessage(`""`), Refusal: jsonNull})
		for _, p := range a.pieces {
			c, _ := json.Marshal(p)
			deltas = append(deltas, wireDelta{Content: c})
		}
	} else {
		for i, tc := range a.tools {
			typ := tc.Type
			if typ == "" {
				typ = "function"
			}
			head := wireDelta{ToolCalls: []wireToolDelta{{Index: i, ID: tc.ID, Type: typ, Function: wireToolFunc{Name: tc.Function.Name}}}}
			if i == 0 {
				head.Role, head.Content, head.Refusal = "assistant", jsonNull, jsonNull
			}
			deltas = append(deltas, head)
			for _, frag := range fragments(tc.Function.Arguments, 5) {
				deltas = append(deltas, wireDelta{ToolCalls: []wireToolDelta{{Index: i, Function: wireToolFunc{Arguments: frag}}}})
			}
		}
	}
	var usageNull json.RawMessage
	if includeUsage {
		usageNull = jsonNull
	}
	base := wireChunk{ID: a.id, Object: llm.ObjectChatCompletionChunk, Created: fakeCreated, Model: a.model,
		ServiceTier: "default", SystemFingerprint: "fp_fake", Usage: usageNull}
	out := make([][]byte, 0, len(deltas)+2)
	for _, d := range deltas {
		c := base
		c.Choices = []wireChoice{{Delta: d, Logprobs: jsonNull}}
		out = append(out, sseData(c))
	}
	c := base
	c.Choices = []wireChoice{{Delta: wireDelta{}, Logprobs: jsonNull, FinishReason: &a.finish}}
	out = append(out, sseData(c))
	if includeUsage {
		c := base
		c.Choices = []wireChoice{}
		c.Usage, _ = json.Marshal(a.usage)
		out = append(out, sseData(c))
	}
	return out
}

// fragments cuts s into pieces of about n bytes without splitting a rune.
func fragments(s string, n int) []string {
	var out []string
	for len(s) > n {
		i := n
		for i < len(s) && !utf8.RuneStart(s[i]) {
			i++
		}
		out = append(out, s[:i])
		s = s[i:]
	}
	if s != "" {
		out = append(out, s)
	}
	return out
}

func sseData(v any) []byte {
	b, _ := json.Marshal(v)
	out := make([]byte, 0, len(b)+8)
	out = append(out, "data: "...)
	out = append(out, b...)
	return append(out, "\n\n"...)
}

func (o *OpenAIOptions) embeddings(ctx *fasthttp.RequestCtx) {
	var req llm.EmbeddingRequest
	if err := json.Unmarshal(ctx.PostBody(), &req); err != nil {
		OpenAIError(ctx, 400, "invalid_request_error", "", "input", "'input' : input must be a string or an array of strings")
		return
	}
	if req.Model == "" {
		OpenAIError(ctx, 400, "invalid_request_error", "", "model", "you must provide a model parameter")
		return
	}
	if !o.knownModel(req.Model) {
		o.modelNotFound(ctx, req.Model)
		return
	}
	if o.Fault.Request(ctx, OpenAIError) || o.rejected(ctx, "input", req.Input) {
		return
	}
	dim := o.EmbeddingDim
	if req.Dimensions != nil && *req.Dimensions > 0 {
		dim = *req.Dimensions
	}
	if dim <= 0 {
		dim = 8
	}
	type item struct {
		Object    string `json:"object"`
		Index     int    `json:"index"`
		Embedding any    `json:"embedding"`
	}
	data := make([]item, len(req.Input))
	tokens := 0
	for i, text := range req.Input {
		v := Vector(text, dim)
		tokens += len(strings.Fields(text))
		var e any = v
		if req.EncodingFormat == "base64" {
			b := make([]byte, 4*len(v))
			for j, f := range v {
				binary.LittleEndian.PutUint32(b[4*j:], math.Float32bits(f))
			}
			e = base64.StdEncoding.EncodeToString(b)
		}
		data[i] = item{Object: "embedding", Index: i, Embedding: e}
	}
	out, _ := json.Marshal(map[string]any{
		"object": "list", "data": data, "model": req.Model,
		"usage": map[string]int{"prompt_tokens": tokens, "total_tokens": tokens},
	})
	ctx.SetContentType("application/json")
	ctx.SetBody(out)
}

// Vector is the fake embedding of text: dim deterministic values derived
// from an FNV hash of text, L2-normalised. Equal texts give equal vectors.
func Vector(text string, dim int) []float32 {
	v := make([]float32, dim)
	var norm float64
	for i := range v {
		h := fnv.New64a()
		h.Write([]byte(text))
		h.Write([]byte{byte(i), byte(i >> 8)})
		x := float64(h.Sum64()%2001)/1000 - 1
		v[i] = float32(x)
		norm += x * x
	}
	if norm > 0 {
		n := float32(math.Sqrt(norm))
		for i := range v {
			v[i] /= n
		}
	}
	return v
}

func (o *OpenAIOptions) models(ctx *fasthttp.RequestCtx) {
	names := o.Models
	if len(names) == 0 {
		names = []string{"gpt-4o-mini"}
	}
	type model struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Created int64  `json:"created"`
		OwnedBy string `json:"owned_by"`
	}
	data := make([]model, len(names))
	for i, n := range names {
		data[i] = model{ID: n, Object: "model", Created: fakeCreated, OwnedBy: "system"}
	}
	out, _ := json.Marshal(map[string]any{"object": "list", "data": data})
	ctx.SetContentType("application/json")
	ctx.SetBody(out)
}

// rejected answers 400 when RejectInput refuses one of inputs.
func (o *OpenAIOptions) rejected(ctx *fasthttp.RequestCtx, param string, inputs []string) bool {
	if o.RejectInput == nil {
		return false
	}
	for i, in := range inputs {
		if o.RejectInput(in) {
			OpenAIError(ctx, 400, "invalid_request_error", "", param,
				"Invalid '"+param+"["+strconv.Itoa(i)+"]': this input was rejected.")
			return true
		}
	}
	return false
}

// legacyCompletions serves POST .../completions (not chat): prompt is a
// string or an array of strings; each prompt i gets choice index i with the
// answer Answer (or "echo: " + prompt) would give a chat request whose one
// user message is the prompt. Usage counts words over all prompts.
func (o *OpenAIOptions) legacyCompletions(ctx *fasthttp.RequestCtx) {
	var req struct {
		Model     string          `json:"model"`
		Prompt    json.RawMessage `json:"prompt"`
		MaxTokens *int            `json:"max_tokens"`
	}
	if err := json.Unmarshal(ctx.PostBody(), &req); err != nil || req.Model == "" {
		OpenAIError(ctx, 400, "invalid_request_error", "", "model", "you must provide a model parameter")
		return
	}
	var prompts llm.EmbeddingInput // a string or an array of strings
	if err := json.Unmarshal(req.Prompt, &prompts); err != nil || len(prompts) == 0 {
		OpenAIError(ctx, 400, "invalid_request_error", "", "prompt", "'prompt' must be a string or an array of strings")
		return
	}
	if !o.knownModel(req.Model) {
		o.modelNotFound(ctx, req.Model)
		return
	}
	if o.Fault.Request(ctx, OpenAIError) || o.rejected(ctx, "prompt", prompts) {
		return
	}
	type choice struct {
		Text         string          `json:"text"`
		Index        int             `json:"index"`
		Logprobs     json.RawMessage `json:"logprobs"`
		FinishReason string          `json:"finish_reason"`
	}
	h := fnv.New64a()
	h.Write(ctx.PostBody())
	choices := make([]choice, len(prompts))
	total := llm.Usage{}
	for i, p := range prompts {
		chat := &llm.Request{Model: req.Model, MaxTokens: req.MaxTokens,
			Messages: []llm.Message{{Role: "user", Content: llm.TextContent(p)}}}
		a := o.answerFor(chat, []byte(p))
		choices[i] = choice{Text: strings.Join(a.pieces, ""), Index: i, Logprobs: json.RawMessage("null"), FinishReason: a.finish}
		total.PromptTokens += a.usage.PromptTokens
		total.CompletionTokens += a.usage.CompletionTokens
	}
	total.TotalTokens = total.PromptTokens + total.CompletionTokens
	out, _ := json.Marshal(map[string]any{"id": "cmpl-fake" + hex64(h.Sum64()), "object": "text_completion",
		"created": fakeCreated, "model": o.snapshot(req.Model), "choices": choices, "usage": total})
	ctx.SetContentType("application/json")
	ctx.SetBody(out)
}
