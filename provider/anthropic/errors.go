package anthropic

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"llmrouter/llm"
	"llmrouter/provider/transport"
)

// errorForType maps an in-stream error event to an *llm.Error.
func errorForType(provider, errType, msg string) *llm.Error {
	return statusError(provider, statusForType(errType), nil, msg, errType, "")
}

// errorFromReply maps a non-2xx reply (status, headers, body in Anthropic's
// error shape, or anything else) to an *llm.Error.
func errorFromReply(provider string, status int, hdr http.Header, body []byte) *llm.Error {
	var eb errorBody
	if err := json.Unmarshal(body, &eb); err != nil || eb.Error.Message == "" {
		return statusError(provider, status, hdr, fmt.Sprintf("anthropic returned http %d", status), "", "")
	}
	return statusError(provider, status, hdr, eb.Error.Message, eb.Error.Type, eb.RequestID)
}

// statusError applies the shared status mapping (transport.StatusError),
// recognises "prompt is too long" as context_length_exceeded, and honours
// x-should-retry: true, which turns a client-class error (409 conflict and
// the like) into a retryable upstream error. x-should-retry: false does not
// make a 429 or 5xx non-retryable: another target may still answer.
func statusError(provider string, status int, hdr http.Header, msg, errType, requestID string) *llm.Error {
	code := ""
	if status == http.StatusBadRequest && strings.Contains(strings.ToLower(msg), "prompt is too long") {
		code = llm.CodeContextLengthExceeded
	}
	e := transport.StatusError(provider, status, hdr, msg, errType, code, "")
	if e.Kind == llm.KindInvalidRequest && hdr != nil && strings.EqualFold(hdr.Get("x-should-retry"), "true") {
		e.Kind = llm.KindUpstreamError
	}
	if requestID != "" && e.Err == nil {
		e.Err = errors.New("anthropic request_id " + requestID)
	}
	return e
}
