package llm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
)

// requestFields is Request without its methods, for the default encoder.
type requestFields Request

// UnmarshalJSON decodes a client's request body. Unknown top-level fields go
// to Extra. A field of the wrong type yields an *Error of KindInvalidRequest
// whose Param names the field. Routing metadata (Tenant, RequestID, Meta) is
// left as it was.
func (r *Request) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return &Error{Kind: KindInvalidRequest, Message: "request body must be a JSON object: " + jsonErrText(err)}
	}
	if raw == nil {
		return &Error{Kind: KindInvalidRequest, Message: "request body must be a JSON object, not null"}
	}
	*r = Request{Tenant: r.Tenant, RequestID: r.RequestID, Meta: r.Meta, Tier: r.Tier,
		TierOverride: r.TierOverride, CacheControl: r.CacheControl}
	f := (*requestFields)(r)
	for k, v := range raw {
		var dst any
		switch k {
		case "model":
			dst = &f.Model
		case "messages":
			dst = &f.Messages
		case "tools":
			dst = &f.Tools
		case "tool_choice":
			f.ToolChoice = nonNull(v)
			continue
		case "parallel_tool_calls":
			dst = &f.ParallelToolCalls
		case "response_format":
			f.ResponseFormat = nonNull(v)
			continue
		case "temperature":
			dst = &f.Temperature
		case "top_p":
			dst = &f.TopP
		case "max_tokens":
			dst = &f.MaxTokens
		case "max_completion_tokens":
			dst = &f.MaxCompletionTokens
		case "stop":
			dst = &f.Stop
		case "seed":
			dst = &f.Seed
		case "n":
			dst = &f.N
		case "user":
			dst = &f.User
		case "presence_penalty":
			dst = &f.PresencePenalty
		case "frequency_penalty":
			dst = &f.FrequencyPenalty
		case "logit_bias":
			f.LogitBias = nonNull(v)
			continue
		case "logprobs":
			dst = &f.Logprobs
		case "top_logprobs":
			dst = &f.TopLogprobs
		case "stream":
			dst = &f.Stream
		case "stream_options":
			dst = &f.StreamOptions
		default:
			if r.Extra == nil {
				r.Extra = make(map[string]json.RawMessage, 4)
			}
			r.Extra[k] = v
			continue
		}
		if err := json.Unmarshal(v, dst); err != nil {
			return &Error{Kind: KindInvalidRequest, Param: k, Message: fmt.Sprintf("invalid value for %q: %s", k, jsonErrText(err))}
		}
	}
	return nil
}

// MarshalJSON encodes the request in the OpenAI shape, Extra fields included
// (sorted by name, after the known ones).
func (r *Request) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal((*requestFields)(r))
	if err != nil || len(r.Extra) == 0 {
		return b, err
	}
	keys := make([]string, 0, len(r.Extra))
	for k := range r.Extra {
		if _, known := knownRequestField[k]; !known {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	buf := bytes.NewBuffer(make([]byte, 0, len(b)+64*len(keys)))
	buf.Write(b[:len(b)-1])
	for _, k := range keys {
		kb, _ := json.Marshal(k)
		buf.WriteByte(',')
		buf.Write(kb)
		buf.WriteByte(':')
		buf.Write(r.Extra[k])
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

var knownRequestField = map[string]struct{}{
	"model": {}, "messages": {}, "tools": {}, "tool_choice": {}, "parallel_tool_calls": {},
	"response_format": {}, "temperature": {}, "top_p": {}, "max_tokens": {},
	"max_completion_tokens": {}, "stop": {}, "seed": {}, "n": {}, "user": {},
	"presence_penalty": {}, "frequency_penalty": {}, "logit_bias": {}, "logprobs": {},
	"top_logprobs": {}, "stream": {}, "stream_options": {},
}

func nonNull(v json.RawMessage) json.RawMessage {
	if firstByte(v) == 'n' {
		return nil
	}
	return v
}

// jsonErrText turns encoding/json errors into short client-facing text.
func jsonErrText(err error) string {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case asErr(err, &te):
		if te.Field != "" {
			return fmt.Sprintf("%s: expected %s, got %s", te.Field, te.Type, te.Value)
		}
		return fmt.Sprintf("expected %s, got %s", te.Type, te.Value)
	case asErr(err, &se):
		return fmt.Sprintf("malformed JSON at byte %d: %s", se.Offset, se.Error())
	}
	return err.Error()
}

// DecodeRequest decodes a client body into r. Every failure is an *Error of
// KindInvalidRequest (json.Unmarshal reports syntax errors before
// UnmarshalJSON runs; this wraps those too).
func DecodeRequest(body []byte, r *Request) error {
	if err := json.Unmarshal(body, r); err != nil {
		if e, ok := err.(*Error); ok {
			return e
		}
		return &Error{Kind: KindInvalidRequest, Message: "request body is not valid JSON: " + jsonErrText(err)}
	}
	return nil
}
