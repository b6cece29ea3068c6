package proxy

import (
	"bufio"
	"encoding/json"
	"strconv"

	"github.com/valyala/fasthttp"

	"llmrouter/llm"
	"llmrouter/proxy/anthropicapi"
	"llmrouter/proxy/responsesapi"
)

var (
	hdrAnthropicVersion = []byte("anthropic-version")
	hdrAnthropicBeta    = []byte("anthropic-beta")
	hdrOutCachedShare   = []byte("x-llmrouter-cached-prompt-share")
)

// errorWriterFor returns the error writer of a route's wire API; nil means
// the OpenAI envelope.
func errorWriterFor(route string) func(*fasthttp.RequestCtx, *llm.Error) int {
	switch route {
	case routeMessages, routeCountTokens:
		return writeAnthropicError
	}
	return nil
}

// writeAnthropicError answers ctx with e in the Messages API error shape.
func writeAnthropicError(ctx *fasthttp.RequestCtx, e *llm.Error) int {
	status, b := anthropicapi.ErrorBody(e, clientMessage(e))
	ctx.Response.Header.SetContentTypeBytes(contentTypeJSON)
	ctx.SetStatusCode(status)
	if (status == 429 || status >= 503) && e.RetryAfter > 0 {
		ctx.Response.Header.SetBytesK(hdrRetryAfter, strconv.FormatInt(int64((e.RetryAfter+999_999_999)/1e9), 10))
	}
	ctx.SetBody(b)
	return status
}

// setCachedShare writes the share of the prompt read from a provider's
// prompt cache (0..1, three decimals) when the answer reports usage.
func setCachedShare(h *fasthttp.ResponseHeader, u *llm.Usage) {
	if u == nil || u.PromptTokens <= 0 {
		return
	}
	share := float64(u.CachedPromptTokens()) / float64(u.PromptTokens)
	h.SetBytesKV(hdrOutCachedShare, strconv.AppendFloat(make([]byte, 0, 8), share, 'f', 3, 64))
}

func anthropicHeaders(h *fasthttp.RequestHeader) anthropicapi.Headers {
	return anthropicapi.Headers{
		Version: string(h.PeekBytes(hdrAnthropicVersion)),
		Beta:    string(h.PeekBytes(hdrAnthropicBeta)),
	}
}

// messages serves POST /v1/messages: the Messages codec around the same
// pipeline as chat completions.
func (s *Server) messages(ctx *fasthttp.RequestCtx, x *exchange, p *principal) bool {
	if e := s.o.Limits.CheckBody(ctx.PostBody(), llm.MessagesBodyFields); e != nil {
		return s.fail(ctx, x, e)
	}
	r, e := anthropicapi.Decode(ctx.PostBody(), anthropicHeaders(&ctx.Request.Header), false)
	if e != nil {
		return s.fail(ctx, x, e)
	}
	return s.serveDecoded(ctx, x, p, r, "stop_sequences", "max_tokens",
		func() chunkEncoder { return &messagesEncoder{enc: anthropicapi.NewStreamEncoder()} },
		func(resp *llm.Response) any { return anthropicapi.EncodeResponse(resp) })
}

// serveDecoded runs a request another API's codec decoded through the chat
// pipeline: limits (named as that API names its stop and max-tokens
// fields), sampling checks, routing, then a stream through newEnc or a
// unary answer shaped by shape.
func (s *Server) serveDecoded(ctx *fasthttp.RequestCtx, x *exchange, p *principal, r *llm.Request, stop, maxTokens string,
	newEnc func() chunkEncoder, shape func(*llm.Response) any) bool {
	if e := s.checkLimits(r, stop, maxTokens); e != nil {
		x.model = r.Model
		return s.fail(ctx, x, e)
	}
	if e := validateSampling(r); e != nil {
		x.model = r.Model
		return s.fail(ctx, x, e)
	}
	if e := s.prepare(ctx, x, p, r); e != nil {
		return s.fail(ctx, x, e)
	}
	if r.Stream {
		return s.streamChat(ctx, x, r, newEnc())
	}
	return s.completeUnary(ctx, x, r, shape)
}

// countTokens serves POST /v1/messages/count_tokens with a local estimate
// (see anthropicapi.CountTokens); no provider is called.
func (s *Server) countTokens(ctx *fasthttp.RequestCtx, x *exchange, p *principal) bool {
	if e := s.o.Limits.CheckBody(ctx.PostBody(), llm.MessagesBodyFields); e != nil {
		return s.fail(ctx, x, e)
	}
	r, e := anthropicapi.Decode(ctx.PostBody(), anthropicHeaders(&ctx.Request.Header), true)
	if e != nil {
		return s.fail(ctx, x, e)
	}
	x.model = r.Model
	if err := writeJSON(ctx, anthropicapi.CountTokens(r)); err != nil {
		ctx.ResetBody()
		return s.fail(ctx, x, &llm.Error{Kind: llm.KindInternal, Message: "could not encode the answer", Err: err})
	}
	x.status = fasthttp.StatusOK
	return true
}

// validateSampling checks the ranges the Messages and Responses APIs share
// with chat completions.
func validateSampling(r *llm.Request) *llm.Error {
	switch {
	case r.Temperature != nil && (*r.Temperature < 0 || *r.Temperature > 2):
		return invalid("temperature", "temperature must be between 0 and 2")
	case r.TopP != nil && (*r.TopP < 0 || *r.TopP > 1):
		return invalid("top_p", "top_p must be between 0 and 1")
	}
	return nil
}

// messagesEncoder adapts anthropicapi.StreamEncoder to the stream pump.
type messagesEncoder struct{ enc *anthropicapi.StreamEncoder }

func (m *messagesEncoder) writeChunk(w *bufio.Writer, _ *json.Encoder, c *llm.Chunk, _ bool) (bool, error) {
	return m.enc.Chunk(w, c)
}
func (m *messagesEncoder) done(w *bufio.Writer) error { return m.enc.Finish(w) }
func (m *messagesEncoder) fail(w *bufio.Writer, e *llm.Error) error {
	return m.enc.Error(w, e, clientMessage(e))
}
func (m *messagesEncoder) heartbeat() []byte { return anthropicapi.Ping }

// responses serves POST /v1/responses (stateless): the Responses codec
// around the same pipeline as chat completions. Errors use the OpenAI
// envelope, as the Responses API does.
func (s *Server) responses(ctx *fasthttp.RequestCtx, x *exchange, p *principal) bool {
	if e := s.o.Limits.CheckBody(ctx.PostBody(), llm.ResponsesBodyFields); e != nil {
		return s.fail(ctx, x, e)
	}
	r, e := responsesapi.Decode(ctx.PostBody())
	if e != nil {
		return s.fail(ctx, x, e)
	}
	return s.serveDecoded(ctx, x, p, r, "stop", "max_output_tokens",
		func() chunkEncoder { return &responsesEncoder{enc: responsesapi.NewStreamEncoder()} },
		func(resp *llm.Response) any { return responsesapi.EncodeResponse(resp) })
}

// responsesEncoder adapts responsesapi.StreamEncoder to the stream pump.
type responsesEncoder struct{ enc *responsesapi.StreamEncoder }

func (m *responsesEncoder) writeChunk(w *bufio.Writer, _ *json.Encoder, c *llm.Chunk, _ bool) (bool, error) {
	return m.enc.Chunk(w, c)
}
func (m *responsesEncoder) done(w *bufio.Writer) error { return m.enc.Finish(w) }
func (m *responsesEncoder) fail(w *bufio.Writer, e *llm.Error) error {
	c := classify(e)
	return m.enc.Error(w, c.Code, clientMessage(e), e.Param)
}
func (m *responsesEncoder) heartbeat() []byte { return responsesapi.Heartbeat }
