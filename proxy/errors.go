package proxy

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"llmrouter/llm"
)

// errorClass is one row of the error table: what a kind of llm.Error looks
// like on the wire.
type errorClass struct {
	Status int    // HTTP status
	Type   string // OpenAI error "type"
	Code   string // default OpenAI error "code" when the error carries none
}

// statusClientClosedRequest is nginx's 499: the client went away. Nobody
// reads it, but logs and metrics count it apart from server faults.
const statusClientClosedRequest = 499

// errorTable maps every llm.Kind to its HTTP status, OpenAI type and default
// code. It is the only place that decides error statuses. The OpenAI SDKs
// choose their exception class from the status alone (400 BadRequestError,
// 401 AuthenticationError, 403 PermissionDeniedError, 404 NotFoundError,
// 409/413/422 by status, 429 RateLimitError, >=500 InternalServerError), so
// the status is what must be right; type and code follow OpenAI's own
// values where OpenAI has one.
var errorTable = [...]errorClass{
	llm.KindInternal:            {500, "server_error", "internal_error"},
	llm.KindInvalidRequest:      {400, "invalid_request_error", ""},
	llm.KindUnauthenticated:     {401, "invalid_request_error", llm.CodeInvalidAPIKey},
	llm.KindForbidden:           {403, "permission_error", "permission_denied"},
	llm.KindUnknownModel:        {404, "invalid_request_error", llm.CodeModelNotFound},
	llm.KindPayloadTooLarge:     {413, "invalid_request_error", "payload_too_large"},
	llm.KindRateLimited:         {429, "rate_limit_error", llm.CodeRateLimitExceeded},
	llm.KindUpstreamRateLimited: {429, "rate_limit_error", llm.CodeRateLimitExceeded},
	llm.KindUpstreamError:       {502, "server_error", "upstream_error"},
	llm.KindNoHealthyProvider:   {503, "server_error", "no_healthy_provider"},
	llm.KindOverloaded:          {503, "server_error", "overloaded"},
	llm.KindTimeout:             {504, "server_error", "timeout"},
	llm.KindCanceled:            {statusClientClosedRequest, "invalid_request_error", "request_canceled"},
}

// classify returns the wire form of e.
//
// The status is the table's status for e.Kind, with one exception: a
// KindInvalidRequest that carries an upstream Status in 400..499 other than
// 401 and 403 keeps that status (an upstream 413 or 422 about the client's
// own request stays a 413 or 422, which is what an SDK expects). Upstream
// 401/403 never reach the client as such: they mean our provider key is
// wrong, arrive as KindUpstreamError and become 502. Unknown kinds are 500.
func classify(e *llm.Error) errorClass {
	c := errorTable[llm.KindInternal]
	if int(e.Kind) < len(errorTable) {
		c = errorTable[e.Kind]
	}
	if e.Kind == llm.KindInvalidRequest && e.Status >= 400 && e.Status <= 499 &&
		e.Status != 401 && e.Status != 403 {
		c.Status = e.Status
	}
	if e.Code != "" {
		c.Code = e.Code
	}
	return c
}

// upstreamAuthFailure reports an upstream that rejected our provider key.
func upstreamAuthFailure(e *llm.Error) bool {
	return e.Kind == llm.KindUpstreamError && (e.Status == 401 || e.Status == 403)
}

// clientMessage is the message shown to the client for e: never an
// upstream's words about our own credentials, and, for text that came from
// an upstream (e.Provider or e.Status set), masked by the pattern layer
// (llm.Redact) for keys no one registered. Our own messages are shown as
// written. Registered secrets were already replaced by Server.scrub.
func clientMessage(e *llm.Error) string {
	if upstreamAuthFailure(e) {
		return "the upstream provider rejected the proxy's credentials"
	}
	msg := e.Message
	if msg == "" {
		msg = e.Kind.String()
	}
	if e.Provider != "" || e.Status != 0 {
		return llm.Redact(msg)
	}
	return msg
}

// scrub returns e with every registered secret replaced in its message (a
// copy when something changed; e itself otherwise).
func (s *Server) scrub(e *llm.Error) *llm.Error {
	if m := s.o.Redactor.Redact(e.Message); m != e.Message {
		cp := *e
		cp.Message = m
		return &cp
	}
	return e
}

// errorBody is the OpenAI error envelope. Param and Code are null when
// empty, as OpenAI sends them.
type errorBody struct {
	Error errorObject `json:"error"`
}

type errorObject struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// errorJSON encodes e as an OpenAI error envelope with its wire class.
func errorJSON(e *llm.Error) ([]byte, errorClass) {
	c := classify(e)
	b, err := json.Marshal(errorBody{Error: errorObject{
		Message: clientMessage(e),
		Type:    c.Type,
		Param:   nullable(e.Param),
		Code:    nullable(c.Code),
	}})
	if err != nil { // unreachable: only strings
		b = []byte(`{"error":{"message":"internal error","type":"server_error","param":null,"code":"internal_error"}}`)
	}
	return b, c
}

// writeError answers ctx with e as an HTTP error and returns the status. It
// sets Retry-After on 429 and 503 when the error knows one (whole seconds,
// rounded up).
func writeError(ctx *fasthttp.RequestCtx, e *llm.Error) int {
	b, c := errorJSON(e)
	ctx.Response.Header.SetContentTypeBytes(contentTypeJSON)
	ctx.SetStatusCode(c.Status)
	if (c.Status == 429 || c.Status == 503) && e.RetryAfter > 0 {
		ctx.Response.Header.SetBytesK(hdrRetryAfter, strconv.FormatInt(int64((e.RetryAfter+time.Second-1)/time.Second), 10))
	}
	ctx.SetBody(b)
	return c.Status
}

// invalid returns a KindInvalidRequest error about param.
func invalid(param, msg string) *llm.Error {
	return &llm.Error{Kind: llm.KindInvalidRequest, Param: param, Message: msg}
}
