package anthropicapi

import (
	"encoding/json"

	"llmrouter/llm"
	"llmrouter/llm/anthropicwire"
)

// errorClass is how one llm.Kind looks in the Messages API.
type errorClass struct {
	Status int
	Type   string
}

// errorTable is this API's one error table, fed by the llm kinds. The
// Anthropic SDKs pick their error class from the status (400
// BadRequestError, 401 AuthenticationError, 403 PermissionDeniedError, 404
// NotFoundError, 429 RateLimitError, >=500 InternalServerError); 529
// overloaded_error is what clients such as Claude Code back off on.
var errorTable = [...]errorClass{
	llm.KindInternal:            {500, "api_error"},
	llm.KindInvalidRequest:      {400, "invalid_request_error"},
	llm.KindUnauthenticated:     {401, "authentication_error"},
	llm.KindForbidden:           {403, "permission_error"},
	llm.KindUnknownModel:        {404, "not_found_error"},
	llm.KindPayloadTooLarge:     {413, "request_too_large"},
	llm.KindRateLimited:         {429, "rate_limit_error"},
	llm.KindUpstreamRateLimited: {429, "rate_limit_error"},
	llm.KindUpstreamError:       {502, "api_error"},
	llm.KindNoHealthyProvider:   {anthropicwire.StatusOverloaded, "overloaded_error"},
	llm.KindOverloaded:          {anthropicwire.StatusOverloaded, "overloaded_error"},
	llm.KindTimeout:             {504, "timeout_error"},
	llm.KindCanceled:            {499, "api_error"},
}

// Classify returns the status and error type of e. An invalid request that
// an upstream answered with a 4xx other than 401/403 keeps that status (and
// the matching type); an upstream 529 stays a 529 overloaded_error.
func Classify(e *llm.Error) (status int, errType string) {
	c := errorTable[llm.KindInternal]
	if int(e.Kind) < len(errorTable) {
		c = errorTable[e.Kind]
	}
	switch {
	case e.Kind == llm.KindInvalidRequest && e.Status >= 400 && e.Status <= 499 && e.Status != 401 && e.Status != 403:
		c.Status = e.Status
		switch e.Status {
		case 404:
			c.Type = "not_found_error"
		case 413:
			c.Type = "request_too_large"
		}
	case e.Kind == llm.KindUpstreamError && e.Status == anthropicwire.StatusOverloaded:
		c = errorClass{anthropicwire.StatusOverloaded, "overloaded_error"}
	}
	return c.Status, c.Type
}

// ErrorBody returns the status and the {"type":"error","error":{...}} body
// for e; message is the client-safe text (the proxy redacts it).
func ErrorBody(e *llm.Error, message string) (int, []byte) {
	status, typ := Classify(e)
	b, _ := json.Marshal(anthropicwire.ErrorBody{Type: "error", Error: anthropicwire.APIError{Type: typ, Message: message}})
	return status, b
}
