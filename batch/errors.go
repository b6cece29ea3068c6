package batch

import (
	"encoding/json"
	"errors"

	"llmrouter/llm"
)

func invalid(param, msg string) *llm.Error {
	return &llm.Error{Kind: llm.KindInvalidRequest, Param: param, Message: msg}
}

func lookupError(err error, what, id string) error {
	if errors.Is(err, ErrNotFound) {
		return &llm.Error{Kind: llm.KindUnknownModel, Code: "not_found", Message: "no " + what + " with id '" + id + "'"}
	}
	return storeError(err)
}

func storeError(err error) error {
	return &llm.Error{Kind: llm.KindOverloaded, Message: "the batch store is unavailable; retry shortly", Err: err}
}

// lineStatus is the HTTP status and OpenAI error type of a line's error:
// the same classes the proxy answers live requests with.
var lineStatus = map[llm.Kind]struct {
	status int
	typ    string
}{
	llm.KindInternal:            {500, "server_error"},
	llm.KindInvalidRequest:      {400, "invalid_request_error"},
	llm.KindUnauthenticated:     {401, "authentication_error"},
	llm.KindForbidden:           {403, "permission_error"},
	llm.KindUnknownModel:        {404, "invalid_request_error"},
	llm.KindPayloadTooLarge:     {413, "invalid_request_error"},
	llm.KindRateLimited:         {429, "rate_limit_error"},
	llm.KindUpstreamRateLimited: {429, "rate_limit_error"},
	llm.KindUpstreamError:       {502, "upstream_error"},
	llm.KindNoHealthyProvider:   {503, "service_unavailable"},
	llm.KindOverloaded:          {503, "service_unavailable"},
	llm.KindTimeout:             {504, "timeout"},
	llm.KindCanceled:            {499, "canceled"},
}

// errorResponse is a line's response for error e, with an OpenAI error body.
func errorResponse(reqID string, e *llm.Error) *LineResponse {
	st, ok := lineStatus[e.Kind]
	if !ok {
		st = lineStatus[llm.KindInternal]
	}
	type wire struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	}
	w := wire{Message: llm.Redact(e.Message), Type: st.typ}
	if e.Param != "" {
		w.Param = &e.Param
	}
	if e.Code != "" {
		w.Code = &e.Code
	}
	body, _ := json.Marshal(map[string]wire{"error": w})
	return &LineResponse{StatusCode: st.status, RequestID: reqID, Body: body}
}
