package llm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"unsafe"
)

// requestFields is Request without its methods, for the default encoder.
type requestFields Request

// UnmarshalJSON decodes a client's request body in one struct pass.
// Unknown top-level fields go to Extra (found by a cheap scan of the
// top-level keys; only a body that has some pays for a second decode). A
// field of the wrong type yields an *Error of KindInvalidRequest whose
// Param names the field. Routing metadata (Tenant, RequestID, Meta, Tier,
// TierOverride, CacheControl) is left as it was.
func (r *Request) UnmarshalJSON(b []byte) error {
	if firstByte(b) != '{' {
		if firstByte(b) == 'n' {
			return &Error{Kind: KindInvalidRequest, Message: "request body must be a JSON object, not null"}
		}
		return &Error{Kind: KindInvalidRequest, Message: "request body must be a JSON object"}
	}
	keep := Request{Tenant: r.Tenant, RequestID: r.RequestID, Meta: r.Meta, Tier: r.Tier,
		TierOverride: r.TierOverride, CacheControl: r.CacheControl}
	*r = keep
	// The messages decode as messageFields, inside this one json.Unmarshal,
	// instead of through Message.UnmarshalJSON: that ran a json.Unmarshal
	// of its own per message, which validated the message's bytes a second
	// time. Their unknown members are found by the same key scan after.
	w := requestWire{requestFields: (*requestFields)(r)}
	if err := json.Unmarshal(b, &w); err != nil {
		*r = keep
		return decodeFieldError(err)
	}
	if w.Messages != nil {
		r.Messages = unsafe.Slice((*Message)(unsafe.Pointer(unsafe.SliceData(w.Messages))), len(w.Messages))
		if err := messageExtras(b, r.Messages); err != nil {
			*r = keep
			return decodeFieldError(err)
		}
	}
	r.ToolChoice, r.ResponseFormat, r.LogitBias = nonNull(r.ToolChoice), nonNull(r.ResponseFormat), nonNull(r.LogitBias)
	if !hasUnknownKey(b) {
		return nil
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return &Error{Kind: KindInvalidRequest, Message: "request body must be a JSON object: " + jsonErrText(err)}
	}
	for k, v := range raw {
		if _, known := knownRequestField[k]; known || isKnownFold(k) {
			continue
		}
		if r.Extra == nil {
			r.Extra = make(map[string]json.RawMessage, 4)
		}
		r.Extra[k] = v
	}
	return nil
}

// requestWire is what a request body decodes into: Request's fields, with
// the messages as messageFields (Message without its UnmarshalJSON; the
// same memory layout, so the slice is reinterpreted, not copied).
type requestWire struct {
	*requestFields
	Messages []messageFields `json:"messages"`
}

// messageExtras sets the Extra of each message in ms from the members of
// the body's "messages" array that Message does not know, as
// Message.UnmarshalJSON does. b is valid JSON whose "messages" decoded into
// ms (so it is an array of len(ms) elements).
func messageExtras(b []byte, ms []Message) error {
	arr := topLevelValue(b, "messages")
	if len(arr) == 0 || arr[0] != '[' {
		return nil
	}
	i := 1
	for n := range ms {
		i = skipWS(arr, i)
		if i < len(arr) && arr[i] == ',' {
			i = skipWS(arr, i+1)
		}
		if i >= len(arr) || arr[i] == ']' {
			return nil
		}
		end := skipValue(arr, i)
		extra, err := unknownMembers(arr[i:end], knownMessageField)
		if err != nil {
			return err
		}
		ms[n].Extra = extra
		i = end
	}
	return nil
}

// topLevelValue returns the raw value of the top-level member of the valid
// JSON object b that encoding/json decodes into the field named key: the
// last one whose key, unescaped, equals key case-insensitively (the
// decoder's rule, a later member overwriting an earlier one); or nil.
func topLevelValue(b []byte, key string) []byte {
	var found []byte
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return nil
	}
	i++
	for {
		i = skipWS(b, i)
		if i >= len(b) || b[i] == '}' {
			return found
		}
		if b[i] == ',' {
			i++
			continue
		}
		if b[i] != '"' {
			return found
		}
		j, esc := i+1, false
		for j < len(b) && b[j] != '"' {
			if b[j] == '\\' {
				esc = true
				j++
			}
			j++
		}
		k := b[i+1 : min(j, len(b))]
		if esc {
			var s string
			if json.Unmarshal(b[i:min(j+1, len(b))], &s) == nil {
				k = []byte(s)
			}
		}
		i = skipWS(b, j+1)
		if i >= len(b) || b[i] != ':' {
			return found
		}
		start := skipWS(b, i+1)
		end := skipValue(b, start)
		if bytes.EqualFold(k, []byte(key)) {
			found = b[start:end]
		}
		i = end
	}
}

// decodeFieldError turns an encoding/json error from the struct pass into
// an *Error naming the top-level field at fault.
func decodeFieldError(err error) error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		// The names the client's errors always had (requestWire's
		// embedding and messageFields are decoding details).
		te.Field = strings.TrimPrefix(te.Field, "requestFields.")
		if te.Type == reflect.TypeFor[[]messageFields]() {
			te.Type = reflect.TypeFor[[]Message]()
		}
	}
	if errors.As(err, &te) && te.Field != "" {
		field, _, _ := strings.Cut(te.Field, ".")
		return &Error{Kind: KindInvalidRequest, Param: field, Message: fmt.Sprintf("invalid value for %q: %s", field, jsonErrText(err))}
	}
	return &Error{Kind: KindInvalidRequest, Message: "request body is not valid JSON: " + jsonErrText(err)}
}

// isKnownFold reports a key that encoding/json matched to a known field
// case-insensitively (it must not be forwarded a second time as Extra).
func isKnownFold(k string) bool {
	for known := range knownRequestField {
		if strings.EqualFold(k, known) {
			return true
		}
	}
	return false
}

// hasUnknownKey reports whether the JSON object b (already validated) has a
// top-level key that is not a known request field. A key with escapes
// counts as unknown, so the slow path decides. It does not allocate.
func hasUnknownKey(b []byte) bool { return hasUnknownKeyIn(b, knownRequestField) }

// hasUnknownKeyIn is hasUnknownKey for an object whose known keys are known.
func hasUnknownKeyIn(b []byte, knownRequestField map[string]struct{}) bool {
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	i++
	for {
		i = skipWS(b, i)
		if i >= len(b) || b[i] == '}' {
			return false
		}
		if b[i] == ',' {
			i++
			continue
		}
		if b[i] != '"' {
			return true // not what a validated object looks like: let the slow path judge
		}
		j := i + 1
		for j < len(b) && b[j] != '"' {
			if b[j] == '\\' {
				return true
			}
			j++
		}
		if _, known := knownRequestField[string(b[i+1:j])]; !known {
			return true
		}
		i = skipWS(b, j+1)
		if i >= len(b) || b[i] != ':' {
			return true
		}
		i = skipValue(b, skipWS(b, i+1))
	}
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the index just after the JSON value starting at b[i].
func skipValue(b []byte, i int) int {
	depth := 0
	for i < len(b) {
		switch b[i] {
		case '"':
			i++
			for i < len(b) && b[i] != '"' {
				if b[i] == '\\' {
					i++
				}
				i++
			}
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return i
			}
			depth--
		case ',':
			if depth == 0 {
				return i
			}
		}
		i++
		if depth == 0 && i < len(b) && (b[i] == ',' || b[i] == '}') {
			return i
		}
	}
	return i
}

// MarshalJSON encodes the request in the OpenAI shape, Extra fields included
// (sorted by name, after the known ones).
func (r *Request) MarshalJSON() ([]byte, error) {
	b, err := marshalRequestFields(r)
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
// UnmarshalJSON runs; this wraps those too). Beyond JSON syntax it refuses
// invalid UTF-8 and duplicate object keys (see checkWellFormed).
func DecodeRequest(body []byte, r *Request) error {
	// r.UnmarshalJSON validates as it decodes; going through json.Unmarshal
	// would scan the whole body once more first.
	if err := r.UnmarshalJSON(body); err != nil {
		if e, ok := err.(*Error); ok {
			return e
		}
		return &Error{Kind: KindInvalidRequest, Message: "request body is not valid JSON: " + jsonErrText(err)}
	}
	if e := checkWellFormed(body); e != nil {
		return e
	}
	return nil
}
